//! The one store of the box: a SQLite database in WAL mode with numbered migrations.
//!
//! Every change is one transaction, so a crash or `kill -9` at any moment leaves either the old
//! or the new state. Secrets are encrypted at rest under the box key (`secrets`).
//!
//! Layout: `site` (apply/export of the site config), `admin` (users and API sessions), `audit`,
//! `secrets` (the box key and AES-GCM), `leases` (DHCP), `cdrs` (call records), `portal`
//! (extension users' portal accounts), `upgrade` (the copy taken before a migration and the
//! rollback to it), `migrations/` (schema, one numbered file per step).

pub mod admin;
pub mod audit;
pub mod cdrs;
pub mod discovered;
pub mod leases;
pub mod portal;
pub mod registrations;
pub mod secrets;
pub mod site;
pub mod trunk_events;
pub mod trusted;
pub(crate) mod upgrade;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

pub use secrets::SecretBox;

/// Schema steps, applied in order; the index + 1 is the schema version they lead to.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_dhcp.sql"),
    include_str!("migrations/0003_forwarding.sql"),
    include_str!("migrations/0004_cdrs.sql"),
    include_str!("migrations/0005_templates.sql"),
    include_str!("migrations/0006_trunks.sql"),
    include_str!("migrations/0007_device_fetches.sql"),
    include_str!("migrations/0008_portal.sql"),
    include_str!("migrations/0009_trusted.sql"),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error(
        "the database is at schema {found}, newer than this build ({known}), and there is no copy at schema \
         {known} to go back to: refusing to touch it"
    )]
    NewerSchema { found: usize, known: usize },
    #[error("{what} {path}: {source}")]
    File { what: &'static str, path: String, source: std::io::Error },
    #[error(transparent)]
    Secret(#[from] secrets::SecretError),
    #[error(transparent)]
    Site(#[from] crate::site::SiteError),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
}

/// A handle to the database, cheap to clone. Calls block briefly; async code runs them with
/// `Store::call` so the runtime's threads stay free.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    secrets: SecretBox,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date:
    /// an older schema is copied first, a newer one goes back to its copy (`upgrade`).
    pub fn open(path: &Path, secrets: SecretBox) -> Result<Store, StoreError> {
        let conn = upgrade::open(path, MIGRATIONS)?;
        Self::setup(conn, secrets)
    }

    /// An in-memory store, for tests.
    pub fn open_in_memory(secrets: SecretBox) -> Result<Store, StoreError> {
        let mut conn = Connection::open_in_memory()?;
        configure(&conn)?;
        migrate(&mut conn, MIGRATIONS)?;
        Self::setup(conn, secrets)
    }

    fn setup(conn: Connection, secrets: SecretBox) -> Result<Store, StoreError> {
        let store = Store { conn: Arc::new(Mutex::new(conn)), secrets };
        store.ensure_site_meta()?;
        Ok(store)
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (the transaction
        // rolls back on drop), so a poisoned lock is safe to keep using.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs a blocking store call off the async runtime's threads.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| StoreError::Corrupt(format!("store task failed: {e}")))?
    }

    /// The schema version the database is at.
    pub fn schema_version(&self) -> Result<usize, StoreError> {
        let v: i64 = self.conn().query_row("SELECT version FROM schema_version", [], |r| r.get(0))?;
        Ok(usize::try_from(v).unwrap_or(0))
    }
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on the disk when it returns, so it survives a power cut as well as
    // a kill -9 (NORMAL would keep it in the page cache until the next checkpoint). A box
    // is switched off by pulling its plug; the image test does just that after first boot.
    // Registrations are written in batches, so the fsync is paid per batch.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// Runs the pending `steps` (index + 1 is the version each leads to) in one transaction.
fn migrate(conn: &mut Connection, steps: &[&str]) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    let current = upgrade::read_version(&tx)?;
    if current > steps.len() {
        return Err(StoreError::NewerSchema { found: current, known: steps.len() });
    }
    if current == steps.len() {
        return Ok(());
    }
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    for step in &steps[current..] {
        tx.execute_batch(step)?;
    }
    tx.execute("DELETE FROM schema_version", [])?;
    tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [steps.len() as i64])?;
    tx.commit()?;
    Ok(())
}

/// The schema version this build brings a database to (its number of migrations).
pub fn schema_steps() -> usize {
    MIGRATIONS.len()
}

/// Seconds since the Unix epoch: the time unit of every stored timestamp.
pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests;
