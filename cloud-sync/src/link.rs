//! The MQTT connection both sides use: MQTT 5 where the broker has it, 3.1.1 where it does not.
//!
//! This is the crate's one module that does I/O (the rest is the wire contract). rumqttc has a
//! client per protocol version with different types; [`Client`] and [`Connection`] hide which
//! one is in use, so the box agent and the fleet service are written once.
//!
//! How the version is chosen ([`Protocol::Auto`], the default): the first connection tries
//! MQTT 5. If the broker answers but not with an MQTT 5 CONNACK (a 3.1.1 broker refuses the
//! protocol level, closes, or sends a 3.1.1 CONNACK), the next try is 3.1.1, and so on,
//! alternating, until one is accepted; that version is kept for the life of the process. A
//! broker that cannot be reached (TCP, DNS, TLS) says nothing about versions: the same version
//! is tried again after the backoff.
//!
//! With MQTT 5 a kept session is asked for explicitly (clean start off and a session expiry
//! interval of [`SESSION_EXPIRY`]), since an MQTT 5 session otherwise ends at the disconnect.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::v5;

/// How long an MQTT 5 broker keeps a box's session (its subscriptions and queued QoS 1
/// messages) while the box is away: a week, like a long WAN outage.
pub const SESSION_EXPIRY: u32 = 7 * 24 * 3600;

/// Which MQTT version to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Protocol {
    /// MQTT 5 where the broker has it, else 3.1.1.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "5")]
    V5,
    #[serde(rename = "3.1.1")]
    V311,
}

/// The version a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V5,
    V311,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Version::V5 => "MQTT 5",
            Version::V311 => "MQTT 3.1.1",
        })
    }
}

/// The message a broker publishes for a client that goes away without a DISCONNECT.
#[derive(Debug, Clone)]
pub struct Will {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

/// Everything needed to connect, whatever the version.
#[derive(Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    /// Username and password.
    pub credentials: Option<(String, String)>,
    /// TLS (rustls) when set.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub keepalive: Duration,
    /// Ask the broker to keep the session (subscriptions, queued QoS 1 messages) across
    /// disconnects.
    pub keep_session: bool,
    pub will: Option<Will>,
    /// Largest packet either way (backup chunks are up to 4 MiB).
    pub max_packet: usize,
    /// Requests the client queues before `try_publish` refuses.
    pub queue: usize,
    pub protocol: Protocol,
}

#[derive(Debug, thiserror::Error)]
#[error("MQTT client: {0}")]
pub struct ClientError(String);

impl ClientError {
    /// The connection task has ended: nothing can be sent any more.
    pub fn closed() -> ClientError {
        ClientError("the connection is closed".into())
    }
}

/// What a [`Connection`] reports.
#[derive(Debug)]
pub enum Event {
    /// The broker accepted the connection.
    Connected {
        session_present: bool,
        version: Version,
    },
    Message {
        topic: String,
        payload: Vec<u8>,
    },
    /// A SUBSCRIBE was acknowledged.
    Subscribed,
    /// The DISCONNECT asked for has gone out.
    Disconnected,
    /// Anything else (acks, pings).
    Other,
}

/// The publishing side: cheap to clone, usable from any task.
#[derive(Clone)]
pub enum Client {
    V5(v5::AsyncClient),
    V311(rumqttc::AsyncClient),
}

/// The network side: must be polled (by its own task) for anything to happen.
pub enum Connection {
    V5(Box<v5::EventLoop>),
    V311(Box<rumqttc::EventLoop>),
}

fn v5_qos(qos: rumqttc::QoS) -> v5::mqttbytes::QoS {
    match qos {
        rumqttc::QoS::AtMostOnce => v5::mqttbytes::QoS::AtMostOnce,
        rumqttc::QoS::AtLeastOnce => v5::mqttbytes::QoS::AtLeastOnce,
        rumqttc::QoS::ExactlyOnce => v5::mqttbytes::QoS::ExactlyOnce,
    }
}

fn err(e: impl std::fmt::Display) -> ClientError {
    ClientError(e.to_string())
}

impl Client {
    pub async fn publish(
        &self,
        topic: impl Into<String>,
        qos: rumqttc::QoS,
        retain: bool,
        payload: impl Into<Vec<u8>>,
    ) -> Result<(), ClientError> {
        let (topic, payload) = (topic.into(), payload.into());
        match self {
            Client::V5(c) => c.publish(topic, v5_qos(qos), retain, payload).await.map_err(err),
            Client::V311(c) => c.publish(topic, qos, retain, payload).await.map_err(err),
        }
    }

    /// Queues without waiting; fails when the queue is full.
    pub fn try_publish(
        &self,
        topic: impl Into<String>,
        qos: rumqttc::QoS,
        retain: bool,
        payload: impl Into<Vec<u8>>,
    ) -> Result<(), ClientError> {
        let (topic, payload) = (topic.into(), payload.into());
        match self {
            Client::V5(c) => c.try_publish(topic, v5_qos(qos), retain, payload).map_err(err),
            Client::V311(c) => c.try_publish(topic, qos, retain, payload).map_err(err),
        }
    }

    pub async fn subscribe(&self, filter: impl Into<String>, qos: rumqttc::QoS) -> Result<(), ClientError> {
        let filter = filter.into();
        match self {
            Client::V5(c) => c.subscribe(filter, v5_qos(qos)).await.map_err(err),
            Client::V311(c) => c.subscribe(filter, qos).await.map_err(err),
        }
    }

    /// For the task that polls the connection (an awaiting subscribe there could deadlock).
    pub fn try_subscribe(&self, filter: impl Into<String>, qos: rumqttc::QoS) -> Result<(), ClientError> {
        let filter = filter.into();
        match self {
            Client::V5(c) => c.try_subscribe(filter, v5_qos(qos)).map_err(err),
            Client::V311(c) => c.try_subscribe(filter, qos).map_err(err),
        }
    }

    pub fn try_disconnect(&self) -> Result<(), ClientError> {
        match self {
            Client::V5(c) => c.try_disconnect().map_err(err),
            Client::V311(c) => c.try_disconnect().map_err(err),
        }
    }
}

/// Why a poll failed, and whether it says the broker does not speak the version tried.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConnectionError {
    pub message: String,
    /// The broker was reached and answered (or hung up) after the CONNECT.
    pub answered: bool,
}

impl Connection {
    pub async fn poll(&mut self) -> Result<Event, ConnectionError> {
        match self {
            Connection::V5(events) => match events.poll().await {
                Ok(v5::Event::Incoming(v5::mqttbytes::v5::Packet::ConnAck(ack))) => {
                    Ok(Event::Connected { session_present: ack.session_present, version: Version::V5 })
                }
                Ok(v5::Event::Incoming(v5::mqttbytes::v5::Packet::Publish(p))) => Ok(Event::Message {
                    topic: String::from_utf8_lossy(&p.topic).into_owned(),
                    payload: p.payload.to_vec(),
                }),
                Ok(v5::Event::Incoming(v5::mqttbytes::v5::Packet::SubAck(_))) => Ok(Event::Subscribed),
                Ok(v5::Event::Outgoing(rumqttc::Outgoing::Disconnect)) => Ok(Event::Disconnected),
                Ok(_) => Ok(Event::Other),
                Err(e) => {
                    use v5::ConnectionError as E;
                    let answered = matches!(e, E::MqttState(_) | E::ConnectionRefused(_) | E::NotConnAck(_));
                    Err(ConnectionError { message: e.to_string(), answered })
                }
            },
            Connection::V311(events) => match events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(ack))) => {
                    Ok(Event::Connected { session_present: ack.session_present, version: Version::V311 })
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    Ok(Event::Message { topic: p.topic, payload: p.payload.to_vec() })
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => Ok(Event::Subscribed),
                Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect)) => Ok(Event::Disconnected),
                Ok(_) => Ok(Event::Other),
                Err(e) => {
                    use rumqttc::ConnectionError as E;
                    let answered = matches!(e, E::MqttState(_) | E::ConnectionRefused(_) | E::NotConnAck(_));
                    Err(ConnectionError { message: e.to_string(), answered })
                }
            },
        }
    }
}

/// A client of `version` (nothing is sent until the connection is polled).
fn open(endpoint: &Endpoint, version: Version) -> (Client, Connection) {
    match version {
        Version::V5 => {
            let mut o = v5::MqttOptions::new(endpoint.client_id.clone(), endpoint.host.clone(), endpoint.port);
            o.set_keep_alive(endpoint.keepalive);
            o.set_clean_start(!endpoint.keep_session);
            if endpoint.keep_session {
                o.set_session_expiry_interval(Some(SESSION_EXPIRY));
            }
            o.set_max_packet_size(u32::try_from(endpoint.max_packet).ok());
            if let Some((u, p)) = &endpoint.credentials {
                o.set_credentials(u.clone(), p.clone());
            }
            if let Some(w) = &endpoint.will {
                let qos = v5::mqttbytes::QoS::AtLeastOnce;
                o.set_last_will(v5::mqttbytes::v5::LastWill::new(
                    w.topic.clone(),
                    w.payload.clone(),
                    qos,
                    w.retain,
                    None,
                ));
            }
            if let Some(tls) = &endpoint.tls {
                o.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(tls.clone())));
            }
            let (c, e) = v5::AsyncClient::new(o, endpoint.queue);
            (Client::V5(c), Connection::V5(Box::new(e)))
        }
        Version::V311 => {
            let mut o = rumqttc::MqttOptions::new(endpoint.client_id.clone(), endpoint.host.clone(), endpoint.port);
            o.set_keep_alive(endpoint.keepalive);
            o.set_clean_session(!endpoint.keep_session);
            o.set_max_packet_size(endpoint.max_packet, endpoint.max_packet);
            if let Some((u, p)) = &endpoint.credentials {
                o.set_credentials(u.clone(), p.clone());
            }
            if let Some(w) = &endpoint.will {
                let qos = rumqttc::QoS::AtLeastOnce;
                o.set_last_will(rumqttc::LastWill::new(w.topic.clone(), w.payload.clone(), qos, w.retain));
            }
            if let Some(tls) = &endpoint.tls {
                o.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(tls.clone())));
            }
            let (c, e) = rumqttc::AsyncClient::new(o, endpoint.queue);
            (Client::V311(c), Connection::V311(Box::new(e)))
        }
    }
}

/// The version to try after a failed first connection with `tried`: see the module docs.
pub fn next_version(protocol: Protocol, tried: Version, answered: bool) -> Version {
    match (protocol, answered) {
        (Protocol::V5, _) => Version::V5,
        (Protocol::V311, _) => Version::V311,
        (Protocol::Auto, false) => tried,
        (Protocol::Auto, true) => match tried {
            Version::V5 => Version::V311,
            Version::V311 => Version::V5,
        },
    }
}

/// Connects, trying versions as [`Protocol`] says, until a broker accepts; retries forever
/// with `backoff` doubling up to `max_backoff` (the caller bounds it with a select if needed).
/// Returns the accepted connection with the event `Connected` already taken from it.
pub async fn connect(endpoint: &Endpoint, mut backoff: Duration, max_backoff: Duration) -> (Client, Connection, Event) {
    let mut version = match endpoint.protocol {
        Protocol::V311 => Version::V311,
        Protocol::Auto | Protocol::V5 => Version::V5,
    };
    loop {
        let (client, mut connection) = open(endpoint, version);
        match connection.poll().await {
            Ok(event @ Event::Connected { .. }) => return (client, connection, event),
            Ok(_) => {}
            Err(e) => {
                let next = next_version(endpoint.protocol, version, e.answered);
                tracing::warn!(error = %e, tried = %version, next = %next, retry_in = ?backoff, "cannot connect to the MQTT broker");
                // MQTT 5 refused: 3.1.1 at once; every other failure waits.
                let at_once = endpoint.protocol == Protocol::Auto && e.answered && version == Version::V5;
                version = next;
                if !at_once {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(max_backoff);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_alternates_only_when_the_broker_answered() {
        assert_eq!(next_version(Protocol::Auto, Version::V5, true), Version::V311);
        assert_eq!(next_version(Protocol::Auto, Version::V311, true), Version::V5);
        assert_eq!(next_version(Protocol::Auto, Version::V5, false), Version::V5);
        assert_eq!(next_version(Protocol::V5, Version::V5, true), Version::V5);
        assert_eq!(next_version(Protocol::V311, Version::V311, true), Version::V311);
    }

    #[test]
    fn protocol_names_in_config_files() {
        #[derive(serde::Deserialize)]
        struct T {
            p: Protocol,
        }
        let t: T = serde_json::from_str(r#"{"p":"3.1.1"}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.p, Protocol::V311);
        let t: T = serde_json::from_str(r#"{"p":"5"}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.p, Protocol::V5);
        assert!(serde_json::from_str::<T>(r#"{"p":"4"}"#).is_err());
    }
}
