//! The box's backups: list, take one now, download one, restore one (staged: it takes effect
//! when the box starts next, so that no service sees a store change under it).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::auth::Admin;
use super::{ApiError, AppState};
use crate::backup::{self, local};

#[derive(Serialize)]
pub struct Entry {
    pub id: String,
    pub created_at: i64,
    pub revision: u64,
    pub version: String,
    /// Bytes on disk (encrypted chunks).
    pub size: u64,
    pub chunks: usize,
}

impl From<&cloud_sync::backup::Manifest> for Entry {
    fn from(m: &cloud_sync::backup::Manifest) -> Entry {
        Entry {
            id: m.id.clone(),
            created_at: m.created_at,
            revision: m.revision,
            version: m.version.clone(),
            size: m.stored_len(),
            chunks: m.chunks.len(),
        }
    }
}

fn settings(app: &AppState) -> Result<local::Local, ApiError> {
    app.backups.clone().ok_or(ApiError::NotFound("backups are not set up on this box".into()))
}

fn failed(e: backup::BackupError) -> ApiError {
    use backup::BackupError as B;
    match e {
        B::Damaged(_) | B::WrongKey | B::NewerSchema { .. } | B::BadKey(_) => ApiError::BadRequest(e.to_string()),
        other => ApiError::Internal(other.to_string()),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, backup::BackupError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::Internal(e.to_string()))?.map_err(failed)
}

/// The box's backups, newest first (what `GET /api/v1/backups` and the web UI list).
pub(crate) async fn entries(app: &AppState) -> Result<Vec<Entry>, ApiError> {
    let l = settings(app)?;
    let all = blocking(move || local::list(&l.data_dir)).await?;
    Ok(all.iter().rev().map(|(_, m)| Entry::from(m)).collect())
}

/// Takes a backup now, for `by` (an admin's name).
pub(crate) async fn take_now(app: &AppState, by: &str) -> Result<Entry, ApiError> {
    let l = settings(app)?;
    let store = app.store.clone();
    let (_, m) = blocking(move || local::take(&store, &l.data_dir, &l.box_id, crate::store::unix_now())).await?;
    tracing::info!(backup = %m.id, by = %by, "backup taken");
    Ok(Entry::from(&m))
}

/// The `.outpost-backup` file of backup `id` as a download.
pub(crate) async fn file_response(app: &AppState, id: &str) -> Result<Response, ApiError> {
    let l = settings(app)?;
    let path = local::find(&l.data_dir, id).ok_or_else(|| ApiError::NotFound(format!("no backup `{id}`")))?;
    let bytes = tokio::fs::read(&path).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    let disposition = format!("attachment; filename=\"{id}.outpost-backup\"");
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        Body::from(bytes),
    )
        .into_response())
}

/// Checks backup `id` whole and stages it, for `by`: it takes effect at the next start.
pub(crate) async fn stage(app: &AppState, id: String, by: &str) -> Result<Staged, ApiError> {
    let l = settings(app)?;
    let path = local::find(&l.data_dir, &id).ok_or_else(|| ApiError::NotFound(format!("no backup `{id}`")))?;
    let dir = l.data_dir.clone();
    let files = blocking(move || {
        let key = backup::BackupKey::load(&backup::key_path(&dir))?;
        let sealed = backup::file::read(&path)?;
        backup::restore::stage(&dir, &sealed, &key)
    })
    .await?;
    tracing::warn!(backup = %id, by = %by, "restore staged: it takes effect at the next start");
    Ok(Staged { id, files, effective: EFFECTIVE })
}

/// When a staged restore takes effect.
pub(crate) const EFFECTIVE: &str = "at the next start of the box";

/// Whether a staged restore waits for the next start.
pub(crate) fn restore_pending(app: &AppState) -> bool {
    app.backups.as_ref().is_some_and(|l| backup::restore::pending(&l.data_dir))
}

/// `GET /api/v1/backups`: newest first.
pub async fn list(State(app): State<AppState>, _: Admin) -> Result<Json<Vec<Entry>>, ApiError> {
    Ok(Json(entries(&app).await?))
}

/// `POST /api/v1/backups`: a backup now.
pub async fn take(State(app): State<AppState>, admin: Admin) -> Result<(StatusCode, Json<Entry>), ApiError> {
    Ok((StatusCode::CREATED, Json(take_now(&app, &admin.0.username).await?)))
}

/// `GET /api/v1/backups/:id`: the `.outpost-backup` file.
pub async fn download(State(app): State<AppState>, _: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    file_response(&app, &id).await
}

#[derive(Serialize)]
pub struct Staged {
    pub id: String,
    pub files: Vec<String>,
    pub effective: &'static str,
}

/// `POST /api/v1/backups/:id/restore`: checks the backup and stages it.
pub async fn restore(
    State(app): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Staged>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(stage(&app, id, &admin.0.username).await?)))
}
