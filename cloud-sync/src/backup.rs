//! Backups as they travel: a manifest (JSON) naming every chunk by its SHA-256, and the chunks
//! (binary, encrypted on the box). The fleet service keeps both without being able to read the
//! chunks unless it also holds the box's backup key (escrowed so a replacement box can restore).
//!
//! What a chunk is: AES-256-GCM of up to `chunk_size` bytes of the compressed archive, under a
//! data key made for this backup; nonce = 4 zero bytes + the chunk's index (u64, big endian);
//! additional data = `<backup id>/<index>`, so chunks cannot be swapped between positions or
//! backups. The data key travels in the manifest, itself sealed under the box's backup key
//! (random nonce, additional data = the backup id).

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
    }
}
