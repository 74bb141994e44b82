//! Files phones upload over HTTPS (`PUT /prov/<mac>-app.log`: Poly sends its logs, call lists
//! and local settings that way), kept in bounded storage in the data directory and never
//! served back.
//!
//! Names are checked, not cleaned up: only `<mac>-<name>.<log|txt|xml|cfg>` and `<mac>.log`
//! of plain characters are taken, so nothing can leave the directory. A file larger than the
//! per-file cap keeps its tail (the newest lines of a log); when the directory would pass the
//! total cap, the oldest other files go first.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Limits of the upload directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    pub max_file: u64,
    pub max_total: u64,
}

impl Default for UploadLimits {
    fn default() -> Self {
        UploadLimits { max_file: 1024 * 1024, max_total: 64 * 1024 * 1024 }
    }
}

/// The file an upload path names: (the phone's MAC as `aa:bb:cc:dd:ee:ff`, the stored name).
pub fn upload_name(path: &str) -> Option<(String, String)> {
    if path.is_empty() || path.len() > 80 {
        return None;
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if !path.chars().all(plain) || path.contains("..") {
        return None;
    }
    let hex = path.get(..12)?;
    let mac = crate::site::normalize_mac(hex).filter(|_| hex.chars().all(|c| c.is_ascii_hexdigit()))?;
    let rest = &path[12..];
    let ok = if let Some(name) = rest.strip_prefix('-') {
        let (stem, ext) = name.rsplit_once('.')?;
        !stem.is_empty() && ["log", "txt", "xml", "cfg"].contains(&ext.to_ascii_lowercase().as_str())
    } else {
        rest.eq_ignore_ascii_case(".log")
    };
    ok.then(|| (mac, format!("{}{rest}", hex.to_ascii_lowercase())))
}

/// The upload directory; writes are serialised so that the caps hold.
pub struct Uploads {
    dir: PathBuf,
    limits: UploadLimits,
    lock: Mutex<()>,
}

impl Uploads {
    pub fn new(dir: PathBuf, limits: UploadLimits) -> Uploads {
        Uploads { dir, limits, lock: Mutex::new(()) }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stores `body` as `name` (from `upload_name`). Returns true when the file is new.
    /// Blocking: call it off the async runtime.
    pub fn store(&self, name: &str, body: &[u8]) -> io::Result<bool> {
        let _one_writer = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        create_private_dir(&self.dir)?;
        let max_file = usize::try_from(self.limits.max_file).unwrap_or(usize::MAX);
        let body = &body[body.len().saturating_sub(max_file)..];
        let target = self.dir.join(name);
        let created = !target.exists();
        // Make room: the oldest other files go first.
        let mut others: Vec<(std::time::SystemTime, PathBuf, u64)> = std::fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .filter(|e| e.file_name() != name)
            .filter_map(|e| {
                let meta = e.metadata().ok().filter(|m| m.is_file())?;
                Some((meta.modified().ok()?, e.path(), meta.len()))
            })
            .collect();
        others.sort();
        let mut total: u64 = others.iter().map(|(_, _, len)| len).sum();
        let mut oldest = others.into_iter();
        while total + body.len() as u64 > self.limits.max_total {
            let Some((_, path, len)) = oldest.next() else { break };
            std::fs::remove_file(&path)?;
            total -= len;
        }
        crate::durable::write(&target, body, 0o600)?;
        Ok(created)
    }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_of_a_mac_are_taken() {
        assert_eq!(
            upload_name("0004F2AABBCC-app.log"),
            Some(("00:04:f2:aa:bb:cc".into(), "0004f2aabbcc-app.log".into()))
        );
        assert_eq!(upload_name("0004f2aabbcc-calls.xml").map(|x| x.1), Some("0004f2aabbcc-calls.xml".into()));
        assert_eq!(upload_name("805ec0112233.log").map(|x| x.1), Some("805ec0112233.log".into()));
        for bad in [
            "",
            "app.log",
            "../0004f2aabbcc-app.log",
            "0004f2aabbcc-../../etc.log",
            "0004f2aabbcc-/x.log",
            "0004f2aabbcc-app.sh",
            "0004f2aabbcc-.log",
            "0004f2aabbcc.cfg",
            "0004f2aabbzz-app.log",
            "0004f2aabbcc-a b.log",
            "0004f2aabbcc-%2e%2e.log",
        ] {
            assert_eq!(upload_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn caps_keep_the_tail_and_evict_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let up = Uploads::new(dir.path().join("up"), UploadLimits { max_file: 10, max_total: 25 });
        assert!(up.store("a.log", b"0123456789abcdef").unwrap());
        assert_eq!(std::fs::read(up.dir().join("a.log")).unwrap(), b"6789abcdef");
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(up.store("b.log", b"bbbbbbbbbb").unwrap());
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!up.store("b.log", b"BBBBBBBBBB").unwrap(), "a replacement is not new");
        assert!(up.store("c.log", b"cccccccccc").unwrap());
        assert!(!up.dir().join("a.log").exists(), "the oldest went to make room");
        assert!(up.dir().join("b.log").exists() && up.dir().join("c.log").exists());
    }
}
