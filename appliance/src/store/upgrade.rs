//! Schema changes across A/B updates. Migrations run forward only, at start (a new slot needs
//! its schema to become healthy), and only after a consistent copy of the database at the
//! version it held: `<db>.schema-<N>.bak`, made with `VACUUM INTO` under a temporary name,
//! synced, then renamed. When the new slot fails its trial and the box falls back to the old
//! slot, the old build finds a schema newer than it knows: if the copy at its own version is
//! there, it sets the newer database aside (`<db>.schema-<found>.rolled-back`, with its
//! `-wal` and `-shm`) and puts the copy back. Changes made while the new slot was on trial are
//! kept in the file set aside, not merged.
//!
//! Kept copies: only the one just made. The box has two slots; after a migration from N the
//! other slot's build knows N at most, so older copies serve no installed build.
//!
//! The rollback is a few renames, started by a marker file (`<db>.rollback`) and resumed from
//! it after a crash, so a power cut never leaves a database beside a WAL that is not its own.
//! Temporary names (`.tmp`) are never taken for a copy.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};

use super::StoreError;

/// What opening a database at schema `found` does, for a build that knows `known` steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// A fresh database: every step runs, there is nothing to copy.
    Create,
    /// At this build's schema already.
    Current,
    /// Older: copy it at `from`, then migrate.
    CopyThenMigrate { from: usize },
    /// Newer, and the copy taken before that update is there: set the newer one aside and put
    /// the copy back.
    RollBack { found: usize },
    /// Newer, with no copy to go back to.
    Refuse { found: usize },
}

/// Decides from the versions and whether `<db>.schema-<known>.bak` exists.
pub(crate) fn plan(found: usize, known: usize, copy_of_known: bool) -> Plan {
    if found == 0 {
        Plan::Create
    } else if found == known {
        Plan::Current
    } else if found < known {
        Plan::CopyThenMigrate { from: found }
    } else if copy_of_known {
        Plan::RollBack { found }
    } else {
        Plan::Refuse { found }
    }
}

/// `<db>.schema-<version>.bak`: the copy taken before migrating away from `version`.
pub(crate) fn copy_path(db: &Path, version: usize) -> PathBuf {
    with_suffix(db, &format!(".schema-{version}.bak"))
}

/// `<db>.schema-<version>.rolled-back`: a newer database set aside by a rollback.
pub(crate) fn rolled_back_path(db: &Path, version: usize) -> PathBuf {
    with_suffix(db, &format!(".schema-{version}.rolled-back"))
}

fn marker_path(db: &Path) -> PathBuf {
    with_suffix(db, ".rollback")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Opens the database at `path` and brings it to the schema of `steps`: a rollback left half
/// done is finished first; a newer database goes back to its copy (or is refused); an older
/// one is copied, then migrated.
pub(crate) fn open(path: &Path, steps: &[&str]) -> Result<Connection, StoreError> {
    resume_rollback(path)?;
    let known = steps.len();
    let conn = Connection::open(path)?;
    let found = read_version(&conn)?;
    let mut conn = match plan(found, known, copy_path(path, known).exists()) {
        Plan::Refuse { found } => return Err(StoreError::NewerSchema { found, known }),
        Plan::RollBack { found } => {
            conn.close().map_err(|(_, e)| StoreError::Db(e))?;
            roll_back(path, found, known)?;
            let conn = Connection::open(path)?;
            let now = read_version(&conn)?;
            if now != known {
                return Err(StoreError::Corrupt(format!(
                    "the copy put back at {} is at schema {now}, not {known}",
                    path.display()
                )));
            }
            conn
        }
        Plan::CopyThenMigrate { from } => {
            take_copy(&conn, path, from)?;
            tracing::info!(from, to = known, copy = %copy_path(path, from).display(), "migrating the store");
            conn
        }
        Plan::Create | Plan::Current => conn,
    };
    super::configure(&conn)?;
    super::migrate(&mut conn, steps)?;
    Ok(conn)
}

/// The schema version in `conn` (0 for a database without one).
pub(crate) fn read_version(conn: &Connection) -> Result<usize, StoreError> {
    let has_table: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version')",
        [],
        |r| r.get(0),
    )?;
    if !has_table {
        return Ok(0);
    }
    let v: Option<i64> = conn.query_row("SELECT version FROM schema_version", [], |r| r.get(0)).optional()?;
    Ok(v.map_or(0, |v| usize::try_from(v).unwrap_or(0)))
}

/// Copies the database to `<db>.schema-<from>.bak` (temporary name, sync, rename, sync the
/// directory), then removes every other copy.
fn take_copy(conn: &Connection, db: &Path, from: usize) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt as _;
    let copy = copy_path(db, from);
    let tmp = with_suffix(&copy, ".tmp");
    // Left by a crash during an earlier copy: VACUUM INTO refuses an existing file.
    remove_if_exists(&tmp)?;
    let target = tmp.to_str().ok_or_else(|| StoreError::File {
        what: "cannot copy the store to",
        path: tmp.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path is not UTF-8"),
    })?;
    conn.execute("VACUUM INTO ?1", [target])?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
        .map_err(file_error("cannot restrict", &tmp))?;
    sync(&tmp)?;
    rename(&tmp, &copy)?;
    sync(&dir_of(db))?;
    for old in other_copies(db, &copy)? {
        remove_if_exists(&old)?;
    }
    sync(&dir_of(db))
}

/// Copies (and leftover temporary copies) of `db` other than `keep`.
fn other_copies(db: &Path, keep: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let dir = dir_of(db);
    let Some(name) = db.file_name().and_then(|n| n.to_str()) else { return Ok(Vec::new()) };
    let prefix = format!("{name}.schema-");
    let entries = std::fs::read_dir(&dir).map_err(file_error("cannot list", &dir))?;
    Ok(entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(&prefix) && (n.ends_with(".bak") || n.ends_with(".bak.tmp")))
        .map(|n| dir.join(n))
        .filter(|p| p != keep)
        .collect())
}

/// Starts the rollback from `found` to the copy at `known`: writes the marker, then does the
/// renames. No connection to `db` may be open.
fn roll_back(db: &Path, found: usize, known: usize) -> Result<(), StoreError> {
    // An earlier rollback of the same version: the newest set-aside file replaces it.
    let rolled = rolled_back_path(db, found);
    for suffix in ["", "-wal", "-shm"] {
        remove_if_exists(&with_suffix(&rolled, suffix))?;
    }
    let marker = marker_path(db);
    std::fs::write(&marker, format!("{found} {known}\n")).map_err(file_error("cannot write", &marker))?;
    sync(&marker)?;
    sync(&dir_of(db))?;
    resume_rollback(db)?;
    Ok(())
}

/// Finishes a rollback whose marker is there; every step can be done again after a crash.
/// Returns whether there was one.
fn resume_rollback(db: &Path) -> Result<bool, StoreError> {
    let marker = marker_path(db);
    let text = match std::fs::read_to_string(&marker) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(file_error("cannot read", &marker)(e)),
    };
    let mut words = text.split_whitespace().map(str::parse::<usize>);
    let (Some(Ok(found)), Some(Ok(known))) = (words.next(), words.next()) else {
        return Err(StoreError::Corrupt(format!("{} does not name two schema versions", marker.display())));
    };
    let rolled = rolled_back_path(db, found);
    let copy = copy_path(db, known);
    let dir = dir_of(db);
    // The WAL and shared memory go with their database: renamed first, so that the copy put
    // in place can never meet the newer database's WAL.
    for suffix in ["-wal", "-shm"] {
        let from = with_suffix(db, suffix);
        if from.exists() {
            rename(&from, &with_suffix(&rolled, suffix))?;
        }
    }
    sync(&dir)?;
    if !rolled.exists() && db.exists() {
        rename(db, &rolled)?;
        sync(&dir)?;
    }
    if copy.exists() && !db.exists() {
        rename(&copy, db)?;
        sync(&dir)?;
    }
    if !db.exists() {
        return Err(StoreError::Corrupt(format!(
            "rolling back to {}: neither the copy nor the database is there",
            copy.display()
        )));
    }
    std::fs::remove_file(&marker).map_err(file_error("cannot remove", &marker))?;
    sync(&dir)?;
    tracing::warn!(
        db = %db.display(),
        found,
        known,
        set_aside = %rolled.display(),
        "the store was at a schema newer than this build (an update that was rolled back): the copy taken \
         before that update is back in place; changes made since the update are in the file set aside"
    );
    Ok(true)
}

fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn file_error<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::File { what, path: path.display().to_string(), source }
}

fn sync(path: &Path) -> Result<(), StoreError> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(file_error("cannot sync", path))
}

fn rename(from: &Path, to: &Path) -> Result<(), StoreError> {
    std::fs::rename(from, to).map_err(file_error("cannot move", from))
}

fn remove_if_exists(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(file_error("cannot remove", path)(e)),
    }
}

#[cfg(test)]
mod tests;
