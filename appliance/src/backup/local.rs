//! The box's own backups, in `<data dir>/backups/`: taken on demand (CLI, API) and once a day,
//! the newest [`KEEP`] kept. Each is a complete `.outpost-backup` file.

use std::path::{Path, PathBuf};

use cloud_sync::backup::Manifest;

use super::{file, io, key_path, local_dir, BackupError, BackupKey};
use crate::store::Store;

/// Backups kept on the box (a week of dailies); the cloud keeps its own longer history.
pub const KEEP: usize = 7;

const SUFFIX: &str = ".outpost-backup";

/// Takes a backup now into `backups/`, and drops the oldest beyond [`KEEP`].
pub fn take(store: &Store, data_dir: &Path, box_id: &str, now: i64) -> Result<(PathBuf, Manifest), BackupError> {
    let key = BackupKey::load_or_create(&key_path(data_dir))?;
    let sealed = super::create(store, data_dir, &key, box_id, now)?;
    let dir = local_dir(data_dir);
    std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
    let path = dir.join(format!("{}{SUFFIX}", sealed.manifest.id));
    file::write(&path, &sealed)?;
    let mut all = list(data_dir)?;
    while all.len() > KEEP {
        let (old, _) = all.remove(0);
        let _ = std::fs::remove_file(old);
    }
    Ok((path, sealed.manifest))
}

/// The backups on the box, oldest first, with their manifests.
pub fn list(data_dir: &Path) -> Result<Vec<(PathBuf, Manifest)>, BackupError> {
    let dir = local_dir(data_dir);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if !path.to_string_lossy().ends_with(SUFFIX) {
            continue;
        }
        match file::read(&path) {
            Ok(sealed) => out.push((path, sealed.manifest)),
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "unreadable backup file skipped"),
        }
    }
    out.sort_by(|a, b| (a.1.created_at, &a.1.id).cmp(&(b.1.created_at, &b.1.id)));
    Ok(out)
}

/// The file of backup `id`, if the box has it (ids are checked: no path tricks).
pub fn find(data_dir: &Path, id: &str) -> Option<PathBuf> {
    let ok = !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let path = local_dir(data_dir).join(format!("{id}{SUFFIX}"));
    (ok && path.exists()).then_some(path)
}

/// Where this box keeps its backups and the name it gives them: what the API and the daily
/// schedule need.
#[derive(Debug, Clone)]
pub struct Local {
    pub data_dir: PathBuf,
    pub box_id: String,
    /// The fleet's broker (`host:port`) the cloud-sync agent uploads backups to, when
    /// `[cloud]` is set; `None`: backups stay on the box.
    pub cloud: Option<String>,
}

/// Seconds between scheduled backups.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Takes a backup every [`EVERY`] (the first one [`EVERY`] after start: a box that restarts
/// often does not pile up backups), until cancelled.
pub async fn schedule(store: Store, local: Local, cancel: tokio_util::sync::CancellationToken) {
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + EVERY, EVERY);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = every.tick() => {}
        }
        let (s, l) = (store.clone(), local.clone());
        let taken =
            tokio::task::spawn_blocking(move || take(&s, &l.data_dir, &l.box_id, crate::store::unix_now())).await;
        match taken {
            Ok(Ok((path, m))) => tracing::info!(backup = %m.id, path = %path.display(), "daily backup taken"),
            Ok(Err(e)) => tracing::error!(error = %e, "daily backup failed"),
            Err(e) => tracing::error!(error = %e, "daily backup task failed"),
        }
    }
}
