//! The fleet's SQLite store. One connection behind a mutex: the fleet service's writes are a
//! few per box and minute (backup chunks go to files, only their count to the database).
//! Migrations are numbered by `PRAGMA user_version`; each change is one transaction.
//!
//! One file per concern: `config` (desired history, reports, statuses, telemetry), `boxes`
//! (claims, box credentials, escrowed backup keys), `backups` (manifests and progress),
//! `users` (dashboard logins), `views` (what the dashboard reads).

pub mod backups;
pub mod boxes;
pub mod commands;
mod config;
mod keys;
mod users;
pub mod views;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("stored document: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the store's lock was poisoned by a panic")]
    Poisoned,
    #[error("the system random source failed")]
    Random,
}

const MIGRATIONS: &[&str] = &[
    "CREATE TABLE desired (
        box_id TEXT NOT NULL, revision INTEGER NOT NULL, body TEXT NOT NULL,
        author TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (box_id, revision));
     CREATE TABLE reported (box_id TEXT PRIMARY KEY, body TEXT NOT NULL, at INTEGER NOT NULL);
     CREATE TABLE status (box_id TEXT PRIMARY KEY, boot_seq INTEGER NOT NULL, body TEXT NOT NULL);",
    // Telemetry (last one per box); boxes claimed into tenants with their broker credentials;
    // one-time claim codes (only their SHA-256); escrowed backup keys (sealed under the
    // fleet's own key); backups (manifest and how many chunks arrived, chunks are files);
    // commands sent and their results; dashboard users.
    "CREATE TABLE telemetry (box_id TEXT PRIMARY KEY, body TEXT NOT NULL, at INTEGER NOT NULL);
     CREATE TABLE boxes (box_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, password_hash TEXT NOT NULL,
        claimed_at INTEGER NOT NULL, replaces TEXT);
     CREATE TABLE claims (code_hash TEXT PRIMARY KEY, tenant TEXT NOT NULL, box_id TEXT NOT NULL,
        replaces TEXT, created_by TEXT NOT NULL, created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL, used_at INTEGER);
     CREATE TABLE backup_keys (box_id TEXT PRIMARY KEY, sealed BLOB NOT NULL, at INTEGER NOT NULL);
     CREATE TABLE backups (id TEXT PRIMARY KEY, box_id TEXT NOT NULL, created_at INTEGER NOT NULL,
        manifest TEXT NOT NULL, have INTEGER NOT NULL DEFAULT 0, complete INTEGER NOT NULL DEFAULT 0,
        received_at INTEGER NOT NULL);
     CREATE INDEX backups_by_box ON backups (box_id, created_at);
     CREATE TABLE commands (box_id TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL,
        result TEXT, at INTEGER NOT NULL, PRIMARY KEY (box_id, id));
     CREATE TABLE users (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, created_at INTEGER NOT NULL);",
];

#[derive(Clone)]
pub struct FleetStore {
    conn: Arc<Mutex<rusqlite::Connection>>,
}

impl FleetStore {
    /// Opens (creating and migrating) the store. Several fleet instances may share one file:
    /// WAL and a busy timeout let their writes take turns.
    pub fn open(path: &Path) -> Result<FleetStore, StoreError> {
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            conn.execute_batch(&format!("{sql}; PRAGMA user_version = {};", i + 1))?;
        }
        conn.execute_batch("COMMIT")?;
        Ok(FleetStore { conn: Arc::new(Mutex::new(conn)) })
    }

    fn conn(&self) -> Result<MutexGuard<'_, rusqlite::Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
