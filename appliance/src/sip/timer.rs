//! The drivers of time and records: a task that calls the core when its next deadline comes
//! (retransmissions, transaction timeouts, ring-out of a step), and one that writes the CDRs
//! of ended calls, one transaction each.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::b2bua::cdr::CallRecord;
use super::core::Now;
use super::Shared;
use crate::store::Store;

/// Sleeps until the core's deadline (rearmed whenever an input moves it), then runs its timers.
pub async fn run(shared: Arc<Shared>, mut wake: watch::Receiver<Option<Instant>>, cancel: CancellationToken) {
    loop {
        let deadline = *wake.borrow_and_update();
        // With nothing due, wake once a minute anyway: harmless, and robust to a missed rearm.
        let at = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
        tokio::select! {
            () = cancel.cancelled() => return,
            changed = wake.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {
                let out = shared.core().on_timer(Now::system());
                shared.dispatch(out).await;
            }
        }
    }
}

/// The media bridge reported a call without media: the core hangs it up.
pub async fn media_timeout(shared: &Arc<Shared>, call: u64) {
    let out = shared.core().on_media_timeout(Now::system(), call);
    shared.dispatch(out).await;
}

pub async fn write_records(store: Store, mut rx: mpsc::Receiver<CallRecord>) {
    while let Some(record) = rx.recv().await {
        let call = record.call.clone();
        if let Err(e) = store.call(move |s| s.insert_cdr(&record)).await {
            tracing::error!(call, error = %e, "cannot write a CDR");
        }
    }
}
