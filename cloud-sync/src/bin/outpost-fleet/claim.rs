//! Claim codes over the REST API. Operators make and list them (`POST`/`GET /api/v1/claims`,
//! behind the login); boxes redeem one (`POST /api/v1/claim`, no login: the code is the
//! credential). Redeeming is limited fleet-wide: after [`MAX_FAILURES`] bad codes in a
//! minute every redeem gets 429 until the minute is over, so codes cannot be guessed at speed
//! (a code has about 70 bits anyway).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use cloud_sync::claim::{ClaimAnswer, ClaimRequest};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::App;
use crate::store::boxes::ClaimError;
use crate::store::now;

pub const MAX_FAILURES: u32 = 20;
const WINDOW: Duration = Duration::from_secs(60);

/// Bad codes seen in the current minute.
#[derive(Clone, Default)]
pub struct Guard(Arc<Mutex<Option<(Instant, u32)>>>);

impl Guard {
    fn blocked(&self) -> bool {
        let Ok(w) = self.0.lock() else { return true };
        matches!(*w, Some((start, n)) if start.elapsed() < WINDOW && n >= MAX_FAILURES)
    }

    fn failed(&self) {
        if let Ok(mut w) = self.0.lock() {
            *w = match *w {
                Some((start, n)) if start.elapsed() < WINDOW => Some((start, n + 1)),
                _ => Some((Instant::now(), 1)),
            };
        }
    }
}

type Answer = (StatusCode, Json<Value>);

fn fail(code: StatusCode, why: impl ToString) -> Answer {
    (code, Json(json!({"error": why.to_string()})))
}

/// Routes for operators (behind the login).
pub fn operator_routes() -> Router<App> {
    Router::new().route("/api/v1/claims", post(create).get(list))
}

/// The route boxes call.
pub fn box_routes() -> Router<App> {
    Router::new().route("/api/v1/claim", post(redeem))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    tenant: String,
    #[serde(default)]
    replaces: Option<String>,
    #[serde(default)]
    by: Option<String>,
}

async fn create(State(app): State<App>, Json(c): Json<Create>) -> Answer {
    let by = c.by.as_deref().unwrap_or("api");
    match app.store.create_claim(&c.tenant, c.replaces.as_deref(), by, now()) {
        Ok(Ok(claim)) => {
            tracing::info!(box_id = %claim.box_id, tenant = %c.tenant, replaces = ?c.replaces, "claim code made");
            (StatusCode::CREATED, Json(json!(claim)))
        }
        Ok(Err(e)) => fail(StatusCode::BAD_REQUEST, e),
        Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn list(State(app): State<App>) -> Answer {
    match app.store.claim_views(1000) {
        Ok(rows) => (StatusCode::OK, Json(json!(rows))),
        Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn redeem(State(app): State<App>, body: axum::body::Bytes) -> Answer {
    if app.claims.blocked() {
        return fail(StatusCode::TOO_MANY_REQUESTS, "too many bad claim codes: try again in a minute");
    }
    let req: ClaimRequest = match cloud_sync::decode(&body) {
        Ok(r) => r,
        Err(e) => return fail(StatusCode::BAD_REQUEST, e),
    };
    let claimed = match app.store.redeem_claim(&req.code, now()) {
        Ok(Ok(c)) => c,
        Ok(Err(e @ ClaimError::Invalid)) => {
            app.claims.failed();
            tracing::warn!("a box presented a claim code that is not valid");
            return fail(StatusCode::FORBIDDEN, e);
        }
        Ok(Err(e)) => return fail(StatusCode::BAD_REQUEST, e),
        Err(e) => return fail(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let (mut backup_key, mut latest_backup) = (None, None);
    if let Some(old) = &claimed.replaces {
        match crate::replace::recover(&app, old) {
            Ok((key, latest)) => (backup_key, latest_backup) = (key, latest),
            Err(e) => return fail(StatusCode::INTERNAL_SERVER_ERROR, e),
        }
    }
    tracing::info!(box_id = %claimed.box_id, tenant = %claimed.tenant, replaces = ?claimed.replaces, "box claimed");
    let answer = ClaimAnswer {
        schema: cloud_sync::SCHEMA,
        username: claimed.box_id.clone(),
        box_id: claimed.box_id,
        tenant: claimed.tenant,
        broker: app.public_mqtt.clone(),
        password: claimed.password,
        replaces: claimed.replaces,
        backup_key,
        latest_backup,
    };
    (StatusCode::OK, Json(json!(answer)))
}
