//! The RTP media bridge: the box anchors the audio of every call it bridges, so that phones
//! behind NAT, on other subnets or on trunks reach each other through one address they can all
//! reach, and so that the box sees (and can report) loss and jitter per leg.
//!
//! # Legs, ports and which SDP gets which port
//! A call has two legs. **Leg A is the caller's side** (the phone that sent the INVITE) and
//! **leg B the callee's side**. Each leg has its own RTP/RTCP socket pair on the box (even port
//! RTP, odd port RTCP, from `[rtp] port_min..port_max`): phone A sends to and receives from
//! leg A's sockets only, phone B leg B's. What arrives on leg A's RTP socket leaves leg B's RTP
//! socket towards phone B, and the other way round; RTCP likewise, byte for byte.
//!
//! **The SDP sent to a phone carries the port of that phone's own leg**, the socket it will talk
//! to. And the SDP received from a phone says where that phone is, for its own leg:
//!
//! | SDP                   | rewrite with           | its `Remote` goes to      |
//! |-----------------------|------------------------|---------------------------|
//! | offer A → B (INVITE)  | leg **B**'s port       | `expect(call, Leg::A, …)` |
//! | answer B → A (200)    | leg **A**'s port       | `expect(call, Leg::B, …)` |
//! | re-offer B → A        | leg **A**'s port       | `expect(call, Leg::B, …)` |
//!
//! In code, [`CallMedia::sdp_to`] names the leg the body is going *to*, and [`Bridge::expect_remote`]
//! the leg it came *from*:
//! ```ignore
//! let media = bridge.open(&call_id).await?;                   // on INVITE
//! let (to_b, a) = media.sdp_to(Leg::B, &invite_body)?;        // INVITE body sent on to B
//! bridge.expect_remote(&call_id, Leg::A, &a);
//! let (to_a, b) = media.sdp_to(Leg::A, &answer_body)?;        // B's 200 OK body sent to A
//! bridge.expect_remote(&call_id, Leg::B, &b);
//! // ... MediaEvent::Timeout { call } from bridge.subscribe(): send BYE both ways
//! let stats = bridge.close(&call_id);                         // on BYE: ports freed, CDR figures
//! ```
//!
//! # Latching
//! Until a phone has sent, its leg sends to where its SDP said. The source of the first
//! RTP-looking packet (version 2, RFC 3550 header) received on a leg becomes that leg's remote
//! (symmetric RTP: a phone behind NAT is reached where its packets come from). Packets from any
//! other source are dropped while the latched one is live; after [`RELATCH_AFTER`] of silence a
//! new source may take over (a changed NAT binding), and the address the SDP named takes over at
//! once (a stranger who sent first does not keep the stream). A new address in `expect` (a re-INVITE
//! that moved the leg) forgets the latch.
//!
//! # Timeouts and hold
//! [`MediaEvent::Timeout`] fires when no packet (RTP or RTCP) arrived on either leg for the
//! configured `[rtp] timeout_secs`, counted from when both legs have had an SDP (`expect`): a
//! call that rings for minutes without early media does not time out. A call on hold keeps flowing one way (`sendonly`), and phones
//! keep sending RTCP while `inactive`; the bridge never ends a call itself, the B2BUA decides.
//!
//! # Layout
//! - `sdp`: parse and rewrite offer/answer bodies (pure).
//! - `rtp`: RTP/RTCP header checks (pure); `stats`: loss and jitter, RFC 3550 A.1/A.8 (pure).
//! - `ports`: the port range as RTP/RTCP pairs; `relay`: the per-socket tasks (the hot path).
//! - `bridge`: [`Bridge`], the calls, the watchdog, metrics and events.

mod bridge;
pub mod codecs;
mod ports;
mod relay;
pub mod rtp;
pub mod sdp;
pub mod stats;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

use serde::Serialize;

pub use bridge::Bridge;
pub use relay::{MAX_PACKET, RELATCH_AFTER};
pub use sdp::{Remote, SdpError};
pub use stats::Reception;

/// One side of a call. A is the caller (sent the INVITE), B the callee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Leg {
    A,
    B,
}

impl Leg {
    pub fn other(self) -> Leg {
        match self {
            Leg::A => Leg::B,
            Leg::B => Leg::A,
        }
    }

    fn index(self) -> usize {
        match self {
            Leg::A => 0,
            Leg::B => 1,
        }
    }
}

/// What the bridge needs to know from the daemon config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// `[rtp] port_min..=port_max`, used as even/odd pairs.
    pub ports: RangeInclusive<u16>,
    /// No packet on either leg for this long: `MediaEvent::Timeout`.
    pub timeout: Duration,
    /// The box's address as phones reach it: what `sdp_to` writes into `c=`.
    pub address: IpAddr,
    /// Where the sockets bind; the unspecified address of `address`'s family by default.
    pub bind: IpAddr,
}

impl MediaConfig {
    pub fn new(ports: RangeInclusive<u16>, timeout: Duration, address: IpAddr) -> MediaConfig {
        let bind = match address {
            IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        };
        MediaConfig { ports, timeout, address, bind }
    }

    /// From the daemon's `[rtp]` settings; `address` is the box's LAN address.
    pub fn from_config(config: &crate::config::Config, address: IpAddr) -> MediaConfig {
        MediaConfig::new(config.rtp_ports.clone(), config.rtp_timeout, address)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("no free RTP ports in {first}-{last} ({in_use} of {capacity} pairs in use or not bindable)")]
    PortsExhausted { first: u16, last: u16, in_use: usize, capacity: usize },
    #[error("call `{0}` already has media")]
    Exists(String),
}

/// Something the B2BUA should act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// No RTP or RTCP on either leg for the configured timeout.
    Timeout { call: String },
}

/// The box's ports of one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LegPorts {
    pub rtp: u16,
    pub rtcp: u16,
}

/// What `Bridge::open` gives the B2BUA: the box's address and each leg's ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallMedia {
    pub call: String,
    pub address: IpAddr,
    pub a: LegPorts,
    pub b: LegPorts,
}

impl CallMedia {
    pub fn leg(&self, leg: Leg) -> LegPorts {
        match leg {
            Leg::A => self.a,
            Leg::B => self.b,
        }
    }

    /// Rewrites an SDP body that is about to be sent *to* the phone of leg `to`: its audio now
    /// points at `to`'s own sockets. The returned `Remote` is where the *sender* (the other
    /// leg's phone) receives: give it to `Bridge::expect_remote(call, to.other(), ..)`.
    pub fn sdp_to(&self, to: Leg, body: &[u8]) -> Result<(Vec<u8>, Remote), SdpError> {
        sdp::rewrite(body, self.address, self.leg(to).rtp)
    }
}

/// One leg's figures. "Received" is what this leg's phone sent to the box; "sent" is what the
/// box sent to this leg's phone (relayed from the other leg).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegStats {
    /// The box's RTP port of this leg (RTCP is the next one).
    pub port: u16,
    /// Where the SDP said the phone is.
    pub expected: Option<SocketAddr>,
    /// Where its packets actually come from (and where the box sends).
    pub latched: Option<SocketAddr>,
    pub rtcp_latched: Option<SocketAddr>,
    pub received: Reception,
    pub rtcp_packets: u64,
    pub rtcp_bytes: u64,
    /// Of what this phone sent, what went on to the other phone (RTP and RTCP).
    pub relayed_packets: u64,
    pub relayed_bytes: u64,
    /// Received on this leg and not relayed: unknown source, not RTP, too large, no
    /// destination yet, or a full send buffer.
    pub dropped: u64,
    pub sent_packets: u64,
    pub sent_bytes: u64,
}

/// Both legs of one call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallStats {
    pub call: String,
    pub a: LegStats,
    pub b: LegStats,
    pub duration_secs: f64,
    /// Seconds since the last packet on either leg.
    pub idle_secs: f64,
}
