//! Claiming this box into a fleet tenant with a one-time code (`outpost cloud claim`). The
//! fleet answers with the box's id and broker credentials, kept in `<data>/cloud-claim.json`
//! (owner only) and used when `outpost.toml` has no `[cloud] broker`. A code made as the
//! replacement of a dead box also brings that box's backup key and its latest backup: the
//! backup is fetched over MQTT, checked whole and staged, so at its next start this box *is*
//! the old one (same id, same store, same certificate), and phones re-provision unchanged.
//!
//! The claim file is never part of a backup (`backup::archive` skips it): a restore must not
//! bring back a dead box's revoked credentials over the fresh ones.

use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cloud_sync::claim::{ClaimAnswer, ClaimRequest};
use serde::{Deserialize, Serialize};

use super::settings::CloudFile;
use super::{CloudSettings, SyncError};
use crate::backup::{self, BackupError, BackupKey};

/// The file in the data directory.
pub const FILE: &str = "cloud-claim.json";

/// How long fetching the replaced box's backup may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("fleet `{0}`: use https://host[:port] (http:// only on loopback)")]
    BadUrl(String),
    #[error("the fleet at {url} cannot be reached: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the fleet refused the claim: {0}")]
    Refused(String),
    #[error("the fleet's answer is not a claim answer: {0}")]
    BadAnswer(String),
    #[error("this box is already claimed as `{0}` ({FILE}); remove that file to claim it again")]
    AlreadyClaimed(String),
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("the claim's cloud settings: {field}: {reason}")]
    Settings { field: &'static str, reason: String },
    #[error("backup: {0}")]
    Backup(#[from] BackupError),
    #[error("fetching the backup: {0}")]
    Fetch(#[from] SyncError),
}

/// What the box keeps of its claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub fleet: String,
    pub broker: String,
    pub box_id: String,
    pub tenant: String,
    pub username: String,
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    pub claimed_at: i64,
}

impl Claim {
    /// The claim as the `[cloud]` table it stands for.
    pub fn settings(&self) -> Result<CloudSettings, ClaimError> {
        let file = CloudFile {
            broker: Some(self.broker.clone()),
            box_id: Some(self.box_id.clone()),
            username: Some(self.username.clone()),
            password: Some(self.password.clone()),
            ca_file: self.ca_file.clone(),
            keepalive_secs: None,
            protocol: None,
        };
        match CloudSettings::from_file(file) {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(ClaimError::Settings { field: "broker", reason: "missing".into() }),
            Err((field, reason)) => Err(ClaimError::Settings { field, reason }),
        }
    }
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> ClaimError {
    ClaimError::File { path: path.display().to_string(), reason: e.to_string() }
}

/// The box's claim, if it was claimed.
pub fn load(data_dir: &Path) -> Result<Option<Claim>, ClaimError> {
    let path = path(data_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| file_error(&path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(file_error(&path, e)),
    }
}

/// Writes `bytes` to `path` whole or not at all, readable by the owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ClaimError> {
    crate::durable::write(path, bytes, 0o600).map_err(|e| file_error(path, e))
}

/// Checks the fleet URL: https, or http to a loopback address (tests, a fleet on the box).
pub(crate) fn check_url(fleet: &str) -> Result<String, ClaimError> {
    let bad = || ClaimError::BadUrl(fleet.to_owned());
    let fleet = fleet.trim_end_matches('/');
    let (scheme, rest) = fleet.split_once("://").ok_or_else(bad)?;
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match scheme {
        "https" if !host.is_empty() => Ok(fleet.to_owned()),
        "http" if loopback => Ok(fleet.to_owned()),
        _ => Err(bad()),
    }
}

/// Sends the code to the fleet (blocking HTTP): the answer, or why not.
pub fn redeem(fleet: &str, code: &str, ca_file: Option<&Path>) -> Result<ClaimAnswer, ClaimError> {
    let fleet = check_url(fleet)?;
    let roots = ca_file.map_or_else(|| PathBuf::from(super::settings::SYSTEM_ROOTS), Path::to_path_buf);
    let tls = super::link::client_tls(&roots).map_err(|e| ClaimError::Tls(e.to_string()))?;
    let agent = ureq::AgentBuilder::new().tls_config(Arc::clone(&tls)).timeout(Duration::from_secs(30)).build();
    let url = format!("{fleet}/api/v1/claim");
    let body = cloud_sync::encode(&ClaimRequest::new(code.trim()));
    let response = match agent.post(&url).set("content-type", "application/json").send_bytes(&body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => {
            let why = r.into_json::<serde_json::Value>().ok().and_then(|v| v["error"].as_str().map(str::to_owned));
            return Err(ClaimError::Refused(why.unwrap_or_else(|| "no reason given".into())));
        }
        Err(e) => return Err(ClaimError::Unreachable { url, reason: e.to_string() }),
    };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(response.into_reader(), 1 << 20), &mut bytes)
        .map_err(|e| ClaimError::Unreachable { url, reason: e.to_string() })?;
    cloud_sync::decode(&bytes).map_err(|e| ClaimError::BadAnswer(e.to_string()))
}

/// What a claim did.
#[derive(Debug)]
pub struct Claimed {
    pub claim: Claim,
    /// The backup staged for the next start (id, site revision), for a replacement.
    pub restored: Option<(String, u64)>,
}

/// Claims this box with `code` and, for a replacement, fetches and stages the old box's
/// latest backup. Run while the daemon is stopped (the claim CLI).
pub async fn claim(data_dir: &Path, fleet: &str, code: &str, ca_file: Option<&Path>) -> Result<Claimed, ClaimError> {
    if let Some(c) = load(data_dir)? {
        return Err(ClaimError::AlreadyClaimed(c.box_id));
    }
    // A new box may not have a data directory yet; make it before the code is spent.
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(data_dir).map_err(|e| file_error(data_dir, e))?;
    let (f, c, ca) = (fleet.to_owned(), code.to_owned(), ca_file.map(Path::to_path_buf));
    let answer = tokio::task::spawn_blocking(move || redeem(&f, &c, ca.as_deref()))
        .await
        .map_err(|e| ClaimError::Unreachable { url: fleet.to_owned(), reason: e.to_string() })??;
    if let Some(hex_key) = &answer.backup_key {
        let key: [u8; 32] = hex::decode(hex_key)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| ClaimError::BadAnswer("the backup key is not 32 bytes of hex".into()))?;
        write_private(&backup::key_path(data_dir), &key)?;
    }
    let claim = Claim {
        fleet: fleet.trim_end_matches('/').to_owned(),
        broker: answer.broker,
        box_id: answer.box_id,
        tenant: answer.tenant,
        username: answer.username,
        password: answer.password,
        ca_file: ca_file.map(Path::to_path_buf),
        replaces: answer.replaces,
        claimed_at: crate::store::unix_now(),
    };
    claim.settings()?; // the fleet's answer must make a usable [cloud] table before it is kept
    let bytes = serde_json::to_vec_pretty(&claim).map_err(|e| ClaimError::BadAnswer(e.to_string()))?;
    write_private(&path(data_dir), &bytes)?;
    let restored = match (&claim.replaces, &answer.latest_backup) {
        (Some(_), Some(latest)) => Some(restore(data_dir, &claim, latest).await?),
        _ => None,
    };
    Ok(Claimed { claim, restored })
}

/// Fetches backup `which` (an id or `latest`) of this claimed box from the fleet and stages it.
pub async fn restore(data_dir: &Path, claim: &Claim, which: &str) -> Result<(String, u64), ClaimError> {
    let settings = claim.settings()?;
    let sealed = super::fetch_backup(&settings, which, FETCH_TIMEOUT).await?;
    let key = BackupKey::load(&backup::key_path(data_dir))?;
    backup::restore::stage(data_dir, &sealed, &key)?;
    Ok((sealed.manifest.id, sealed.manifest.revision))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_urls_must_be_tls_unless_on_loopback() {
        assert_eq!(check_url("https://fleet.example.net/").unwrap(), "https://fleet.example.net");
        assert!(check_url("http://127.0.0.1:8088").is_ok());
        assert!(check_url("http://localhost:8088").is_ok());
        for bad in ["http://fleet.example.net", "ftp://x", "fleet.example.net", "https://", "http://10.0.0.1"] {
            assert!(matches!(check_url(bad), Err(ClaimError::BadUrl(_))), "{bad}");
        }
    }

    #[test]
    fn a_kept_claim_is_a_cloud_table_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        let claim = Claim {
            fleet: "https://fleet.example.net".into(),
            broker: "mqtts://fleet.example.net:8883".into(),
            box_id: "acme-1".into(),
            tenant: "acme".into(),
            username: "acme-1".into(),
            password: "pw".into(),
            ca_file: None,
            replaces: None,
            claimed_at: 1,
        };
        write_private(&path(dir.path()), &serde_json::to_vec(&claim).unwrap()).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(claim.clone()));
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path(dir.path())).unwrap().permissions());
        assert_eq!(mode & 0o077, 0);
        let s = claim.settings().unwrap();
        assert_eq!((s.box_id.as_str(), s.port, s.tls), ("acme-1", 8883, true));
    }
}
