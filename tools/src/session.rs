//! The saved login: which box, which certificate to trust, and the session token.
//!
//! Kept in one small JSON file so that each command does not ask for a password. The token is
//! as good as the password until it expires, so the file is written with mode 0600 (through a
//! temporary file and a rename, so a crash never leaves a half-written or world-readable one).

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Names a session file explicitly, in place of `--session`.
pub const SESSION_ENV: &str = "OUTPOSTCTL_SESSION";

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no place for the session file: set HOME, XDG_CONFIG_HOME or {SESSION_ENV}, or pass --session")]
    NoHome,
    #[error("cannot read the session file {}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the session file {} is damaged (run `outpostctl login` again)", path.display())]
    Damaged { path: PathBuf, source: serde_json::Error },
    #[error("cannot write the session file {}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The box, `https://host:port`.
    pub url: String,
    /// The box's certificate, absolute so that commands work from any directory.
    pub cacert: PathBuf,
    pub token: String,
}

impl fmt::Debug for Session {
    // Hand-written so that the token never ends up in a debug print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").field("url", &self.url).field("cacert", &self.cacert).finish_non_exhaustive()
    }
}

/// Where the session lives: `--session`, else `$OUTPOSTCTL_SESSION`, else
/// `$XDG_CONFIG_HOME/outpostctl/session.json`, else `$HOME/.config/outpostctl/session.json`.
/// `env` is passed in so that tests do not depend on the caller's environment.
pub fn path(flag: Option<PathBuf>, env: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf, SessionError> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = flag.or_else(|| set(SESSION_ENV)) {
        return Ok(p);
    }
    let config =
        set("XDG_CONFIG_HOME").or_else(|| set("HOME").map(|h| h.join(".config"))).ok_or(SessionError::NoHome)?;
    Ok(config.join("outpostctl").join("session.json"))
}

impl Session {
    /// The saved session, or `None` when there is none (never logged in, or logged out).
    pub fn load(path: &Path) -> Result<Option<Session>, SessionError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SessionError::Read { path: path.to_owned(), source }),
        };
        serde_json::from_str(&text).map(Some).map_err(|source| SessionError::Damaged { path: path.to_owned(), source })
    }

    /// Writes the session readable by its owner only, creating the directory (0700) if needed.
    pub fn save(&self, path: &Path) -> Result<(), SessionError> {
        let write = |source| SessionError::Write { path: path.to_owned(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            fs::create_dir_all(dir).map_err(write)?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(write)?;
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        // A leftover from an interrupted save may carry other permissions: start afresh.
        let _ = fs::remove_file(&tmp);
        let json = serde_json::to_vec_pretty(self).map_err(|e| write(e.into()))?;
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(write)?;
        file.write_all(&json).and_then(|()| file.sync_all()).map_err(write)?;
        fs::rename(&tmp, path).map_err(write)
    }

    /// Forgets the session; no file is fine.
    pub fn remove(path: &Path) -> Result<(), SessionError> {
        match fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(SessionError::Write { path: path.to_owned(), source: e })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn the_session_path_follows_flag_then_env_then_xdg_then_home() {
        let all = [("OUTPOSTCTL_SESSION", "/s.json"), ("XDG_CONFIG_HOME", "/xdg"), ("HOME", "/home/me")];
        assert_eq!(path(Some("/flag.json".into()), env(&all)).unwrap(), PathBuf::from("/flag.json"));
        assert_eq!(path(None, env(&all)).unwrap(), PathBuf::from("/s.json"));
        assert_eq!(path(None, env(&all[1..])).unwrap(), PathBuf::from("/xdg/outpostctl/session.json"));
        assert_eq!(path(None, env(&all[2..])).unwrap(), PathBuf::from("/home/me/.config/outpostctl/session.json"));
        assert!(matches!(path(None, env(&[("HOME", "")])), Err(SessionError::NoHome)));
    }

    #[test]
    fn a_saved_session_is_private_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cfg/outpostctl/session.json");
        assert_eq!(Session::load(&file).unwrap(), None);
        let session = Session { url: "https://192.0.2.1:8443".into(), cacert: "/c.pem".into(), token: "t0k3n".into() };
        session.save(&file).unwrap();
        // Overwriting a file that someone made world-readable still leaves a private one.
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        session.save(&file).unwrap();
        assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(file.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(Session::load(&file).unwrap(), Some(session.clone()));
        assert!(!format!("{session:?}").contains("t0k3n"));
        Session::remove(&file).unwrap();
        Session::remove(&file).unwrap();
        assert_eq!(Session::load(&file).unwrap(), None);
    }
}
