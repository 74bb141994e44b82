//! The hot path: one task per socket (leg A RTP, leg A RTCP, leg B RTP, leg B RTCP). Each
//! receives into a buffer of its own (allocated once, with the task), decides under its leg's
//! lock whether the source is the phone (symmetric latching), and sends the same bytes out of the
//! other leg's socket of the same kind to where that leg's phone is.
//!
//! Per packet: one `recv_from`, one clock read, two short uncontended locks (this leg's state,
//! the other leg's destination), one non-blocking `send_to`, and a few atomic adds. No
//! allocation, no copy. Batching (recvmmsg/sendmmsg) is not used: tokio and socket2 offer no
//! safe batched calls and `unsafe_code` is forbidden; at 50 packets/s per stream the system call
//! per packet is not where the time goes (see docs/benchmarks.md).
//!
//! A full send buffer drops the packet (`try_send_to`) instead of waiting: a late voice packet is
//! worth nothing, and waiting would hold back the reception of this socket.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::ports::Lease;
use super::rtp;
use super::sdp::static_clock_rate;
use super::stats::StreamStats;
use super::{Leg, LegStats};
use crate::metrics::Metrics;

/// Largest datagram relayed. Voice is far smaller; 2048 covers video-sized packets at a 1500
/// MTU. Longer datagrams are dropped, never cut.
pub const MAX_PACKET: usize = 2048;

/// A latched source that has been silent this long may be replaced by a new one (the phone's
/// NAT binding changed). Shorter silences keep the latch, so a stranger who learns the port
/// cannot take over a live stream (the "RTP bleed" attack).
pub const RELATCH_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Rtp,
    Rtcp,
}

/// The two sockets of one leg and the ports they hold. The lease is declared last so that it
/// drops (and frees the pair) after the sockets are closed.
pub(crate) struct LegSockets {
    pub(crate) rtp: UdpSocket,
    pub(crate) rtcp: UdpSocket,
    pub(crate) lease: Lease,
}

/// Where a leg's phone is and what it sent.
pub(crate) struct LegState {
    expected_rtp: Option<SocketAddr>,
    expected_rtcp: Option<SocketAddr>,
    latched_rtp: Option<SocketAddr>,
    latched_rtcp: Option<SocketAddr>,
    last_rtp_us: u64,
    last_rtcp_us: u64,
    stream: StreamStats,
    rtcp_packets: u64,
    rtcp_bytes: u64,
    /// Clock rate per payload type for jitter; 0 = do not use for jitter.
    rates: [u32; 128],
}

/// Counters updated without the lock.
#[derive(Default)]
pub(crate) struct LegCounters {
    pub(crate) relayed_packets: AtomicU64,
    pub(crate) relayed_bytes: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

/// Everything the four relay tasks and the watchdog of one call share.
pub(crate) struct CallShared {
    pub(crate) sockets: [LegSockets; 2],
    state: [Mutex<LegState>; 2],
    pub(crate) counters: [LegCounters; 2],
    /// Microseconds since `epoch` of the last packet accepted on any socket of the call.
    pub(crate) last_activity_us: AtomicU64,
    /// Set once both legs have an SDP (offer and answer): only then does silence count, so
    /// that a call ringing for minutes without early media does not time out.
    pub(crate) armed: AtomicBool,
    pub(crate) epoch: Instant,
    /// Totals already added to the Prometheus counters: (packets, bytes, dropped).
    reported: Mutex<(u64, u64, u64)>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The RFC 3550 default RTCP address of an RTP address: the next port.
fn next_port(a: SocketAddr) -> Option<SocketAddr> {
    a.port().checked_add(1).map(|p| SocketAddr::new(a.ip(), p))
}

fn usable(addr: SocketAddr) -> bool {
    !addr.ip().is_unspecified() && addr.port() != 0
}

impl LegState {
    fn new() -> LegState {
        let mut rates = [0u32; 128];
        for (pt, rate) in rates.iter_mut().enumerate() {
            // Comfort noise (13) comes at no steady pace.
            *rate = if pt == 13 { 0 } else { static_clock_rate(pt as u8) };
        }
        LegState {
            expected_rtp: None,
            expected_rtcp: None,
            latched_rtp: None,
            latched_rtcp: None,
            last_rtp_us: 0,
            last_rtcp_us: 0,
            stream: StreamStats::default(),
            rtcp_packets: 0,
            rtcp_bytes: 0,
            rates,
        }
    }

    /// Where the SDP says the phone is. A different address than before (a re-INVITE moved the
    /// leg to another phone) forgets the latch; the same address keeps it.
    pub(crate) fn expect(&mut self, rtp: SocketAddr, rtcp: Option<SocketAddr>) {
        if self.expected_rtp != Some(rtp) {
            self.latched_rtp = None;
            self.latched_rtcp = None;
        }
        self.expected_rtp = Some(rtp);
        self.expected_rtcp = rtcp;
    }

    /// Whether the SDP of this leg's phone has been seen.
    pub(crate) fn has_remote(&self) -> bool {
        self.expected_rtp.is_some()
    }

    /// Clock rates from the SDP's rtpmaps; telephone-event and CN do not count for jitter.
    pub(crate) fn set_rates(&mut self, payloads: &[super::sdp::Payload]) {
        for p in payloads {
            if let Some(slot) = self.rates.get_mut(usize::from(p.pt)) {
                let steady =
                    !p.encoding.eq_ignore_ascii_case("telephone-event") && !p.encoding.eq_ignore_ascii_case("CN");
                *slot = if steady { p.clock_rate } else { 0 };
            }
        }
    }

    /// Whether a packet from `src` is this leg's phone talking; latches the first RTP-looking
    /// one (or the first after `RELATCH_AFTER` of silence from the latched source).
    fn accept(&mut self, kind: Kind, packet: &[u8], src: SocketAddr, now_us: u64) -> bool {
        let header = rtp::rtp(packet);
        let (latched, last) = match kind {
            Kind::Rtp => (&mut self.latched_rtp, &mut self.last_rtp_us),
            Kind::Rtcp => (&mut self.latched_rtcp, &mut self.last_rtcp_us),
        };
        if *latched != Some(src) {
            let looks_right = match kind {
                Kind::Rtp => header.is_some(),
                Kind::Rtcp => rtp::is_rtcp(packet),
            };
            // The address the SDP named always wins: a stranger who got in first is replaced as
            // soon as the real phone sends.
            let declared = match kind {
                Kind::Rtp => self.expected_rtp,
                Kind::Rtcp => self.expected_rtcp.or_else(|| self.expected_rtp.and_then(next_port)),
            };
            let stale = latched.is_none()
                || declared == Some(src)
                || now_us.saturating_sub(*last) >= RELATCH_AFTER.as_micros() as u64;
            if !looks_right || !stale {
                return false;
            }
            tracing::debug!(%src, ?kind, previous = ?*latched, "media source latched");
            *latched = Some(src);
        }
        *last = now_us;
        match (kind, header) {
            (Kind::Rtp, Some(h)) => {
                let rate = self.rates[usize::from(h.payload_type)];
                self.stream.on_packet(&h, packet.len(), now_us, rate);
            }
            // RTCP on its own socket, or multiplexed on the RTP one (RFC 5761).
            _ => {
                self.rtcp_packets += 1;
                self.rtcp_bytes += packet.len() as u64;
            }
        }
        true
    }

    /// Where to send this leg's phone a packet of `kind`: the latched source, else what the SDP
    /// said. RTCP of a phone that latched elsewhere than its SDP said (NAT) but has not sent RTCP
    /// yet goes to the latched RTP address's port + 1, where its NAT most likely maps it.
    fn destination(&self, kind: Kind) -> Option<SocketAddr> {
        let next = next_port;
        let to = match kind {
            Kind::Rtp => self.latched_rtp.or(self.expected_rtp),
            Kind::Rtcp => match (self.latched_rtcp, self.latched_rtp) {
                (Some(a), _) => Some(a),
                (None, Some(rtp)) if Some(rtp) != self.expected_rtp => next(rtp),
                _ => self.expected_rtcp.or_else(|| self.expected_rtp.and_then(next)),
            },
        };
        to.filter(|a| usable(*a))
    }

    fn report(&self, port: u16, counters: &LegCounters, sent: &LegCounters) -> LegStats {
        LegStats {
            port,
            expected: self.expected_rtp,
            latched: self.latched_rtp,
            rtcp_latched: self.latched_rtcp,
            received: self.stream.report(),
            rtcp_packets: self.rtcp_packets,
            rtcp_bytes: self.rtcp_bytes,
            relayed_packets: counters.relayed_packets.load(Ordering::Relaxed),
            relayed_bytes: counters.relayed_bytes.load(Ordering::Relaxed),
            dropped: counters.dropped.load(Ordering::Relaxed),
            sent_packets: sent.relayed_packets.load(Ordering::Relaxed),
            sent_bytes: sent.relayed_bytes.load(Ordering::Relaxed),
        }
    }
}

impl CallShared {
    pub(crate) fn new(sockets: [LegSockets; 2], epoch: Instant) -> CallShared {
        let now = epoch.elapsed().as_micros() as u64;
        CallShared {
            sockets,
            state: [Mutex::new(LegState::new()), Mutex::new(LegState::new())],
            counters: [LegCounters::default(), LegCounters::default()],
            last_activity_us: AtomicU64::new(now),
            armed: AtomicBool::new(false),
            epoch,
            reported: Mutex::new((0, 0, 0)),
        }
    }

    pub(crate) fn leg(&self, leg: Leg) -> MutexGuard<'_, LegState> {
        lock(&self.state[leg.index()])
    }

    /// Starts the inactivity clock once both legs know their phone (see `armed`).
    pub(crate) fn arm_if_ready(&self) {
        if !self.armed.load(Ordering::Relaxed) && self.leg(Leg::A).has_remote() && self.leg(Leg::B).has_remote() {
            self.last_activity_us.store(self.now_us(), Ordering::Relaxed);
            self.armed.store(true, Ordering::Relaxed);
        }
    }

    pub(crate) fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn socket(&self, leg: Leg, kind: Kind) -> &UdpSocket {
        let s = &self.sockets[leg.index()];
        match kind {
            Kind::Rtp => &s.rtp,
            Kind::Rtcp => &s.rtcp,
        }
    }

    pub(crate) fn stats(&self, leg: Leg) -> LegStats {
        let port = self.sockets[leg.index()].lease.rtp;
        self.leg(leg).report(port, &self.counters[leg.index()], &self.counters[leg.other().index()])
    }

    /// Adds what was relayed and dropped since the last call to the Prometheus counters. Called
    /// once a second by the watchdog and at close, never per packet.
    pub(crate) fn flush_metrics(&self, metrics: &Metrics) {
        let total = |f: fn(&LegCounters) -> &AtomicU64| -> u64 {
            self.counters.iter().map(|c| f(c).load(Ordering::Relaxed)).sum()
        };
        let now = (total(|c| &c.relayed_packets), total(|c| &c.relayed_bytes), total(|c| &c.dropped));
        let mut reported = lock(&self.reported);
        let delta =
            (now.0.saturating_sub(reported.0), now.1.saturating_sub(reported.1), now.2.saturating_sub(reported.2));
        *reported = now;
        drop(reported);
        if delta.0 > 0 {
            metrics.add("outpost_rtp_relayed_packets_total", &[], delta.0 as f64);
            metrics.add("outpost_rtp_relayed_bytes_total", &[], delta.1 as f64);
        }
        if delta.2 > 0 {
            metrics.add("outpost_rtp_dropped_packets_total", &[], delta.2 as f64);
        }
    }
}

/// Relays what arrives on `leg`'s socket of `kind` to the other leg's phone, until aborted.
pub(crate) async fn relay(call: Arc<CallShared>, leg: Leg, kind: Kind) {
    // One byte more than the largest packet relayed, to tell a full-size packet from a cut one.
    let mut buf = [0u8; MAX_PACKET + 1];
    let other = leg.other();
    let counters = &call.counters[leg.index()];
    loop {
        let (len, src) = match call.socket(leg, kind).recv_from(&mut buf).await {
            Ok(got) => got,
            Err(e) => {
                // ICMP errors and the like: nothing to do but not spin on them.
                tracing::debug!(error = %e, ?leg, ?kind, "RTP socket receive failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let now = call.now_us();
        let packet = &buf[..len];
        if len > MAX_PACKET || !call.leg(leg).accept(kind, packet, src, now) {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        call.last_activity_us.store(now, Ordering::Relaxed);
        let destination = call.leg(other).destination(kind);
        let sent = destination.map(|to| call.socket(other, kind).try_send_to(packet, to));
        match sent {
            Some(Ok(_)) => {
                counters.relayed_packets.fetch_add(1, Ordering::Relaxed);
                counters.relayed_bytes.fetch_add(len as u64, Ordering::Relaxed);
            }
            // No destination yet (hold, or the other phone unknown), or a full send buffer.
            _ => {
                counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
