//! Backup-key escrow: each box publishes its backup key on `backup/key` once per boot; the
//! fleet keeps it sealed with AES-256-GCM under its own key (`<data>/fleet.key`, 32 random
//! bytes, 0600, made on first start), so that a copy of the database alone opens no backup.
//! A replacement box gets the key back through the claim (`recover`).

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::rand::{SecureRandom as _, SystemRandom};

use crate::store::{FleetStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum EscrowError {
    #[error("fleet key {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("the escrowed key document: {0}")]
    Document(String),
    #[error("the system random source failed")]
    Random,
    #[error("the escrowed key of {0} does not open under this fleet key")]
    Sealed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The fleet's own key, under which escrowed backup keys are sealed.
#[derive(Clone)]
pub struct FleetKey([u8; 32]);

impl FleetKey {
    /// Loads `<data>/fleet.key`, making it on first start.
    pub fn load_or_create(data: &Path) -> Result<FleetKey, EscrowError> {
        let path = data.join("fleet.key");
        let err = |e: &dyn std::fmt::Display| EscrowError::KeyFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        if path.exists() {
            let bytes = std::fs::read(&path).map_err(|e| err(&e))?;
            let key: [u8; 32] = bytes.try_into().map_err(|_| err(&"not 32 bytes"))?;
            return Ok(FleetKey(key));
        }
        let mut key = [0u8; 32];
        SystemRandom::new().fill(&mut key).map_err(|_| EscrowError::Random)?;
        let mut f =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(|e| err(&e))?;
        f.write_all(&key).and_then(|()| f.sync_all()).map_err(|e| err(&e))?;
        Ok(FleetKey(key))
    }

    fn aead(&self) -> Result<LessSafeKey, EscrowError> {
        Ok(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).map_err(|_| EscrowError::Random)?))
    }

    /// nonce (12) ‖ AES-256-GCM(key), additional data = the box id (a sealed key cannot be
    /// moved to another box's row).
    pub fn seal(&self, box_id: &str, key: &[u8; 32]) -> Result<Vec<u8>, EscrowError> {
        let mut nonce = [0u8; 12];
        SystemRandom::new().fill(&mut nonce).map_err(|_| EscrowError::Random)?;
        let mut body = key.to_vec();
        self.aead()?
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(box_id.as_bytes()), &mut body)
            .map_err(|_| EscrowError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&body);
        Ok(out)
    }

    pub fn open(&self, box_id: &str, sealed: &[u8]) -> Result<[u8; 32], EscrowError> {
        let bad = || EscrowError::Sealed(box_id.to_owned());
        if sealed.len() < 12 {
            return Err(bad());
        }
        let (nonce, body) = sealed.split_at(12);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| bad())?;
        let mut body = body.to_vec();
        let plain = self.aead()?.open_in_place(nonce, Aad::from(box_id.as_bytes()), &mut body).map_err(|_| bad())?;
        plain.try_into().map_err(|_| bad())
    }
}

/// Keeps the key of a `backup/key` message (a `KeyEscrow` document) sealed.
pub fn store_escrow(
    store: &FleetStore,
    key: &FleetKey,
    box_id: &str,
    payload: &[u8],
    now: i64,
) -> Result<(), EscrowError> {
    let doc: cloud_sync::backup::KeyEscrow =
        cloud_sync::decode(payload).map_err(|e| EscrowError::Document(e.to_string()))?;
    let bytes: [u8; 32] = hex::decode(&doc.key)
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| EscrowError::Document("the key is not 32 bytes of hex".into()))?;
    store.set_sealed_key(box_id, &key.seal(box_id, &bytes)?, now)?;
    Ok(())
}

/// The backup key escrowed by `box_id`, opened: for the claim of a replacement box.
pub fn recover(store: &FleetStore, key: &FleetKey, box_id: &str) -> Result<Option<[u8; 32]>, EscrowError> {
    match store.sealed_key(box_id)? {
        Some(sealed) => Ok(Some(key.open(box_id, &sealed)?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_escrowed_key_is_kept_sealed_and_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let fk = FleetKey::load_or_create(dir.path()).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join("fleet.key")).unwrap().permissions(),
        );
        assert_eq!(mode & 0o077, 0);
        let store = FleetStore::open(&dir.path().join("f.db")).unwrap();
        let key = [7u8; 32];
        let doc =
            cloud_sync::encode(&cloud_sync::backup::KeyEscrow { schema: cloud_sync::SCHEMA, key: hex::encode(key) });
        store_escrow(&store, &fk, "b1", &doc, 1).unwrap();
        let sealed = store.sealed_key("b1").unwrap().unwrap();
        assert!(!sealed.windows(32).any(|w| w == key), "never in clear");
        let again = FleetKey::load_or_create(dir.path()).unwrap();
        assert_eq!(recover(&store, &again, "b1").unwrap(), Some(key));
        assert_eq!(recover(&store, &again, "b2").unwrap(), None);
        assert!(fk.open("b2", &sealed).is_err(), "bound to its box");
    }
}
