//! The box's local web UI under `/ui/`: first-boot setup, the admin pages and the phone
//! users' portal, served by the HTTPS listener beside the API (docs/web-ui.md).
//!
//! Server-rendered HTML (maud templates, which escape every value), one small script and one
//! style sheet compiled into the binary, and a Content-Security-Policy that allows nothing
//! inline. Every change goes through the site config like the API's: the current document is
//! edited and applied whole with `Store::apply_site`, under the API's writer lock, so the UI,
//! the API, `outpost config apply` and the cloud share one validation and one transaction.
//!
//! # Layout
//! - `session`: cookies, the admin and user extractors (roles), CSRF, login rate limit.
//! - `form`: `application/x-www-form-urlencoded` bodies.
//! - `page`: the page shell, navigation, notices and error pages.
//! - `setup`: first boot (one-time password, site name, time zone, DHCP check, claim code).
//! - `dashboard`: the live overview and the JSON it polls.
//! - `extensions`, `phones`, `groups`, `trunks`, `routes` (with the route tester),
//!   `records` (CDRs, CSV, audit log), `system` (bans, version, password).
//! - `portal`: a phone user's forwarding, calls and phone state.
//! - `assets/`: `app.js` and `app.css`.

mod dashboard;
mod extensions;
mod form;
mod groups;
mod page;
mod phones;
mod portal;
mod records;
mod routes;
mod session;
mod setup;
mod system;
mod trunks;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::api::AppState;
use crate::site::{FieldError, SiteDoc};
use crate::store::StoreError;

/// The policy of every UI answer: only the box's own script, styles and images.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// What the UI's handlers share: the API's state, the phone users' sessions, the login limiter
/// and the API router itself (the CSV export is answered by the API's own handler).
#[derive(Clone)]
pub struct Ui {
    pub app: AppState,
    pub sessions: Arc<session::PortalSessions>,
    pub limiter: Arc<session::Limiter>,
    api: Router<()>,
}

/// The UI's routes, to merge into the HTTPS router (`api::router_with`).
pub fn router(app: AppState) -> Router<()> {
    let ui = Ui {
        api: crate::api::router(app.clone()),
        app,
        sessions: Arc::default(),
        limiter: Arc::default(),
    };
    let pages = Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(dashboard::home))
        .route("/ui/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/ui/app.css", get(|| async { asset("text/css; charset=utf-8", APP_CSS) }))
        .route("/ui/login", get(session::login_page).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route("/ui/setup", get(setup::page).post(setup::save))
        .route("/ui/status.json", get(dashboard::status))
        .merge(extensions::routes())
        .merge(phones::routes())
        .merge(groups::routes())
        .merge(trunks::routes())
        .merge(routes::routes())
        .merge(records::routes())
        .merge(system::routes())
        .merge(portal::routes())
        .with_state(ui)
        .layer(middleware::from_fn(security_headers));
    Router::new().route("/", get(|| async { Redirect::to("/ui/") })).merge(pages)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// The headers every UI answer carries: the CSP, no framing, no sniffing, no caching of pages
/// (they carry names and numbers), no referrer leaving the box.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Why a change was refused, for the page that asked.
#[derive(Debug)]
pub enum Refused {
    /// The document's own validation (the same reasons `outpost config apply` prints).
    Invalid(Vec<FieldError>),
    /// Anything else worth telling the admin: "no extension 205".
    Said(String),
}

impl Refused {
    pub fn lines(&self) -> Vec<String> {
        match self {
            Refused::Invalid(list) => list
                .iter()
                .map(|e| if e.field.is_empty() { e.reason.clone() } else { format!("{}: {}", e.field, e.reason) })
                .collect(),
            Refused::Said(s) => vec![s.clone()],
        }
    }
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Refused {
        match e {
            StoreError::Site(site) => Refused::Invalid(site.reasons()),
            other => {
                tracing::error!(error = %other, "web UI store call failed");
                Refused::Said("internal error (see the box's log)".into())
            }
        }
    }
}

/// The current site config, secrets included (pages decide what to show).
pub async fn current(ui: &Ui) -> Result<SiteDoc, Refused> {
    Ok(ui.app.store.call(|s| s.export_site()).await?)
}

/// Edits the current document and applies it as `actor`, as the API's writes do: one writer
/// at a time, the whole document validated, one transaction, one audit row.
pub async fn write(
    ui: &Ui,
    actor: String,
    edit: impl FnOnce(&mut SiteDoc) -> Result<(), Refused>,
) -> Result<SiteDoc, Refused> {
    let _one_writer = ui.app.writes.lock().await;
    let mut doc = current(ui).await?;
    edit(&mut doc)?;
    ui.app.store.call(move |s| s.apply_site(doc, &actor)).await?;
    current(ui).await
}

/// The tenant named `name` in `doc`, for an edit.
pub fn tenant_mut<'a>(doc: &'a mut SiteDoc, name: &str) -> Result<&'a mut crate::site::Tenant, Refused> {
    doc.tenants.iter_mut().find(|t| t.name == name).ok_or_else(|| Refused::Said(format!("no tenant `{name}`")))
}

/// An internal failure as a page.
pub fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "web UI request failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error (see the box's log)").into_response()
}

/// A Unix time as `2026-12-02 10:35:03` in the site's time zone (UTC when it is unknown).
pub fn when(unix: i64, tz: &str) -> String {
    let Ok(ts) = jiff::Timestamp::from_second(unix) else { return unix.to_string() };
    let zone = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    ts.to_zoned(zone).strftime("%Y-%m-%d %H:%M:%S").to_string()
}

#[cfg(test)]
mod tests;
