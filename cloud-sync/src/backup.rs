//! Backups as they travel: a manifest (JSON) naming every chunk by its SHA-256, and the chunks
//! (binary, encrypted on the box). The fleet service keeps both without being able to read the
//! chunks unless it also holds the box's backup key (escrowed so a replacement box can restore).
//!
//! What a chunk is: AES-256-GCM of up to `chunk_size` bytes of the compressed archive, under a
//! data key made for this backup; nonce = 4 zero bytes + the chunk's index (u64, big endian);
//! additional data = `<backup id>/<index>`, so chunks cannot be swapped between positions or
//! backups. The data key travels in the manifest, itself sealed under the box's backup key
//! (random nonce, additional data = the backup id).

pub mod file;

use serde::{Deserialize, Serialize};

use crate::SCHEMA;

/// Bytes of archive per chunk: small enough for any broker's message limit, large enough that
/// a backup is a few hundred messages at most.
pub const CHUNK_SIZE: usize = 128 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema: u32,
    /// `<box id>-<unix seconds>`: unique per box, sortable.
    pub id: String,
    pub box_id: String,
    /// Unix seconds when the snapshot was taken.
    pub created_at: i64,
    /// The site config revision in the snapshot.
    pub revision: u64,
    /// The box's software version (a restore on an older build is refused by the store's
    /// schema check anyway; this says why up front).
    pub version: String,
    /// Length and SHA-256 (hex) of the compressed archive, before encryption.
    pub archive_len: u64,
    pub archive_sha256: String,
    pub chunk_size: u32,
    pub chunks: Vec<Chunk>,
    /// The data key, sealed under the box's backup key: nonce and ciphertext, hex.
    pub key_nonce: String,
    pub sealed_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chunk {
    /// Length of the encrypted chunk (with its 16-byte tag).
    pub len: u32,
    /// SHA-256 (hex) of the encrypted chunk: checked before anything is decrypted.
    pub sha256: String,
}

impl Manifest {
    pub fn new(id: String, box_id: String, created_at: i64, revision: u64, version: &str) -> Manifest {
        Manifest {
            schema: SCHEMA,
            id,
            box_id,
            created_at,
            revision,
            version: version.to_owned(),
            archive_len: 0,
            archive_sha256: String::new(),
            chunk_size: CHUNK_SIZE as u32,
            chunks: Vec::new(),
            key_nonce: String::new(),
            sealed_key: String::new(),
        }
    }

    /// Bytes of all chunks together, as stored.
    pub fn stored_len(&self) -> u64 {
        self.chunks.iter().map(|c| u64::from(c.len)).sum()
    }
}

/// The additional data of chunk `index` of backup `id`.
pub fn chunk_aad(id: &str, index: u64) -> Vec<u8> {
    format!("{id}/{index}").into_bytes()
}

/// The nonce of chunk `index`.
pub fn chunk_nonce(index: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&index.to_be_bytes());
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_and_additional_data_differ_per_chunk_and_backup() {
        assert_ne!(chunk_nonce(1), chunk_nonce(2));
        assert_eq!(&chunk_nonce(258)[10..], &[1, 2]);
        assert_ne!(chunk_aad("b-1", 0), chunk_aad("b-2", 0));
        let m = Manifest::new("b1-10".into(), "b1".into(), 10, 3, "0.1.0");
        let back: Manifest = crate::decode(&crate::encode(&m)).unwrap();
        assert_eq!(back, m);
        assert_eq!(part::parse_chunk(&part::chunk("b1-10", 7)), Some(("b1-10", 7)));
        assert_eq!(part::parse_down_chunk(&part::down_chunk("b1-10", 3)), Some(("b1-10", 3)));
        assert_eq!(part::parse_down_chunk(part::DOWN_MANIFEST), None);
    }
}

/// Topics of a backup transfer, under `outpost/v1/<box>/backup/` (see docs/sync-protocol.md):
/// `manifest` and `chunk/<backup id>/<index>` (box → cloud), `ack` (cloud → box), `key`
/// (box → cloud: the backup key, escrowed); for a restore `fetch` (box → cloud), then
/// `down/manifest` and `down/<backup id>/<index>` (cloud → box).
pub mod part {
    pub const MANIFEST: &str = "manifest";
    pub const ACK: &str = "ack";
    pub const KEY: &str = "key";
    pub const FETCH: &str = "fetch";
    pub const DOWN_MANIFEST: &str = "down/manifest";
    pub const DOWN_ERROR: &str = "down/error";

    pub fn down_chunk(id: &str, index: usize) -> String {
        format!("down/{id}/{index}")
    }

    /// `down/<id>/<index>` read back (`down/manifest` is not a chunk).
    pub fn parse_down_chunk(part: &str) -> Option<(&str, usize)> {
        let rest = part.strip_prefix("down/")?;
        let (id, index) = rest.rsplit_once('/')?;
        Some((id, index.parse().ok()?))
    }

    pub fn chunk(id: &str, index: usize) -> String {
        format!("chunk/{id}/{index}")
    }

    /// `chunk/<id>/<index>` read back.
    pub fn parse_chunk(part: &str) -> Option<(&str, usize)> {
        let rest = part.strip_prefix("chunk/")?;
        let (id, index) = rest.rsplit_once('/')?;
        Some((id, index.parse().ok()?))
    }
}

/// A box asking for one of its backups (`backup/fetch`): `id` is a backup id or `latest`
/// (the newest complete one). The fleet answers with `down/manifest` then every
/// `down/<id>/<index>`, or with an [`Ack`] carrying `error` on `down/error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fetch {
    pub schema: u32,
    pub id: String,
}

/// Chunks the box sends ahead of the last acknowledgement.
pub const WINDOW: usize = 8;

/// The fleet's answer to a manifest or a chunk: how many chunks, from the first, it holds and
/// has checked, so the box sends the next ones (after a disconnect, from there: resumable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ack {
    pub schema: u32,
    pub id: String,
    pub have: u32,
    pub complete: bool,
    /// Why a chunk or the manifest was refused (the box starts that backup again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Ack {
    pub fn new(id: &str, have: u32, complete: bool) -> Ack {
        Ack { schema: SCHEMA, id: id.to_owned(), have, complete, error: None }
    }
}

/// The box's backup key, escrowed with the fleet so that a replacement box can restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEscrow {
    pub schema: u32,
    /// 32 bytes, hex.
    pub key: String,
}

/// Which backups a retention of `daily` days and `weekly` weeks keeps: per day (UTC) the
/// newest of the last `daily` days, per week the newest of the last `weekly` weeks, and always
/// the newest of all. `backups`: (id, created_at); returns the ids kept.
pub fn retain(backups: &[(String, i64)], now: i64, daily: i64, weekly: i64) -> Vec<String> {
    let mut sorted: Vec<&(String, i64)> = backups.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    let mut keep: Vec<String> = Vec::new();
    let mut days = Vec::new();
    let mut weeks = Vec::new();
    for (id, at) in sorted {
        let (day, week) = (at.div_euclid(86_400), at.div_euclid(7 * 86_400));
        let newest = keep.is_empty();
        let in_days = now.div_euclid(86_400) - day < daily && !days.contains(&day);
        let in_weeks = now.div_euclid(7 * 86_400) - week < weekly && !weeks.contains(&week);
        if newest || in_days || in_weeks {
            keep.push(id.clone());
        }
        if in_days || newest {
            days.push(day);
        }
        if in_weeks || newest {
            weeks.push(week);
        }
    }
    keep
}

#[cfg(test)]
mod retention_tests {
    use super::*;

    #[test]
    fn seven_dailies_and_four_weeklies_are_kept() {
        let now = 100 * 86_400;
        // Two backups a day for 60 days.
        let all: Vec<(String, i64)> =
            (0..120).map(|i| (format!("b-{i:03}"), now - i64::from(i) * 43_200 - 60)).collect();
        let kept = retain(&all, now, 7, 4);
        assert!(kept.contains(&"b-000".to_owned()), "the newest");
        assert!(!kept.contains(&"b-001".to_owned()), "the second of the same day goes");
        assert!(kept.contains(&"b-002".to_owned()), "yesterday's newest");
        assert!(kept.len() >= 7 && kept.len() <= 7 + 4, "{kept:?}");
        let oldest = kept.iter().filter_map(|k| all.iter().find(|(id, _)| id == k)).map(|(_, at)| *at).min();
        assert!(oldest.is_some_and(|at| now - at < 5 * 7 * 86_400), "nothing older than the weeklies: {kept:?}");
    }
}
