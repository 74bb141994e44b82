//! [`Bridge`]: the calls with media, their sockets and tasks, the inactivity watchdog, the
//! events for the B2BUA and the Prometheus counters.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::ports::{PortPool, Shortage};
use super::relay::{self, CallShared, Kind, LegSockets};
use super::{CallMedia, CallStats, Leg, LegPorts, MediaConfig, MediaError, MediaEvent, Remote};
use crate::metrics::{Kind as MetricKind, Metrics};

/// How long `open` waits for the ports of just-closed calls to be released before it calls the
/// range exhausted.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// How often each call's watchdog checks for inactivity and reports counters.
const TICK: Duration = Duration::from_secs(1);
/// Events queued per subscriber; a subscriber this far behind loses events (and a warning says so).
const EVENT_QUEUE: usize = 256;
/// DSCP EF (46) in the TOS byte: voice gets the expedited class on switches that honour it.
const TOS_EF: u32 = 46 << 2;

/// The media bridge. Cheap to clone: every clone is the same bridge.
#[derive(Clone)]
pub struct Bridge {
    inner: Arc<Inner>,
}

struct Inner {
    config: MediaConfig,
    metrics: Metrics,
    pool: Arc<PortPool>,
    calls: Mutex<HashMap<String, Entry>>,
    subscribers: Mutex<Vec<mpsc::Sender<MediaEvent>>>,
    epoch: Instant,
}

struct Entry {
    shared: Arc<CallShared>,
    tasks: Vec<JoinHandle<()>>,
    opened: Instant,
}

impl Drop for Inner {
    /// The last clone of the bridge gone: its calls go too (their tasks would otherwise relay on).
    fn drop(&mut self) {
        let calls = self.calls.get_mut().unwrap_or_else(|p| p.into_inner());
        for entry in calls.values() {
            entry.tasks.iter().for_each(JoinHandle::abort);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A non-blocking UDP socket on `ip:port`, marked as voice traffic.
fn bind(ip: IpAddr, port: u16) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let addr = SocketAddr::new(ip, port);
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: a box without QoS still relays.
    let _ = if ip.is_ipv4() { socket.set_tos_v4(TOS_EF) } else { socket.set_tclass_v6(TOS_EF) };
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

impl Bridge {
    pub fn new(config: MediaConfig, metrics: Metrics) -> Bridge {
        metrics.describe("outpost_rtp_calls_total", MetricKind::Counter, "Calls given media ports.");
        metrics.describe("outpost_rtp_active_calls", MetricKind::Gauge, "Calls with media open now.");
        metrics.describe("outpost_rtp_ports_in_use", MetricKind::Gauge, "RTP/RTCP port pairs held (open or closing).");
        metrics.describe(
            "outpost_rtp_port_exhaustions_total",
            MetricKind::Counter,
            "Calls refused media: no free ports.",
        );
        metrics.describe("outpost_rtp_timeouts_total", MetricKind::Counter, "Calls whose media stopped both ways.");
        metrics.describe("outpost_rtp_relayed_packets_total", MetricKind::Counter, "RTP and RTCP packets relayed.");
        metrics.describe("outpost_rtp_relayed_bytes_total", MetricKind::Counter, "Bytes of RTP and RTCP relayed.");
        metrics.describe(
            "outpost_rtp_dropped_packets_total",
            MetricKind::Counter,
            "Packets received and not relayed (unknown source, not RTP, no destination).",
        );
        let pool = PortPool::new(&config.ports);
        Bridge {
            inner: Arc::new(Inner {
                config,
                metrics,
                pool,
                calls: Mutex::new(HashMap::new()),
                subscribers: Mutex::new(Vec::new()),
                epoch: Instant::now(),
            }),
        }
    }

    /// The address written into SDP.
    pub fn address(&self) -> IpAddr {
        self.inner.config.address
    }

    /// Binds two RTP/RTCP pairs for `call` (leg A, leg B) and starts relaying between them.
    pub async fn open(&self, call: &str) -> Result<CallMedia, MediaError> {
        if lock(&self.inner.calls).contains_key(call) {
            return Err(MediaError::Exists(call.to_owned()));
        }
        let a = self.leg_sockets().await?;
        let b = self.leg_sockets().await?;
        let ports = |s: &LegSockets| LegPorts { rtp: s.lease.rtp, rtcp: s.lease.rtp + 1 };
        let media = CallMedia { call: call.to_owned(), address: self.inner.config.address, a: ports(&a), b: ports(&b) };
        let shared = Arc::new(CallShared::new([a, b], self.inner.epoch));
        let mut calls = lock(&self.inner.calls);
        if calls.contains_key(call) {
            // Opened twice at once: this one's sockets close as `shared` drops.
            return Err(MediaError::Exists(call.to_owned()));
        }
        let mut tasks = Vec::with_capacity(5);
        for leg in [Leg::A, Leg::B] {
            for kind in [Kind::Rtp, Kind::Rtcp] {
                tasks.push(tokio::spawn(relay::relay(shared.clone(), leg, kind)));
            }
        }
        tasks.push(tokio::spawn(watch(Arc::downgrade(&self.inner), call.to_owned(), shared.clone())));
        calls.insert(call.to_owned(), Entry { shared, tasks, opened: Instant::now() });
        let active = calls.len();
        drop(calls);
        self.inner.metrics.inc("outpost_rtp_calls_total", &[]);
        self.gauges(active);
        tracing::debug!(call, a = media.a.rtp, b = media.b.rtp, "media opened");
        Ok(media)
    }

    /// One leg's sockets: the next free pair that binds. Pairs of just-closed calls are waited
    /// for (briefly); pairs some other program holds are skipped.
    async fn leg_sockets(&self) -> Result<LegSockets, MediaError> {
        let pool = &self.inner.pool;
        let deadline = Instant::now() + CLOSE_WAIT;
        let mut failed_binds = 0;
        loop {
            let released = pool.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            match pool.take() {
                Ok(lease) => {
                    let ip = self.inner.config.bind;
                    match bind(ip, lease.rtp).and_then(|rtp| Ok((rtp, bind(ip, lease.rtp + 1)?))) {
                        Ok((rtp, rtcp)) => return Ok(LegSockets { rtp, rtcp, lease }),
                        Err(e) => {
                            tracing::warn!(port = lease.rtp, error = %e, "RTP port pair not bindable, skipped");
                            failed_binds += 1;
                            if failed_binds >= pool.capacity() {
                                return Err(self.exhausted());
                            }
                        }
                    }
                }
                Err(Shortage::Closing) if Instant::now() < deadline => {
                    let _ = tokio::time::timeout_at(deadline, released).await;
                }
                Err(_) => return Err(self.exhausted()),
            }
        }
    }

    fn exhausted(&self) -> MediaError {
        self.inner.metrics.inc("outpost_rtp_port_exhaustions_total", &[]);
        let ports = &self.inner.config.ports;
        MediaError::PortsExhausted {
            first: *ports.start(),
            last: *ports.end(),
            in_use: self.inner.pool.in_use(),
            capacity: self.inner.pool.capacity(),
        }
    }

    fn gauges(&self, active: usize) {
        self.inner.metrics.set("outpost_rtp_active_calls", &[], active as f64);
        self.inner.metrics.set("outpost_rtp_ports_in_use", &[], (self.inner.pool.in_use() * 2) as f64);
    }

    /// Where the SDP of `leg`'s phone says it receives, until the phone latches. Unknown calls
    /// are ignored (the call may have just been closed).
    pub fn expect(&self, call: &str, leg: Leg, rtp: SocketAddr, rtcp: Option<SocketAddr>) {
        if let Some(entry) = lock(&self.inner.calls).get(call) {
            entry.shared.leg(leg).expect(rtp, rtcp);
            entry.shared.arm_if_ready();
        }
    }

    /// `expect` with everything the SDP said, including the clock rates of dynamic payload
    /// types (for jitter) and which of them are events rather than media.
    pub fn expect_remote(&self, call: &str, leg: Leg, remote: &Remote) {
        if let Some(entry) = lock(&self.inner.calls).get(call) {
            let mut state = entry.shared.leg(leg);
            state.expect(remote.rtp, remote.rtcp);
            state.set_rates(&remote.payloads);
            drop(state);
            entry.shared.arm_if_ready();
        }
    }

    pub fn stats(&self, call: &str) -> Option<CallStats> {
        lock(&self.inner.calls).get(call).map(|e| stats_of(call, e))
    }

    /// Stops relaying, frees the ports (as soon as the tasks are gone) and returns the final
    /// figures. `None` if the call had no media.
    pub fn close(&self, call: &str) -> Option<CallStats> {
        let mut calls = lock(&self.inner.calls);
        let entry = calls.remove(call)?;
        let active = calls.len();
        drop(calls);
        entry.tasks.iter().for_each(JoinHandle::abort);
        let stats = stats_of(call, &entry);
        entry.shared.flush_metrics(&self.inner.metrics);
        for s in &entry.shared.sockets {
            self.inner.pool.closing(s.lease.index);
        }
        drop(entry);
        self.gauges(active);
        tracing::debug!(call, "media closed");
        Some(stats)
    }

    /// Events for the B2BUA. Each subscriber gets every event from now on.
    pub fn subscribe(&self) -> mpsc::Receiver<MediaEvent> {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        lock(&self.inner.subscribers).push(tx);
        rx
    }

    /// Every call with media, by call name.
    pub fn all(&self) -> Vec<(String, CallStats)> {
        let calls = lock(&self.inner.calls);
        let mut all: Vec<(String, CallStats)> = calls.iter().map(|(k, e)| (k.clone(), stats_of(k, e))).collect();
        drop(calls);
        all.sort_by(|x, y| x.0.cmp(&y.0));
        all
    }
}

impl Inner {
    fn emit(&self, event: MediaEvent) {
        lock(&self.subscribers).retain(|tx| match tx.try_send(event.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(?event, "media event subscriber is not keeping up: event lost");
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }
}

fn stats_of(call: &str, entry: &Entry) -> CallStats {
    let shared = &entry.shared;
    let idle_us = shared.now_us().saturating_sub(shared.last_activity_us.load(std::sync::atomic::Ordering::Relaxed));
    CallStats {
        call: call.to_owned(),
        a: shared.stats(Leg::A),
        b: shared.stats(Leg::B),
        duration_secs: entry.opened.elapsed().as_secs_f64(),
        idle_secs: idle_us as f64 / 1e6,
    }
}

/// Once a second: report the call's counters, and send `Timeout` once per silence (again only
/// if media came back and stopped again).
async fn watch(bridge: Weak<Inner>, call: String, shared: Arc<CallShared>) {
    let mut silent = false;
    loop {
        let Some(inner) = bridge.upgrade() else { return };
        let timeout = inner.config.timeout;
        let tick = TICK.min(timeout);
        shared.flush_metrics(&inner.metrics);
        let last = shared.last_activity_us.load(std::sync::atomic::Ordering::Relaxed);
        let idle = Duration::from_micros(shared.now_us().saturating_sub(last));
        if idle >= timeout && shared.armed.load(std::sync::atomic::Ordering::Relaxed) {
            if !silent {
                silent = true;
                tracing::info!(call, idle_secs = idle.as_secs(), "media timeout: no RTP or RTCP either way");
                inner.metrics.inc("outpost_rtp_timeouts_total", &[]);
                inner.emit(MediaEvent::Timeout { call: call.clone() });
            }
        } else {
            silent = false;
        }
        drop(inner);
        // Wake at the next tick, or exactly when the timeout would be reached if that is sooner.
        let next = Instant::now() + tick;
        // Before arming, or once silent, the tick is enough; a due time already past would
        // otherwise make this loop spin.
        let due = shared.epoch + Duration::from_micros(last) + timeout;
        let armed = shared.armed.load(std::sync::atomic::Ordering::Relaxed);
        let wake = if armed && !silent && due < next && due > Instant::now() { due } else { next };
        tokio::time::sleep_until(wake).await;
    }
}
