//! Trusted networks added on the box: `GET /api/v1/trusted`, `POST /api/v1/trusted`
//! (`{"cidr": "192.0.2.0/24", "note": "..."}`), `DELETE /api/v1/trusted` (`{"cidr": ...}`).
//! The security page of the web UI calls the same functions. A change is stored (one
//! transaction with its audit entry) and then handed to the running SIP defences and the
//! provisioning guard: from then on the network is never rate-limited or banned, and what its
//! addresses were counted or banned for is forgotten.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::auth::Admin;
use super::error::JsonBody;
use super::{ApiError, AppState};
use crate::sip::defence::Cidr;
use crate::store::trusted::TrustedNetwork;

/// Hands the stored list to the running services; the list.
pub async fn apply(app: &AppState) -> Result<Vec<TrustedNetwork>, ApiError> {
    let list = app.store.call(|s| s.trusted_networks()).await?;
    let cidrs: Vec<Cidr> = list.iter().filter_map(|t| t.cidr.parse().ok()).collect();
    if let Some(sip) = &app.sip {
        sip.core().defence.set_added(cidrs.clone());
    }
    if let Some(p) = &app.provisioning {
        p.set_trusted(cidrs);
    }
    Ok(list)
}

/// Adds `cidr` (checked, written the way the box writes networks); the network as stored.
pub async fn add(app: &AppState, cidr: &str, note: &str, actor: &str) -> Result<String, ApiError> {
    let net: Cidr = cidr.trim().parse().map_err(|_| {
        ApiError::BadRequest(format!("`{}` is not a network like 192.168.10.0/24 or fd00::/8", cidr.trim()))
    })?;
    let (text, note, who) = (net.to_string(), note.trim().to_owned(), actor.to_owned());
    let stored = text.clone();
    let added = app.store.call(move |s| s.add_trusted(&stored, &note, &who)).await?;
    if !added {
        return Err(ApiError::Conflict(format!("{text} is trusted already")));
    }
    apply(app).await?;
    tracing::warn!(network = %text, by = %actor, "network trusted");
    Ok(text)
}

/// Removes `cidr` from the networks added on the box.
pub async fn remove(app: &AppState, cidr: &str, actor: &str) -> Result<(), ApiError> {
    let (text, who) = (cidr.trim().to_owned(), actor.to_owned());
    let removed = app.store.call(move |s| s.remove_trusted(&text, &who)).await?;
    if !removed {
        return Err(ApiError::NotFound(format!("{} is not among the networks added on the box", cidr.trim())));
    }
    apply(app).await?;
    tracing::warn!(network = %cidr.trim(), by = %actor, "network no longer trusted");
    Ok(())
}

/// `GET /api/v1/trusted`
pub async fn list(State(app): State<AppState>, _: Admin) -> Result<Json<Vec<TrustedNetwork>>, ApiError> {
    Ok(Json(app.store.call(|s| s.trusted_networks()).await?))
}

#[derive(Deserialize)]
pub struct NewTrusted {
    pub cidr: String,
    #[serde(default)]
    pub note: String,
}

/// `POST /api/v1/trusted`: 201 with the network as stored.
pub async fn create(
    State(app): State<AppState>,
    admin: Admin,
    JsonBody(body): JsonBody<NewTrusted>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let cidr = add(&app, &body.cidr, &body.note, &format!("api:{}", admin.0.username)).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "cidr": cidr }))))
}

#[derive(Deserialize)]
pub struct Gone {
    pub cidr: String,
}

/// `DELETE /api/v1/trusted` with `{"cidr": ...}`: 204.
pub async fn delete(
    State(app): State<AppState>,
    admin: Admin,
    JsonBody(body): JsonBody<Gone>,
) -> Result<StatusCode, ApiError> {
    remove(&app, &body.cidr, &format!("api:{}", admin.0.username)).await?;
    Ok(StatusCode::NO_CONTENT)
}
