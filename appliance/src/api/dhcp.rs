//! DHCP leases and the DHCP service's status.

use axum::extract::State;
use axum::Json;

use super::auth::Admin;
use super::{ApiError, AppState};
use crate::dhcp::{DhcpStatus, Lease};

/// Every stored lease (what `GET /api/v1/dhcp/leases` and the web UI list).
pub(crate) async fn all_leases(app: &AppState) -> Result<Vec<Lease>, crate::store::StoreError> {
    app.store.call(|s| s.leases()).await
}

/// The DHCP service's status now (what `GET /api/v1/dhcp/status` and the web UI show).
pub(crate) fn current(app: &AppState) -> DhcpStatus {
    app.dhcp.as_ref().map_or(DhcpStatus::Off { reason: "the DHCP service is not running".into() }, |d| d.status())
}

/// Every stored lease, live, expired (kept so the client gets its address back) or declined.
pub async fn leases(State(app): State<AppState>, _: Admin) -> Result<Json<Vec<Lease>>, ApiError> {
    Ok(Json(all_leases(&app).await?))
}

/// Serving, refused (another server answers on the segment), probing, or off.
pub async fn status(State(app): State<AppState>, _: Admin) -> Json<DhcpStatus> {
    Json(current(&app))
}
