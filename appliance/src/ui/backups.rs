//! The backups page: the box's own backups, newest first (when, revision, version, size),
//! when the last one was taken, whether they also go to the cloud; "Take a backup now"; a
//! download of each (behind the session cookie); and a restore of each, after a confirmation.
//!
//! Everything goes through the API's own code (`api::backups`): the same list, the same
//! backup, the same file as `GET /api/v1/backups/:id`, the same staged restore. A restore,
//! as through the API, is checked whole and staged: it takes effect when the box next starts
//! (`backup::restore::finish`), so that no running service sees its store change under it.
//! Until then the page says that a restore waits.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};

use super::dashboard::utc;
use super::page::{self, csrf_field, notice, Nav};
use super::session::{Admin, Nothing, Posted, Viewer};
use super::UiError;
use crate::api::backups::{self as api, Entry};
use crate::api::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/backups", get(list).post(take))
        .route("/ui/backups/:id/download", get(download))
        .route("/ui/backups/:id/restore", post(restore))
}

/// An API failure as the page says it (an internal one only by its status; the log has it).
fn said(e: &ApiError) -> (StatusCode, String) {
    match e {
        ApiError::NotFound(why) => (StatusCode::NOT_FOUND, why.clone()),
        ApiError::BadRequest(why) => (StatusCode::UNPROCESSABLE_ENTITY, why.clone()),
        other => {
            tracing::warn!(error = ?other, "web UI: a backup action failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "the box could not do this; its log says why".to_owned())
        }
    }
}

/// `12.3 kB`, `1.2 MB`, `812 B`.
pub fn size(bytes: u64) -> String {
    match bytes {
        0..=999 => format!("{bytes} B"),
        1_000..=999_999 => format!("{:.1} kB", bytes as f64 / 1e3),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

async fn render(app: &AppState, viewer: &Viewer, code: StatusCode, shown: Option<Markup>) -> Response {
    let listed = api::entries(app).await;
    let set_up = app.backups.is_some();
    let cloud = app.backups.as_ref().and_then(|l| l.cloud.clone());
    let pending = api::restore_pending(app);
    let (rows, failed): (Vec<Entry>, Option<String>) = match listed {
        Ok(rows) => (rows, None),
        Err(e) => (Vec::new(), set_up.then(|| said(&e).1)),
    };
    let last = rows.first().map_or_else(|| "none yet".to_owned(), |e| utc(e.created_at));
    let body = html! {
        main #backups-page {
            h1 { "Backups" }
            @if let Some(m) = shown { (m) }
            @if pending {
                p.notice.refused #restore-pending role="status" {
                    "A restore is staged: it takes effect " (api::EFFECTIVE) ". Until then the box runs as it is."
                }
            }
            @if !set_up {
                p.hint #backups-off { "Backups are not set up on this box." }
            } @else {
                div.tiles #backup-facts {
                    div.tile { span.label { "Last backup" } span data-f="last" { (last) } }
                    div.tile { span.big data-f="kept" { (rows.len()) } span.label { "kept on the box (the newest " (crate::backup::local::KEEP) ")" } }
                    div.tile { span.label { "Cloud upload" } span data-f="cloud" {
                        @match &cloud {
                            Some(broker) => { "to the fleet at " code { (broker) } }
                            None => "not configured",
                        }
                    } }
                }
                p.hint {
                    "The box takes a backup once a day. "
                    @if cloud.is_some() { "The newest one is also uploaded to the fleet, encrypted on the box." }
                    @else { "Set " code { "[cloud] broker" } " in outpost.toml to keep them in the cloud too." }
                }
                section.card {
                    form.inline method="post" action="/ui/backups" id="take-backup" {
                        (csrf_field(viewer))
                        button type="submit" { "Take a backup now" }
                    }
                }
                section.card {
                    h2 { "On the box" }
                    @if let Some(why) = failed { (notice(false, &format!("The backups could not be read: {why}."))) }
                    div.scroll { table #backups {
                        thead { tr { th { "Taken" } th { "Backup" } th { "Revision" } th { "Version" } th { "Size" } th {} th {} } }
                        tbody {
                            @for e in &rows {
                                tr data-id=(e.id) {
                                    td data-f="taken" { (utc(e.created_at)) }
                                    td data-f="id" { code { (e.id) } }
                                    td data-f="revision" { (e.revision) }
                                    td data-f="version" { (e.version) }
                                    td data-f="size" { (size(e.size)) }
                                    td { a.button.download href=(format!("/ui/backups/{}/download", e.id)) download=(format!("{}.outpost-backup", e.id)) { "Download" } }
                                    td {
                                        form.restore method="post" action=(format!("/ui/backups/{}/restore", e.id))
                                            data-confirm="Restore this backup? The box's whole configuration goes back to it when the box next starts." {
                                            (csrf_field(viewer))
                                            button type="submit" { "Restore" }
                                        }
                                    }
                                }
                            }
                        }
                    } }
                    @if rows.is_empty() { p.hint #no-backups { "No backup on the box yet." } }
                }
            }
        }
    };
    (code, page::document("Backups", Some(viewer), Nav::Backups, body)).into_response()
}

/// `GET /ui/backups`
async fn list(State(app): State<AppState>, Admin(viewer): Admin) -> Result<Response, UiError> {
    Ok(render(&app, &viewer, StatusCode::OK, None).await)
}

/// `POST /ui/backups`: a backup now, as `POST /api/v1/backups`.
async fn take(State(app): State<AppState>, posted: Posted<Nothing>) -> Result<Response, UiError> {
    let viewer = posted.viewer;
    let (code, shown) = match api::take_now(&app, &viewer.username).await {
        Ok(e) => (StatusCode::OK, notice(true, &format!("Backup {} taken.", e.id))),
        Err(e) => {
            let (code, why) = said(&e);
            (code, notice(false, &format!("No backup taken: {why}.")))
        }
    };
    Ok(render(&app, &viewer, code, Some(shown)).await)
}

/// `GET /ui/backups/:id/download`: the API's file, behind the session cookie.
async fn download(State(app): State<AppState>, Admin(_): Admin, Path(id): Path<String>) -> Response {
    match api::file_response(&app, &id).await {
        Ok(file) => file,
        Err(e) => {
            let (code, why) = said(&e);
            page::refused(code, &format!("Not downloaded: {why}."))
        }
    }
}

/// `POST /ui/backups/:id/restore`: checks the backup and stages it, as
/// `POST /api/v1/backups/:id/restore`.
async fn restore(
    State(app): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<Nothing>,
) -> Result<Response, UiError> {
    let viewer = posted.viewer;
    let (code, shown) = match api::stage(&app, id, &viewer.username).await {
        Ok(s) => (
            StatusCode::OK,
            notice(true, &format!("Backup {} checked and staged: it is restored {}.", s.id, api::EFFECTIVE)),
        ),
        Err(e) => {
            let (code, why) = said(&e);
            (code, notice(false, &format!("Not restored: {why}.")))
        }
    };
    Ok(render(&app, &viewer, code, Some(shown)).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_words() {
        assert_eq!((size(812), size(12_345), size(1_234_567)), ("812 B".into(), "12.3 kB".into(), "1.2 MB".into()));
    }
}
