//! The box's local web UI under `/ui/`, served on the HTTPS listener beside the API:
//! server-rendered pages (maud escapes every value), one style sheet and one script compiled
//! into the binary, a Content-Security-Policy without inline code (docs/web-ui.md).
//!
//! It uses the API's admin accounts, sessions (the same `sessions` table, the token in a
//! cookie instead of a bearer header) and login limiter, and writes through
//! `Store::apply_site` under the API's write lock: one validation and one transaction, as
//! `outpost config apply` and the REST API.
//!
//! # Layout
//! - `session`: the login page, the session cookie, CSRF tokens, the guards `Admin`, `Setup`
//!   and `Posted`.
//! - `page`: the frame every page shares, notices, the refusal page; `owner`: the banner of
//!   the pages that edit a site config shared with a cloud fleet.
//! - `setup`: the first-boot page (new admin password, site name, time zone; the network
//!   interfaces and the DHCP check, read-only).
//! - `dashboard`: the dashboard and its live JSON; `alerts`: what the dashboard's alerts
//!   panel says, decided from a snapshot; `chart`: the 24 h chart of calls and registrations
//!   (SVG) and the daemon's sampling of the registered count; `live_calls`: the calls in
//!   progress with their media quality; `extensions`: list, add, edit, new secret.
//! - `phones`: discovered devices and their adoption, the site's phones, last fetch,
//!   re-provision; `routes`: the routes and the route tester; `route_forms`: adding, editing,
//!   moving and removing routes.
//! - `trunks`: each trunk's live state and the survivable mode, add, edit, remove;
//!   `ring_groups`: each tenant's ring groups, add, edit (members, strategy, ring time), remove.
//! - `audit`: the audit log, newest first (who, what, when); `backups`: the box's backups,
//!   take one now, download, restore (staged for the next start); `dhcp`: the DHCP server's
//!   state, the check for another server, the site's scopes, the leases; `dhcp_forms`: adding,
//!   editing and removing scopes.
//! - `calls`: the call records with filters, pages and the CSV download; `security`: the SIP
//!   and provisioning bans (unban), the allowlists, failed-login and ban counts; `trusted`:
//!   the trusted networks added on the box.
//! - `system`: version, image and slots, an update bundle uploaded, reboot, factory reset;
//!   `claim`: the box claimed into a cloud fleet (the system page's card, setup's code).
//! - `portal`: the extension user's own pages under `/ui/me` (login, forwarding, call
//!   history, registration, their own password), and the admin's portal password card of an
//!   extension.
//! - `assets/`: `ui.css`, `ui.js` (polling the dashboard, confirmations).

mod alerts;
mod audit;
mod backups;
mod calls;
pub(crate) mod chart;
mod claim;
mod dashboard;
mod dhcp;
mod dhcp_forms;
mod extensions;
mod live_calls;
mod owner;
mod page;
mod phones;
mod portal;
mod ring_groups;
mod route_forms;
mod routes;
mod security;
mod session;
mod setup;
mod system;
mod trunks;
mod trusted;

use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use web_kit::{asset, security_headers};

use crate::api::AppState;
use crate::site::SiteDoc;
use crate::store::StoreError;

/// The update upload of the system page, streamed by its handler like the API's.
pub use system::UPLOAD;

const CSS: &str = include_str!("assets/ui.css");
const JS: &str = include_str!("assets/ui.js");

/// Why a page could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("the system random source failed")]
    Random,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        tracing::warn!(error = %self, "web UI request failed");
        page::refused(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "The box could not do this; its log says why.")
    }
}

/// The UI's routes, with the state applied, for `api::router_with`'s `extra`.
pub fn router(state: AppState) -> Router<()> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(dashboard::page))
        .route("/ui/live.json", get(dashboard::live))
        .route("/ui/login", get(session::login_page).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route("/ui/setup", get(setup::page).post(setup::submit))
        .merge(extensions::routes())
        .merge(ring_groups::routes())
        .merge(phones::routes())
        .merge(trunks::routes())
        .merge(routes::routes())
        .merge(route_forms::routes())
        .merge(calls::routes())
        .merge(security::routes())
        .merge(trusted::routes())
        .merge(audit::routes())
        .merge(backups::routes())
        .merge(dhcp::routes())
        .merge(dhcp_forms::routes())
        .merge(system::routes())
        .merge(claim::routes())
        .merge(portal::routes())
        .route("/ui/assets/ui.css", get(|| async { asset("text/css; charset=utf-8", CSS) }))
        .route("/ui/assets/ui.js", get(|| async { asset("text/javascript; charset=utf-8", JS) }))
        .layer(middleware::map_response(security_headers))
        .with_state(state)
}

/// Edits the current site document and applies it as the REST API does (its write lock,
/// `Store::apply_site`): the reasons of a refusal come back in words for the page.
async fn apply(
    app: &AppState,
    actor: &str,
    edit: impl FnOnce(&mut SiteDoc) -> Result<(), String>,
) -> Result<Result<(), String>, UiError> {
    Ok(apply_edit(app, actor, edit).await?.map_err(|r| match r {
        Refusal::Edit(why) => why,
        Refusal::Site(e) => reasons(&e),
    }))
}

/// Why an edit of the site was not applied: the edit's own words, or the site's validation
/// (kept whole, so that the portal can word its fields for a phone user).
enum Refusal {
    Edit(String),
    Site(crate::site::SiteError),
}

/// `apply`, with the site's refusal as it came.
async fn apply_edit(
    app: &AppState,
    actor: &str,
    edit: impl FnOnce(&mut SiteDoc) -> Result<(), String>,
) -> Result<Result<(), Refusal>, UiError> {
    let _one_writer = app.writes.lock().await;
    let mut doc = app.store.call(|s| s.export_site()).await?;
    if let Err(why) = edit(&mut doc) {
        return Ok(Err(Refusal::Edit(why)));
    }
    let actor = format!("ui:{actor}");
    match app.store.call(move |s| s.apply_site(doc, &actor)).await {
        Ok(_) => Ok(Ok(())),
        Err(StoreError::Site(e)) => Ok(Err(Refusal::Site(e))),
        Err(e) => Err(e.into()),
    }
}

/// A site refusal as one sentence: `field: reason; field: reason`.
fn reasons(e: &crate::site::SiteError) -> String {
    let list = e.reasons();
    if list.is_empty() {
        return e.to_string();
    }
    list.iter().map(|r| format!("{}: {}", r.field, r.reason)).collect::<Vec<_>>().join("; ")
}
