//! The MQTT connection. MQTT 3.1.1 (rumqttc's v4 client): everything the protocol needs
//! (retained messages, last will, kept sessions, QoS 1) is in 3.1.1 and works with every broker.
//!
//! The event loop runs in its own task so that nothing else on the box waits on the network:
//! it reconnects forever with a growing backoff and hands incoming messages to the agent over
//! an unbounded channel (a box receives only its own few topics, so this cannot grow without
//! the broker flooding it, and it can never deadlock against the agent's publishes).

use std::sync::Arc;
use std::time::Duration;

use cloud_sync::{encode, BoxState, Status, Topic};
use rumqttc::{AsyncClient, Event, EventLoop, LastWill, MqttOptions, Outgoing, Packet, QoS, Transport};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{CloudSettings, SyncError};

/// Requests the client may queue before `try_publish` refuses (telemetry is then dropped).
pub const QUEUE: usize = 64;
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What the event loop tells the agent.
#[derive(Debug)]
pub enum Incoming {
    Connected {
        session_present: bool,
    },
    Message {
        topic: String,
        payload: Vec<u8>,
    },
    /// The connection to the broker is gone (rumqttc reconnects by itself).
    Lost,
}

/// MQTT options: client id = box id, a kept session, and the offline last will of this boot.
pub fn options(settings: &CloudSettings, will: &Status) -> Result<MqttOptions, SyncError> {
    let mut o = base_options(settings, settings.box_id.as_str())?;
    o.set_clean_session(false);
    let status = settings.box_id.topic(&Topic::Status);
    o.set_last_will(LastWill::new(status, encode(will), QoS::AtLeastOnce, true));
    Ok(o)
}

/// A second connection of this box for fetching a backup (`<box id>.fetch`: a `.` is never in a box id): same credentials
/// (the broker's ACLs go by username), a clean session and no last will, so it never speaks
/// for the box's status.
pub fn fetch_options(settings: &CloudSettings) -> Result<MqttOptions, SyncError> {
    let mut o = base_options(settings, &format!("{}.fetch", settings.box_id))?;
    o.set_clean_session(true);
    Ok(o)
}

fn base_options(settings: &CloudSettings, client_id: &str) -> Result<MqttOptions, SyncError> {
    let mut o = MqttOptions::new(client_id, settings.host.clone(), settings.port);
    o.set_keep_alive(settings.keepalive);
    o.set_max_packet_size(4 * 1024 * 1024, 4 * 1024 * 1024);
    match (&settings.username, &settings.password) {
        (Some(u), p) => {
            o.set_credentials(u.clone(), p.clone().unwrap_or_default());
        }
        (None, Some(p)) => {
            o.set_credentials(settings.box_id.as_str(), p.clone());
        }
        (None, None) => {}
    }
    if settings.tls {
        o.set_transport(Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(tls_config(settings)?)));
    }
    Ok(o)
}

/// rustls with the ring provider and the CAs of `ca_file`.
fn tls_config(settings: &CloudSettings) -> Result<Arc<rustls::ClientConfig>, SyncError> {
    client_tls(&settings.ca_file)
}

/// A TLS client that trusts the CAs of `ca_file`: the broker link and the claim's HTTPS.
pub(super) fn client_tls(ca_file: &std::path::Path) -> Result<Arc<rustls::ClientConfig>, SyncError> {
    let tls = |e: &dyn std::fmt::Display| SyncError::Tls(format!("{}: {e}", ca_file.display()));
    let pem = std::fs::read(ca_file).map_err(|e| tls(&e))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

pub fn offline_will(boot_seq: u64, at: u64) -> Status {
    Status::new(BoxState::Offline, boot_seq, env!("CARGO_PKG_VERSION"), at)
}

pub fn client(options: MqttOptions) -> (AsyncClient, EventLoop) {
    AsyncClient::new(options, QUEUE)
}

/// Polls the event loop until `token` is cancelled; after that, flushes for up to two seconds
/// so that the agent's goodbye (offline status, DISCONNECT) reaches the broker.
pub async fn drive(mut events: EventLoop, to_agent: mpsc::UnboundedSender<Incoming>, token: CancellationToken) {
    let mut backoff = Duration::from_millis(500);
    loop {
        let event = tokio::select! {
            _ = token.cancelled() => break,
            event = events.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                tracing::info!(session_present = ack.session_present, "connected to the cloud broker");
                backoff = Duration::from_millis(500);
                let _ = to_agent.send(Incoming::Connected { session_present: ack.session_present });
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let _ = to_agent.send(Incoming::Message { topic: p.topic, payload: p.payload.to_vec() });
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "cloud broker connection lost");
                let _ = to_agent.send(Incoming::Lost);
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    let flush = async {
        loop {
            match events.poll().await {
                Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), flush).await;
}
