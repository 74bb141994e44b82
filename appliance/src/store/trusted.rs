//! Trusted networks added on the box (the web UI's security page): never rate-limited or
//! banned by SIP or provisioning, beside the allowlists of `outpost.toml` (which the image
//! keeps on its read-only root). Box-local like the admin accounts, so not part of the site
//! document the cloud syncs; each change is one transaction with its audit entry.

use rusqlite::params;
use serde::Serialize;

use super::{audit, unix_now, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustedNetwork {
    pub cidr: String,
    pub note: String,
    pub added_at: i64,
    pub added_by: String,
}

impl Store {
    /// Every trusted network added on the box, in the order they were added.
    pub fn trusted_networks(&self) -> Result<Vec<TrustedNetwork>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT cidr, note, added_at, added_by FROM trusted_networks ORDER BY added_at, cidr")?;
        let rows = stmt.query_map([], |r| {
            Ok(TrustedNetwork { cidr: r.get(0)?, note: r.get(1)?, added_at: r.get(2)?, added_by: r.get(3)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Adds `cidr` (already checked and written as `Cidr` displays it); false if it is there.
    pub fn add_trusted(&self, cidr: &str, note: &str, actor: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let added = tx.execute(
            "INSERT INTO trusted_networks (cidr, note, added_at, added_by) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (cidr) DO NOTHING",
            params![cidr, note, unix_now(), actor],
        )? == 1;
        if added {
            audit::record(&tx, actor, "trusted.add", &format!("{cidr} trusted ({note})"))?;
        }
        tx.commit()?;
        Ok(added)
    }

    /// Removes `cidr`; false if it was not there.
    pub fn remove_trusted(&self, cidr: &str, actor: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let removed = tx.execute("DELETE FROM trusted_networks WHERE cidr = ?1", [cidr])? == 1;
        if removed {
            audit::record(&tx, actor, "trusted.remove", &format!("{cidr} no longer trusted"))?;
        }
        tx.commit()?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn networks_are_added_once_removed_once_and_audited() {
        let s = crate::store::Store::open_in_memory(crate::store::SecretBox::from_key(&[7; 32])).unwrap();
        assert!(s.trusted_networks().unwrap().is_empty());
        assert!(s.add_trusted("192.0.2.0/24", "the office", "ui:admin").unwrap());
        assert!(!s.add_trusted("192.0.2.0/24", "again", "ui:admin").unwrap(), "once");
        let list = s.trusted_networks().unwrap();
        assert_eq!((list.len(), list[0].note.as_str(), list[0].added_by.as_str()), (1, "the office", "ui:admin"));
        assert!(s.remove_trusted("192.0.2.0/24", "ui:admin").unwrap());
        assert!(!s.remove_trusted("192.0.2.0/24", "ui:admin").unwrap());
        let actions: Vec<String> = s.audit_log(10).unwrap().into_iter().map(|e| e.action).collect();
        assert_eq!(&actions[..2], ["trusted.remove", "trusted.add"]);
        assert_eq!(
            s.last_audit("trusted.add").unwrap().map(|e| e.detail).as_deref(),
            Some("192.0.2.0/24 trusted (the office)")
        );
        assert!(s.last_audit("no.such.action").unwrap().is_none());
    }
}
