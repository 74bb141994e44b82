//! The `.outpost-backup` file (its format is `cloud_sync::backup::file`, shared with the
//! fleet): what an admin downloads, what the box keeps in `backups/`, and what
//! `outpost backup restore` reads.

use std::path::Path;

use super::{io, BackupError, Sealed};

/// Largest backup file read (chunks are checked one by one after).
const MAX_LEN: u64 = 4 * 1024 * 1024 * 1024;

pub fn to_bytes(sealed: &Sealed) -> Result<Vec<u8>, BackupError> {
    cloud_sync::backup::file::to_bytes(&sealed.manifest, &sealed.chunks)
        .map_err(|e| BackupError::Damaged(e.to_string()))
}

pub fn from_bytes(bytes: &[u8]) -> Result<Sealed, BackupError> {
    let (manifest, chunks) =
        cloud_sync::backup::file::from_bytes(bytes).map_err(|e| BackupError::Damaged(e.to_string()))?;
    Ok(Sealed { manifest, chunks })
}

pub fn write(path: &Path, sealed: &Sealed) -> Result<(), BackupError> {
    let bytes = to_bytes(sealed)?;
    crate::durable::write(path, &bytes, 0o600).map_err(io("cannot write", path))
}

pub fn read(path: &Path) -> Result<Sealed, BackupError> {
    let len = std::fs::metadata(path).map_err(io("cannot read", path))?.len();
    if len > MAX_LEN {
        return Err(BackupError::Damaged(format!("{} is larger than any backup", path.display())));
    }
    from_bytes(&std::fs::read(path).map_err(io("cannot read", path))?)
}
