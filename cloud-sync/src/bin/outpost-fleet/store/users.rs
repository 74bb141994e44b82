//! Dashboard users (operators): a name and a password hash (`cloud_sync::password`).
//!
//! Checking a password is slow on purpose (PBKDF2): the hash is read under the store's lock and
//! checked after it is released, so that a login does not hold up the MQTT side's writes.

use cloud_sync::password::{decoy_hash, hash_password, verify_password};
use rusqlite::{params, OptionalExtension};

use super::{FleetStore, StoreError};

impl FleetStore {
    /// How many dashboard users exist (none on a fresh store: the first start makes `admin`).
    pub fn user_count(&self) -> Result<u64, StoreError> {
        Ok(self.conn()?.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?)
    }

    /// Adds a user, or sets the password of an existing one.
    pub fn set_user(&self, name: &str, password: &str, now: i64) -> Result<(), StoreError> {
        let hash = hash_password(password).map_err(|_| StoreError::Random)?;
        self.conn()?.execute(
            "INSERT INTO users (name, password_hash, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash",
            params![name, hash, now],
        )?;
        Ok(())
    }

    /// Whether `password` is `name`'s. An unknown name is checked against a decoy hash, so it
    /// costs the same time as a wrong password and nobody learns which names exist.
    pub fn user_password_ok(&self, name: &str, password: &str) -> Result<bool, StoreError> {
        let hash: Option<String> = self
            .conn()?
            .query_row("SELECT password_hash FROM users WHERE name = ?1", [name], |r| r.get(0))
            .optional()?;
        Ok(match hash {
            Some(h) => verify_password(password, &h),
            None => {
                verify_password(password, decoy_hash());
                false
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_user_logs_in_with_their_password_only_and_a_reset_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = FleetStore::open(&dir.path().join("fleet.db")).unwrap();
        assert_eq!(store.user_count().unwrap(), 0);
        store.set_user("admin", "first-password", 1).unwrap();
        assert!(store.user_password_ok("admin", "first-password").unwrap());
        assert!(!store.user_password_ok("admin", "first-passwore").unwrap());
        assert!(!store.user_password_ok("nobody", "first-password").unwrap());
        store.set_user("admin", "second-password", 2).unwrap();
        assert!(!store.user_password_ok("admin", "first-password").unwrap());
        assert!(store.user_password_ok("admin", "second-password").unwrap());
        assert_eq!(store.user_count().unwrap(), 1);
    }
}
