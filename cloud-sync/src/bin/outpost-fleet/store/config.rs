//! Desired documents with their history, the last report, status and telemetry of each box.

use cloud_sync::{Desired, Reported, Status, Telemetry};
use rusqlite::{params, OptionalExtension};

use super::{FleetStore, StoreError};

impl FleetStore {
    /// Records a new desired document for `box_id` under the next revision, in one transaction.
    pub fn add_desired(&self, box_id: &str, make: impl FnOnce(u64) -> Desired) -> Result<Desired, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let last: Option<u64> =
            tx.query_row("SELECT MAX(revision) FROM desired WHERE box_id = ?1", [box_id], |r| r.get(0))?;
        let desired = make(last.unwrap_or(0) + 1);
        tx.execute(
            "INSERT INTO desired (box_id, revision, body, author, at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![box_id, desired.revision, serde_json::to_string(&desired)?, desired.author, desired.at],
        )?;
        tx.commit()?;
        Ok(desired)
    }

    pub fn latest_desired(&self, box_id: &str) -> Result<Option<Desired>, StoreError> {
        let body: Option<String> = self
            .conn()?
            .query_row("SELECT body FROM desired WHERE box_id = ?1 ORDER BY revision DESC LIMIT 1", [box_id], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
    }

    /// The history without the documents: (revision, base, author, at), newest first.
    pub fn history(&self, box_id: &str) -> Result<Vec<serde_json::Value>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT body FROM desired WHERE box_id = ?1 ORDER BY revision DESC")?;
        let rows = stmt.query_map([box_id], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for body in rows {
            let d: Desired = serde_json::from_str(&body?)?;
            out.push(serde_json::json!({"revision": d.revision, "base_revision": d.base_revision,
                                        "author": d.author, "at": d.at}));
        }
        Ok(out)
    }

    pub fn set_reported(&self, box_id: &str, report: &Reported, at: u64) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO reported (box_id, body, at) VALUES (?1, ?2, ?3)
             ON CONFLICT (box_id) DO UPDATE SET body = excluded.body, at = excluded.at",
            params![box_id, serde_json::to_string(report)?, at],
        )?;
        Ok(())
    }

    /// Keeps the status with the highest boot_seq (a stale will cannot mark a reborn box offline).
    pub fn set_status(&self, box_id: &str, status: &Status) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO status (box_id, boot_seq, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (box_id) DO UPDATE SET boot_seq = excluded.boot_seq, body = excluded.body
             WHERE excluded.boot_seq >= status.boot_seq",
            params![box_id, status.boot_seq, serde_json::to_string(status)?],
        )?;
        Ok(())
    }

    fn body(&self, sql: &str, box_id: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let body: Option<String> = self.conn()?.query_row(sql, [box_id], |r| r.get(0)).optional()?;
        Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
    }

    /// What the fleet knows of one box.
    pub fn box_state(&self, box_id: &str) -> Result<serde_json::Value, StoreError> {
        Ok(serde_json::json!({
            "box_id": box_id,
            "status": self.body("SELECT body FROM status WHERE box_id = ?1", box_id)?,
            "reported": self.body("SELECT body FROM reported WHERE box_id = ?1", box_id)?,
            "telemetry": self.body("SELECT body FROM telemetry WHERE box_id = ?1", box_id)?,
            "desired": self.latest_desired(box_id)?.map(|d| serde_json::json!({
                "revision": d.revision, "base_revision": d.base_revision, "author": d.author, "at": d.at})),
        }))
    }

    pub fn set_telemetry(&self, box_id: &str, telemetry: &Telemetry, at: i64) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO telemetry (box_id, body, at) VALUES (?1, ?2, ?3)
             ON CONFLICT (box_id) DO UPDATE SET body = excluded.body, at = excluded.at",
            params![box_id, serde_json::to_string(telemetry)?, at],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cloud_sync::BoxState;

    #[test]
    fn desired_revisions_count_up_and_a_stale_will_is_ignored() {
        let dir = std::env::temp_dir().join(format!("fleet-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = FleetStore::open(&dir.join("fleet.db")).unwrap();
        let make = |r| Desired::new(r, 1, serde_json::json!({}), "ops", 0);
        assert_eq!(store.add_desired("b1", make).unwrap().revision, 1);
        assert_eq!(store.add_desired("b1", make).unwrap().revision, 2);
        assert_eq!(store.history("b1").unwrap().len(), 2);
        store.set_status("b1", &Status::new(BoxState::Online, 6, "v", 0)).unwrap();
        store.set_status("b1", &Status::new(BoxState::Offline, 5, "v", 0)).unwrap();
        assert_eq!(store.box_state("b1").unwrap()["status"]["state"], "online");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
