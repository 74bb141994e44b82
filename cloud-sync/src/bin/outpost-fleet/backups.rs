//! Backups arriving from boxes and going back to them (docs/sync-protocol.md, "Backups").
//!
//! Upload: a box publishes its manifest on `backup/manifest`; the fleet records it (the first
//! manifest of an id wins) and acks with how many chunks, from the first, it already holds, so
//! a box that reconnects resumes there. Each chunk on `backup/chunk/<id>/<i>` is checked
//! against the manifest ([`accept`]: the pure part) before it is written, atomically, to
//! `<data>/backups/<box>/<id>/chunk-NNNNN`; `have` counts the contiguous chunks from 0. When
//! the last arrives, the box's backups are thinned by `cloud_sync::backup::retain`.
//!
//! Download: `backup/fetch` → `backup/down/manifest`, then every `backup/down/<id>/<i>`.

use std::path::{Path, PathBuf};

use cloud_sync::backup::{part, retain, Ack, Fetch, Manifest, WINDOW};
use cloud_sync::{decode, encode, BoxId, Topic};
use ring::digest::{digest, SHA256};

use crate::escrow::FleetKey;
use crate::mqtt::Link;
use crate::store::{now, FleetStore, StoreError};

/// Retention: the newest of each of the last 7 days and of the last 4 weeks.
pub const DAILY: i64 = 7;
pub const WEEKLY: i64 = 4;

/// What the backup handlers need beside the store and the link.
#[derive(Clone)]
pub struct Backups {
    pub data: PathBuf,
    pub key: FleetKey,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: String, source: std::io::Error },
    #[error("backup document: {0}")]
    Document(String),
    #[error("publishing: {0}")]
    Publish(#[from] cloud_sync::link::ClientError),
    #[error(transparent)]
    Escrow(#[from] crate::escrow::EscrowError),
}

fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> BackupError + 'p {
    move |source| BackupError::Io { what, path: path.display().to_string(), source }
}

/// What becomes of one arriving chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accept {
    /// Sound and new: write it.
    Store,
    /// Already held (a redelivery): ack again, write nothing.
    Duplicate,
    /// Refused, with the reason: the box is told and starts that backup again.
    Refuse(String),
}

/// Decides on chunk `index` of `manifest` when `have` chunks from 0 are held and `held` says
/// whether this one is already on disk. A chunk beyond the window is refused (a box never
/// sends one: something is wrong), so is one whose length or SHA-256 is not the manifest's.
pub fn accept(manifest: &Manifest, have: u32, held: bool, index: usize, chunk: &[u8]) -> Accept {
    let Some(want) = manifest.chunks.get(index) else {
        return Accept::Refuse(format!("chunk {index}: the manifest has {} chunks", manifest.chunks.len()));
    };
    if index < have as usize || held {
        return Accept::Duplicate;
    }
    if index >= have as usize + WINDOW {
        return Accept::Refuse(format!("chunk {index}: beyond the window ({have} held, window {WINDOW})"));
    }
    if chunk.len() != want.len as usize || hex::encode(digest(&SHA256, chunk)) != want.sha256 {
        return Accept::Refuse(format!("chunk {index}: its SHA-256 is not the manifest's"));
    }
    Accept::Store
}

/// The chunks, from `from`, that are on disk without a gap: the new `have`.
pub fn contiguous(from: u32, total: usize, present: impl Fn(usize) -> bool) -> u32 {
    let mut have = from as usize;
    while have < total && present(have) {
        have += 1;
    }
    have as u32
}

fn backup_dir(data: &Path, box_id: &str, id: &str) -> PathBuf {
    data.join("backups").join(box_id).join(id)
}

pub fn chunk_path(data: &Path, box_id: &str, id: &str, index: usize) -> PathBuf {
    backup_dir(data, box_id, id).join(format!("chunk-{index:05}"))
}

/// Writes `bytes` to `path` so that a reader sees the whole file or none (tmp, fsync, rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io("cannot write", &tmp))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io("cannot write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("cannot write", path))
}

/// `have` is recomputed under this lock: chunks of one backup are handled by concurrent tasks.
static PROGRESS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn ack(link: &Link, id: &BoxId, ack: &Ack) -> Result<(), BackupError> {
    link.publish(id.topic(&Topic::Backup(part::ACK.into())), false, encode(ack)).await?;
    Ok(())
}

/// A `backup/…` message from box `id`.
pub async fn on_message(
    store: &FleetStore,
    link: &Link,
    ctx: &Backups,
    id: &BoxId,
    part_name: &str,
    payload: &[u8],
) -> Result<(), BackupError> {
    if part_name == part::MANIFEST {
        on_manifest(store, link, ctx, id, payload).await
    } else if part_name == part::KEY {
        crate::escrow::store_escrow(store, &ctx.key, id.as_str(), payload, now())?;
        tracing::info!(box_id = %id, "backup key escrowed");
        Ok(())
    } else if part_name == part::FETCH {
        on_fetch(store, link, ctx, id, payload).await
    } else if let Some((bid, index)) = part::parse_chunk(part_name) {
        on_chunk(store, link, ctx, id, bid, index, payload).await
    } else {
        Ok(()) // our own acks and downloads, seen by a wildcard subscription
    }
}

async fn on_manifest(
    store: &FleetStore,
    link: &Link,
    ctx: &Backups,
    id: &BoxId,
    payload: &[u8],
) -> Result<(), BackupError> {
    let m: Manifest = match decode(payload) {
        Ok(m) => m,
        Err(e) => return Err(BackupError::Document(e.to_string())),
    };
    if m.box_id != id.as_str() || !m.id.starts_with(&format!("{id}-")) || Topic::backup(&m.id).is_err() {
        let mut a = Ack::new(&m.id, 0, false);
        a.error = Some("the manifest names another box".into());
        return ack(link, id, &a).await;
    }
    let (kept, have, complete) = store.begin_backup(&m, now())?;
    if kept != m {
        let mut a = Ack::new(&m.id, 0, false);
        a.error = Some("a different backup with this id is already kept".into());
        return ack(link, id, &a).await;
    }
    let dir = backup_dir(&ctx.data, id.as_str(), &m.id);
    std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
    if have > 0 {
        tracing::info!(box_id = %id, backup = %m.id, have, chunks = m.chunks.len(), "backup upload resumed");
    } else {
        tracing::info!(box_id = %id, backup = %m.id, chunks = m.chunks.len(), "backup upload started");
    }
    let complete = complete || m.chunks.is_empty();
    ack(link, id, &Ack::new(&m.id, have, complete)).await
}

async fn on_chunk(
    store: &FleetStore,
    link: &Link,
    ctx: &Backups,
    id: &BoxId,
    bid: &str,
    index: usize,
    payload: &[u8],
) -> Result<(), BackupError> {
    let Some((m, have, _)) = store.backup(id.as_str(), bid)? else {
        let mut a = Ack::new(bid, 0, false);
        a.error = Some("no manifest for this backup: send it first".into());
        return ack(link, id, &a).await;
    };
    let path = chunk_path(&ctx.data, id.as_str(), bid, index);
    match accept(&m, have, path.exists(), index, payload) {
        Accept::Store => write_atomic(&path, payload)?,
        Accept::Duplicate => {}
        Accept::Refuse(reason) => {
            tracing::warn!(box_id = %id, backup = bid, reason, "backup chunk refused");
            let mut a = Ack::new(bid, have, false);
            a.error = Some(reason);
            return ack(link, id, &a).await;
        }
    }
    let (have, complete) = {
        let _guard = PROGRESS.lock().await;
        let Some((_, have, was_complete)) = store.backup(id.as_str(), bid)? else { return Ok(()) };
        let have = contiguous(have, m.chunks.len(), |i| chunk_path(&ctx.data, id.as_str(), bid, i).exists());
        let complete = have as usize == m.chunks.len();
        store.set_backup_progress(bid, have, complete, now())?;
        if complete && !was_complete {
            tracing::info!(box_id = %id, backup = bid, chunks = have, "backup complete");
            thin(store, ctx, id.as_str())?;
        }
        (have, complete)
    };
    ack(link, id, &Ack::new(bid, have, complete)).await
}

/// Applies retention to the complete backups of `box_id`: rows and files of the dropped ones
/// go. Incomplete uploads are left alone (they may still resume).
fn thin(store: &FleetStore, ctx: &Backups, box_id: &str) -> Result<(), BackupError> {
    let all = store.backups(box_id)?;
    let complete: Vec<(String, i64)> =
        all.iter().filter(|b| b.complete).map(|b| (b.id.clone(), b.created_at)).collect();
    let keep = retain(&complete, now(), DAILY, WEEKLY);
    for (bid, _) in complete.iter().filter(|(b, _)| !keep.contains(b)) {
        store.delete_backup(bid)?;
        let dir = backup_dir(&ctx.data, box_id, bid);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(box_id, backup = %bid, error = %e, "cannot remove a dropped backup's files");
        }
        tracing::info!(box_id, backup = %bid, "backup dropped by retention");
    }
    Ok(())
}

/// A backup as kept: its manifest and its chunks in order.
pub type Kept = (Manifest, Vec<Vec<u8>>);

/// A complete backup of `box_id` as stored (`which`: an id or `latest`), each chunk checked
/// again against the manifest (a disk can rot).
pub fn load(store: &FleetStore, data: &Path, box_id: &str, which: &str) -> Result<Option<Kept>, BackupError> {
    let bid = if which == "latest" {
        match store.latest_complete_backup(box_id)? {
            Some(b) => b,
            None => return Ok(None),
        }
    } else {
        which.to_owned()
    };
    let Some((m, _, true)) = store.backup(box_id, &bid)? else { return Ok(None) };
    let mut chunks = Vec::with_capacity(m.chunks.len());
    for (i, want) in m.chunks.iter().enumerate() {
        let path = chunk_path(data, box_id, &bid, i);
        let bytes = std::fs::read(&path).map_err(io("cannot read", &path))?;
        if hex::encode(digest(&SHA256, &bytes)) != want.sha256 {
            return Err(BackupError::Document(format!("{}: damaged on disk", path.display())));
        }
        chunks.push(bytes);
    }
    Ok(Some((m, chunks)))
}

async fn on_fetch(
    store: &FleetStore,
    link: &Link,
    ctx: &Backups,
    id: &BoxId,
    payload: &[u8],
) -> Result<(), BackupError> {
    let fetch: Fetch = decode(payload).map_err(|e| BackupError::Document(e.to_string()))?;
    let topic = |p: &str| id.topic(&Topic::Backup(p.to_owned()));
    let found = {
        let (store, data, box_id, which) = (store.clone(), ctx.data.clone(), id.as_str().to_owned(), fetch.id.clone());
        tokio::task::spawn_blocking(move || load(&store, &data, &box_id, &which))
            .await
            .map_err(|e| BackupError::Document(e.to_string()))?
    };
    let (m, chunks) = match found {
        Ok(Some(found)) => found,
        other => {
            let reason = match other {
                Err(e) => e.to_string(),
                _ => format!("no complete backup `{}`", fetch.id),
            };
            let mut a = Ack::new(&fetch.id, 0, false);
            a.error = Some(reason);
            link.publish(topic(part::DOWN_ERROR), false, encode(&a)).await?;
            return Ok(());
        }
    };
    tracing::info!(box_id = %id, backup = %m.id, chunks = chunks.len(), "sending a backup for restore");
    link.publish(topic(part::DOWN_MANIFEST), false, encode(&m)).await?;
    for (i, c) in chunks.into_iter().enumerate() {
        link.publish(topic(&part::down_chunk(&m.id, i)), false, c).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloud_sync::backup::Chunk;
    use proptest::prelude::*;

    fn manifest(chunks: &[&[u8]]) -> Manifest {
        let mut m = Manifest::new("b1-1".into(), "b1".into(), 1, 1, "0");
        m.chunks =
            chunks.iter().map(|c| Chunk { len: c.len() as u32, sha256: hex::encode(digest(&SHA256, c)) }).collect();
        m
    }

    #[test]
    fn chunks_are_checked_against_the_manifest() {
        let m = manifest(&[b"zero", b"one", b"two"]);
        assert_eq!(accept(&m, 0, false, 0, b"zero"), Accept::Store);
        assert_eq!(accept(&m, 0, false, 2, b"two"), Accept::Store, "within the window, out of order");
        assert!(matches!(accept(&m, 0, false, 1, b"One"), Accept::Refuse(_)), "wrong SHA-256");
        assert!(matches!(accept(&m, 0, false, 1, b"one!"), Accept::Refuse(_)), "wrong length");
        assert!(matches!(accept(&m, 0, false, 3, b"x"), Accept::Refuse(_)), "not in the manifest");
        assert_eq!(accept(&m, 1, false, 0, b"anything"), Accept::Duplicate);
        assert_eq!(accept(&m, 0, true, 2, b"two"), Accept::Duplicate);
    }

    #[test]
    fn chunks_beyond_the_window_are_refused() {
        let parts: Vec<Vec<u8>> = (0..WINDOW + 2).map(|i| vec![i as u8]).collect();
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let m = manifest(&refs);
        assert_eq!(accept(&m, 0, false, WINDOW - 1, &parts[WINDOW - 1]), Accept::Store);
        assert!(matches!(accept(&m, 0, false, WINDOW, &parts[WINDOW]), Accept::Refuse(_)));
        assert_eq!(accept(&m, 2, false, WINDOW, &parts[WINDOW]), Accept::Store);
    }

    proptest! {
        #[test]
        fn have_counts_only_the_gapless_start(present in proptest::collection::vec(any::<bool>(), 0..40)) {
            let have = contiguous(0, present.len(), |i| present[i]) as usize;
            prop_assert!(present[..have].iter().all(|p| *p));
            prop_assert!(have == present.len() || !present[have]);
        }
    }
}
