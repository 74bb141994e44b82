//! The gateway in front of the embedded broker: accepts box connections (TLS outside loopback),
//! reads what the client sends packet by packet, and lets it through only as `acl` allows.
//!
//! Steps of one connection, in order:
//! 1. TLS handshake (if on), within 10 s.
//! 2. The first packet must be a CONNECT, within 10 s. `acl::connect` checks username, client
//!    id and last will; the password is checked against the fleet store (`box_password_ok`).
//!    A refusal is answered with a CONNACK return code and the connection is closed.
//! 3. The CONNECT goes to the internal broker with the password replaced by the broker's
//!    internal secret (the broker on loopback accepts nobody else, see `mod.rs`).
//! 4. From then on: client → broker packets are framed and checked (PUBLISH topic, every
//!    SUBSCRIBE filter; only client-to-server packet types), a violation closes both sides;
//!    broker → client bytes are copied unchanged (the broker sends only what was subscribed).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use cloud_sync::BoxId;
use rumqttc::mqttbytes::v4::{ConnAck, ConnectReturnCode, Login, Packet};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::acl;
use crate::store::FleetStore;

/// Largest packet a box may send: the box and the fleet use 4 MiB (backup chunks).
pub const MAX_PACKET: usize = 4 * 1024 * 1024;
/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 20_000;
const HANDSHAKE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    #[error("MQTT: {0}")]
    Mqtt(String),
    #[error("TLS handshake or CONNECT not done within {0:?}")]
    Timeout(Duration),
    #[error("MQTT protocol level {0} (only 3.1.1, level 4, is served)")]
    Version(u8),
    #[error("the first packet was not a CONNECT")]
    NotConnect,
    #[error("packet type not sent by clients")]
    Unexpected,
    #[error("refused: {0}")]
    Denied(#[from] acl::Denied),
    #[error("wrong password")]
    BadPassword,
    #[error("the fleet store: {0}")]
    Store(String),
}

/// What every connection needs.
pub struct Gateway {
    pub listener: TcpListener,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// The internal broker (loopback).
    pub upstream: SocketAddr,
    /// The password the internal broker accepts (never given to a box).
    pub secret: Arc<str>,
    pub store: FleetStore,
    pub verified: Arc<super::verified::Verified>,
}

impl Gateway {
    /// Accepts forever, one task per connection, at most `MAX_CONNECTIONS` at once.
    pub async fn serve(self) {
        let this = Arc::new(self);
        let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok(permit) = limit.clone().acquire_owned().await else { return };
            let (stream, peer) = match this.listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "MQTT gateway: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let this = this.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let _ = stream.set_nodelay(true);
                let result = match &this.tls {
                    Some(acceptor) => match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => this.session(tls, peer).await,
                        Ok(Err(e)) => Err(GatewayError::Io(e)),
                        Err(_) => Err(GatewayError::Timeout(HANDSHAKE)),
                    },
                    None => this.session(stream, peer).await,
                };
                match result {
                    Ok(()) => tracing::debug!(%peer, "MQTT connection closed"),
                    Err(e @ (GatewayError::Denied(_) | GatewayError::BadPassword)) => {
                        tracing::warn!(%peer, error = %e, "MQTT client refused")
                    }
                    Err(e) => tracing::info!(%peer, error = %e, "MQTT connection ended"),
                }
            });
        }
    }

    async fn session<S>(&self, client: S, peer: SocketAddr) -> Result<(), GatewayError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (mut from_client, mut to_client) = tokio::io::split(client);
        let mut buf = BytesMut::with_capacity(4096);
        let first = tokio::time::timeout(HANDSHAKE, read_packet(&mut from_client, &mut buf))
            .await
            .map_err(|_| GatewayError::Timeout(HANDSHAKE));
        let first = match first? {
            Err(e) => {
                // A CONNECT of another MQTT version (5) is answered so that the client can
                // fall back to 3.1.1, as the protocol's version negotiation expects.
                if let Some(level) = connect_level(&buf) {
                    refuse_version(&mut to_client, level).await;
                    return Err(GatewayError::Version(level));
                }
                return Err(e);
            }
            Ok(first) => first,
        };
        let Some((Packet::Connect(mut connect), _)) = first else { return Err(GatewayError::NotConnect) };
        let login = connect.login.take();
        let decision = acl::connect(
            login.as_ref().map(|l| l.username.as_str()),
            &connect.client_id,
            connect.last_will.as_ref().map(|w| w.topic.as_str()),
        );
        let id = match decision {
            Ok(id) => id,
            Err(denied) => {
                let code = match denied {
                    acl::Denied::ClientId { .. } => ConnectReturnCode::BadClientId,
                    acl::Denied::Will(_) => ConnectReturnCode::NotAuthorized,
                    _ => ConnectReturnCode::BadUserNamePassword,
                };
                refuse(&mut to_client, code).await;
                return Err(denied.into());
            }
        };
        let password = login.map(|l| l.password).unwrap_or_default();
        let (store, verified) = (self.store.clone(), self.verified.clone());
        let box_id = id.as_str().to_owned();
        // PBKDF2 takes a while: off the async threads.
        let ok = tokio::task::spawn_blocking(move || store.box_password_ok(&box_id, &password, &verified))
            .await
            .map_err(|e| GatewayError::Store(e.to_string()))?
            .map_err(|e| GatewayError::Store(e.to_string()))?;
        if !ok {
            refuse(&mut to_client, ConnectReturnCode::BadUserNamePassword).await;
            return Err(GatewayError::BadPassword);
        }
        tracing::info!(box_id = %id, %peer, "box connected to the MQTT gateway");

        connect.login = Some(Login::new(id.as_str(), &*self.secret));
        let mut out = BytesMut::new();
        Packet::Connect(connect).write(&mut out, MAX_PACKET).map_err(|e| GatewayError::Mqtt(e.to_string()))?;
        let upstream = TcpStream::connect(self.upstream).await?;
        let _ = upstream.set_nodelay(true);
        let (mut from_broker, mut to_broker) = upstream.into_split();
        to_broker.write_all(&out).await?;

        let down = async {
            tokio::io::copy(&mut from_broker, &mut to_client).await?;
            let _ = to_client.shutdown().await;
            Ok::<(), GatewayError>(())
        };
        let up = async {
            while let Some((packet, frame)) = read_packet(&mut from_client, &mut buf).await? {
                check(&id, &packet)?;
                to_broker.write_all(&frame).await?;
            }
            Ok(())
        };
        let result = tokio::select! {
            r = down => r,
            r = up => r,
        };
        if let Err(e @ GatewayError::Denied(_)) = &result {
            tracing::warn!(box_id = %id, %peer, error = %e, "closing the connection");
        }
        result
    }
}

/// The ACL for one packet after CONNECT.
fn check(id: &BoxId, packet: &Packet) -> Result<(), GatewayError> {
    match packet {
        Packet::Publish(p) => acl::may_publish(id, &p.topic)?,
        Packet::Subscribe(s) => {
            for f in &s.filters {
                acl::may_subscribe(id, &f.path)?;
            }
        }
        Packet::PubAck(_)
        | Packet::PubRec(_)
        | Packet::PubRel(_)
        | Packet::PubComp(_)
        | Packet::Unsubscribe(_)
        | Packet::PingReq
        | Packet::Disconnect => {}
        Packet::Connect(_) | Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
            return Err(GatewayError::Unexpected)
        }
    }
    Ok(())
}

async fn refuse<W: AsyncWrite + Unpin>(to_client: &mut W, code: ConnectReturnCode) {
    let mut out = BytesMut::new();
    if ConnAck::new(code, false).write(&mut out).is_ok() {
        let _ = to_client.write_all(&out).await;
        let _ = to_client.shutdown().await;
    }
}

/// The protocol level of a CONNECT at the start of `buf` that is not 3.1.1 (level 4).
fn connect_level(buf: &[u8]) -> Option<u8> {
    if buf.first()? >> 4 != 1 {
        return None;
    }
    // Fixed header: type byte, then a remaining length of 1-4 bytes (high bit = more).
    let len_bytes = buf.iter().skip(1).take(4).position(|b| b & 0x80 == 0)? + 1;
    let variable = buf.get(1 + len_bytes..)?;
    // Protocol name "MQTT" (2-byte length + 4 bytes), then the level.
    if variable.get(..6)? != [0, 4, b'M', b'Q', b'T', b'T'] {
        return None;
    }
    variable.get(6).copied().filter(|level| *level != 4)
}

/// Refuses a CONNECT of protocol `level`: in that version's CONNACK for MQTT 5 (reason
/// 0x84, Unsupported Protocol Version), else 3.1.1's return code 1.
async fn refuse_version<W: AsyncWrite + Unpin>(to_client: &mut W, level: u8) {
    let connack: &[u8] = if level == 5 { &[0x20, 0x03, 0x00, 0x84, 0x00] } else { &[0x20, 0x02, 0x00, 0x01] };
    let _ = to_client.write_all(connack).await;
    let _ = to_client.shutdown().await;
}

/// The next whole packet, decoded, with its bytes as they came (forwarded unchanged);
/// `None` at a clean end of stream.
async fn read_packet<R: AsyncRead + Unpin>(
    from: &mut R,
    buf: &mut BytesMut,
) -> Result<Option<(Packet, BytesMut)>, GatewayError> {
    loop {
        match rumqttc::mqttbytes::check(buf.iter(), MAX_PACKET) {
            Ok(header) => {
                // Decoded from a copy first: a packet that does not decode stays in `buf`.
                let len = header.frame_length();
                let packet = Packet::read(&mut BytesMut::from(&buf[..len]), MAX_PACKET)
                    .map_err(|e| GatewayError::Mqtt(e.to_string()))?;
                return Ok(Some((packet, buf.split_to(len))));
            }
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
            Err(e) => return Err(GatewayError::Mqtt(e.to_string())),
        }
        if from.read_buf(buf).await? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(GatewayError::Io(std::io::ErrorKind::UnexpectedEof.into()))
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::mqttbytes::v4::{Publish, Subscribe};
    use rumqttc::QoS;

    fn bytes_of(p: Packet) -> Vec<u8> {
        let mut out = BytesMut::new();
        p.write(&mut out, MAX_PACKET).unwrap();
        out.to_vec()
    }

    #[tokio::test]
    async fn frames_split_anywhere_come_out_whole() {
        let mut publish = Publish::new("outpost/v1/b1/status", QoS::AtLeastOnce, "x");
        publish.pkid = 1;
        let a = bytes_of(Packet::Publish(publish));
        let b = bytes_of(Packet::PingReq);
        let all: Vec<u8> = a.iter().chain(&b).copied().collect();
        for cut in 0..all.len() {
            let (mut r, mut w) = tokio::io::duplex(64);
            let data = all.clone();
            tokio::spawn(async move {
                w.write_all(&data[..cut]).await.unwrap();
                tokio::task::yield_now().await;
                w.write_all(&data[cut..]).await.unwrap();
            });
            let mut buf = BytesMut::new();
            let (p1, f1) = read_packet(&mut r, &mut buf).await.unwrap().unwrap();
            assert!(matches!(p1, Packet::Publish(_)));
            assert_eq!(&f1[..], &a[..]);
            let (p2, f2) = read_packet(&mut r, &mut buf).await.unwrap().unwrap();
            assert_eq!(p2, Packet::PingReq);
            assert_eq!(&f2[..], &b[..]);
            assert!(read_packet(&mut r, &mut buf).await.unwrap().is_none());
        }
    }

    #[test]
    fn an_mqtt5_connect_is_recognised_by_its_level() {
        let v5 = [0x10, 0x10, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 30, 0, 0, 2, b'b', b'1'];
        assert_eq!(connect_level(&v5), Some(5));
        let connect = rumqttc::mqttbytes::v4::Connect::new("b1");
        assert_eq!(connect_level(&bytes_of(Packet::Connect(connect))), None, "3.1.1 is served");
        assert_eq!(connect_level(&bytes_of(Packet::PingReq)), None);
        assert_eq!(connect_level(&[0x10]), None);
    }

    #[test]
    fn packets_are_checked_against_the_acl() {
        let b1 = BoxId::new("b1").unwrap();
        let own = Packet::Publish(Publish::new("outpost/v1/b1/status", QoS::AtLeastOnce, "x"));
        assert!(check(&b1, &own).is_ok());
        let other = Packet::Publish(Publish::new("outpost/v1/b2/status", QoS::AtLeastOnce, "x"));
        assert!(matches!(check(&b1, &other), Err(GatewayError::Denied(_))));
        let mixed = Subscribe::new_many([
            rumqttc::mqttbytes::v4::SubscribeFilter::new("outpost/v1/b1/#".into(), QoS::AtLeastOnce),
            rumqttc::mqttbytes::v4::SubscribeFilter::new("#".into(), QoS::AtLeastOnce),
        ]);
        assert!(matches!(check(&b1, &Packet::Subscribe(mixed)), Err(GatewayError::Denied(_))));
        assert!(matches!(check(&b1, &Packet::PingResp), Err(GatewayError::Unexpected)));
    }
}
