//! Files that a power cut leaves whole or not at all.
//!
//! ext4 (the box's data partition) writes a new file's data some seconds after its name: a
//! box that loses power just after `fs::write` can come back with the name and no bytes. Seen
//! on the image: a TLS certificate written at first start and the power cut a few seconds
//! later left an empty `cert.pem`, and the daemon refused to start ever after.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` whole or not at all: into a temporary file beside it (with `mode`
/// from the start, so that a secret is never readable by others), synced, renamed over `path`,
/// and the directory synced so that the rename survives too.
pub fn write(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let tmp = temporary(path)?;
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
    // A temporary file left by an earlier crash keeps its old mode: set it before any byte.
    file.set_permissions(Permissions::from_mode(mode))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Makes the entries of `dir` (files created, renamed or removed in it) survive a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    File::open(dir)?.sync_all()
}

/// `.NAME.tmp` beside `path`: hidden, and never a name the callers read.
fn temporary(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{}: not a file name", path.display())))?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(".tmp");
    Ok(path.with_file_name(tmp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_with_the_mode_asked_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        write(&path, b"first", 0o600).unwrap();
        // A temporary file of an earlier crash, readable by all: neither its bytes nor its mode stay.
        std::fs::write(dir.path().join(".key.pem.tmp"), b"stale and longer").unwrap();
        std::fs::set_permissions(dir.path().join(".key.pem.tmp"), Permissions::from_mode(0o644)).unwrap();
        write(&path, b"second", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("key.pem")]);
    }

    #[test]
    fn a_path_without_a_file_name_is_an_error_not_a_panic() {
        assert_eq!(write(Path::new("/"), b"x", 0o600).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
