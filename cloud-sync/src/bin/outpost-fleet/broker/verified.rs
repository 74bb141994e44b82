//! Box passwords that passed the stretched check recently, so that a box reconnecting (or a
//! whole fleet reconnecting after a broker restart) costs one SHA-256 per CONNECT instead of
//! PBKDF2 with 100,000 iterations, which made the embedded broker's connect storm 34x slower
//! than Mosquitto's.
//!
//! An entry holds the stored hash it was verified against: a new password (claim of a
//! replacement, `box add`) changes the stored hash, so the old entry no longer matches and the
//! old password goes through PBKDF2 again, and fails. Only a digest of the password is kept,
//! in memory; the map is emptied when it reaches `LIMIT` entries (more boxes than one fleet
//! instance serves).

use std::collections::HashMap;
use std::sync::Mutex;

use ring::digest::{digest, SHA256};

const LIMIT: usize = 200_000;

#[derive(Default)]
pub struct Verified {
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    stored_hash: String,
    digest: Vec<u8>,
}

fn of(password: &str) -> Vec<u8> {
    digest(&SHA256, password.as_bytes()).as_ref().to_vec()
}

impl Verified {
    /// Whether `password` was verified against `stored_hash` for `box_id` before.
    pub fn knows(&self, box_id: &str, stored_hash: &str, password: &str) -> bool {
        let Ok(entries) = self.entries.lock() else { return false };
        entries
            .get(box_id)
            .is_some_and(|e| e.stored_hash == stored_hash && cloud_sync::password::same(&e.digest, &of(password)))
    }

    /// Notes a password that passed the stretched check.
    pub fn remember(&self, box_id: &str, stored_hash: &str, password: &str) {
        let Ok(mut entries) = self.entries.lock() else { return };
        if entries.len() >= LIMIT {
            entries.clear();
        }
        entries.insert(box_id.to_owned(), Entry { stored_hash: stored_hash.to_owned(), digest: of(password) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_password_is_known_until_the_stored_hash_changes() {
        let v = Verified::default();
        assert!(!v.knows("b1", "h1", "pw"));
        v.remember("b1", "h1", "pw");
        assert!(v.knows("b1", "h1", "pw"));
        assert!(!v.knows("b1", "h1", "other"), "a wrong password is not known");
        assert!(!v.knows("b2", "h1", "pw"), "per box");
        assert!(!v.knows("b1", "h2", "pw"), "a new stored hash (new password) forgets the old one");
    }
}
