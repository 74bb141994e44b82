//! Restore in two steps. `stage` opens and checks the whole backup (every chunk's SHA-256, the
//! key, the archive's SHA-256, the store's integrity and schema), writes its files into
//! `restore.staging/` and only then writes the commit marker. `finish`, run by the daemon
//! before it opens the store, moves the staged files over the live ones (the old WAL first
//! goes, so it is never replayed into the restored store) and removes the marker. A crash
//! before the marker leaves the box as it was; after it, the next start completes the restore.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use super::archive::{self, DB};
use super::{io, seal, BackupError, BackupKey, Sealed};

const STAGING: &str = "restore.staging";
const MARKER: &str = "restore.commit";

fn staging(data_dir: &Path) -> PathBuf {
    data_dir.join(STAGING)
}

/// Checks `sealed` completely and stages its files; the restore takes effect at `finish`.
/// Returns the names of the files staged.
pub fn stage(data_dir: &Path, sealed: &Sealed, key: &BackupKey) -> Result<Vec<String>, BackupError> {
    let archive = seal::open(sealed, key)?;
    let files = archive::unpack(&archive)?;
    let dir = staging(data_dir);
    let _ = std::fs::remove_file(data_dir.join(MARKER));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
    for (name, bytes) in &files {
        let path = dir.join(name);
        // Owner only, as everything in the data directory (the box key checks it).
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(io("cannot write", &path))?;
        f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io("cannot write", &path))?;
    }
    check_store(&dir.join(DB))?;
    sync(&dir)?;
    let names: Vec<String> = files.into_iter().map(|(n, _)| n).collect();
    let marker = data_dir.join(MARKER);
    std::fs::write(&marker, names.join("\n")).map_err(io("cannot write", &marker))?;
    sync(&marker)?;
    sync(data_dir)?;
    Ok(names)
}

/// Whether a staged restore waits for `finish`.
pub fn pending(data_dir: &Path) -> bool {
    data_dir.join(MARKER).exists()
}

/// Completes a staged restore (idempotent; nothing to do without the marker). Without the
/// marker, a half-written staging directory is removed.
pub fn finish(data_dir: &Path) -> Result<bool, BackupError> {
    let marker = data_dir.join(MARKER);
    let dir = staging(data_dir);
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(false);
    }
    let list = std::fs::read_to_string(&marker).map_err(io("cannot read", &marker))?;
    for suffix in ["-wal", "-shm"] {
        let old = data_dir.join(format!("{DB}{suffix}"));
        match std::fs::remove_file(&old) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(BackupError::Io { what: "cannot remove", path: old.display().to_string(), source: e })
            }
        }
    }
    for name in list.lines().filter(|n| archive::safe_name(n)) {
        let from = dir.join(name);
        // Already moved by a start that crashed half way.
        if from.exists() {
            let to = data_dir.join(name);
            std::fs::rename(&from, &to).map_err(io("cannot move", &to))?;
        }
    }
    sync(data_dir)?;
    std::fs::remove_file(&marker).map_err(io("cannot remove", &marker))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(true)
}

fn sync(path: &Path) -> Result<(), BackupError> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(io("cannot sync", path))
}

/// The staged store must be sound and not newer than this build.
fn check_store(path: &Path) -> Result<(), BackupError> {
    let conn = rusqlite::Connection::open(path)?;
    let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if ok != "ok" {
        return Err(BackupError::Damaged(format!("the store in the backup is damaged: {ok}")));
    }
    let found: i64 = conn.query_row("SELECT version FROM schema_version", [], |r| r.get(0))?;
    let found = usize::try_from(found).unwrap_or(usize::MAX);
    let known = crate::store::schema_steps();
    if found > known {
        return Err(BackupError::NewerSchema { found, known });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
