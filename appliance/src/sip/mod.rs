//! The SIP side of the box: registrar (and, later, the B2BUA).
//!
//! Layout: the pure core is `core` (the order of steps for each request), `message` (rsip
//! parse and build), `digest`, `transaction`, `registrar`, `location`, `defence`, `directory`,
//! `framing`. The tokio drivers are `udp`, `stream` (TCP and TLS) and `persist` (writes
//! binding changes in batches, then sends the answers that waited for them).

pub mod core;
pub mod defence;
pub mod digest;
pub mod directory;
pub mod framing;
pub mod location;
pub mod message;
pub mod persist;
pub mod registrar;
pub mod stream;
pub mod transaction;
pub mod udp;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::core::{Now, Outcome, SipCore};
use self::directory::Directory;
use self::message::Transport;
use crate::metrics::{Kind, Metrics};
use crate::store::Store;

/// Where an answer goes back to.
#[derive(Clone)]
pub enum ReplyPath {
    Udp(Arc<tokio::net::UdpSocket>, SocketAddr),
    Stream(mpsc::Sender<Vec<u8>>),
}

impl ReplyPath {
    pub async fn send(&self, bytes: Vec<u8>) {
        match self {
            ReplyPath::Udp(socket, to) => {
                if let Err(e) = socket.send_to(&bytes, to).await {
                    tracing::debug!(%to, error = %e, "SIP send failed");
                }
            }
            // The connection may be gone; then so is the need to answer.
            ReplyPath::Stream(tx) => {
                let _ = tx.send(bytes).await;
            }
        }
    }
}

/// The state the drivers share: the core behind a mutex (held for microseconds, never across
/// an await), the store and the queue of changes to persist.
pub struct Shared {
    core: Mutex<SipCore>,
    pub store: Store,
    pub metrics: Metrics,
    persist: mpsc::Sender<persist::Job>,
}

impl Shared {
    pub fn core(&self) -> MutexGuard<'_, SipCore> {
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handles one message and sends (or queues) its answer.
    pub async fn process(&self, bytes: &[u8], source: SocketAddr, transport: Transport, path: &ReplyPath) {
        let out = self.core().handle(Now::system(), bytes, source, transport);
        let outcome = match out.outcome {
            Outcome::Dropped => "dropped".to_owned(),
            Outcome::Banned => "banned".to_owned(),
            Outcome::OverRate => "over_rate".to_owned(),
            Outcome::Malformed => "malformed".to_owned(),
            Outcome::Retransmission => "retransmission".to_owned(),
            Outcome::Answered(code) => code.to_string(),
            Outcome::Register(event) => {
                if event == registrar::Event::AuthFailed {
                    tracing::info!(%source, "SIP authentication failed");
                }
                format!("register_{}", event.name())
            }
        };
        self.metrics.inc("outpost_sip_requests_total", &[("transport", transport.name()), ("outcome", &outcome)]);
        let Some(reply) = out.reply else { return };
        if out.changes.is_empty() {
            path.send(reply).await;
        } else if self
            .persist
            .send(persist::Job { changes: out.changes, reply: Some((reply, path.clone())) })
            .await
            .is_err()
        {
            tracing::warn!("SIP persistence has stopped: answer not sent");
        }
    }
}

/// Settings of the SIP service, from `outpost.toml`.
#[derive(Debug, Clone)]
pub struct SipSettings {
    pub udp: Option<SocketAddr>,
    pub tcp: Option<SocketAddr>,
    pub tls: Option<SocketAddr>,
    pub registrar: registrar::RegistrarConfig,
    pub defence: defence::DefenceConfig,
    pub max_connections_per_ip: usize,
    pub idle_timeout: Duration,
}

/// Loads bindings and the directory, and starts the persistence writer. The listeners are
/// started by the daemon as supervised services.
pub async fn start(
    store: Store,
    metrics: Metrics,
    settings: &SipSettings,
    cancel: CancellationToken,
) -> anyhow::Result<Arc<Shared>> {
    metrics.describe("outpost_sip_requests_total", Kind::Counter, "SIP requests by transport and outcome.");
    metrics.describe("outpost_sip_bindings", Kind::Gauge, "Registered contacts.");
    metrics.describe("outpost_sip_bans", Kind::Gauge, "Source addresses banned right now.");
    let now = crate::store::unix_now();
    let bindings = store.call(move |s| s.bindings(now)).await?;
    let doc = store.call(|s| s.export_site()).await?;
    let directory = Arc::new(Directory::from_doc(&doc));
    let nonce_key: [u8; 32] = crate::store::secrets::random_bytes()?;
    tracing::info!(bindings = bindings.len(), extensions = directory.extensions(), "SIP registrar ready");
    let core = SipCore::new(directory, bindings, &nonce_key, settings.registrar.clone(), settings.defence.clone());
    let (tx, rx) = mpsc::channel(4096);
    let shared = Arc::new(Shared { core: Mutex::new(core), store: store.clone(), metrics, persist: tx });
    tokio::spawn(persist::run(store, rx));
    tokio::spawn(housekeeping(shared.clone(), cancel));
    Ok(shared)
}

/// Once a second: expire bindings, refresh the directory when the site config changed, and
/// update the gauges.
async fn housekeeping(shared: Arc<Shared>, cancel: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = every.tick() => {}
        }
        let now = Now::system();
        let (expired, bindings, bans, revision) = {
            let mut core = shared.core();
            let expired = core.tick(now);
            (expired, core.location.count(), core.defence.bans(now.at).len(), core.directory.revision)
        };
        shared.metrics.set("outpost_sip_bindings", &[], bindings as f64);
        shared.metrics.set("outpost_sip_bans", &[], bans as f64);
        if !expired.is_empty() {
            let _ = shared.persist.send(persist::Job { changes: expired, reply: None }).await;
        }
        match shared.store.call(|s| s.revision()).await {
            Ok(current) if current != revision => match shared.store.call(|s| s.export_site()).await {
                Ok(doc) => {
                    shared.core().set_directory(Arc::new(Directory::from_doc(&doc)));
                    tracing::info!(revision = current, "SIP directory reloaded");
                }
                Err(e) => tracing::error!(error = %e, "cannot reload the SIP directory"),
            },
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot read the site revision"),
        }
    }
}
