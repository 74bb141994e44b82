//! Backups as the fleet keeps them: the manifest and how many chunks, from the first, arrived
//! and were checked (`have`). The chunks themselves are files (`crate::backups`); only their
//! count is here, so that a resumed upload starts where the last one stopped.

use cloud_sync::backup::Manifest;
use rusqlite::{params, OptionalExtension as _};

use super::{FleetStore, StoreError};

/// One backup of a box, for the API and the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupRow {
    pub id: String,
    pub created_at: i64,
    pub revision: u64,
    pub chunks: usize,
    pub have: u32,
    pub complete: bool,
    /// Bytes of all chunks, as stored.
    pub stored_len: u64,
    pub received_at: i64,
}

impl FleetStore {
    /// Records the manifest of a backup (the first one wins: a resent manifest changes
    /// nothing) and returns its progress (have, complete) and the manifest kept.
    pub fn begin_backup(&self, m: &Manifest, now: i64) -> Result<(Manifest, u32, bool), StoreError> {
        let conn = self.conn()?;
        conn.execute(
            "INSERT OR IGNORE INTO backups (id, box_id, created_at, manifest, received_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![m.id, m.box_id, m.created_at, serde_json::to_string(m)?, now],
        )?;
        let (body, have, complete): (String, u32, bool) =
            conn.query_row("SELECT manifest, have, complete FROM backups WHERE id = ?1", params![m.id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        Ok((serde_json::from_str(&body)?, have, complete))
    }

    /// The manifest and progress of backup `id` of `box_id`.
    pub fn backup(&self, box_id: &str, id: &str) -> Result<Option<(Manifest, u32, bool)>, StoreError> {
        let row: Option<(String, u32, bool)> = self
            .conn()?
            .query_row(
                "SELECT manifest, have, complete FROM backups WHERE box_id = ?1 AND id = ?2",
                params![box_id, id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        match row {
            Some((body, have, complete)) => Ok(Some((serde_json::from_str(&body)?, have, complete))),
            None => Ok(None),
        }
    }

    pub fn set_backup_progress(&self, id: &str, have: u32, complete: bool, now: i64) -> Result<(), StoreError> {
        self.conn()?.execute(
            "UPDATE backups SET have = max(have, ?2), complete = complete OR ?3, received_at = ?4 WHERE id = ?1",
            params![id, have, complete, now],
        )?;
        Ok(())
    }

    /// The backups of a box, newest first.
    pub fn backups(&self, box_id: &str) -> Result<Vec<BackupRow>, StoreError> {
        let conn = self.conn()?;
        let mut q = conn.prepare(
            "SELECT manifest, have, complete, received_at FROM backups WHERE box_id = ?1
             ORDER BY created_at DESC, id DESC",
        )?;
        let rows = q.query_map(params![box_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?, r.get::<_, bool>(2)?, r.get::<_, i64>(3)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (body, have, complete, received_at) = row?;
            let m: Manifest = serde_json::from_str(&body)?;
            out.push(BackupRow {
                stored_len: m.stored_len(),
                chunks: m.chunks.len(),
                revision: m.revision,
                created_at: m.created_at,
                id: m.id,
                have,
                complete,
                received_at,
            });
        }
        Ok(out)
    }

    /// The id of the newest complete backup of `box_id`: what a replacement box restores.
    pub fn latest_complete_backup(&self, box_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()?
            .query_row(
                "SELECT id FROM backups WHERE box_id = ?1 AND complete = 1 ORDER BY created_at DESC, id DESC LIMIT 1",
                params![box_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn delete_backup(&self, id: &str) -> Result<(), StoreError> {
        self.conn()?.execute("DELETE FROM backups WHERE id = ?1", params![id])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(id: &str, at: i64) -> Manifest {
        let mut m = Manifest::new(id.into(), "b1".into(), at, 1, "0.1.0");
        m.chunks = vec![cloud_sync::backup::Chunk { len: 10, sha256: "00".into() }; 3];
        m
    }

    #[test]
    fn progress_is_kept_and_a_resent_manifest_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = FleetStore::open(&dir.path().join("f.db")).unwrap();
        let m = manifest("b1-10", 10);
        assert_eq!(store.begin_backup(&m, 11).unwrap().1, 0);
        store.set_backup_progress("b1-10", 2, false, 12).unwrap();
        let mut other = m.clone();
        other.revision = 9;
        let (kept, have, complete) = store.begin_backup(&other, 13).unwrap();
        assert_eq!((kept, have, complete), (m, 2, false));
        assert_eq!(store.latest_complete_backup("b1").unwrap(), None);
        store.set_backup_progress("b1-10", 3, true, 14).unwrap();
        store.begin_backup(&manifest("b1-5", 5), 15).unwrap();
        store.set_backup_progress("b1-5", 3, true, 16).unwrap();
        assert_eq!(store.latest_complete_backup("b1").unwrap().as_deref(), Some("b1-10"));
        let list = store.backups("b1").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!((list[0].have, list[0].stored_len), (3, 30));
        store.delete_backup("b1-10").unwrap();
        assert_eq!(store.latest_complete_backup("b1").unwrap().as_deref(), Some("b1-5"));
    }
}
