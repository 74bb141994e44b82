//! The location service: which contacts each address-of-record is reachable at, until when.
//!
//! Pure and told the time (Unix seconds, the unit the store persists). Every change it makes is
//! returned as a `Change` so the driver can write it to SQLite before answering.

use std::collections::HashMap;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Binding {
    pub tenant: String,
    /// The user part of the address-of-record (the extension number).
    pub aor: String,
    /// The contact URI, without angle brackets or header parameters.
    pub contact: String,
    pub expires_at: i64,
    /// `transport:ip:port` the REGISTER came from: where to reach a phone behind NAT.
    pub source: String,
    pub user_agent: String,
    pub call_id: String,
    pub cseq: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Upsert(Binding),
    Remove { tenant: String, aor: String, contact: String },
}

/// How a REGISTER asked to change one AOR's bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// No Contact: just list the bindings.
    Query,
    /// `Contact: *` with `Expires: 0`: remove them all.
    RemoveAll,
    /// These contacts, each with its granted lifetime in seconds (0 removes it).
    Contacts(Vec<(String, u32)>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    /// RFC 3261 §10.3 step 7: same Call-ID with an older or equal CSeq is out of order.
    #[error("out of order REGISTER (CSeq not above the last one of this Call-ID)")]
    OutOfOrder,
    #[error("at most {0} contacts per extension")]
    TooManyContacts(usize),
}

/// Facts about the REGISTER every new binding records.
pub struct Origin<'a> {
    pub source: &'a str,
    pub user_agent: &'a str,
    pub call_id: &'a str,
    pub cseq: u32,
}

#[derive(Default)]
pub struct Location {
    aors: HashMap<(String, String), Vec<Binding>>,
}

impl Location {
    pub fn from_bindings(bindings: impl IntoIterator<Item = Binding>) -> Location {
        let mut loc = Location::default();
        for b in bindings {
            loc.aors.entry((b.tenant.clone(), b.aor.clone())).or_default().push(b);
        }
        loc
    }

    /// The live bindings of an AOR.
    pub fn bindings(&self, tenant: &str, aor: &str, now: i64) -> Vec<&Binding> {
        self.aors
            .get(&(tenant.to_owned(), aor.to_owned()))
            .map(|v| v.iter().filter(|b| b.expires_at > now).collect())
            .unwrap_or_default()
    }

    pub fn count(&self) -> usize {
        self.aors.values().map(Vec::len).sum()
    }

    /// Applies one REGISTER's update; all or nothing.
    pub fn update(
        &mut self,
        now: i64,
        tenant: &str,
        aor: &str,
        update: Update,
        origin: Origin<'_>,
        max_contacts: usize,
    ) -> Result<Vec<Change>, LocationError> {
        let key = (tenant.to_owned(), aor.to_owned());
        let current = self.aors.get(&key).map(Vec::as_slice).unwrap_or_default();
        let remove =
            |b: &Binding| Change::Remove { tenant: b.tenant.clone(), aor: b.aor.clone(), contact: b.contact.clone() };
        let changes = match update {
            Update::Query => return Ok(Vec::new()),
            Update::RemoveAll => {
                if current.iter().any(|b| b.call_id == origin.call_id && b.cseq >= origin.cseq) {
                    return Err(LocationError::OutOfOrder);
                }
                current.iter().map(remove).collect()
            }
            Update::Contacts(contacts) => {
                let mut changes = Vec::new();
                let mut kept: Vec<&str> =
                    current.iter().filter(|b| b.expires_at > now).map(|b| b.contact.as_str()).collect();
                for (contact, expires) in contacts {
                    if let Some(existing) = current.iter().find(|b| b.contact == contact) {
                        if existing.call_id == origin.call_id && existing.cseq >= origin.cseq {
                            return Err(LocationError::OutOfOrder);
                        }
                    }
                    kept.retain(|c| *c != contact);
                    if expires == 0 {
                        if let Some(existing) = current.iter().find(|b| b.contact == contact) {
                            changes.push(remove(existing));
                        }
                        continue;
                    }
                    changes.push(Change::Upsert(Binding {
                        tenant: tenant.to_owned(),
                        aor: aor.to_owned(),
                        contact,
                        expires_at: now + i64::from(expires),
                        source: origin.source.to_owned(),
                        user_agent: origin.user_agent.to_owned(),
                        call_id: origin.call_id.to_owned(),
                        cseq: origin.cseq,
                    }));
                }
                let added = changes.iter().filter(|c| matches!(c, Change::Upsert(_))).count();
                if kept.len() + added > max_contacts {
                    return Err(LocationError::TooManyContacts(max_contacts));
                }
                changes
            }
        };
        for change in &changes {
            self.apply(change);
        }
        Ok(changes)
    }

    /// Removes bindings whose time is up.
    pub fn sweep(&mut self, now: i64) -> Vec<Change> {
        let mut gone = Vec::new();
        self.aors.retain(|_, bindings| {
            bindings.retain(|b| {
                let live = b.expires_at > now;
                if !live {
                    gone.push(Change::Remove {
                        tenant: b.tenant.clone(),
                        aor: b.aor.clone(),
                        contact: b.contact.clone(),
                    });
                }
                live
            });
            !bindings.is_empty()
        });
        gone
    }

    fn apply(&mut self, change: &Change) {
        match change {
            Change::Upsert(b) => {
                let list = self.aors.entry((b.tenant.clone(), b.aor.clone())).or_default();
                match list.iter_mut().find(|x| x.contact == b.contact) {
                    Some(slot) => *slot = b.clone(),
                    None => list.push(b.clone()),
                }
            }
            Change::Remove { tenant, aor, contact } => {
                let key = (tenant.clone(), aor.clone());
                if let Some(list) = self.aors.get_mut(&key) {
                    list.retain(|b| &b.contact != contact);
                    if list.is_empty() {
                        self.aors.remove(&key);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(call_id: &str, cseq: u32) -> Origin<'_> {
        Origin { source: "udp:10.0.0.5:5060", user_agent: "test", call_id, cseq }
    }

    fn contacts(list: &[(&str, u32)]) -> Update {
        Update::Contacts(list.iter().map(|(c, e)| ((*c).to_owned(), *e)).collect())
    }

    #[test]
    fn contacts_are_added_refreshed_and_removed_one_by_one() {
        let mut loc = Location::default();
        loc.update(100, "acme", "101", contacts(&[("sip:101@a", 60), ("sip:101@b", 120)]), origin("c", 1), 5).unwrap();
        assert_eq!(loc.bindings("acme", "101", 100).len(), 2);
        assert!(loc.bindings("bright", "101", 100).is_empty(), "tenants are separate");
        loc.update(130, "acme", "101", contacts(&[("sip:101@a", 60)]), origin("c", 2), 5).unwrap();
        let a = loc.bindings("acme", "101", 130).into_iter().find(|b| b.contact == "sip:101@a").unwrap().expires_at;
        assert_eq!(a, 190, "refreshed");
        let changes = loc.update(131, "acme", "101", contacts(&[("sip:101@b", 0)]), origin("c", 3), 5).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(loc.bindings("acme", "101", 131).len(), 1);
    }

    #[test]
    fn star_removes_everything_and_sweep_expires() {
        let mut loc = Location::default();
        loc.update(0, "acme", "101", contacts(&[("sip:a", 60), ("sip:b", 10)]), origin("c", 1), 5).unwrap();
        assert_eq!(loc.sweep(10).len(), 1);
        assert_eq!(loc.count(), 1);
        assert_eq!(loc.update(11, "acme", "101", Update::RemoveAll, origin("c", 2), 5).unwrap().len(), 1);
        assert_eq!(loc.count(), 0);
    }

    #[test]
    fn reordered_requests_and_too_many_contacts_change_nothing() {
        let mut loc = Location::default();
        loc.update(0, "acme", "101", contacts(&[("sip:a", 60)]), origin("c", 5), 2).unwrap();
        let late = loc.update(1, "acme", "101", contacts(&[("sip:a", 0)]), origin("c", 4), 2);
        assert_eq!(late, Err(LocationError::OutOfOrder));
        let many = loc.update(1, "acme", "101", contacts(&[("sip:b", 60), ("sip:c", 60)]), origin("d", 1), 2);
        assert_eq!(many, Err(LocationError::TooManyContacts(2)));
        assert_eq!(loc.bindings("acme", "101", 1).len(), 1);
        // A new Call-ID (the phone rebooted) may re-register with a low CSeq.
        loc.update(2, "acme", "101", contacts(&[("sip:a", 60)]), origin("e", 1), 2).unwrap();
    }
}
