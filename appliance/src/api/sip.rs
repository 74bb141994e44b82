//! Registrations and SIP bans.

use std::net::IpAddr;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::auth::Admin;
use super::{ApiError, AppState};
use crate::sip::defence::Ban;
use crate::sip::location::Binding;

/// Every live binding, as persisted (what survives a restart).
pub async fn registrations(State(app): State<AppState>, _: Admin) -> Result<Json<Vec<Binding>>, ApiError> {
    let now = crate::store::unix_now();
    Ok(Json(app.store.call(move |s| s.bindings(now)).await?))
}

/// The SIP service, or 404 when it does not run (shared by the trunk handlers).
pub(super) fn sip(app: &AppState) -> Result<&std::sync::Arc<crate::sip::Shared>, ApiError> {
    app.sip.as_ref().ok_or(ApiError::NotFound("the SIP service is not running".into()))
}

pub async fn bans(State(app): State<AppState>, _: Admin) -> Result<Json<Vec<Ban>>, ApiError> {
    let now = std::time::Instant::now();
    Ok(Json(sip(&app)?.core().defence.bans(now)))
}

pub async fn lift_ban(
    State(app): State<AppState>,
    admin: Admin,
    Path(address): Path<String>,
) -> Result<StatusCode, ApiError> {
    let ip: IpAddr = address.parse().map_err(|_| ApiError::BadRequest(format!("`{address}` is not an IP address")))?;
    if !sip(&app)?.core().defence.lift(ip) {
        return Err(ApiError::NotFound(format!("{ip} is not banned")));
    }
    tracing::info!(%ip, by = %admin.0.username, "SIP ban lifted by hand");
    Ok(StatusCode::NO_CONTENT)
}
