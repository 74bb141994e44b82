//! Discovered devices (phones seen by DHCP, TFTP or HTTPS that the site config does not list),
//! their adoption into a tenant, and the bans of the provisioning scan guard.
//!
//! Adoption is an ordinary write of the site config: the device is added to the tenant's
//! devices and the document applied whole, with the same validation as any other change.

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
use crate::provision::guard::Ban;
use crate::site::{self, Device, Vendor};
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
    let mac = site::normalize_mac(&mac).ok_or_else(|| ApiError::BadRequest(format!("`{mac}` is not a MAC address")))?;
    let found = app.store.call(|s| s.discovered()).await?.into_iter().find(|d| d.mac == mac);
    let Some(found) = found else {
        return Err(ApiError::NotFound(format!("no discovered device {mac}")));
    };
    let vendor = match req.vendor {
        Some(v) => v,
        None => Vendor::ALL.into_iter().find(|v| v.as_str() == found.vendor_guess).ok_or_else(|| {
            ApiError::BadRequest(format!("the vendor of {mac} is not known: give one (\"vendor\": \"yealink\", …)"))
        })?,
    };
    let device = Device {
        mac: mac.clone(),
        vendor,
        model: req.model.unwrap_or(found.model_guess),
        extension: Some(req.extension),
    };
    let added = device.clone();
    let tenant = req.tenant;
    write(&app, &admin, move |doc| {
        let t = doc
            .tenants
            .iter_mut()
            .find(|t| t.name == tenant)
            .ok_or_else(|| ApiError::NotFound(format!("no tenant `{tenant}`")))?;
        t.devices.push(added);
        Ok(())
    })
    .await?;
    tracing::info!(%mac, by = %admin.0.username, "discovered device adopted");
    Ok((StatusCode::CREATED, Json(device)))
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
