//! SIP bindings on disk, so that a restart keeps every phone registered.

use rusqlite::params;

use super::{Store, StoreError};
use crate::sip::location::{Binding, Change};

const COLUMNS: &str = "tenant, aor, contact, expires_at, source, user_agent, call_id, cseq";

fn binding(r: &rusqlite::Row<'_>) -> rusqlite::Result<Binding> {
    Ok(Binding {
        tenant: r.get(0)?,
        aor: r.get(1)?,
        contact: r.get(2)?,
        expires_at: r.get(3)?,
        source: r.get(4)?,
        user_agent: r.get(5)?,
        call_id: r.get(6)?,
        cseq: r.get(7)?,
    })
}

impl Store {
    /// Live bindings, ordered by tenant and extension; expired ones are deleted on the way.
    pub fn bindings(&self, now: i64) -> Result<Vec<Binding>, StoreError> {
        let conn = self.conn();
        conn.execute("DELETE FROM registrations WHERE expires_at <= ?1", [now])?;
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM registrations ORDER BY tenant, aor, contact"))?;
        let rows = stmt.query_map([], binding)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Writes a batch of changes in one transaction: all of them or none.
    pub fn apply_binding_changes(&self, changes: &[Change]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut upsert = tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO registrations ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ))?;
            let mut remove =
                tx.prepare_cached("DELETE FROM registrations WHERE tenant = ?1 AND aor = ?2 AND contact = ?3")?;
            for change in changes {
                match change {
                    Change::Upsert(b) => {
                        upsert.execute(params![
                            b.tenant,
                            b.aor,
                            b.contact,
                            b.expires_at,
                            b.source,
                            b.user_agent,
                            b.call_id,
                            b.cseq
                        ])?;
                    }
                    Change::Remove { tenant, aor, contact } => {
                        remove.execute(params![tenant, aor, contact])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}
