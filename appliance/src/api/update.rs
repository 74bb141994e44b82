//! `POST /api/v1/update`: an admin uploads a signed update bundle; the box checks it and
//! stages it for the updater.
//!
//! The daemon cannot write a slot itself: it runs unprivileged, without block devices
//! (`PrivateDevices=yes`) and with the ESP out of reach. So it does every check that needs no
//! slot (signature against the box's key, board, no downgrade, `min_version`, each file's
//! digest) and then moves the bundle to `<data_dir>/updates/staged.bundle`. On the image a
//! systemd path unit sees that file and a root service installs it (`outpost update install`)
//! and reboots; a box without that unit (a development run) keeps it staged and says so.
//!
//! The body is streamed to disk, not read into memory like other requests, and only after
//! the session is checked: an unauthenticated upload is read and dropped, never stored.

use std::io::Write;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use futures_lite::{Stream, StreamExt};
use serde::Serialize;

use super::auth::Admin;
use super::{ApiError, AppState};
use crate::update::{self, InstallOptions, UpdateError};

/// The route, for the body-reading middleware to pass by.
pub const PATH: &str = "/api/v1/update";
/// A bundle (root squashfs, kernel, initrd) is about 120 MB; a slot holds 512 MB.
pub const MAX_BUNDLE: u64 = 600 * 1024 * 1024;
/// The staged bundle, under the data directory.
pub const STAGED: &str = "updates/staged.bundle";

/// Where the API stages bundles and which key they must be signed with.
#[derive(Clone, Debug)]
pub struct Staging {
    pub data_dir: PathBuf,
    pub public_key: PathBuf,
    /// A root service installs what is staged and does the reboots and resets asked for.
    pub root_service: bool,
}

#[derive(Serialize)]
pub struct Staged {
    pub version: String,
    pub board: String,
    pub staged: String,
    pub next: &'static str,
}

fn refused(e: UpdateError) -> ApiError {
    match e {
        UpdateError::Open { .. } => ApiError::Internal(e.to_string()),
        other => ApiError::BadRequest(other.to_string()),
    }
}

/// Reads `chunks` into `file` (none: read and dropped), at most `MAX_BUNDLE` bytes.
async fn receive<E: std::fmt::Display>(
    chunks: impl Stream<Item = Result<Bytes, E>>,
    mut file: Option<&mut std::fs::File>,
) -> Result<u64, ApiError> {
    let mut chunks = std::pin::pin!(chunks);
    let mut total = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("the upload was cut off: {e}")))?;
        total += chunk.len() as u64;
        if total > MAX_BUNDLE {
            return Err(ApiError::TooLarge(MAX_BUNDLE as usize));
        }
        if let Some(f) = file.as_deref_mut() {
            f.write_all(&chunk).map_err(|e| ApiError::Internal(format!("cannot store the upload: {e}")))?;
        }
    }
    Ok(total)
}

/// What happens to a staged bundle next, in words.
pub fn next_step(staging: &Staging) -> &'static str {
    next_step_of(staging.root_service)
}

/// `next_step` for a host with or without the root updater.
pub fn next_step_of(root_service: bool) -> &'static str {
    if root_service {
        "the box's updater installs it on the other slot and reboots into it"
    } else {
        "it stays staged: no root service on this host installs bundles (the Outpost image has one)"
    }
}

/// `POST /api/v1/update` (body: the bundle): 202 with the version staged, 400 with the reason
/// the bundle was refused.
pub async fn upload(
    State(app): State<AppState>,
    admin: Result<Admin, ApiError>,
    body: Body,
) -> Result<(StatusCode, Json<Staged>), ApiError> {
    let admin = match admin {
        Ok(admin) => admin,
        Err(e) => {
            // Read to the end so the client gets the answer, not a reset stream; keep nothing.
            let _ = receive(body.into_data_stream(), None).await;
            return Err(e);
        }
    };
    let staged = receive_and_stage(&app, body.into_data_stream(), &format!("api:{}", admin.0.username)).await?;
    Ok((StatusCode::ACCEPTED, Json(staged)))
}

/// Receives a bundle, checks it and stages it for the updater: the API's upload and the
/// system page's form. `actor` (`api:admin`, `ui:admin`) goes to the log and the audit log.
pub async fn receive_and_stage<E: std::fmt::Display>(
    app: &AppState,
    chunks: impl Stream<Item = Result<Bytes, E>>,
    actor: &str,
) -> Result<Staged, ApiError> {
    let staging = app.updates.clone().ok_or_else(|| ApiError::NotFound("updates are not set up on this box".into()))?;
    let dir = staging.data_dir.join("updates");
    std::fs::create_dir_all(&dir).map_err(|e| ApiError::Internal(format!("cannot create {}: {e}", dir.display())))?;
    // One upload at a time: a second one would write into the first's file.
    let _one_upload = app.uploads.lock().await;
    let upload = dir.join("upload.tmp");
    let mut file = std::fs::File::create(&upload)
        .map_err(|e| ApiError::Internal(format!("cannot create {}: {e}", upload.display())))?;
    let received = receive(chunks, Some(&mut file)).await;
    drop(file);
    if let Err(e) = received {
        let _ = std::fs::remove_file(&upload);
        tracing::warn!(by = %actor, error = %e, "update bundle refused");
        return Err(e);
    }
    stage_file(&staging, &app.store, &upload, actor).await
}

/// Checks the bundle received in `upload` and stages it (or removes it, refused): what an
/// upload and the cloud's update command share.
pub async fn stage_file(
    staging: &Staging,
    store: &crate::store::Store,
    upload: &Path,
    actor: &str,
) -> Result<Staged, ApiError> {
    let (path, key) = (upload.to_path_buf(), staging.public_key.clone());
    let checked =
        tokio::task::spawn_blocking(move || check(&path, &key)).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    let manifest = match checked {
        Ok(manifest) => manifest,
        Err(e) => {
            let _ = std::fs::remove_file(upload);
            tracing::warn!(by = %actor, error = %e, "update bundle refused");
            return Err(e);
        }
    };
    let staged = staging.data_dir.join(STAGED);
    stage(upload, &staged).map_err(|e| ApiError::Internal(format!("cannot stage the bundle: {e}")))?;
    tracing::warn!(version = %manifest.version, by = %actor, "update bundle staged");
    let (who, what) = (actor.to_owned(), format!("bundle {} for {} staged", manifest.version, manifest.board));
    store.call(move |s| s.audit(&who, "update.staged", &what)).await?;
    Ok(Staged {
        version: manifest.version,
        board: manifest.board,
        staged: staged.display().to_string(),
        next: next_step(staging),
    })
}

/// Every check that needs no slot; the board is the one this daemon runs on.
fn check(path: &Path, key: &Path) -> Result<update::bundle::Manifest, ApiError> {
    let public_key = update::public_key(Some(&key.to_path_buf()))
        .map_err(|e| ApiError::NotFound(format!("this box has no update key, so it takes no bundles ({e})")))?;
    let opts = InstallOptions {
        force: false,
        tries: board::slots::DEFAULT_TRIES,
        running: update::running_version(),
        public_key,
    };
    update::verify(&board::generic::GenericX86::new(), path, &opts).map_err(refused)
}

/// Moves the checked upload into place, synced, so the updater never sees half a file.
fn stage(upload: &Path, staged: &Path) -> std::io::Result<()> {
    std::fs::File::open(upload)?.sync_all()?;
    std::fs::rename(upload, staged)?;
    if let Some(dir) = staged.parent() {
        crate::durable::sync_dir(dir)?;
    }
    Ok(())
}
