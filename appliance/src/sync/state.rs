//! What the agent remembers across restarts, in `<data_dir>/cloud-sync.json` (written to a
//! temporary file and renamed, so a crash leaves the old or the new state).
//!
//! - `boot_seq`: incremented at each start, so a stale last will cannot mark the box offline.
//! - `reported_revision`: the box revision the cloud last heard of; a different current revision
//!   on reconnect means local edits.
//! - `last_desired` and `last_report`: the desired revision last handled and its report, so a
//!   retained desired delivered again is answered the same way and never applied twice.

use std::path::{Path, PathBuf};

use cloud_sync::Reported;
use serde::{Deserialize, Serialize};

use super::SyncError;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct State {
    pub boot_seq: u64,
    pub reported_revision: Option<u64>,
    pub last_desired: Option<u64>,
    pub last_report: Option<Reported>,
}

pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn new(data_dir: &Path) -> StateFile {
        StateFile { path: data_dir.join("cloud-sync.json") }
    }

    fn error(&self, reason: impl ToString) -> SyncError {
        SyncError::State { path: self.path.display().to_string(), reason: reason.to_string() }
    }

    /// The saved state; a missing file is a first start. A corrupt file is an error rather
    /// than a silent reset, which would re-apply an old desired document.
    pub fn load(&self) -> Result<State, SyncError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| self.error(e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(self.error(e)),
        }
    }

    pub fn save(&self, state: &State) -> Result<(), SyncError> {
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| self.error(e))?;
        crate::durable::write(&self.path, &bytes, 0o600).map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_survives_a_save_and_a_missing_file_is_a_first_start() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path());
        assert_eq!(file.load().unwrap().boot_seq, 0);
        file.save(&State { boot_seq: 3, reported_revision: Some(7), ..State::default() }).unwrap();
        let back = file.load().unwrap();
        assert_eq!((back.boot_seq, back.reported_revision), (3, Some(7)));
        std::fs::write(dir.path().join("cloud-sync.json"), b"{").unwrap();
        assert!(file.load().is_err());
    }
}
