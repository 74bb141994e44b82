//! The media bridge (`crate::media::Bridge`) behind the B2BUA's `Anchor` trait, and the task
//! that turns the bridge's media timeouts into hang-ups. Calls are named on the bridge by the
//! B2BUA's call id in hex, the same name the CDR carries.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tokio_util::sync::CancellationToken;

use super::b2bua::media::{Anchor, MediaError, Side};
use super::Shared;
use crate::media::{Bridge, CallMedia, Leg, MediaEvent};

pub struct BridgeAnchor {
    bridge: Bridge,
    calls: HashMap<u64, CallMedia>,
}

impl BridgeAnchor {
    pub fn new(bridge: Bridge) -> BridgeAnchor {
        BridgeAnchor { bridge, calls: HashMap::new() }
    }
}

/// The bridge's name of the SIP core's call `call`.
pub(crate) fn name(call: u64) -> String {
    format!("{call:x}")
}

fn leg(side: Side) -> Leg {
    match side {
        Side::A => Leg::A,
        Side::B => Leg::B,
    }
}

impl Anchor for BridgeAnchor {
    fn open(&mut self, call: u64) -> Result<(), MediaError> {
        // The core runs under a mutex and never waits: `open` completes at once unless every
        // free pair is still closing, which is treated as no ports (the caller gets 503).
        let named = name(call);
        let mut fut = std::pin::pin!(self.bridge.open(&named));
        match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(media)) => {
                self.calls.insert(call, media);
                Ok(())
            }
            Poll::Ready(Err(e)) => {
                tracing::warn!(call, error = %e, "no media for a call");
                Err(MediaError::NoPorts)
            }
            Poll::Pending => Err(MediaError::NoPorts),
        }
    }

    fn relay(&mut self, call: u64, from: Side, sdp: &[u8]) -> Result<Vec<u8>, MediaError> {
        let media = self.calls.get(&call).ok_or(MediaError::NoCall)?;
        let from = leg(from);
        let (body, remote) = media.sdp_to(from.other(), sdp).map_err(|e| MediaError::Sdp(e.to_string()))?;
        self.bridge.expect_remote(&name(call), from, &remote);
        Ok(body)
    }

    fn close(&mut self, call: u64) -> Option<serde_json::Value> {
        self.calls.remove(&call)?;
        let stats = self.bridge.close(&name(call))?;
        serde_json::to_value(stats).ok()
    }
}

/// Hangs up calls whose media stopped.
pub async fn watch_timeouts(shared: Arc<Shared>, bridge: Bridge, cancel: CancellationToken) {
    let mut events = bridge.subscribe();
    loop {
        let event = tokio::select! {
            () = cancel.cancelled() => return,
            e = events.recv() => match e { Some(e) => e, None => return },
        };
        match event {
            MediaEvent::Timeout { call } => match u64::from_str_radix(&call, 16) {
                Ok(id) => super::timer::media_timeout(&shared, id).await,
                Err(_) => tracing::debug!(call, "media timeout of a call the B2BUA does not know"),
            },
            #[allow(unreachable_patterns)] // the event enum is non-exhaustive
            other => tracing::debug!(?other, "media event ignored"),
        }
    }
}
