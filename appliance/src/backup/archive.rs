//! What a backup holds: the store as SQLite's online backup API copies it (consistent while
//! the box keeps writing), and the regular files of the data directory beside it, as one tar,
//! deflated. The live database files (`outpost.db`, its `-wal` and `-shm`) are never read
//! directly: the snapshot stands for them.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::time::Duration;

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use rusqlite::backup::Backup;

use super::{io, BackupError};
use crate::store::Store;

/// The snapshot's name in the archive and in the data directory.
pub const DB: &str = "outpost.db";

/// Largest file a backup takes or a restore writes: the store of a big site is a few MB.
const MAX_FILE: u64 = 512 * 1024 * 1024;

/// Files of the data directory that are not copied: the live database (the snapshot stands
/// for it), restore leftovers, the box's own backups, and its cloud claim (a restore must
/// never bring back a replaced box's revoked broker credentials).
fn skipped(name: &str) -> bool {
    name.starts_with("outpost.db")
        || name.starts_with("restore.")
        || name.ends_with(".tmp")
        || name == "backups"
        || name == crate::sync::claim::FILE
}

/// Whether a name from an archive may be written into a data directory: a plain file name.
pub fn safe_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && !name.contains('/') && name != "." && name != ".." && !name.contains('\0')
}

/// The store, snapshotted, and the data files, as a deflated tar.
pub fn pack(store: &Store, data_dir: &Path) -> Result<Vec<u8>, BackupError> {
    let snapshot = Scratch(data_dir.join(format!("snapshot-{}.tmp", std::process::id())));
    let _ = std::fs::remove_file(snapshot.path());
    {
        let src = store.conn();
        let mut dst = rusqlite::Connection::open(snapshot.path())?;
        // 256 pages at a time, no pause: the store's lock is held only per step.
        Backup::new(&src, &mut dst)?.run_to_completion(256, Duration::ZERO, None)?;
    }
    let mut tar = tar::Builder::new(DeflateEncoder::new(Vec::new(), Compression::default()));
    tar.mode(tar::HeaderMode::Deterministic);
    append(&mut tar, DB, snapshot.path())?;
    let mut names: Vec<String> = std::fs::read_dir(data_dir)
        .map_err(io("cannot list", data_dir))?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !skipped(n) && safe_name(n))
        .collect();
    names.sort();
    for name in names {
        append(&mut tar, &name, &data_dir.join(&name))?;
    }
    let deflated = tar.into_inner().map_err(io("cannot pack", data_dir))?;
    deflated.finish().map_err(io("cannot compress", data_dir))
}

fn append(tar: &mut tar::Builder<DeflateEncoder<Vec<u8>>>, name: &str, path: &Path) -> Result<(), BackupError> {
    let bytes = std::fs::read(path).map_err(io("cannot read", path))?;
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, name, bytes.as_slice()).map_err(io("cannot pack", path))
}

/// A file removed when dropped (the snapshot, once packed).
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The files of an archive: plain names only, bounded sizes; anything else is damage.
pub fn unpack(archive: &[u8]) -> Result<Vec<(String, Vec<u8>)>, BackupError> {
    let damaged = |e: std::io::Error| BackupError::Damaged(format!("archive: {e}"));
    let mut tar = tar::Archive::new(DeflateDecoder::new(archive));
    let mut out = Vec::new();
    for entry in tar.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let name = entry.path().map_err(damaged)?.to_string_lossy().into_owned();
        if !safe_name(&name) || entry.header().entry_type() != tar::EntryType::Regular {
            return Err(BackupError::Damaged(format!("archive entry `{name}` is not a plain file")));
        }
        if entry.size() > MAX_FILE {
            return Err(BackupError::Damaged(format!("archive entry `{name}` is too large")));
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes).map_err(damaged)?;
        out.push((name, bytes));
    }
    if !out.iter().any(|(n, _)| n == DB) {
        return Err(BackupError::Damaged("the archive holds no store".into()));
    }
    Ok(out)
}

/// Deflates `bytes` (tests build archives by hand with it).
pub fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}
