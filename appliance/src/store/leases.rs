//! DHCP leases on disk, so that a restart keeps every client's address.

use std::net::Ipv4Addr;

use rusqlite::params;

use super::{Store, StoreError};
use crate::dhcp::{Lease, LeaseChange, LeaseState};

impl Store {
    /// Every stored lease (bound, expired or declined), by address.
    pub fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT ip, mac, scope, state, expires_at, hostname, vendor FROM dhcp_leases ORDER BY scope, ip",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut leases = Vec::new();
        for row in rows {
            let (ip, mac, scope, state, expires_at, hostname, vendor) = row?;
            let ip: Ipv4Addr = ip.parse().map_err(|_| StoreError::Corrupt(format!("lease address `{ip}`")))?;
            let state =
                LeaseState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("lease state `{state}`")))?;
            leases.push(Lease { ip, mac, scope, state, expires_at, hostname, vendor });
        }
        leases.sort_by_key(|l| (l.scope.clone(), u32::from(l.ip)));
        Ok(leases)
    }

    /// Writes a batch of lease changes in one transaction: all of them or none.
    pub fn apply_lease_changes(&self, changes: &[LeaseChange]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut upsert = tx.prepare_cached(
                "INSERT OR REPLACE INTO dhcp_leases (ip, mac, scope, state, expires_at, hostname, vendor)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut remove = tx.prepare_cached("DELETE FROM dhcp_leases WHERE ip = ?1")?;
            for change in changes {
                match change {
                    LeaseChange::Upsert(l) => {
                        upsert.execute(params![
                            l.ip.to_string(),
                            l.mac,
                            l.scope,
                            l.state.as_str(),
                            l.expires_at,
                            l.hostname,
                            l.vendor
                        ])?;
                    }
                    LeaseChange::Remove(ip) => {
                        remove.execute([ip.to_string()])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SecretBox;

    fn lease(ip: [u8; 4], mac: &str) -> Lease {
        Lease {
            ip: Ipv4Addr::from(ip),
            mac: mac.into(),
            scope: "lan".into(),
            state: LeaseState::Bound,
            expires_at: 1000,
            hostname: "t54w".into(),
            vendor: "yealink".into(),
        }
    }

    #[test]
    fn leases_round_trip_and_one_address_has_one_holder() {
        let store = Store::open_in_memory(SecretBox::from_key(&[7; 32])).unwrap();
        let a = lease([10, 0, 0, 10], "00:15:65:00:00:01");
        store.apply_lease_changes(&[LeaseChange::Upsert(a.clone())]).unwrap();
        assert_eq!(store.leases().unwrap(), vec![a]);
        // The same address to another MAC replaces the row: never two holders.
        let b = lease([10, 0, 0, 10], "00:15:65:00:00:02");
        store.apply_lease_changes(&[LeaseChange::Upsert(b.clone())]).unwrap();
        assert_eq!(store.leases().unwrap(), vec![b]);
        store.apply_lease_changes(&[LeaseChange::Remove(Ipv4Addr::new(10, 0, 0, 10))]).unwrap();
        assert!(store.leases().unwrap().is_empty());
    }
}
