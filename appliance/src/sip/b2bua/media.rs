//! What the B2BUA asks of the media bridge, as a small trait: the core stays testable with a
//! fake, and the driver plugs in `media::Bridge`. Leg A is the caller's side, leg B the
//! callee's (every fork shares the B ports: only the answering phone's media flows).

/// Which side of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("no media ports free")]
    NoPorts,
    #[error("the SDP cannot be anchored: {0}")]
    Sdp(String),
    #[error("no media bridge for this call")]
    NoCall,
}

pub trait Anchor: Send {
    /// Reserves the ports of both legs for `call`.
    fn open(&mut self, call: u64) -> Result<(), MediaError>;
    /// An SDP body that came from `from`, rewritten to go to the other side: its addresses
    /// become the box's port of the other leg, and the addresses it named are where the box
    /// expects (and latches) `from`'s media.
    fn relay(&mut self, call: u64, from: Side, sdp: &[u8]) -> Result<Vec<u8>, MediaError>;
    /// Releases the ports; the media counters of the call, for its CDR.
    fn close(&mut self, call: u64) -> Option<serde_json::Value>;
}

/// No bridge: SDP passes unchanged and media flows phone to phone (tests of the signalling
/// alone, and a box run with media off).
#[derive(Default)]
pub struct Direct;

impl Anchor for Direct {
    fn open(&mut self, _call: u64) -> Result<(), MediaError> {
        Ok(())
    }

    fn relay(&mut self, _call: u64, _from: Side, sdp: &[u8]) -> Result<Vec<u8>, MediaError> {
        Ok(sdp.to_vec())
    }

    fn close(&mut self, _call: u64) -> Option<serde_json::Value> {
        None
    }
}
