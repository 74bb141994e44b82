//! Writes binding changes to SQLite in batches (group commit), then sends the answers that
//! waited for them: a phone is told "registered" only once its binding is on disk, and a burst
//! of registrations costs one transaction, not one each.

use tokio::sync::mpsc;

use super::location::Change;
use super::ReplyPath;
use crate::store::Store;

/// Most jobs written in one transaction.
const BATCH: usize = 512;

pub struct Job {
    pub changes: Vec<Change>,
    pub reply: Option<(Vec<u8>, ReplyPath)>,
}

pub async fn run(store: Store, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut jobs, BATCH).await > 0 {
        let changes: Vec<Change> = jobs.iter_mut().flat_map(|j| std::mem::take(&mut j.changes)).collect();
        match store.call(move |s| s.apply_binding_changes(&changes)).await {
            Ok(()) => {
                for job in jobs.drain(..) {
                    if let Some((reply, path)) = job.reply {
                        path.send(reply).await;
                    }
                }
            }
            Err(e) => {
                // Unanswered, the phones retry; the log says why.
                tracing::error!(error = %e, jobs = jobs.len(), "cannot persist SIP bindings");
                jobs.clear();
            }
        }
    }
}
