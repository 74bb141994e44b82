//! Backups over the broker (docs/sync-protocol.md, "Backups"), box side.
//!
//! [`Upload`] is the pure progress of one upload: told the fleet's acks, it says which chunks
//! to send, at most `WINDOW` ahead of the fleet's `have`; after a reconnect (or a stall) the
//! manifest is sent again and the upload goes on from the `have` the fleet answers with, so
//! nothing is sent again from zero. The agent does the I/O.
//!
//! [`fetch_backup`] downloads a backup for a restore on a connection of its own.

use std::collections::HashMap;
use std::time::Duration;

use cloud_sync::backup::{part, Ack, Fetch, Manifest, WINDOW};
use cloud_sync::{decode, encode, Topic, SCHEMA};
use rumqttc::QoS;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::link::{self, Incoming};
use super::{CloudSettings, SyncError};
use crate::backup::Sealed;

/// What to do after an ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send these chunks (indexes, in order).
    Send(Vec<usize>),
    /// The fleet holds the whole backup.
    Complete,
    /// The fleet refused the backup: the reason.
    Failed(String),
}

/// The progress of one upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: String,
    total: usize,
    /// Chunks from 0 the fleet acknowledged.
    have: usize,
    /// The next chunk to send.
    next: usize,
    /// The manifest was (re)sent: chunks wait for its ack, which says where to go on.
    awaiting_manifest: bool,
}

impl Upload {
    /// A new upload: the manifest is to be sent first.
    pub fn new(id: &str, total: usize) -> Upload {
        Upload { id: id.to_owned(), total, have: 0, next: 0, awaiting_manifest: true }
    }

    /// After a reconnect or a stall: the manifest goes again and nothing else until its ack.
    pub fn restart(&mut self) {
        self.awaiting_manifest = true;
        self.next = self.have;
    }

    pub fn have(&self) -> usize {
        self.have
    }

    /// Whether the next ack answers a (re)sent manifest.
    pub fn awaiting_manifest(&self) -> bool {
        self.awaiting_manifest
    }

    /// The fleet's ack (for this backup or another: others are ignored).
    pub fn on_ack(&mut self, ack: &Ack) -> Step {
        if ack.id != self.id {
            return Step::Send(Vec::new());
        }
        if let Some(e) = &ack.error {
            return Step::Failed(e.clone());
        }
        let have = (ack.have as usize).min(self.total);
        if ack.complete || have == self.total {
            self.have = self.total;
            return Step::Complete;
        }
        if self.awaiting_manifest {
            // The fleet's count is the truth after a disconnect (it may hold fewer than acked
            // before, if its last chunks were lost with the broker).
            self.awaiting_manifest = false;
            self.have = have;
            self.next = have;
        } else {
            self.have = self.have.max(have);
            self.next = self.next.max(self.have);
        }
        let end = self.total.min(self.have + WINDOW);
        let send: Vec<usize> = (self.next..end).collect();
        self.next = self.next.max(end);
        Step::Send(send)
    }
}

/// Which backup to fetch: an id, or `latest` (the newest complete one).
pub const LATEST: &str = "latest";

/// Fetches backup `which` of this box from the fleet on a connection of its own
/// (`<box id>.fetch`: a `.` is never in a box id), within `timeout`. The chunks are not opened here: the restore
/// (`backup::restore::stage`) checks the manifest, every chunk and the archive.
pub async fn fetch_backup(settings: &CloudSettings, which: &str, timeout: Duration) -> Result<Sealed, SyncError> {
    let endpoint = link::fetch_endpoint(settings)?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let token = CancellationToken::new();
    let fetch = async {
        let (client, events) = link::connect(&endpoint, &tx).await;
        let driver = tokio::spawn(link::drive(events, tx.clone(), token.clone()));
        let result = collect(settings, &client, &mut rx, which).await;
        let _ = client.try_disconnect();
        token.cancel();
        let _ = driver.await;
        result
    };
    let result = tokio::time::timeout(timeout, fetch).await;
    token.cancel();
    match result {
        Ok(r) => r,
        Err(_) => Err(SyncError::Backup(format!("no complete backup `{which}` arrived within {timeout:?}"))),
    }
}

async fn collect(
    settings: &CloudSettings,
    client: &cloud_sync::link::Client,
    rx: &mut mpsc::UnboundedReceiver<Incoming>,
    which: &str,
) -> Result<Sealed, SyncError> {
    let id = &settings.box_id;
    let mut manifest: Option<Manifest> = None;
    let mut chunks: HashMap<(String, usize), Vec<u8>> = HashMap::new();
    while let Some(incoming) = rx.recv().await {
        match incoming {
            Incoming::Connected { .. } => {
                // Asked again after every (re)connect: chunks already here are kept.
                let down = id.topic(&Topic::Backup("down/#".into()));
                client.subscribe(down, QoS::AtLeastOnce).await?;
                let fetch = Fetch { schema: SCHEMA, id: which.to_owned() };
                client
                    .publish(id.topic(&Topic::Backup(part::FETCH.into())), QoS::AtLeastOnce, false, encode(&fetch))
                    .await?;
            }
            Incoming::Lost => {}
            Incoming::Message { topic, payload } => {
                let Ok((_, Topic::Backup(p))) = Topic::parse(&topic) else { continue };
                if p == part::DOWN_MANIFEST {
                    let m: Manifest = decode(&payload).map_err(|e| SyncError::Backup(format!("manifest: {e}")))?;
                    if which != LATEST && m.id != which {
                        continue;
                    }
                    manifest = Some(m);
                } else if p == part::DOWN_ERROR {
                    let a: Ack = decode(&payload).map_err(|e| SyncError::Backup(e.to_string()))?;
                    return Err(SyncError::Backup(a.error.unwrap_or_else(|| "the fleet refused".into())));
                } else if let Some((bid, index)) = part::parse_down_chunk(&p) {
                    chunks.insert((bid.to_owned(), index), payload);
                }
                if let Some(m) = &manifest {
                    if (0..m.chunks.len()).all(|i| chunks.contains_key(&(m.id.clone(), i))) {
                        let mut ordered = Vec::with_capacity(m.chunks.len());
                        for i in 0..m.chunks.len() {
                            ordered.push(chunks.remove(&(m.id.clone(), i)).unwrap_or_default());
                        }
                        return Ok(Sealed { manifest: m.clone(), chunks: ordered });
                    }
                }
            }
        }
    }
    Err(SyncError::Backup("the broker connection ended".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ack(have: u32) -> Ack {
        Ack::new("b-1", have, false)
    }

    #[test]
    fn chunks_go_in_a_window_behind_the_acks() {
        let mut u = Upload::new("b-1", 20);
        assert_eq!(u.on_ack(&ack(0)), Step::Send((0..WINDOW).collect()));
        assert_eq!(u.on_ack(&ack(1)), Step::Send(vec![WINDOW]));
        assert_eq!(u.on_ack(&ack(1)), Step::Send(vec![]), "a repeated ack sends nothing");
        assert_eq!(u.on_ack(&Ack::new("other", 5, false)), Step::Send(vec![]));
        assert_eq!(u.on_ack(&ack(20)), Step::Complete);
    }

    #[test]
    fn a_reconnect_resumes_from_what_the_fleet_holds() {
        let mut u = Upload::new("b-1", 20);
        u.on_ack(&ack(0));
        u.on_ack(&ack(6));
        u.restart();
        // The fleet lost chunk 5 with the broker: it says 5.
        assert_eq!(u.on_ack(&ack(5)), Step::Send((5..5 + WINDOW).collect()));
        let mut e = ack(0);
        e.error = Some("bad".into());
        assert_eq!(u.on_ack(&e), Step::Failed("bad".into()));
    }

    proptest! {
        /// Whatever the acks (growing) and reconnects, every chunk below the final `have` was
        /// sent, and nothing is ever sent beyond the window.
        #[test]
        fn never_beyond_the_window(total in 1usize..60, steps in proptest::collection::vec((0u32..4, any::<bool>()), 1..80)) {
            let mut u = Upload::new("b-1", total);
            let mut fleet = 0u32;
            let mut sent = vec![false; total];
            if let Step::Send(s) = u.on_ack(&ack(0)) { for i in s { sent[i] = true; } }
            for (grow, reconnect) in steps {
                if reconnect { u.restart(); }
                // The fleet holds only what was sent, contiguously.
                while (fleet as usize) < total && sent[fleet as usize] && grow > 0 { fleet += 1; if fleet.is_multiple_of(grow) { break; } }
                match u.on_ack(&ack(fleet)) {
                    Step::Send(s) => for i in s {
                        prop_assert!(i < fleet as usize + WINDOW);
                        sent[i] = true;
                    },
                    Step::Complete => { prop_assert_eq!(fleet as usize, total); break; }
                    Step::Failed(_) => prop_assert!(false),
                }
            }
        }
    }
}
