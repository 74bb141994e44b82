//! The cloud's `update` command: fetch a bundle over HTTPS (plain HTTP only from a loopback
//! address, as the claim), check that it is the one the fleet named by its SHA-256, then check
//! and stage it exactly as an admin's upload is (`api::update::stage_file`: signature against
//! the box's key, board, version, digests). The body is streamed to disk and hashed on the
//! way, never held in memory, and cut off past the largest bundle.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ring::digest::{Context, SHA256};

use crate::api::update::{stage_file, Staged, Staging, MAX_BUNDLE};
use crate::store::Store;

/// The file a fetched bundle is written to before it is checked.
const FETCHED: &str = "updates/fetched.tmp";

/// Downloads `url` into `to` (synchronously: run it on a blocking thread); its SHA-256.
fn download(url: &str, ca_file: &Path, to: &Path) -> Result<String, String> {
    let url = super::claim::check_url(url).map_err(|e| e.to_string())?;
    let tls = super::link::client_tls(ca_file).map_err(|e| format!("TLS: {e}"))?;
    let agent = ureq::AgentBuilder::new().tls_config(Arc::clone(&tls)).timeout(Duration::from_secs(600)).build();
    let response = agent.get(&url).call().map_err(|e| format!("cannot fetch {url}: {e}"))?;
    let mut body = response.into_reader().take(MAX_BUNDLE + 1);
    let mut file = std::fs::File::create(to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let (mut hash, mut total, mut buf) = (Context::new(&SHA256), 0u64, vec![0u8; 64 * 1024]);
    loop {
        let n = body.read(&mut buf).map_err(|e| format!("the download of {url} was cut off: {e}"))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > MAX_BUNDLE {
            return Err(format!("{url} is larger than a bundle can be ({MAX_BUNDLE} bytes)"));
        }
        hash.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(|e| format!("cannot store the download: {e}"))?;
    }
    file.sync_all().map_err(|e| format!("cannot store the download: {e}"))?;
    Ok(hex::encode(hash.finish()))
}

/// Fetches, compares and stages the bundle; what was staged, or why not in words.
pub async fn update(
    staging: &Staging,
    store: &Store,
    ca_file: &Path,
    url: &str,
    sha256: &str,
) -> Result<Staged, String> {
    let want = sha256.trim().to_ascii_lowercase();
    if want.len() != 64 || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`{sha256}` is not a SHA-256 in hex"));
    }
    let to = staging.data_dir.join(FETCHED);
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let (u, ca, path) = (url.to_owned(), ca_file.to_path_buf(), to.clone());
    let got = tokio::task::spawn_blocking(move || download(&u, &ca, &path)).await.map_err(|e| e.to_string())?;
    let got = match got {
        Ok(got) => got,
        Err(why) => {
            let _ = std::fs::remove_file(&to);
            return Err(why);
        }
    };
    if got != want {
        let _ = std::fs::remove_file(&to);
        return Err(format!("the file at {url} has SHA-256 {got}, not the {want} the command named"));
    }
    stage_file(staging, store, &to, "cloud").await.map_err(|e| e.to_string())
}
