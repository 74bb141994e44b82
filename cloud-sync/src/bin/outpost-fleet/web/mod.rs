//! The fleet dashboard, served by the fleet binary beside the REST API: server-rendered pages
//! (maud escapes every value), one style sheet and one script compiled in, a
//! Content-Security-Policy without inline code, operators' login (docs/fleet-dashboard.md).
//!
//! # Layout
//! - `session`: logins, sessions (cookie for pages, bearer token for the API), CSRF, the login
//!   rate limit, and `require_operator`, the API's guard.
//! - `page`: the frame every page shares, notices, times.
//! - `fleet`: the fleet list and its live rows; `boxes`: the box page; `claims`: claim codes.
//! - `diff`: the line diff of two config revisions.
//! - `assets/`: `fleet.css`, `fleet.js` (polling every 2 s, filters, confirmations).

mod boxes;
mod claims;
mod diff;
mod fleet;
mod page;
pub mod session;

use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use cloud_sync::{BoxId, CommandKind};
use web_kit::{asset, security_headers};

pub use session::Auth;

use crate::api::App;

const CSS: &str = include_str!("assets/fleet.css");
const JS: &str = include_str!("assets/fleet.js");

/// Whether this build can send commands to boxes (backup now, reboot, re-provision, restore):
/// the buttons show disabled while it cannot.
pub const COMMANDS_AVAILABLE: bool = true;

/// The dashboard's routes; `api::router` merges them and guards `/api/…` itself.
pub fn router() -> Router<App> {
    Router::new()
        .route("/", get(fleet::page))
        .route("/live/fleet.json", get(fleet::live))
        .route("/box/:id", get(boxes::page))
        .route("/box/:id/live.json", get(boxes::live))
        .route("/box/:id/config", post(boxes::push))
        .route("/box/:id/command", post(boxes::command))
        .route("/claims", get(claims::page).post(claims::create))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/assets/fleet.css", get(|| async { asset("text/css; charset=utf-8", CSS) }))
        .route("/assets/fleet.js", get(|| async { asset("text/javascript; charset=utf-8", JS) }))
        .layer(middleware::map_response(security_headers))
}

/// The REST API's own routes for logging in and out (`/api/v1/login` is open, see `session`).
pub fn api_routes() -> Router<App> {
    Router::new().route("/api/v1/login", post(session::api_login)).route("/api/v1/logout", post(session::api_logout))
}

/// Sends a command to a box (through `commands::send`, as the REST API does) and returns its
/// id; the reason in words when it cannot.
async fn send_command(app: &App, id: &BoxId, kind: CommandKind, by: &str) -> Result<String, String> {
    crate::commands::send(&app.store, &app.link, id, kind, by).await.map_err(|e| format!("Not sent: {e}"))
}
