//! Discovered devices (phones seen by DHCP, TFTP or HTTPS that the site config does not list),
//! their adoption into a tenant, and the bans of the provisioning scan guard.
//!
//! Adoption is an ordinary write of the site config: the device is added to the tenant's
//! devices (`provision::adopt`, which the web UI's phones page uses too) and the document
//! applied whole, with the same validation as any other change.

use std::net::IpAddr;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::Admin;
use super::error::JsonBody;
use super::resources::write;
use super::{ApiError, AppState};
use crate::provision::adopt::{self, AdoptError};
use crate::provision::guard::Ban;
use crate::site::{Device, Vendor};
use crate::store::discovered::Discovered;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/devices/discovered", get(discovered))
        .route("/devices/discovered/:mac/adopt", post(adopt))
        .route("/provision/bans", get(bans))
        .route("/provision/bans/:address", delete(lift_ban))
}

async fn discovered(State(app): State<AppState>, _: Admin) -> Result<Json<Vec<Discovered>>, ApiError> {
    Ok(Json(app.store.call(|s| s.discovered()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Adopt {
    tenant: String,
    extension: String,
    vendor: Option<Vendor>,
    model: Option<String>,
}

async fn adopt(
    State(app): State<AppState>,
    admin: Admin,
    Path(mac): Path<String>,
    JsonBody(req): JsonBody<Adopt>,
) -> Result<(StatusCode, Json<Device>), ApiError> {
    let mac = adopt::mac(&mac)?;
    let discovered = app.store.call(|s| s.discovered()).await?;
    let device = adopt::device(&discovered, &mac, req.extension, req.vendor, req.model)?;
    let added = device.clone();
    let tenant = req.tenant;
    write(&app, &admin, move |doc| Ok(adopt::add(doc, &tenant, added)?)).await?;
    tracing::info!(%mac, by = %admin.0.username, "discovered device adopted");
    Ok((StatusCode::CREATED, Json(device)))
}

impl From<AdoptError> for ApiError {
    fn from(e: AdoptError) -> ApiError {
        match e {
            AdoptError::NotAMac(_) | AdoptError::UnknownVendor(_) => ApiError::BadRequest(e.to_string()),
            AdoptError::NotDiscovered(_) | AdoptError::NoTenant(_) => ApiError::NotFound(e.to_string()),
        }
    }
}

fn provisioning(app: &AppState) -> Result<&std::sync::Arc<crate::provision::service::Provisioner>, ApiError> {
    app.provisioning.as_ref().ok_or(ApiError::NotFound("provisioning is not running".into()))
}

async fn bans(State(app): State<AppState>, _: Admin) -> Result<Json<Vec<Ban>>, ApiError> {
    Ok(Json(provisioning(&app)?.bans()))
}

async fn lift_ban(
    State(app): State<AppState>,
    admin: Admin,
    Path(address): Path<String>,
) -> Result<StatusCode, ApiError> {
    let ip: IpAddr = address.parse().map_err(|_| ApiError::BadRequest(format!("`{address}` is not an IP address")))?;
    if !provisioning(&app)?.lift_ban(ip) {
        return Err(ApiError::NotFound(format!("{ip} is not banned")));
    }
    tracing::info!(%ip, by = %admin.0.username, "provisioning ban lifted by hand");
    Ok(StatusCode::NO_CONTENT)
}
