//! Admin users and API sessions.
//!
//! Passwords are kept as PBKDF2-HMAC-SHA256 hashes; session tokens only as their SHA-256, so a
//! copy of the database lets nobody log in.

use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine;
use ring::digest;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::secrets::{random_bytes, random_password};
use super::{audit, unix_now, Store, StoreError};

/// How long an API session lasts without logging in again.
pub const SESSION_SECONDS: i64 = 12 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub username: String,
    pub role: Role,
    pub must_change_password: bool,
}

/// Hashes a password (the scheme is `cloud_sync::password`, shared with the fleet service).
pub fn hash_password(password: &str) -> Result<String, StoreError> {
    cloud_sync::password::hash_password(password).map_err(|_| StoreError::Secret(super::secrets::SecretError::Random))
}

pub use cloud_sync::password::verify_password;

fn decoy_hash() -> &'static str {
    cloud_sync::password::decoy_hash()
}

fn parse_role(role: &str) -> Role {
    if role == "admin" {
        Role::Admin
    } else {
        Role::User
    }
}

fn token_hash(token: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, token.as_bytes()).as_ref().to_vec()
}

impl Store {
    /// Creates the first admin with a random one-time password when there is no admin yet.
    /// Returns the password to show once, or `None` when an admin already exists.
    pub fn ensure_first_admin(&self) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let admins: i64 = tx.query_row("SELECT count(*) FROM admin_users WHERE role = 'admin'", [], |r| r.get(0))?;
        if admins > 0 {
            return Ok(None);
        }
        let password = random_password(16)?;
        tx.execute(
            "INSERT INTO admin_users (username, password_hash, role, must_change, created_at) VALUES ('admin', ?1, 'admin', 1, ?2)",
            params![hash_password(&password)?, unix_now()],
        )?;
        audit::record(&tx, "system", "admin.create", "first admin `admin` with a one-time password")?;
        tx.commit()?;
        Ok(Some(password))
    }

    /// Sets a user's password (creating an admin of that name if needed) and ends their sessions.
    pub fn set_password(
        &self,
        username: &str,
        password: &str,
        must_change: bool,
        actor: &str,
    ) -> Result<(), StoreError> {
        let hash = hash_password(password)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO admin_users (username, password_hash, role, must_change, created_at) VALUES (?1, ?2, 'admin', ?3, ?4)
             ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, must_change = excluded.must_change",
            params![username, hash, must_change, unix_now()],
        )?;
        tx.execute("DELETE FROM sessions WHERE username = ?1", [username])?;
        audit::record(&tx, actor, "admin.password", &format!("password of `{username}` set"))?;
        tx.commit()?;
        Ok(())
    }

    /// Checks credentials. `None` for any failure: an unknown user and a wrong password look
    /// the same to the caller and take the same time.
    pub fn check_credentials(&self, username: &str, password: &str) -> Result<Option<Session>, StoreError> {
        let row: Option<(String, String, bool)> = self
            .conn()
            .query_row(
                "SELECT password_hash, role, must_change FROM admin_users WHERE username = ?1",
                [username],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let ok = verify_password(password, row.as_ref().map_or(decoy_hash(), |r| r.0.as_str()));
        Ok(row.filter(|_| ok).map(|(_, role, must_change)| Session {
            username: username.to_owned(),
            role: parse_role(&role),
            must_change_password: must_change,
        }))
    }

    /// Checks credentials and opens a session, returning its bearer token.
    pub fn login(&self, username: &str, password: &str) -> Result<Option<(String, Session)>, StoreError> {
        let Some(session) = self.check_credentials(username, password)? else {
            return Ok(None);
        };
        Ok(Some((self.open_session(username)?, session)))
    }

    /// A new session of `username` (whose credentials were checked), returning its token.
    pub(super) fn open_session(&self, username: &str) -> Result<String, StoreError> {
        let token = B64.encode(random_bytes::<32>()?).replace(['+', '/'], "_");
        let now = unix_now();
        let conn = self.conn();
        conn.execute("DELETE FROM sessions WHERE expires_at < ?1", [now])?;
        conn.execute(
            "INSERT INTO sessions (token_hash, username, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![token_hash(&token), username, now, now + SESSION_SECONDS],
        )?;
        Ok(token)
    }

    /// The live session a bearer token stands for.
    pub fn session(&self, token: &str) -> Result<Option<Session>, StoreError> {
        let row: Option<(String, String, bool)> = self
            .conn()
            .query_row(
                "SELECT s.username, u.role, u.must_change FROM sessions s JOIN admin_users u ON u.username = s.username
                 WHERE s.token_hash = ?1 AND s.expires_at >= ?2",
                params![token_hash(token), unix_now()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(row.map(|(username, role, must_change)| Session {
            username,
            role: parse_role(&role),
            must_change_password: must_change,
        }))
    }

    pub fn logout(&self, token: &str) -> Result<(), StoreError> {
        self.conn().execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash(token)])?;
        Ok(())
    }

    /// A fresh random password for `username`, to be changed at next login.
    pub fn reset_password(&self, username: &str) -> Result<String, StoreError> {
        let password = random_password(16)?;
        self.set_password(username, &password, true, "console")?;
        Ok(password)
    }
}
