//! Health, metrics, the audit log, and the site config as one document.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Admin;
use super::error::JsonBody;
use super::{ApiError, AppState};
use crate::site::SiteDoc;
use crate::store::audit::AuditEntry;

/// Unauthenticated: load balancers, the installer's first check and systemd probes use it.
pub async fn health(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let revision = app.store.call(|s| s.revision()).await?;
    Ok(Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "site_revision": revision,
        "uptime_seconds": app.started.elapsed().as_secs(),
    })))
}

/// Unauthenticated, like most Prometheus targets: it carries counts, never names or secrets.
pub async fn metrics(State(app): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let revision = app.store.call(|s| s.revision()).await?;
    app.metrics.set("outpost_site_revision", &[], revision as f64);
    app.metrics.set("outpost_uptime_seconds", &[], app.started.elapsed().as_secs() as f64);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render()))
}

#[derive(Deserialize)]
pub struct SiteQuery {
    /// Include SIP and trunk secrets (for a full export). Off by default.
    #[serde(default)]
    secrets: bool,
}

pub async fn get_site(
    State(app): State<AppState>,
    _: Admin,
    Query(q): Query<SiteQuery>,
) -> Result<Json<SiteDoc>, ApiError> {
    let mut doc = app.store.call(|s| s.export_site()).await?;
    if !q.secrets {
        for t in &mut doc.tenants {
            t.extensions.iter_mut().for_each(|x| x.secret = None);
            t.trunks.iter_mut().for_each(|x| x.secret = None);
        }
    }
    Ok(Json(doc))
}

/// Applies a whole document, as `outpost config apply` does.
pub async fn put_site(
    State(app): State<AppState>,
    admin: Admin,
    JsonBody(doc): JsonBody<SiteDoc>,
) -> Result<Json<Value>, ApiError> {
    let _one_writer = app.writes.lock().await;
    let actor = format!("api:{}", admin.0.username);
    let applied = app.store.call(move |s| s.apply_site(doc, &actor)).await?;
    Ok(Json(json!(applied)))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    100
}

pub async fn audit(
    State(app): State<AppState>,
    _: Admin,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let limit = q.limit.clamp(1, 1000);
    Ok(Json(app.store.call(move |s| s.audit_log(limit)).await?))
}
