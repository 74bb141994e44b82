//! The system page: what the box runs (version, image, slot, both slots as the updater last
//! saw them, uptime), its cloud claim (`ui::claim`), an update bundle uploaded from the
//! admin's computer, a reboot and a factory reset.
//!
//! It goes through the API's own code: the upload is `api::update::receive_and_stage` (the
//! same checks and the same staging as `POST /api/v1/update`, streamed to disk, never held
//! in memory), the reboot and the reset are `api::machine::ask` (left for the image's root
//! service, booked in the audit log). A host without that service says so and does nothing.
//!
//! The upload is the one multipart form of the UI: a form cannot post a file otherwise. Its
//! CSRF token is its first part, checked before a byte of the bundle is stored.

use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::page::{self, csrf_field, notice, Nav};
use super::session::{admit, signed_in, Admin, Audience, Nothing, Posted, Viewer};
use super::UiError;
use crate::api::machine::{self, CONFIRM_RESET};
use crate::api::update::{receive_and_stage, MAX_BUNDLE};
use crate::api::{ApiError, AppState};
use crate::update::requests::Request as Asked;
use cloud_sync::password::same;

/// The upload's path (the API's body reader lets it stream).
pub const UPLOAD: &str = "/ui/system/update";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/system", get(show))
        .route(UPLOAD, post(upload).layer(DefaultBodyLimit::max(MAX_BUNDLE as usize + 64 * 1024)))
        .route("/ui/system/reboot", post(reboot))
        .route("/ui/system/factory-reset", post(factory_reset))
}

/// An API refusal as the page says it (an internal one only by its status; the log has it).
fn said(e: &ApiError) -> (StatusCode, String) {
    match e {
        ApiError::BadRequest(why) | ApiError::NotFound(why) => (StatusCode::UNPROCESSABLE_ENTITY, why.clone()),
        ApiError::Conflict(why) => (StatusCode::CONFLICT, why.clone()),
        ApiError::TooLarge(max) => (StatusCode::PAYLOAD_TOO_LARGE, format!("a bundle is at most {max} bytes")),
        other => {
            tracing::warn!(error = ?other, "web UI: a system action failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "the box could not do this; its log says why".to_owned())
        }
    }
}

/// `3 d 4 h`, `2 h 5 min`, `7 min`.
pub fn uptime(seconds: u64) -> String {
    let (d, h, m) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    match (d, h) {
        (0, 0) => format!("{m} min"),
        (0, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

pub(super) fn render(app: &AppState, viewer: &Viewer, code: StatusCode, shown: Option<Markup>) -> Response {
    let info = machine::read(app);
    let body = html! {
        main #system-page {
            h1 { "System" }
            @if let Some(m) = shown { (m) }
            @for what in &info.pending {
                p.notice.refused #pending role="status" { "A " (what) " is on its way: the box goes down within seconds." }
            }
            @if info.update_staged {
                p.notice #update-staged role="status" {
                    "An update bundle is staged: " (crate::api::update::next_step_of(info.root_service)) "."
                }
            }
            div.tiles #system-facts {
                div.tile { span.label { "Outpost" } span.big data-f="version" { (info.version) } }
                div.tile { span.label { "Image" } span data-f="image" { (info.image_version.as_deref().unwrap_or("not the Outpost image")) } }
                div.tile { span.label { "Running from slot" } span data-f="slot" { (info.running_slot.unwrap_or("none (no A/B slots here)")) } }
                div.tile { span.label { "Up for" } span data-f="uptime" { (uptime(info.uptime_seconds)) } }
            }
            section.card {
                h2 { "Slots" }
                @match &info.slots {
                    Some(report) => pre #slots { (report) },
                    None => p.hint #slots { "No slot report: the updater writes one when the image boots (this host is not the image, or it has not yet)." },
                }
                @if !info.root_service {
                    p.hint #no-root-service {
                        "No root service on this host installs bundles or reboots the box: an update is checked and staged, a reboot or reset is refused. The Outpost image has that service."
                    }
                }
            }
            (super::claim::card(app, viewer))
            section.card {
                h2 { "Update" }
                p.hint { "A signed bundle (" code { "outpost-<version>-x86_64.bundle" } "): the box checks its signature, board and version, installs it on the other slot and boots it on trial; if it does not come up healthy the box goes back by itself." }
                form #update-form method="post" action=(UPLOAD) enctype="multipart/form-data"
                    data-confirm="Install this bundle? The box reboots into it once it is written." {
                    (csrf_field(viewer))
                    label { "Bundle" input type="file" name="bundle" accept=".bundle" required; }
                    button type="submit" { "Upload and install" }
                }
            }
            section.card {
                h2 { "Reboot" }
                form #reboot-form method="post" action="/ui/system/reboot"
                    data-confirm="Reboot the box? Calls in progress are cut; phones register again within a minute." {
                    (csrf_field(viewer))
                    button type="submit" { "Reboot" }
                }
            }
            section.card.danger {
                h2 { "Factory reset" }
                p.hint { "Erases everything on the box: the site config, call records, leases, the box's own backups and the admin password. Backups kept in the cloud stay there. The box starts over with a new one-time password on its console." }
                form #reset-form method="post" action="/ui/system/factory-reset"
                    data-confirm="Erase everything on this box and start over?" {
                    (csrf_field(viewer))
                    label { "Type " code { (CONFIRM_RESET) } " to confirm" input type="text" name="confirm" autocomplete="off" required; }
                    button.danger type="submit" { "Erase and reboot" }
                }
            }
        }
    };
    (code, page::document("System", Some(viewer), Nav::System, body)).into_response()
}

/// `GET /ui/system`
async fn show(State(app): State<AppState>, Admin(viewer): Admin) -> Response {
    render(&app, &viewer, StatusCode::OK, None)
}

/// `POST /ui/system/update` (multipart: `csrf`, then `bundle`).
async fn upload(State(app): State<AppState>, req: Request) -> Result<Response, UiError> {
    let viewer = match signed_in(req.headers(), &app, "/ui/login").await {
        Ok(v) => v,
        Err(to_login) => return Ok(to_login),
    };
    if let Err(refused) = admit(Audience::Admins, &viewer) {
        return Ok(refused);
    }
    if viewer.must_change_password {
        return Ok(Redirect::to("/ui/setup").into_response());
    }
    let refuse = |code, why: &str| Ok(render(&app, &viewer, code, Some(notice(false, why))));
    let Ok(mut parts) = Multipart::from_request(req, &app).await else {
        return refuse(StatusCode::BAD_REQUEST, "Not installed: the form was not a file upload.");
    };
    let first = match parts.next_field().await {
        Ok(Some(field)) if field.name() == Some("csrf") => field.text().await.ok(),
        _ => None,
    };
    if !first.is_some_and(|t| same(t.as_bytes(), viewer.csrf.as_bytes())) {
        tracing::warn!(user = %viewer.username, "web UI upload without a valid CSRF token refused");
        return Ok(page::refused(
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from this box: reload the page and try again.",
        ));
    }
    let bundle = match parts.next_field().await {
        Ok(Some(field)) if field.name() == Some("bundle") => field,
        _ => return refuse(StatusCode::UNPROCESSABLE_ENTITY, "Not installed: choose a bundle file first."),
    };
    let (code, shown) = match receive_and_stage(&app, bundle, &format!("ui:{}", viewer.username)).await {
        Ok(staged) => (
            StatusCode::OK,
            notice(
                true,
                &format!("Bundle {} for {} checked and staged: {}.", staged.version, staged.board, staged.next),
            ),
        ),
        Err(e) => {
            let (code, why) = said(&e);
            (code, notice(false, &format!("Not installed: {why}.")))
        }
    };
    Ok(render(&app, &viewer, code, Some(shown)))
}

/// `POST /ui/system/reboot`
async fn reboot(State(app): State<AppState>, posted: Posted<Nothing>) -> Response {
    let viewer = posted.viewer;
    let (code, shown) = match machine::ask(&app, Asked::Reboot, &format!("ui:{}", viewer.username)).await {
        Ok(()) => {
            (StatusCode::OK, notice(true, "The box reboots now; this page answers again in about half a minute."))
        }
        Err(e) => {
            let (code, why) = said(&e);
            (code, notice(false, &format!("Not rebooted: {why}.")))
        }
    };
    render(&app, &viewer, code, Some(shown))
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    confirm: String,
}

/// `POST /ui/system/factory-reset` (`confirm` must read "factory reset").
async fn factory_reset(State(app): State<AppState>, posted: Posted<ResetForm>) -> Response {
    let viewer = posted.viewer;
    if posted.form.confirm.trim() != CONFIRM_RESET {
        let why = format!("Nothing erased: type \u{201c}{CONFIRM_RESET}\u{201d} to confirm.");
        return render(&app, &viewer, StatusCode::UNPROCESSABLE_ENTITY, Some(notice(false, &why)));
    }
    let (code, shown) = match machine::ask(&app, Asked::FactoryReset, &format!("ui:{}", viewer.username)).await {
        Ok(()) => (
            StatusCode::OK,
            notice(
                true,
                "The box reboots, erases its data and starts over: its console shows the new one-time password.",
            ),
        ),
        Err(e) => {
            let (code, why) = said(&e);
            (code, notice(false, &format!("Nothing erased: {why}.")))
        }
    };
    render(&app, &viewer, code, Some(shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_in_words() {
        assert_eq!(uptime(420), "7 min");
        assert_eq!(uptime(2 * 3600 + 5 * 60 + 9), "2 h 5 min");
        assert_eq!(uptime(3 * 86_400 + 4 * 3600 + 59), "3 d 4 h");
    }
}
