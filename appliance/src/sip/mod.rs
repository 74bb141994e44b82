//! The SIP side of the box: registrar and B2BUA (the call controller).
//!
//! Layout: the pure core is `core` (the order of steps for each request), `message` (rsip
//! parse and build), `digest`, `auth` (digest checks shared by REGISTER and INVITE),
//! `transaction` (non-INVITE server transactions), `txn` (client and INVITE server
//! transactions), `registrar`, `location`, `defence`, `directory`, `framing`, `b2bua` (calls).
//! The tokio drivers are `udp`, `stream` (TCP and TLS), `persist` (writes binding changes in
//! batches, then sends the answers that waited for them), `timer` (fires the core's deadlines
//! and media events) and `cdrs` (writes call records).

pub mod auth;
pub mod b2bua;
pub mod bridge;
pub mod connect;
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
pub mod timer;
pub mod transaction;
pub mod trunks;
pub mod txn;
pub mod udp;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use self::b2bua::cdr::CallRecord;
use self::b2bua::Outgoing;
use self::core::{Now, Outcome, Output, SipCore};
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
    /// The UDP socket, once its driver runs: every UDP message leaves from it.
    udp: OnceLock<Arc<tokio::net::UdpSocket>>,
    /// Open TCP/TLS connections by peer: a message to a phone registered over one goes back
    /// on it (RFC 5626 style connection reuse; the box opens none of its own yet).
    streams: Mutex<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>,
    /// The core's next deadline, for the timer task.
    deadline: watch::Sender<Option<Instant>>,
    records: mpsc::Sender<CallRecord>,
    /// The TLS client for trunks (none when no CA could be loaded).
    pub trunk_tls: Option<tokio_rustls::TlsConnector>,
}

impl Shared {
    pub fn core(&self) -> MutexGuard<'_, SipCore> {
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_udp(&self, socket: Arc<tokio::net::UdpSocket>) {
        let _ = self.udp.set(socket);
    }

    pub fn stream_opened(&self, peer: SocketAddr, tx: mpsc::Sender<Vec<u8>>) {
        self.streams.lock().unwrap_or_else(|p| p.into_inner()).insert(peer, tx);
    }

    pub fn stream_closed(&self, peer: SocketAddr) {
        self.streams.lock().unwrap_or_else(|p| p.into_inner()).remove(&peer);
    }

    /// Sends what the core asked for beyond the reply, queues CDRs, records trunk events, and
    /// rearms the timer.
    pub async fn dispatch(self: &Arc<Self>, out: Output) {
        let Output { sends, records, trunk_events, deadline, .. } = out;
        if !trunk_events.is_empty() {
            trunks::record(self, trunk_events).await;
        }
        for out in sends {
            self.deliver(out).await;
        }
        for record in records {
            self.metrics.inc("outpost_calls_total", &[("disposition", record.disposition.as_str())]);
            if self.records.send(record).await.is_err() {
                tracing::warn!("CDR writer has stopped: record lost");
            }
        }
        self.metrics.set("outpost_calls_active", &[], self.core().b2bua.active() as f64);
        self.deadline.send_if_modified(|d| {
            let changed = *d != deadline;
            *d = deadline;
            changed
        });
    }

    /// The host name of the trunk reached at `dest`, if it is one.
    fn trunk_host(&self, dest: b2bua::dialog::Dest) -> Option<String> {
        let core = self.core();
        let (tenant, name, _) = core.trunk_view.targets.iter().find(|(_, _, d)| *d == dest)?;
        let t = core.site.tenants.iter().find(|t| t.name == *tenant)?;
        t.trunks.iter().find(|x| x.name == *name).map(|x| x.host.clone())
    }

    async fn deliver(self: &Arc<Self>, out: Outgoing) {
        match out.to.transport {
            Transport::Udp => match self.udp.get() {
                Some(socket) => {
                    if let Err(e) = socket.send_to(&out.bytes, out.to.addr).await {
                        tracing::debug!(to = %out.to.addr, error = %e, "SIP send failed");
                    }
                }
                None => tracing::warn!(to = %out.to.addr, "no UDP listener: message not sent"),
            },
            Transport::Tcp | Transport::Tls => {
                let tx = self.streams.lock().unwrap_or_else(|p| p.into_inner()).get(&out.to.addr).cloned();
                // A trunk without a connection gets one; a phone's closed connection stays closed.
                let tx = tx.or_else(|| self.trunk_host(out.to).map(|host| connect::open(self, out.to, host)));
                match tx {
                    Some(tx) => {
                        let _ = tx.send(out.bytes).await;
                    }
                    None => tracing::info!(to = %out.to.addr, "the phone's connection is closed: message not sent"),
                }
            }
        }
    }

    /// Anchors the media of every call on `bridge` from now on, and hangs up calls whose
    /// media stops.
    pub fn attach_media(self: &Arc<Self>, bridge: crate::media::Bridge, cancel: CancellationToken) {
        self.core().b2bua.set_media(Box::new(bridge::BridgeAnchor::new(bridge.clone())));
        tokio::spawn(bridge::watch_timeouts(self.clone(), bridge, cancel));
    }

    /// Handles one message: its answer first (a 200 for a CANCEL goes before the 487 it
    /// causes), then what it made the B2BUA send elsewhere.
    pub async fn process(self: &Arc<Self>, bytes: &[u8], source: SocketAddr, transport: Transport, path: &ReplyPath) {
        let mut out = self.core().handle(Now::system(), bytes, source, transport);
        let (reply, changes, outcome) = (out.reply.take(), std::mem::take(&mut out.changes), out.outcome);
        let outcome = match outcome {
            Outcome::Response => None,
            Outcome::Invite(event) => Some(event.name()),
            Outcome::Dropped => Some("dropped".to_owned()),
            Outcome::Banned => Some("banned".to_owned()),
            Outcome::OverRate => Some("over_rate".to_owned()),
            Outcome::Malformed => Some("malformed".to_owned()),
            Outcome::Retransmission => Some("retransmission".to_owned()),
            Outcome::Answered(code) => Some(code.to_string()),
            Outcome::Register(event) => {
                if event == registrar::Event::AuthFailed {
                    tracing::info!(%source, "SIP authentication failed");
                }
                Some(format!("register_{}", event.name()))
            }
        };
        if let Some(outcome) = outcome {
            self.metrics.inc("outpost_sip_requests_total", &[("transport", transport.name()), ("outcome", &outcome)]);
        }
        if let Some(reply) = reply {
            if changes.is_empty() {
                path.send(reply).await;
            } else if self.persist.send(persist::Job { changes, reply: Some((reply, path.clone())) }).await.is_err() {
                tracing::warn!("SIP persistence has stopped: answer not sent");
            }
        }
        self.dispatch(out).await;
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
    /// CAs trusted for TLS trunks besides the system's.
    pub trunk_ca_file: Option<std::path::PathBuf>,
    /// DNS servers for trunk lookups; empty: the system's.
    pub nameservers: Vec<SocketAddr>,
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
    metrics.describe("outpost_calls_active", Kind::Gauge, "Calls ringing or answered right now.");
    metrics.describe("outpost_calls_total", Kind::Counter, "Calls ended, by disposition.");
    trunks::describe(&metrics);
    let now = crate::store::unix_now();
    let bindings = store.call(move |s| s.bindings(now)).await?;
    let doc = store.call(|s| s.export_site()).await?;
    let directory = Arc::new(Directory::from_doc(&doc));
    let nonce_key: [u8; 32] = crate::store::secrets::random_bytes()?;
    tracing::info!(bindings = bindings.len(), extensions = directory.extensions(), "SIP registrar ready");
    let mut core = SipCore::new(directory, bindings, &nonce_key, settings.registrar.clone(), settings.defence.clone());
    core.set_site(Arc::new(doc));
    core.b2bua.me = advertised(settings);
    tracing::info!(address = %core.b2bua.me, "B2BUA ready");
    let (tx, rx) = mpsc::channel(4096);
    let (deadline, wake) = watch::channel(None);
    let (records, records_rx) = mpsc::channel(4096);
    let shared = Arc::new(Shared {
        core: Mutex::new(core),
        store: store.clone(),
        metrics,
        persist: tx,
        udp: OnceLock::new(),
        streams: Mutex::new(HashMap::new()),
        deadline,
        records,
        trunk_tls: match connect::tls_connector(settings.trunk_ca_file.as_deref()) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "TLS trunks cannot be reached");
                None
            }
        },
    });
    tokio::spawn(persist::run(store.clone(), rx));
    tokio::spawn(timer::run(shared.clone(), wake, cancel.clone()));
    tokio::spawn(timer::write_records(store, records_rx));
    tokio::spawn(trunks::resolve(shared.clone(), settings.nameservers.clone(), cancel.clone()));
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
                    let mut core = shared.core();
                    core.set_directory(Arc::new(Directory::from_doc(&doc)));
                    core.set_site(Arc::new(doc));
                    drop(core);
                    tracing::info!(revision = current, "SIP directory reloaded");
                }
                Err(e) => tracing::error!(error = %e, "cannot reload the SIP directory"),
            },
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot read the site revision"),
        }
    }
}

/// The address phones reach the box at, for Via and Contact of the B2BUA: the SIP listener's,
/// or when it listens on every address, the one the box would use towards the LAN.
fn advertised(settings: &SipSettings) -> SocketAddr {
    let listen = settings.udp.or(settings.tcp).unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 5060)));
    if !listen.ip().is_unspecified() {
        return listen;
    }
    // Connecting a UDP socket sends nothing; it only picks the outgoing interface.
    let ip = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|()| s))
        .and_then(|s| s.local_addr())
        .map_or(IpAddr::from([127, 0, 0, 1]), |a| a.ip());
    SocketAddr::new(ip, listen.port())
}
