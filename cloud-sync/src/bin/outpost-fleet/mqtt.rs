//! The fleet's broker connection: subscribes to every box's reports and statuses, stores them,
//! and publishes desired documents (retained). A box asking for the full document gets the
//! latest desired one again.

use std::time::Duration;

use cloud_sync::link::{self, Client, ClientError, Endpoint, Event, Protocol};
use cloud_sync::{decode, encode, BoxId, Desired, Reported, Status, Telemetry, Topic};
use rumqttc::QoS;
use tokio::sync::watch;

use crate::store::{now, FleetStore};

/// `mqtt://host:port` or `mqtts://host[:port]` (default 8883) into (host, port, tls).
pub fn parse_broker(url: &str) -> anyhow::Result<(String, u16, bool)> {
    let (tls, rest) = match (url.strip_prefix("mqtts://"), url.strip_prefix("mqtt://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        _ => anyhow::bail!("broker `{url}`: use mqtt://host:port or mqtts://host[:port]"),
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().map_err(|_| anyhow::anyhow!("broker `{url}`: bad port"))?),
        None if tls => (rest, 8883),
        None => anyhow::bail!("broker `{url}`: no port"),
    };
    anyhow::ensure!(!host.is_empty(), "broker `{url}`: no host");
    Ok((host.trim_start_matches('[').trim_end_matches(']').to_owned(), port, tls))
}

/// The publishing side. Until the first connection (whose MQTT version decides the client's
/// type) a publish waits, as it would in the client's own queue.
#[derive(Clone)]
pub struct Link {
    client: watch::Receiver<Option<Client>>,
}

impl Link {
    async fn client(&self) -> Result<Client, ClientError> {
        let mut rx = self.client.clone();
        let client = rx.wait_for(Option::is_some).await.map_err(|_| ClientError::closed())?;
        client.clone().ok_or_else(ClientError::closed)
    }

    pub async fn publish_desired(&self, id: &BoxId, desired: &Desired) -> Result<(), ClientError> {
        self.client().await?.publish(id.topic(&Topic::Desired), QoS::AtLeastOnce, true, encode(desired)).await
    }

    /// Publishes at QoS 1 (backup acks and downloads, commands).
    pub async fn publish(&self, topic: String, retain: bool, payload: Vec<u8>) -> Result<(), ClientError> {
        self.client().await?.publish(topic, QoS::AtLeastOnce, retain, payload).await
    }
}

/// How the fleet reaches its broker.
pub struct Connect {
    pub host: String,
    pub port: u16,
    /// `outpost-fleet`, `outpost-fleet-<instance>`, or the embedded broker's internal client.
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `mqtts://`: rustls (ring) with the CAs of `--broker-ca`.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// One of several instances (`--instance`): subscriptions are shared.
    pub shared: bool,
    pub protocol: Protocol,
}

/// The shared-subscription group of all fleet instances: the broker hands each message of a
/// `$share/outpost-fleet/…` filter to one member only.
pub const SHARE_GROUP: &str = "outpost-fleet";

/// `filter`, as a shared subscription when several instances share the load.
pub fn shared_filter(shared: bool, filter: &str) -> String {
    if shared {
        format!("$share/{SHARE_GROUP}/{filter}")
    } else {
        filter.to_owned()
    }
}

/// A client TLS config trusting the CAs of `ca_file` (PEM), or the system's.
pub fn client_tls(ca_file: Option<&std::path::Path>) -> anyhow::Result<std::sync::Arc<rustls::ClientConfig>> {
    let path = ca_file.unwrap_or(std::path::Path::new("/etc/ssl/certs/ca-certificates.crt"));
    let pem = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        roots.add(cert).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(std::sync::Arc::new(config))
}

/// Connects (in a background task that reconnects forever) and returns the publishing side once
/// the subscriptions are acknowledged (or after 10 s without a broker), so that what boxes
/// report after the fleet service has started is not missed.
pub async fn start(to: Connect, store: FleetStore, backups: crate::backups::Backups) -> Link {
    let Connect { host, port, client_id, username, password, tls, shared, protocol } = to;
    let endpoint = Endpoint {
        host,
        port,
        client_id,
        credentials: username.map(|u| (u, password.unwrap_or_default())),
        tls,
        keepalive: Duration::from_secs(30),
        // One of several instances: a kept session would hold its share of the reports while it
        // is down (the broker keeps assigning messages to it); a clean one leaves them to the others.
        keep_session: !shared,
        will: None,
        max_packet: 4 * 1024 * 1024,
        queue: 256,
        protocol,
    };
    let (set_client, client) = watch::channel(None);
    let link = Link { client };
    let publisher = link.clone();
    let (subscribed, ready) = tokio::sync::oneshot::channel();
    let mut subscribed = Some(subscribed);
    tokio::spawn(async move {
        let (client, mut events, mut event) =
            link::connect(&endpoint, Duration::from_millis(500), Duration::from_secs(30)).await;
        set_client.send_replace(Some(client.clone()));
        let mut backoff = Duration::from_millis(500);
        loop {
            match event {
                Event::Connected { version, .. } => {
                    backoff = Duration::from_millis(500);
                    tracing::info!(%version, "connected to the broker");
                    for filter in [
                        "outpost/v1/+/config/reported",
                        "outpost/v1/+/status",
                        "outpost/v1/+/telemetry",
                        "outpost/v1/+/cmd/+/result",
                        "outpost/v1/+/backup/manifest",
                        "outpost/v1/+/backup/chunk/#",
                        "outpost/v1/+/backup/key",
                        "outpost/v1/+/backup/fetch",
                    ] {
                        // try_: the request queue is being drained by this very loop.
                        if let Err(e) = client.try_subscribe(shared_filter(shared, filter), QoS::AtLeastOnce) {
                            tracing::warn!(error = %e, "cannot subscribe");
                        }
                    }
                }
                Event::Subscribed => {
                    if let Some(tx) = subscribed.take() {
                        let _ = tx.send(());
                    }
                }
                Event::Message { topic, payload } => {
                    let (store, publisher, backups) = (store.clone(), publisher.clone(), backups.clone());
                    tokio::spawn(async move { on_message(&store, &publisher, &backups, &topic, &payload).await });
                }
                Event::Disconnected | Event::Other => {}
            }
            event = loop {
                match events.poll().await {
                    Ok(e) => break e,
                    Err(e) => {
                        tracing::warn!(error = %e, "broker connection lost");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                    }
                }
            };
        }
    });
    if tokio::time::timeout(Duration::from_secs(10), ready).await.is_err() {
        tracing::warn!("not subscribed yet: the broker is not reachable");
    }
    link
}

async fn on_message(store: &FleetStore, link: &Link, backups: &crate::backups::Backups, topic: &str, payload: &[u8]) {
    let Ok((id, kind)) = Topic::parse(topic) else { return };
    let result = match kind {
        Topic::Status if !payload.is_empty() => match decode::<Status>(payload) {
            Ok(s) => store.set_status(id.as_str(), &s).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        Topic::Reported => match decode::<Reported>(payload) {
            Ok(r) => {
                let stored = store.set_reported(id.as_str(), &r, now() as u64).map_err(|e| e.to_string());
                if r.want_full {
                    if let Ok(Some(d)) = store.latest_desired(id.as_str()) {
                        if let Err(e) = link.publish_desired(&id, &d).await {
                            tracing::warn!(box_id = %id, error = %e, "cannot republish the desired config");
                        }
                    }
                }
                stored
            }
            Err(e) => Err(e.to_string()),
        },
        Topic::Telemetry => match decode::<Telemetry>(payload) {
            Ok(t) => store.set_telemetry(id.as_str(), &t, now()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        Topic::CommandResult(_) => crate::commands::on_result(store, &id, payload),
        Topic::Backup(part) => {
            crate::backups::on_message(store, link, backups, &id, &part, payload).await.map_err(|e| e.to_string())
        }
        _ => Ok(()),
    };
    if let Err(e) = result {
        tracing::warn!(box_id = %id, topic, error = %e, "message not stored");
    }
}
