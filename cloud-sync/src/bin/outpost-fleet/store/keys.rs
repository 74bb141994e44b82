//! Escrowed backup keys, one per box, as sealed by `crate::escrow` (never in clear).

use rusqlite::{params, OptionalExtension as _};

use super::{FleetStore, StoreError};

impl FleetStore {
    /// Keeps the sealed backup key of `box_id` (the newest escrow replaces the last).
    pub fn set_sealed_key(&self, box_id: &str, sealed: &[u8], now: i64) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO backup_keys (box_id, sealed, at) VALUES (?1, ?2, ?3)
             ON CONFLICT (box_id) DO UPDATE SET sealed = excluded.sealed, at = excluded.at",
            params![box_id, sealed, now],
        )?;
        Ok(())
    }

    pub fn sealed_key(&self, box_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn()?
            .query_row("SELECT sealed FROM backup_keys WHERE box_id = ?1", params![box_id], |r| r.get(0))
            .optional()?)
    }
}
