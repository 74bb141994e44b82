//! Portal accounts: how an extension's user logs in to the web UI's portal to change their
//! own forwarding and read their own calls.
//!
//! An account is a row of `admin_users` with role `user`, named `<number>@<tenant>`, plus a
//! row of `portal_accounts` that binds it to that one extension. Reusing the admin table means
//! one password scheme, one `sessions` table (and expiry, and logout) and one audit trail; the
//! role keeps it out of every admin page and API route. An admin sets the password (there is
//! no self sign-up): the account exists only once an admin made it.

use rusqlite::{params, OptionalExtension, Transaction};

use super::admin::{hash_password, Role, Session};
use super::{audit, unix_now, Store, StoreError};

/// The account name of extension `number` of `tenant`.
pub fn portal_username(tenant: &str, number: &str) -> String {
    format!("{number}@{tenant}")
}

/// The extension a portal account may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub tenant: String,
    pub number: String,
}

/// Whether setting a portal password worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalSet {
    Set,
    /// An admin account already has the portal account's name; it is left alone.
    NameTaken,
}

/// Removes the portal accounts (and so their sessions) of extensions the site no longer has,
/// in the transaction that removed them: a number given to someone new later does not open
/// to the old holder's password.
pub(super) fn drop_orphans(tx: &Transaction<'_>, actor: &str) -> Result<(), StoreError> {
    let gone = tx.execute(
        "DELETE FROM admin_users WHERE role = 'user' AND username IN (
             SELECT p.username FROM portal_accounts p WHERE NOT EXISTS (
                 SELECT 1 FROM extensions x JOIN tenants t ON t.id = x.tenant_id
                 WHERE t.name = p.tenant AND x.number = p.number))",
        [],
    )?;
    if gone > 0 {
        audit::record(tx, actor, "portal.remove", &format!("{gone} portal account(s) of removed extensions"))?;
    }
    Ok(())
}

impl Store {
    /// Sets (or replaces) the portal password of an extension, creating its account; every
    /// session of the account ends, so a password handed to someone else shuts the old holder
    /// out.
    pub fn set_portal_password(
        &self,
        tenant: &str,
        number: &str,
        password: &str,
        actor: &str,
    ) -> Result<PortalSet, StoreError> {
        let username = portal_username(tenant, number);
        let hash = hash_password(password)?;
        let now = unix_now();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let role: Option<String> =
            tx.query_row("SELECT role FROM admin_users WHERE username = ?1", [&username], |r| r.get(0)).optional()?;
        if role.as_deref().is_some_and(|r| r != "user") {
            return Ok(PortalSet::NameTaken);
        }
        tx.execute(
            "INSERT INTO admin_users (username, password_hash, role, must_change, created_at) VALUES (?1, ?2, 'user', 0, ?3)
             ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, must_change = 0",
            params![username, hash, now],
        )?;
        tx.execute(
            "INSERT INTO portal_accounts (username, tenant, number, set_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (username) DO UPDATE SET set_at = excluded.set_at",
            params![username, tenant, number, now],
        )?;
        tx.execute("DELETE FROM sessions WHERE username = ?1", [&username])?;
        audit::record(
            &tx,
            actor,
            "portal.password",
            &format!("portal password of extension {number} in `{tenant}` set"),
        )?;
        tx.commit()?;
        Ok(PortalSet::Set)
    }

    /// Removes the portal account of an extension (its sessions go with it).
    pub fn remove_portal_account(&self, tenant: &str, number: &str, actor: &str) -> Result<bool, StoreError> {
        let username = portal_username(tenant, number);
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let gone = tx.execute(
            "DELETE FROM admin_users WHERE username = ?1 AND role = 'user'
             AND username IN (SELECT username FROM portal_accounts WHERE tenant = ?2 AND number = ?3)",
            params![username, tenant, number],
        )?;
        tx.execute("DELETE FROM sessions WHERE username = ?1", [&username])?;
        if gone > 0 {
            audit::record(
                &tx,
                actor,
                "portal.remove",
                &format!("portal account of extension {number} in `{tenant}` removed"),
            )?;
        }
        tx.commit()?;
        Ok(gone > 0)
    }

    /// When the portal password of an extension was last set, if it has an account.
    pub fn portal_password_set_at(&self, tenant: &str, number: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT set_at FROM portal_accounts WHERE tenant = ?1 AND number = ?2",
                params![tenant, number],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The extension a `user` account is bound to.
    pub fn portal_line(&self, username: &str) -> Result<Option<Line>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT tenant, number FROM portal_accounts WHERE username = ?1", [username], |r| {
                Ok(Line { tenant: r.get(0)?, number: r.get(1)? })
            })
            .optional()?)
    }

    /// Checks an extension user's credentials and opens a session. `None` for an unknown
    /// extension, an extension without portal account, an admin account of that name and a
    /// wrong password alike (the same answer and, through the decoy hash, the same time).
    pub fn portal_login(
        &self,
        tenant: &str,
        number: &str,
        password: &str,
    ) -> Result<Option<(String, Session)>, StoreError> {
        let username = portal_username(tenant, number);
        let Some(session) = self.check_credentials(&username, password)? else {
            return Ok(None);
        };
        let bound = self.portal_line(&username)?.is_some_and(|l| l.tenant == tenant && l.number == number);
        if session.role != Role::User || !bound {
            return Ok(None);
        }
        Ok(Some((self.open_session(&username)?, session)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::SecretBox;

    fn store() -> Store {
        Store::open_in_memory(SecretBox::from_key(&[7; 32])).unwrap()
    }

    #[test]
    fn an_extension_user_logs_in_only_with_the_password_the_admin_set() {
        let s = store();
        assert!(s.portal_login("acme", "201", "portal-pass-1").unwrap().is_none(), "no account yet");
        assert_eq!(s.set_portal_password("acme", "201", "portal-pass-1", "ui:admin").unwrap(), PortalSet::Set);
        let (token, session) = s.portal_login("acme", "201", "portal-pass-1").unwrap().unwrap();
        assert_eq!((session.role, session.username.as_str()), (Role::User, "201@acme"));
        assert_eq!(s.session(&token).unwrap().map(|x| x.role), Some(Role::User));
        assert_eq!(s.portal_line("201@acme").unwrap(), Some(Line { tenant: "acme".into(), number: "201".into() }));
        assert!(s.portal_login("acme", "201", "wrong").unwrap().is_none());
        assert!(s.portal_login("acme", "202", "portal-pass-1").unwrap().is_none());
        assert!(s.portal_line("admin").unwrap().is_none());

        // A new password ends the old sessions; removal ends the account.
        s.set_portal_password("acme", "201", "portal-pass-2", "ui:admin").unwrap();
        assert!(s.session(&token).unwrap().is_none());
        assert!(s.portal_login("acme", "201", "portal-pass-1").unwrap().is_none());
        assert!(s.portal_password_set_at("acme", "201").unwrap().is_some());
        assert!(s.remove_portal_account("acme", "201", "ui:admin").unwrap());
        assert!(s.portal_login("acme", "201", "portal-pass-2").unwrap().is_none());
        assert!(s.portal_password_set_at("acme", "201").unwrap().is_none());
    }

    #[test]
    fn removing_the_extension_removes_its_portal_account() {
        let s = store();
        let site = |numbers: &[&str]| -> crate::site::SiteDoc {
            let exts: Vec<_> = numbers.iter().map(|n| serde_json::json!({"number": n})).collect();
            serde_json::from_value(serde_json::json!({"schema": 1, "tenants": [
                {"name": "acme", "domains": ["acme.pbx.local"], "extensions": exts}]}))
            .unwrap()
        };
        s.apply_site(site(&["201", "202"]), "test").unwrap();
        s.set_portal_password("acme", "201", "portal-pass-1", "ui:admin").unwrap();
        s.set_portal_password("acme", "202", "portal-pass-2", "ui:admin").unwrap();
        let (token, _) = s.portal_login("acme", "201", "portal-pass-1").unwrap().unwrap();
        s.apply_site(site(&["202"]), "test").unwrap();
        assert!(s.session(&token).unwrap().is_none(), "its session ended");
        assert!(s.portal_line("201@acme").unwrap().is_none());
        s.apply_site(site(&["201", "202"]), "test").unwrap();
        assert!(s.portal_login("acme", "201", "portal-pass-1").unwrap().is_none(), "a new 201 starts without");
        assert!(s.portal_login("acme", "202", "portal-pass-2").unwrap().is_some(), "202 kept its account");
    }

    #[test]
    fn an_admin_of_the_same_name_is_never_turned_into_a_portal_user() {
        let s = store();
        s.set_password("201@acme", "an-admin-password", false, "console").unwrap();
        assert_eq!(s.set_portal_password("acme", "201", "portal-pass-1", "ui:admin").unwrap(), PortalSet::NameTaken);
        assert!(s.portal_login("acme", "201", "an-admin-password").unwrap().is_none(), "the portal admits no admin");
        assert!(!s.remove_portal_account("acme", "201", "ui:admin").unwrap());
        assert!(s.login("201@acme", "an-admin-password").unwrap().is_some(), "the admin is untouched");
    }
}
