//! DHCP leases and the DHCP service's status.

use axum::extract::State;
use axum::Json;

use super::auth::Admin;
use super::{ApiError, AppState};
use crate::dhcp::{DhcpStatus, Lease};

/// Every stored lease, live, expired (kept so the client gets its address back) or declined.
pub async fn leases(State(app): State<AppState>, _: Admin) -> Result<Json<Vec<Lease>>, ApiError> {
    Ok(Json(app.store.call(|s| s.leases()).await?))
}

/// Serving, refused (another server answers on the segment), probing, or off.
pub async fn status(State(app): State<AppState>, _: Admin) -> Json<DhcpStatus> {
    Json(app.dhcp.as_ref().map_or(DhcpStatus::Off { reason: "the DHCP service is not running".into() }, |d| d.status()))
}
