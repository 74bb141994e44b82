//! Backups of the box: a consistent snapshot of the store (SQLite's online backup API, taken
//! while the box runs) and the data files beside it (box key, certificate, agent state),
//! packed as a tar, deflated, cut into chunks and each chunk encrypted on the box with
//! AES-256-GCM under a data key of its own, sealed in turn under the box's backup key. The
//! manifest names every chunk by its SHA-256, so a restore checks everything before it
//! decrypts anything, and touches the live store only once the whole backup proved sound.
//!
//! Restore is staged, then committed by renames at the next start (`restore::finish`), so a
//! crash at any moment leaves either the old box or the restored one, never a mix.
//!
//! Layout: `archive` (snapshot, tar, deflate), `seal` (chunks, encryption, the manifest check),
//! `restore` (stage and commit), `file` (the `.outpost-backup` file: manifest + chunks).

pub mod archive;
pub mod file;
pub mod local;
pub mod restore;
pub mod seal;

use std::path::{Path, PathBuf};

use cloud_sync::backup::Manifest;

use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: String, source: std::io::Error },
    #[error("snapshot: {0}")]
    Snapshot(#[from] rusqlite::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("the backup is damaged: {0}")]
    Damaged(String),
    #[error("this backup key does not open the backup (wrong box, or a tampered manifest)")]
    WrongKey,
    #[error("the backup key file {0} is not 32 bytes")]
    BadKey(String),
    #[error("encryption failed")]
    Crypto,
    #[error("the backup's store is at schema {found}, newer than this build ({known}): upgrade first")]
    NewerSchema { found: usize, known: usize },
}

pub(crate) fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> BackupError + 'p {
    move |source| BackupError::Io { what, path: path.display().to_string(), source }
}

/// The key backups are sealed under: made once per box, kept in its data directory (0600),
/// and escrowed with the fleet service so that a replacement box can restore.
#[derive(Clone)]
pub struct BackupKey(pub(crate) [u8; 32]);

impl BackupKey {
    pub fn load_or_create(path: &Path) -> Result<BackupKey, BackupError> {
        if path.exists() {
            return BackupKey::load(path);
        }
        let key: [u8; 32] = crate::store::secrets::random_bytes().map_err(|_| BackupError::Crypto)?;
        crate::durable::write(path, &key, 0o600).map_err(io("cannot write", path))?;
        Ok(BackupKey(key))
    }

    pub fn load(path: &Path) -> Result<BackupKey, BackupError> {
        let bytes = std::fs::read(path).map_err(io("cannot read", path))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| BackupError::BadKey(path.display().to_string()))?;
        Ok(BackupKey(key))
    }

    /// For tests and for keys handed over by the fleet service.
    pub fn from_bytes(key: [u8; 32]) -> BackupKey {
        BackupKey(key)
    }
}

/// The key file in a data directory.
pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("backup.key")
}

/// Where the box keeps its own backups.
pub fn local_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("backups")
}

/// A sealed backup: its manifest and its encrypted chunks, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub manifest: Manifest,
    pub chunks: Vec<Vec<u8>>,
}

/// Takes a backup of the running box now.
pub fn create(store: &Store, data_dir: &Path, key: &BackupKey, box_id: &str, now: i64) -> Result<Sealed, BackupError> {
    let revision = store.revision()?;
    let archive = archive::pack(store, data_dir)?;
    let manifest =
        Manifest::new(format!("{box_id}-{now}"), box_id.to_owned(), now, revision, env!("CARGO_PKG_VERSION"));
    seal::seal(manifest, &archive, key)
}
