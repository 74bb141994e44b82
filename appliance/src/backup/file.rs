//! The `.outpost-backup` file: an uncompressed tar of `manifest.json` and `chunk-00000` ...
//! (the chunks are encrypted; the manifest is not secret). What an admin downloads, what the
//! box keeps in `backups/`, and what `outpost backup restore` reads.

use std::io::Read as _;
use std::path::Path;

use super::{io, BackupError, Sealed};

/// Largest backup file read (chunks are checked one by one after).
const MAX_LEN: u64 = 4 * 1024 * 1024 * 1024;

pub fn to_bytes(sealed: &Sealed) -> Result<Vec<u8>, BackupError> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, bytes: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o600);
        h.set_mtime(sealed.manifest.created_at.max(0) as u64);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, name, bytes)
    };
    let err = |e| BackupError::Io { what: "cannot write", path: "backup".into(), source: e };
    add("manifest.json", &cloud_sync::encode(&sealed.manifest)).map_err(err)?;
    for (i, c) in sealed.chunks.iter().enumerate() {
        add(&format!("chunk-{i:05}"), c).map_err(err)?;
    }
    tar.into_inner().map_err(err)
}

pub fn from_bytes(bytes: &[u8]) -> Result<Sealed, BackupError> {
    let damaged = |e: std::io::Error| BackupError::Damaged(format!("backup file: {e}"));
    let mut manifest = None;
    let mut chunks: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut tar = tar::Archive::new(bytes);
    for entry in tar.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let name = entry.path().map_err(damaged)?.to_string_lossy().into_owned();
        let mut body = Vec::new();
        entry.read_to_end(&mut body).map_err(damaged)?;
        if name == "manifest.json" {
            let m: cloud_sync::backup::Manifest =
                cloud_sync::decode(&body).map_err(|e| BackupError::Damaged(format!("manifest: {e}")))?;
            manifest = Some(m);
        } else if let Some(i) = name.strip_prefix("chunk-").and_then(|n| n.parse::<usize>().ok()) {
            chunks.push((i, body));
        } else {
            return Err(BackupError::Damaged(format!("unexpected entry `{name}`")));
        }
    }
    let manifest = manifest.ok_or_else(|| BackupError::Damaged("no manifest.json".into()))?;
    chunks.sort_by_key(|(i, _)| *i);
    if chunks.iter().enumerate().any(|(want, (i, _))| want != *i) {
        return Err(BackupError::Damaged("chunks are missing or repeated".into()));
    }
    Ok(Sealed { manifest, chunks: chunks.into_iter().map(|(_, c)| c).collect() })
}

pub fn write(path: &Path, sealed: &Sealed) -> Result<(), BackupError> {
    let bytes = to_bytes(sealed)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io("cannot write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("cannot write", path))
}

pub fn read(path: &Path) -> Result<Sealed, BackupError> {
    let len = std::fs::metadata(path).map_err(io("cannot read", path))?.len();
    if len > MAX_LEN {
        return Err(BackupError::Damaged(format!("{} is larger than any backup", path.display())));
    }
    from_bytes(&std::fs::read(path).map_err(io("cannot read", path))?)
}
