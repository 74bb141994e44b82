//! The media bridge's calls: per leg packets, loss, jitter and where each phone was latched.

use axum::extract::State;
use axum::Json;

use super::auth::Admin;
use super::{ApiError, AppState};
use crate::media::CallStats;

/// Every call with media open now, by call name.
pub async fn calls(State(app): State<AppState>, _: Admin) -> Result<Json<Vec<CallStats>>, ApiError> {
    let bridge = app.media.as_ref().ok_or(ApiError::NotFound("the media bridge is not running".into()))?;
    Ok(Json(bridge.all().into_iter().map(|(_, stats)| stats).collect()))
}
