//! The box itself: what it runs (version, image, slot) and a reboot or a factory reset asked
//! for by an admin. `GET /api/v1/system`, `POST /api/v1/system/reboot`,
//! `POST /api/v1/system/factory-reset` (body `{"confirm": "factory reset"}`); the system page
//! of the web UI calls the same functions.
//!
//! The daemon is not root: it leaves the request for the image's root service
//! (`update::requests`), books it in the audit log, and answers 202 before the box goes down.
//! A host without that service (a development run) refuses with 409 and the reason.

use std::path::PathBuf;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::Admin;
use super::error::JsonBody;
use super::{ApiError, AppState};
use crate::update::requests::{self, Request};

/// What the updater (root) last wrote about the slots; the daemon cannot read the ESP.
pub const SLOTS_REPORT: &str = "/run/outpost/slots.txt";
/// The words an admin types to confirm a factory reset.
pub const CONFIRM_RESET: &str = "factory reset";

#[derive(Debug, Serialize)]
pub struct SystemInfo {
    /// The daemon's version.
    pub version: &'static str,
    /// The image's version (`IMAGE_VERSION` of os-release), on the image.
    pub image_version: Option<String>,
    /// The slot the box booted from (`outpost.slot=` on the kernel command line).
    pub running_slot: Option<&'static str>,
    /// Both slots as the updater last reported them (versions, states, which boots next).
    pub slots: Option<String>,
    pub uptime_seconds: u64,
    /// Whether a root service acts on reboots, factory resets and staged bundles here.
    pub root_service: bool,
    /// Reboots and factory resets asked for and not yet done.
    pub pending: Vec<&'static str>,
    /// A bundle waits for the updater.
    pub update_staged: bool,
}

fn data_dir(app: &AppState) -> Option<PathBuf> {
    app.updates.as_ref().map(|s| s.data_dir.clone())
}

/// What the box runs, read now.
pub fn read(app: &AppState) -> SystemInfo {
    let os = std::fs::read_to_string("/usr/lib/os-release").unwrap_or_default();
    let image_version = os
        .lines()
        .find_map(|l| l.strip_prefix("IMAGE_VERSION="))
        .map(|v| v.trim_matches('"').to_owned())
        .filter(|_| os.lines().any(|l| l.trim() == "IMAGE_ID=outpost"));
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let dir = data_dir(app);
    SystemInfo {
        version: env!("CARGO_PKG_VERSION"),
        image_version,
        running_slot: board::slots::select::running_slot(&cmdline).map(|s| s.letter()),
        slots: std::fs::read_to_string(SLOTS_REPORT).ok().filter(|t| !t.trim().is_empty()),
        uptime_seconds: app.started.elapsed().as_secs(),
        root_service: app.updates.as_ref().is_some_and(|s| s.root_service),
        pending: dir.as_deref().map(requests::pending).unwrap_or_default().iter().map(|r| r.describe()).collect(),
        update_staged: dir.is_some_and(|d| d.join(super::update::STAGED).exists()),
    }
}

/// Leaves `request` for the root service and books it; refused where nothing would act on it.
pub async fn ask(app: &AppState, request: Request, actor: &str) -> Result<(), ApiError> {
    let staging = app.updates.clone().ok_or_else(|| ApiError::NotFound("this box has no data directory set".into()))?;
    if !staging.root_service {
        return Err(ApiError::Conflict(format!(
            "no root service on this host does a {}: the Outpost image has one ([update] root_service)",
            request.describe()
        )));
    }
    let (dir, by) = (staging.data_dir.clone(), actor.to_owned());
    tokio::task::spawn_blocking(move || requests::place(&dir, request, &by))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(format!("cannot leave the request: {e}")))?;
    let action = match request {
        Request::Reboot => "system.reboot",
        Request::FactoryReset => "system.factory-reset",
    };
    tracing::warn!(by = %actor, request = request.describe(), "asked the root service");
    let who = actor.to_owned();
    app.store.call(move |s| s.audit(&who, action, "left for the root service, which reboots the box")).await?;
    Ok(())
}

/// `GET /api/v1/system`
pub async fn info(State(app): State<AppState>, _: Admin) -> Json<SystemInfo> {
    Json(read(&app))
}

#[derive(Serialize)]
pub struct Asked {
    pub request: &'static str,
    pub next: &'static str,
}

/// `POST /api/v1/system/reboot`: 202, the box reboots within seconds.
pub async fn reboot(State(app): State<AppState>, admin: Admin) -> Result<(StatusCode, Json<Asked>), ApiError> {
    ask(&app, Request::Reboot, &format!("api:{}", admin.0.username)).await?;
    Ok((StatusCode::ACCEPTED, Json(Asked { request: "reboot", next: "the box reboots within seconds" })))
}

#[derive(Deserialize)]
pub struct ConfirmReset {
    #[serde(default)]
    pub confirm: String,
}

/// `POST /api/v1/system/factory-reset` with `{"confirm": "factory reset"}`: 202, the box
/// reboots and wipes its data partition (config, calls, backups kept on the box) on the way up.
pub async fn factory_reset(
    State(app): State<AppState>,
    admin: Admin,
    JsonBody(body): JsonBody<ConfirmReset>,
) -> Result<(StatusCode, Json<Asked>), ApiError> {
    if body.confirm.trim() != CONFIRM_RESET {
        return Err(ApiError::BadRequest(format!(
            "a factory reset erases every setting: confirm with \"{CONFIRM_RESET}\""
        )));
    }
    ask(&app, Request::FactoryReset, &format!("api:{}", admin.0.username)).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Asked {
            request: "factory reset",
            next: "the box reboots, wipes its data and starts over with a new one-time admin password",
        }),
    ))
}
