//! RFC 3261 §17 transactions the B2BUA needs, as sans-I/O state machines told the time:
//! `client` (INVITE and non-INVITE client transactions, timers A/B/D and E/F/K) and
//! `server_invite` (the INVITE server transaction, timers G/H/I, 100 Trying, ACK for a non-2xx
//! absorbed). The non-INVITE server transactions of the registrar stay in `sip::transaction`.
//!
//! Each machine has `handle(now, input) -> (Step, next_deadline)`: what to put on the wire,
//! what to tell the transaction user, and when to be called again with `Input::Timer`.

pub mod client;
pub mod server_invite;

use std::time::Duration;

pub use client::ClientTxn;
pub use server_invite::ServerInvite;

/// Round-trip estimate (RFC 3261 §17.1.1.1).
pub const T1: Duration = Duration::from_millis(500);
/// Longest retransmission interval of non-INVITE requests and INVITE responses.
pub const T2: Duration = Duration::from_secs(4);
/// How long a message may linger in the network.
pub const T4: Duration = Duration::from_secs(5);
/// Timers B, F and H: 64·T1.
pub const TIMEOUT: Duration = Duration::from_millis(64 * 500);
/// Timer D over UDP: at least 32 s, to absorb retransmitted final responses.
pub const TIMER_D: Duration = Duration::from_secs(32);

/// What one call of `handle` asks of the driver and the transaction user.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Bytes to put on the wire towards the peer (a request, a retransmission, an ACK, a
    /// response), in order.
    pub send: Vec<Vec<u8>>,
    /// Hand the input response to the transaction user (client transactions only).
    pub deliver: bool,
    /// The transaction gave up (Timer B, F or H, or 2xx never ACKed): the user must act.
    pub timed_out: bool,
    /// The transaction is over and can be forgotten.
    pub terminated: bool,
}

impl Step {
    fn send(bytes: Vec<u8>) -> Step {
        Step { send: vec![bytes], ..Step::default() }
    }
}
