//! Trunk health and survivable mode, live: what each trunk is doing now (state, why, probe
//! round trip, targets, registration, calls up) and the site's mode with its recent changes.

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::Admin;
use super::sip::sip;
use super::{ApiError, AppState};
use crate::store::trunk_events::TrunkEventRow;
use crate::trunk::{ModeStatus, TrunkStatus};

#[derive(Serialize)]
pub struct TrunkRow {
    pub tenant: String,
    pub name: String,
    #[serde(flatten)]
    pub status: TrunkStatus,
    /// Calls up or being set up on the trunk now.
    pub channels: usize,
}

/// `GET /api/v1/trunks/status`: every trunk of every tenant.
pub async fn status(State(app): State<AppState>, _: Admin) -> Result<Json<Vec<TrunkRow>>, ApiError> {
    Ok(Json(rows(&sip(&app)?.core())))
}

/// Every trunk of every tenant as the SIP core sees it now, with its calls up (the API's
/// status and the web UI's trunks page both read this).
pub fn rows(core: &crate::sip::core::SipCore) -> Vec<TrunkRow> {
    let channels = core.b2bua.trunk_channels();
    core.trunks
        .status()
        .into_iter()
        .map(|status| {
            let used = channels
                .iter()
                .find(|((t, n), _)| *t == status.key.tenant && *n == status.key.name)
                .map_or(0, |(_, c)| *c);
            TrunkRow { tenant: status.key.tenant.clone(), name: status.key.name.clone(), status, channels: used }
        })
        .collect()
}

#[derive(Deserialize)]
pub struct EventsQuery {
    /// How many of the newest changes to include (default 100).
    pub limit: Option<usize>,
}

#[derive(Serialize)]
pub struct Survivable {
    #[serde(flatten)]
    pub mode: ModeStatus,
    /// Trunk and mode changes, oldest first.
    pub events: Vec<TrunkEventRow>,
}

/// `GET /api/v1/survivable`: the site's mode and its recent history.
pub async fn survivable(
    State(app): State<AppState>,
    _: Admin,
    Query(q): Query<EventsQuery>,
) -> Result<Json<Survivable>, ApiError> {
    let mode = sip(&app)?.core().trunks.mode();
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let events = app.store.call(move |s| s.trunk_events(limit)).await?;
    Ok(Json(Survivable { mode, events }))
}
