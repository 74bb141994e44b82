//! The audit log: who changed what, when. Written in the same transaction as the change.

use rusqlite::{params, Transaction};
use serde::Serialize;

use super::{unix_now, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

pub(crate) fn record(tx: &Transaction<'_>, actor: &str, action: &str, detail: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO audit_log (at, actor, action, detail) VALUES (?1, ?2, ?3, ?4)",
        params![unix_now(), actor, action, detail],
    )?;
    Ok(())
}

impl Store {
    /// Books an action that changes nothing in the store (a reboot or a factory reset asked
    /// for, an update staged), in a transaction of its own.
    pub fn audit(&self, actor: &str, action: &str, detail: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        record(&tx, actor, action, detail)?;
        tx.commit()?;
        Ok(())
    }

    /// The newest entry of `action`, if any (a reverse scan by id that stops at the first).
    pub fn last_audit(&self, action: &str) -> Result<Option<AuditEntry>, StoreError> {
        use rusqlite::OptionalExtension;
        let conn = self.conn();
        let found = conn
            .query_row(
                "SELECT id, at, actor, action, detail FROM audit_log WHERE action = ?1 ORDER BY id DESC LIMIT 1",
                [action],
                |r| {
                    Ok(AuditEntry {
                        id: r.get(0)?,
                        at: r.get(1)?,
                        actor: r.get(2)?,
                        action: r.get(3)?,
                        detail: r.get(4)?,
                    })
                },
            )
            .optional()?;
        Ok(found)
    }

    /// The newest `limit` entries, newest first.
    pub fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id, at, actor, action, detail FROM audit_log ORDER BY id DESC LIMIT ?1")?;
        let rows = stmt.query_map([limit], |r| {
            Ok(AuditEntry { id: r.get(0)?, at: r.get(1)?, actor: r.get(2)?, action: r.get(3)?, detail: r.get(4)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
