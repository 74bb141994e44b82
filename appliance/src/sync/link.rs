//! The MQTT connection, on `cloud_sync::link`: MQTT 5 where the broker has it, else 3.1.1
//! (`[cloud] protocol` pins one). Everything the protocol needs (retained messages, last
//! will, kept sessions, QoS 1) is in both.
//!
//! The event loop runs in its own task so that nothing else on the box waits on the network:
//! it reconnects forever with a growing backoff and hands incoming messages to the agent over
//! an unbounded channel (a box receives only its own few topics, so this cannot grow without
//! the broker flooding it, and it can never deadlock against the agent's publishes).

use std::sync::Arc;
use std::time::Duration;

use cloud_sync::link::{Client, Connection, Endpoint, Event, Version, Will};
use cloud_sync::{encode, BoxState, Status, Topic};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{CloudSettings, SyncError};

/// Requests the client may queue before `try_publish` refuses (telemetry is then dropped).
pub const QUEUE: usize = 64;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
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

/// The box's connection: client id = box id, a kept session, and the offline last will of this boot.
pub fn endpoint(settings: &CloudSettings, will: &Status) -> Result<Endpoint, SyncError> {
    let mut e = base_endpoint(settings, settings.box_id.as_str())?;
    e.keep_session = true;
    e.will = Some(Will { topic: settings.box_id.topic(&Topic::Status), payload: encode(will), retain: true });
    Ok(e)
}

/// A second connection of this box for fetching a backup (`<box id>.fetch`: a `.` is never in a box id): same credentials
/// (the broker's ACLs go by username), a clean session and no last will, so it never speaks
/// for the box's status.
pub fn fetch_endpoint(settings: &CloudSettings) -> Result<Endpoint, SyncError> {
    base_endpoint(settings, &format!("{}.fetch", settings.box_id))
}

fn base_endpoint(settings: &CloudSettings, client_id: &str) -> Result<Endpoint, SyncError> {
    let credentials = match (&settings.username, &settings.password) {
        (Some(u), p) => Some((u.clone(), p.clone().unwrap_or_default())),
        (None, Some(p)) => Some((settings.box_id.as_str().to_owned(), p.clone())),
        (None, None) => None,
    };
    Ok(Endpoint {
        host: settings.host.clone(),
        port: settings.port,
        client_id: client_id.to_owned(),
        credentials,
        tls: if settings.tls { Some(tls_config(settings)?) } else { None },
        keepalive: settings.keepalive,
        keep_session: false,
        will: None,
        max_packet: 4 * 1024 * 1024,
        queue: QUEUE,
        protocol: settings.protocol,
    })
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

/// Connects (retrying forever, choosing the version as `cloud_sync::link` says) and returns
/// the client with its connection; the first event, `Connected`, is already on `to_agent`.
pub async fn connect(endpoint: &Endpoint, to_agent: &mpsc::UnboundedSender<Incoming>) -> (Client, Connection) {
    let (client, connection, first) = cloud_sync::link::connect(endpoint, FIRST_BACKOFF, MAX_BACKOFF).await;
    if let Event::Connected { session_present, version } = first {
        announce(session_present, version);
        let _ = to_agent.send(Incoming::Connected { session_present });
    }
    (client, connection)
}

fn announce(session_present: bool, version: Version) {
    tracing::info!(session_present, %version, "connected to the cloud broker");
}

/// Polls the connection until `token` is cancelled; after that, flushes for up to two seconds
/// so that the agent's goodbye (offline status, DISCONNECT) reaches the broker.
pub async fn drive(mut events: Connection, to_agent: mpsc::UnboundedSender<Incoming>, token: CancellationToken) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let event = tokio::select! {
            _ = token.cancelled() => break,
            event = events.poll() => event,
        };
        match event {
            Ok(Event::Connected { session_present, version }) => {
                announce(session_present, version);
                backoff = FIRST_BACKOFF;
                let _ = to_agent.send(Incoming::Connected { session_present });
            }
            Ok(Event::Message { topic, payload }) => {
                let _ = to_agent.send(Incoming::Message { topic, payload });
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
                Ok(Event::Disconnected) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), flush).await;
}
