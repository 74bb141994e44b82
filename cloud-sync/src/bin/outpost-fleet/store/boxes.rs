//! Boxes claimed into tenants, their broker credentials, and one-time claim codes.
//!
//! A claim code is made by an operator for a tenant, optionally as the replacement of a box.
//! The box presents it once: it gets the box id (the replaced box's, so it takes over its
//! identity), a fresh broker password (the dead box's password stops working) and, for a
//! replacement, the escrowed backup key. Only the SHA-256 of a code is kept.

use cloud_sync::password::{hash_password, random_password, verify_password};
use ring::digest::{digest, SHA256};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{FleetStore, StoreError};

/// How long a claim code can be used.
pub const CLAIM_SECONDS: i64 = 24 * 3600;

/// A claim code as made: shown once to the operator.
#[derive(Debug, Clone, Serialize)]
pub struct NewClaim {
    pub code: String,
    pub box_id: String,
    pub expires_at: i64,
}

/// What a box gets for a good code.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub box_id: String,
    pub tenant: String,
    pub password: String,
    pub replaces: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClaimError {
    /// Unknown, used or expired: one answer for all three, so codes cannot be probed.
    #[error("this claim code is not valid (unknown, already used or expired)")]
    Invalid,
    #[error("box `{0}` is not known to this fleet")]
    UnknownBox(String),
    #[error("tenant names are 1-64 of a-z 0-9 - _")]
    BadTenant,
}

fn code_hash(code: &str) -> String {
    // Codes are typed by people: case and dashes do not matter.
    let norm: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_uppercase();
    hex::encode(digest(&SHA256, norm.as_bytes()))
}

fn random_failed(_: cloud_sync::password::RandomFailed) -> StoreError {
    StoreError::Random
}

impl FleetStore {
    /// Makes a one-time claim code for `tenant`. A new box gets a new id; a replacement gets
    /// the id of the box it replaces.
    pub fn create_claim(
        &self,
        tenant: &str,
        replaces: Option<&str>,
        by: &str,
        now: i64,
    ) -> Result<Result<NewClaim, ClaimError>, StoreError> {
        let ok_tenant = !tenant.is_empty()
            && tenant.len() <= 64
            && tenant.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !ok_tenant {
            return Ok(Err(ClaimError::BadTenant));
        }
        let conn = self.conn()?;
        let box_id = match replaces {
            Some(old) => {
                let known: Option<String> =
                    conn.query_row("SELECT box_id FROM boxes WHERE box_id = ?1", [old], |r| r.get(0)).optional()?;
                match known {
                    Some(id) => id,
                    None => return Ok(Err(ClaimError::UnknownBox(old.to_owned()))),
                }
            }
            None => format!("{tenant}-{}", random_password(6).map_err(random_failed)?.to_ascii_lowercase()),
        };
        let raw = random_password(12).map_err(random_failed)?.to_ascii_uppercase();
        let code = format!("{}-{}-{}", &raw[..4], &raw[4..8], &raw[8..]);
        let expires_at = now + CLAIM_SECONDS;
        conn.execute(
            "INSERT INTO claims (code_hash, tenant, box_id, replaces, created_by, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![code_hash(&code), tenant, box_id, replaces, by, now, expires_at],
        )?;
        Ok(Ok(NewClaim { code, box_id, expires_at }))
    }

    /// Uses a claim code, in one transaction: the code is spent, the box (re)registered with a
    /// fresh broker password.
    pub fn redeem_claim(&self, code: &str, now: i64) -> Result<Result<Claimed, ClaimError>, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let row: Option<(String, String, Option<String>)> = tx
            .query_row(
                "SELECT tenant, box_id, replaces FROM claims
                 WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
                params![code_hash(code), now],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((tenant, box_id, replaces)) = row else { return Ok(Err(ClaimError::Invalid)) };
        let password = random_password(24).map_err(random_failed)?;
        let hash = hash_password(&password).map_err(random_failed)?;
        tx.execute("UPDATE claims SET used_at = ?2 WHERE code_hash = ?1", params![code_hash(code), now])?;
        tx.execute(
            "INSERT INTO boxes (box_id, tenant, password_hash, claimed_at, replaces) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (box_id) DO UPDATE SET tenant = excluded.tenant, password_hash = excluded.password_hash,
               claimed_at = excluded.claimed_at, replaces = excluded.replaces",
            params![box_id, tenant, hash, now, replaces],
        )?;
        tx.commit()?;
        Ok(Ok(Claimed { box_id, tenant, password, replaces }))
    }

    /// Registers a box with a password directly (`outpost-fleet box add`: boxes configured by
    /// hand rather than claimed). Replaces an earlier password.
    pub fn add_box(&self, box_id: &str, tenant: &str, password: &str, now: i64) -> Result<(), StoreError> {
        let hash = hash_password(password).map_err(random_failed)?;
        self.conn()?.execute(
            "INSERT INTO boxes (box_id, tenant, password_hash, claimed_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (box_id) DO UPDATE SET tenant = excluded.tenant, password_hash = excluded.password_hash",
            params![box_id, tenant, hash, now],
        )?;
        Ok(())
    }

    /// Whether `password` is the broker password of `box_id`. An unknown box costs the same
    /// time as a wrong password. `verified` skips the stretched check for a password that
    /// passed it against the same stored hash before.
    pub fn box_password_ok(
        &self,
        box_id: &str,
        password: &str,
        verified: &crate::broker::verified::Verified,
    ) -> Result<bool, StoreError> {
        let hash: Option<String> = self
            .conn()?
            .query_row("SELECT password_hash FROM boxes WHERE box_id = ?1", [box_id], |r| r.get(0))
            .optional()?;
        Ok(match hash {
            Some(h) if verified.knows(box_id, &h, password) => true,
            Some(h) => {
                let ok = verify_password(password, &h);
                if ok {
                    verified.remember(box_id, &h, password);
                }
                ok
            }
            None => {
                verify_password(password, cloud_sync::password::decoy_hash());
                false
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::broker::verified::Verified;

    fn store() -> (tempfile::TempDir, FleetStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = FleetStore::open(&dir.path().join("fleet.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn a_claim_code_works_once_and_gives_a_password_that_opens_the_broker() {
        let (_d, s) = store();
        let claim = s.create_claim("acme", None, "ops", 100).unwrap().unwrap();
        assert!(claim.box_id.starts_with("acme-"));
        let typed = claim.code.to_lowercase().replace('-', " ");
        let got = s.redeem_claim(&typed, 200).unwrap().unwrap();
        assert_eq!(got.box_id, claim.box_id);
        let v = Verified::default();
        assert!(s.box_password_ok(&got.box_id, &got.password, &v).unwrap());
        assert!(!s.box_password_ok(&got.box_id, "guess", &v).unwrap());
        assert_eq!(s.redeem_claim(&claim.code, 201).unwrap().unwrap_err(), ClaimError::Invalid, "spent");
        assert_eq!(s.claim_views(10).unwrap()[0].used_at, Some(200));
    }

    #[test]
    fn a_replacement_takes_the_old_id_and_the_old_password_stops_working() {
        let (_d, s) = store();
        s.add_box("acme-1", "acme", "old-password", 1).unwrap();
        // One cache through it all, as in the gateway: a remembered old password must not
        // outlive the replacement.
        let v = Verified::default();
        assert!(s.box_password_ok("acme-1", "old-password", &v).unwrap());
        assert!(s.box_password_ok("acme-1", "old-password", &v).unwrap(), "from the cache");
        assert!(matches!(s.create_claim("acme", Some("nope"), "ops", 1).unwrap(), Err(ClaimError::UnknownBox(_))));
        let claim = s.create_claim("acme", Some("acme-1"), "ops", 10).unwrap().unwrap();
        assert_eq!(claim.box_id, "acme-1");
        let got = s.redeem_claim(&claim.code, 20).unwrap().unwrap();
        assert_eq!((got.box_id.as_str(), got.replaces.as_deref()), ("acme-1", Some("acme-1")));
        assert!(!s.box_password_ok("acme-1", "old-password", &v).unwrap());
        assert!(s.box_password_ok("acme-1", &got.password, &v).unwrap());
    }

    #[test]
    fn expired_and_unknown_codes_get_the_same_answer() {
        let (_d, s) = store();
        let claim = s.create_claim("acme", None, "ops", 0).unwrap().unwrap();
        assert_eq!(s.redeem_claim(&claim.code, CLAIM_SECONDS + 1).unwrap().unwrap_err(), ClaimError::Invalid);
        assert_eq!(s.redeem_claim("AAAA-BBBB-CCCC", 1).unwrap().unwrap_err(), ClaimError::Invalid);
        assert_eq!(s.create_claim("Bad Tenant", None, "ops", 0).unwrap().unwrap_err(), ClaimError::BadTenant);
    }
}
