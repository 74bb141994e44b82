//! The admin REST API under `/api/v1`, plus `/metrics`. Described in `docs/api.yaml`.
//!
//! Every write goes through the site config: a handler edits the current document and applies
//! it with `Store::apply_site`, so the API, `outpost config apply` and the cloud share one
//! validation and one transaction per change.
//!
//! Layout: `auth` (login, sessions, roles), `resources` (CRUD over the document's collections),
//! `system` (health, metrics, audit, the whole document), `cdrs` (call records, CSV), `sip` (registrations, SIP bans), `dhcp` (leases, status),
//! `devices` (discovered devices, adoption, provisioning bans), `media` (calls' RTP figures),
//! `trunks` (trunk health, survivable mode), `backups` (take, list, download, restore),
//! `update` (an uploaded bundle checked and staged for the updater), `machine` (version,
//! slots, a reboot or factory reset asked for), `trusted` (networks never banned), `error`
//! (how failures answer).

pub(crate) mod auth;
pub(crate) mod backups;
pub(crate) mod cdrs;
mod devices;
pub(crate) mod dhcp;
mod error;
pub(crate) mod forwarding;
pub(crate) mod machine;
mod media;
mod resources;
mod sip;
mod system;
pub(crate) mod trunks;
pub(crate) mod trusted;
pub mod update;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};

pub use auth::LoginLimiter;
pub(crate) use auth::MIN_PASSWORD;
pub use error::ApiError;

use crate::metrics::{Kind, Metrics};
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub metrics: Metrics,
    pub started: Instant,
    pub logins: Arc<LoginLimiter>,
    /// Serialises API writes so that two admins editing at once queue instead of conflicting.
    pub writes: Arc<tokio::sync::Mutex<()>>,
    /// The SIP service, when it runs: its bans live in memory.
    pub sip: Option<Arc<crate::sip::Shared>>,
    /// Provisioning, when it runs: the bans of its scan guard live in memory.
    pub provisioning: Option<Arc<crate::provision::service::Provisioner>>,
    /// The DHCP service's status (serving, refused, off), when the daemon runs.
    pub dhcp: Option<Arc<crate::dhcp::DhcpShared>>,
    /// The RTP media bridge, when it runs: its calls live in memory.
    pub media: Option<crate::media::Bridge>,
    /// Where the box keeps its backups, when the daemon runs.
    pub backups: Option<crate::backup::local::Local>,
    /// Where uploaded update bundles are staged, when the daemon runs.
    pub updates: Option<update::Staging>,
    /// The cloud sync agent, when the box syncs with a fleet (the dashboard shows its link).
    pub cloud: Option<Arc<crate::sync::Agent>>,
    /// DHCP takes the interface a site scope names at the next start (`[dhcp] from_site`).
    pub dhcp_from_site: bool,
    /// The daemon's data directory (none in tests of the API alone).
    pub data_dir: Option<std::path::PathBuf>,
    /// Held while an update bundle is received (one upload file at a time).
    pub uploads: Arc<tokio::sync::Mutex<()>>,
    /// The registered count sampled over the last 24 h (the dashboard's chart); the daemon
    /// fills it.
    pub registrations: crate::ui::chart::Samples,
}

impl AppState {
    pub fn new(store: Store, metrics: Metrics) -> AppState {
        metrics.describe("outpost_http_requests_total", Kind::Counter, "HTTP requests answered, by status code.");
        metrics.describe("outpost_api_logins_total", Kind::Counter, "API login attempts, by result.");
        metrics.describe("outpost_site_revision", Kind::Gauge, "Revision of the site config.");
        metrics.describe("outpost_uptime_seconds", Kind::Gauge, "Seconds since the daemon started.");
        AppState {
            store,
            metrics,
            started: Instant::now(),
            logins: Arc::new(LoginLimiter::default()),
            writes: Arc::new(tokio::sync::Mutex::new(())),
            sip: None,
            provisioning: None,
            dhcp: None,
            media: None,
            backups: None,
            updates: None,
            cloud: None,
            dhcp_from_site: false,
            data_dir: None,
            uploads: Arc::new(tokio::sync::Mutex::new(())),
            registrations: crate::ui::chart::Samples::default(),
        }
    }
}

/// The address of the client on the other end of the connection, set by the HTTPS server.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

pub fn router(state: AppState) -> Router<()> {
    router_with(state, Router::new())
}

/// The API router with `extra` routes (provisioning under `/prov/`) served beside it, behind
/// the same body reading and request counting.
pub fn router_with(state: AppState, extra: Router<()>) -> Router<()> {
    let api = Router::new()
        .route("/health", get(system::health))
        .route("/login", post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/password", post(auth::change_password))
        .route("/site", get(system::get_site).put(system::put_site))
        .route("/audit", get(system::audit))
        .route("/registrations", get(sip::registrations))
        .route("/cdrs", get(cdrs::list))
        .route("/cdrs.csv", get(cdrs::csv))
        .route("/sip/bans", get(sip::bans))
        .route("/sip/bans/:address", axum::routing::delete(sip::lift_ban))
        .route("/dhcp/leases", get(dhcp::leases))
        .route("/dhcp/status", get(dhcp::status))
        .route("/media", get(media::calls))
        .route("/trunks/status", get(trunks::status))
        .route("/backups", get(backups::list).post(backups::take))
        .route("/backups/:id", get(backups::download))
        .route("/backups/:id/restore", post(backups::restore))
        .route("/survivable", get(trunks::survivable))
        .route("/update", post(update::upload))
        .route("/trusted", get(trusted::list).post(trusted::create).delete(trusted::delete))
        .route("/system", get(machine::info))
        .route("/system/reboot", post(machine::reboot))
        .route("/system/factory-reset", post(machine::factory_reset))
        .merge(resources::routes())
        .merge(forwarding::routes())
        .merge(devices::routes());
    Router::new()
        .nest("/api/v1", api)
        .route("/metrics", get(system::metrics))
        .fallback(error::not_found)
        .with_state(state.clone())
        .merge(extra)
        .layer(middleware::from_fn(read_whole_body))
        .layer(middleware::from_fn_with_state(state, count_requests))
}

async fn count_requests(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    app.metrics.inc("outpost_http_requests_total", &[("status", response.status().as_str())]);
    response
}

/// Largest request body the API reads; site documents of thousands of extensions fit.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Reads the request body before any handler answers. A handler that refuses early (401, 405)
/// would otherwise answer an HTTP/2 request whose body is still arriving, and reset the stream
/// under the client's feet (curl reports that as a framing error).
async fn read_whole_body(req: Request, next: Next) -> Response {
    // An update bundle is streamed to disk by its handler (which reads an unauthorised upload
    // to the end too, for the same reason).
    let path = req.uri().path();
    if (path == update::PATH || path == crate::ui::UPLOAD) && req.method() == axum::http::Method::POST {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await,
        Err(_) => ApiError::TooLarge(MAX_BODY).into_response(),
    }
}

/// Adds the peer address to every request of one connection.
pub fn with_peer(router: Router<()>, peer: SocketAddr) -> Router<()> {
    router.layer(Extension(Peer(peer)))
}
