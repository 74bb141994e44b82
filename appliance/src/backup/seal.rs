//! Chunks and their encryption (the scheme is written down in `cloud_sync::backup`), and the
//! check of a sealed backup before anything of it is believed.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::digest::{digest, SHA256};

use cloud_sync::backup::{chunk_aad, chunk_nonce, Chunk, Manifest, CHUNK_SIZE};

use super::{BackupError, BackupKey, Sealed};

fn key(bytes: &[u8; 32]) -> Result<LessSafeKey, BackupError> {
    Ok(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| BackupError::Crypto)?))
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(digest(&SHA256, bytes))
}

/// Encrypts `archive` chunk by chunk under a fresh data key, sealed under `backup_key`.
pub fn seal(mut manifest: Manifest, archive: &[u8], backup_key: &BackupKey) -> Result<Sealed, BackupError> {
    let data_key: [u8; 32] = crate::store::secrets::random_bytes().map_err(|_| BackupError::Crypto)?;
    let key_nonce: [u8; 12] = crate::store::secrets::random_bytes().map_err(|_| BackupError::Crypto)?;
    let mut sealed_key = data_key.to_vec();
    key(&backup_key.0)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(key_nonce),
            Aad::from(manifest.id.as_bytes()),
            &mut sealed_key,
        )
        .map_err(|_| BackupError::Crypto)?;
    manifest.key_nonce = hex::encode(key_nonce);
    manifest.sealed_key = hex::encode(&sealed_key);
    manifest.archive_len = archive.len() as u64;
    manifest.archive_sha256 = sha256(archive);
    manifest.chunk_size = CHUNK_SIZE as u32;
    let data = key(&data_key)?;
    let mut chunks = Vec::new();
    for (i, part) in archive.chunks(CHUNK_SIZE).enumerate() {
        let mut c = part.to_vec();
        let aad = chunk_aad(&manifest.id, i as u64);
        data.seal_in_place_append_tag(Nonce::assume_unique_for_key(chunk_nonce(i as u64)), Aad::from(&aad), &mut c)
            .map_err(|_| BackupError::Crypto)?;
        manifest.chunks.push(Chunk { len: c.len() as u32, sha256: sha256(&c) });
        chunks.push(c);
    }
    Ok(Sealed { manifest, chunks })
}

/// Checks every chunk against the manifest, then decrypts: the archive, or why not.
pub fn open(sealed: &Sealed, backup_key: &BackupKey) -> Result<Vec<u8>, BackupError> {
    let m = &sealed.manifest;
    if sealed.chunks.len() != m.chunks.len() {
        return Err(BackupError::Damaged(format!(
            "{} chunks, the manifest lists {}",
            sealed.chunks.len(),
            m.chunks.len()
        )));
    }
    for (i, (c, info)) in sealed.chunks.iter().zip(&m.chunks).enumerate() {
        if c.len() != info.len as usize || sha256(c) != info.sha256 {
            return Err(BackupError::Damaged(format!("chunk {i} does not match its SHA-256 in the manifest")));
        }
    }
    let nonce: [u8; 12] = hex::decode(&m.key_nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| BackupError::Damaged("the manifest's key nonce is malformed".into()))?;
    let mut sealed_key = hex::decode(&m.sealed_key)
        .map_err(|_| BackupError::Damaged("the manifest's sealed key is malformed".into()))?;
    let data_key: [u8; 32] = key(&backup_key.0)?
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(m.id.as_bytes()), &mut sealed_key)
        .map_err(|_| BackupError::WrongKey)?
        .try_into()
        .map_err(|_| BackupError::WrongKey)?;
    let data = key(&data_key)?;
    let mut archive = Vec::with_capacity(m.archive_len as usize);
    for (i, c) in sealed.chunks.iter().enumerate() {
        let mut c = c.clone();
        let aad = chunk_aad(&m.id, i as u64);
        let plain = data
            .open_in_place(Nonce::assume_unique_for_key(chunk_nonce(i as u64)), Aad::from(&aad), &mut c)
            .map_err(|_| BackupError::Damaged(format!("chunk {i} does not decrypt")))?;
        archive.extend_from_slice(plain);
    }
    if archive.len() as u64 != m.archive_len || sha256(&archive) != m.archive_sha256 {
        return Err(BackupError::Damaged("the archive does not match the manifest's SHA-256".into()));
    }
    Ok(archive)
}
