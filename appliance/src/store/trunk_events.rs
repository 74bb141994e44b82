//! The log of trunk state changes and survivable-mode changes: what `GET /api/v1/survivable`
//! shows and what an admin reads after an outage. One row per change, written as it happens.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// One change. `tenant` and `trunk` are absent for the site's mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrunkEventRow {
    /// Unix seconds.
    pub at: i64,
    pub tenant: Option<String>,
    pub trunk: Option<String>,
    /// `up`, `down`, `registered`, `unregistered`, `survivable`, `normal`.
    pub kind: String,
    pub reason: String,
}

/// Rows kept: an outage a day for years fits; older rows go first.
const KEEP: i64 = 10_000;

impl Store {
    pub fn insert_trunk_events(&self, rows: &[TrunkEventRow]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for r in rows {
            tx.execute(
                "INSERT INTO trunk_events (at, tenant, trunk, kind, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![r.at, r.tenant, r.trunk, r.kind, r.reason],
            )?;
        }
        tx.execute("DELETE FROM trunk_events WHERE id <= (SELECT MAX(id) FROM trunk_events) - ?1", [KEEP])?;
        tx.commit()?;
        Ok(())
    }

    /// The newest `limit` events, oldest first.
    pub fn trunk_events(&self, limit: usize) -> Result<Vec<TrunkEventRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT at, tenant, trunk, kind, reason FROM
               (SELECT id, at, tenant, trunk, kind, reason FROM trunk_events ORDER BY id DESC LIMIT ?1)
             ORDER BY id",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map([limit], |r| {
            Ok(TrunkEventRow { at: r.get(0)?, tenant: r.get(1)?, trunk: r.get(2)?, kind: r.get(3)?, reason: r.get(4)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SecretBox;

    #[test]
    fn events_come_back_oldest_first_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outpost.db");
        let row = |at: i64, kind: &str| TrunkEventRow {
            at,
            tenant: Some("acme".into()),
            trunk: Some("cloud".into()),
            kind: kind.into(),
            reason: "3 probes unanswered".into(),
        };
        {
            let store = Store::open(&path, SecretBox::from_key(&[7; 32])).unwrap();
            store.insert_trunk_events(&[row(10, "down"), row(50, "up")]).unwrap();
        }
        let store = Store::open(&path, SecretBox::from_key(&[7; 32])).unwrap();
        let kinds: Vec<String> = store.trunk_events(10).unwrap().into_iter().map(|r| r.kind).collect();
        assert_eq!(kinds, ["down", "up"]);
        assert_eq!(store.trunk_events(1).unwrap()[0].at, 50);
    }
}
