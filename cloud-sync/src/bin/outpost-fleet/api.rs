//! The REST API: push a config to a box, read its state and config history. No login yet
//! (the dashboard issue adds it): it listens on loopback by default.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use cloud_sync::{BoxId, Desired};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::mqtt::Link;
use crate::store::FleetStore;

#[derive(Clone)]
pub struct App {
    pub store: FleetStore,
    pub link: Link,
    /// The broker URL handed to boxes when they are claimed.
    pub public_mqtt: String,
    /// Bad claim codes of the last minute (`claim`).
    pub claims: crate::claim::Guard,
}

type Answer = (StatusCode, Json<Value>);

fn fail(code: StatusCode, why: impl ToString) -> Answer {
    (code, Json(json!({"error": why.to_string()})))
}

pub fn router(app: App) -> Router {
    Router::new()
        .route("/api/v1/boxes/:id", get(box_state))
        .route("/api/v1/boxes/:id/config", post(push_config).get(history))
        .merge(crate::claim::operator_routes())
        .merge(crate::claim::box_routes())
        .with_state(app)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Push {
    base_revision: u64,
    document: Value,
    author: String,
}

async fn push_config(State(app): State<App>, Path(id): Path<String>, Json(push): Json<Push>) -> Answer {
    let id = match BoxId::new(&id) {
        Ok(id) => id,
        Err(e) => return fail(StatusCode::BAD_REQUEST, e),
    };
    let at = crate::store::now() as u64;
    let make = |revision| Desired::new(revision, push.base_revision, push.document, &push.author, at);
    let desired = match app.store.add_desired(id.as_str(), make) {
        Ok(d) => d,
        Err(e) => return fail(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    if let Err(e) = app.link.publish_desired(&id, &desired).await {
        return fail(StatusCode::SERVICE_UNAVAILABLE, e);
    }
    (StatusCode::ACCEPTED, Json(json!({"revision": desired.revision})))
}

async fn box_state(State(app): State<App>, Path(id): Path<String>) -> Answer {
    match BoxId::new(&id).map_err(|e| fail(StatusCode::BAD_REQUEST, e)) {
        Ok(id) => match app.store.box_state(id.as_str()) {
            Ok(v) => (StatusCode::OK, Json(v)),
            Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, e),
        },
        Err(answer) => answer,
    }
}

async fn history(State(app): State<App>, Path(id): Path<String>) -> Answer {
    match BoxId::new(&id).map_err(|e| fail(StatusCode::BAD_REQUEST, e)) {
        Ok(id) => match app.store.history(id.as_str()) {
            Ok(v) => (StatusCode::OK, Json(Value::Array(v))),
            Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, e),
        },
        Err(answer) => answer,
    }
}
