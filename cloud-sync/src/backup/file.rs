//! The `.outpost-backup` file: an uncompressed tar of `manifest.json` and `chunk-00000` ...
//! (the chunks are encrypted; the manifest is not secret). One format for the box (its local
//! copies, `outpost backup verify/restore`) and the fleet (the download of a kept backup).

use std::io::Read as _;

use super::Manifest;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot write the backup file: {0}")]
    Write(std::io::Error),
    #[error("the backup file is damaged: {0}")]
    Damaged(String),
}

/// The file of a backup: its manifest and its chunks in order.
pub fn to_bytes(manifest: &Manifest, chunks: &[Vec<u8>]) -> Result<Vec<u8>, FileError> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, bytes: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o600);
        h.set_mtime(manifest.created_at.max(0) as u64);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, name, bytes)
    };
    add("manifest.json", &crate::encode(manifest)).map_err(FileError::Write)?;
    for (i, c) in chunks.iter().enumerate() {
        add(&format!("chunk-{i:05}"), c).map_err(FileError::Write)?;
    }
    tar.into_inner().map_err(FileError::Write)
}

/// Reads a backup file back; the chunks are not checked here (the restore checks them all).
pub fn from_bytes(bytes: &[u8]) -> Result<(Manifest, Vec<Vec<u8>>), FileError> {
    let damaged = |e: std::io::Error| FileError::Damaged(format!("backup file: {e}"));
    let mut manifest = None;
    let mut chunks: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut tar = tar::Archive::new(bytes);
    for entry in tar.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let name = entry.path().map_err(damaged)?.to_string_lossy().into_owned();
        let mut body = Vec::new();
        entry.read_to_end(&mut body).map_err(damaged)?;
        if name == "manifest.json" {
            let m: Manifest = crate::decode(&body).map_err(|e| FileError::Damaged(format!("manifest: {e}")))?;
            manifest = Some(m);
        } else if let Some(i) = name.strip_prefix("chunk-").and_then(|n| n.parse::<usize>().ok()) {
            chunks.push((i, body));
        } else {
            return Err(FileError::Damaged(format!("unexpected entry `{name}`")));
        }
    }
    let manifest = manifest.ok_or_else(|| FileError::Damaged("no manifest.json".into()))?;
    chunks.sort_by_key(|(i, _)| *i);
    if chunks.iter().enumerate().any(|(want, (i, _))| want != *i) {
        return Err(FileError::Damaged("chunks are missing or repeated".into()));
    }
    Ok((manifest, chunks.into_iter().map(|(_, c)| c).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_reads_back_as_written() {
        let m = Manifest::new("b1-1".into(), "b1".into(), 1, 2, "0");
        let chunks = vec![b"a".to_vec(), b"bc".to_vec()];
        let (back, c) = from_bytes(&to_bytes(&m, &chunks).unwrap()).unwrap();
        assert_eq!((back, c), (m, chunks));
        assert!(from_bytes(b"not a tar").is_err());
    }
}
