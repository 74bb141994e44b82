//! Secrets at rest: AES-256-GCM under a per-box key kept in the data directory (mode 0600).
//!
//! The key never leaves the box; a backup of the database alone reveals no SIP password.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

/// Binds ciphertexts to their purpose, so a blob cannot be replayed as something else.
const AAD: &[u8] = b"outpost-secret-v1";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("box key {path}: {source}")]
    KeyFile { path: String, source: std::io::Error },
    #[error("box key {0} is not 32 bytes: refusing to guess (restore it from backup or remove the database too)")]
    KeyLength(String),
    #[error("box key {0} is readable by others (mode {1:o}): chmod 600 it")]
    KeyMode(String, u32),
    #[error("a stored secret does not decrypt under this box key")]
    Decrypt,
    #[error("the system random generator failed")]
    Random,
}

#[derive(Clone)]
pub struct SecretBox {
    key: Arc<LessSafeKey>,
}

impl SecretBox {
    /// Loads the key at `path`, creating a fresh random one (0600) when there is none.
    pub fn load_or_create(path: &Path) -> Result<SecretBox, SecretError> {
        let shown = path.display().to_string();
        let io = |source| SecretError::KeyFile { path: shown.clone(), source };
        match fs::read(path) {
            Ok(bytes) => {
                let mode = fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(SecretError::KeyMode(shown, mode));
                }
                let key: [u8; 32] = bytes.try_into().map_err(|_| SecretError::KeyLength(shown.clone()))?;
                Ok(Self::from_key(&key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = random_bytes()?;
                // Whole or not at all: a short key after a power cut would lock the box out.
                crate::durable::write(path, &key, 0o600).map_err(io)?;
                Ok(Self::from_key(&key))
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn from_key(key: &[u8; 32]) -> SecretBox {
        // 32 bytes is exactly AES-256's key length, the one case `new` accepts.
        let unbound = UnboundKey::new(&AES_256_GCM, key).unwrap_or_else(|_| unreachable!("32-byte AES-256 key"));
        SecretBox { key: Arc::new(LessSafeKey::new(unbound)) }
    }

    /// nonce ‖ ciphertext ‖ tag, with a fresh random nonce each time.
    pub fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, SecretError> {
        let nonce: [u8; NONCE_LEN] = random_bytes()?;
        let mut out = plain.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(AAD), &mut out)
            .map_err(|_| SecretError::Decrypt)?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&out);
        Ok(blob)
    }

    pub fn open(&self, blob: &[u8]) -> Result<Vec<u8>, SecretError> {
        if blob.len() < NONCE_LEN {
            return Err(SecretError::Decrypt);
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Decrypt)?;
        let mut buf = sealed.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(AAD), &mut buf).map_err(|_| SecretError::Decrypt)?;
        Ok(plain.to_vec())
    }

    pub fn seal_str(&self, plain: &str) -> Result<Vec<u8>, SecretError> {
        self.seal(plain.as_bytes())
    }

    pub fn open_str(&self, blob: &[u8]) -> Result<String, SecretError> {
        String::from_utf8(self.open(blob)?).map_err(|_| SecretError::Decrypt)
    }
}

pub fn random_bytes<const N: usize>() -> Result<[u8; N], SecretError> {
    cloud_sync::password::random_bytes().map_err(|_| SecretError::Random)
}

/// A random password of `len` characters from an alphabet without look-alikes (no 0/O, 1/l).
pub fn random_password(len: usize) -> Result<String, SecretError> {
    cloud_sync::password::random_password(len).map_err(|_| SecretError::Random)
}
