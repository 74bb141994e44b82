//! The REST API: push a config to a box, read its state and config history. Every `/api/…`
//! route but logging in and the boxes' own needs an operator's bearer token
//! (`web::session::require_operator`); the dashboard's pages are merged in from `web`.

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
    /// Where backup chunks are kept, and the key escrowed backup keys are sealed under.
    pub backups: crate::backups::Backups,
    /// The broker URL handed to boxes when they are claimed.
    pub public_mqtt: String,
    /// Bad claim codes of the last minute (`claim`).
    pub claims: crate::claim::Guard,
    /// Operators' sessions and failed logins (`web::session`).
    pub auth: crate::web::Auth,
}

type Answer = (StatusCode, Json<Value>);

fn fail(code: StatusCode, why: impl ToString) -> Answer {
    (code, Json(json!({"error": why.to_string()})))
}

pub fn router(app: App) -> Router {
    Router::new()
        .route("/api/v1/boxes/:id", get(box_state))
        .route("/api/v1/boxes/:id/config", post(push_config).get(history))
        .route("/api/v1/boxes/:id/commands", post(send_command).get(list_commands))
        .route("/api/v1/boxes/:id/backups", get(list_backups))
        .route("/api/v1/boxes/:id/backups/:bid/file", get(backup_file))
        .merge(crate::claim::operator_routes())
        .merge(crate::claim::box_routes())
        .merge(crate::web::api_routes())
        .merge(crate::web::router())
        // Last, so that it guards every route above, including ones added later.
        .layer(axum::middleware::from_fn_with_state(app.clone(), crate::web::session::require_operator))
        .with_state(app)
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("the store failed: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("recorded, but the broker did not take it: {0}")]
    Publish(#[from] cloud_sync::link::ClientError),
}

/// Records a new desired document for a box under its next revision and publishes it
/// (retained). The REST API and the dashboard both push through here.
pub async fn push_desired(
    app: &App,
    id: &BoxId,
    base_revision: u64,
    document: Value,
    author: &str,
) -> Result<Desired, PushError> {
    let at = crate::store::now() as u64;
    let make = |revision| Desired::new(revision, base_revision, document, author, at);
    let desired = app.store.add_desired(id.as_str(), make)?;
    app.link.publish_desired(id, &desired).await?;
    Ok(desired)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Push {
    base_revision: u64,
    document: Value,
    author: String,
}

async fn push_config(
    State(app): State<App>,
    axum::Extension(op): axum::Extension<crate::web::session::Operator>,
    Path(id): Path<String>,
    Json(push): Json<Push>,
) -> Answer {
    let id = match BoxId::new(&id) {
        Ok(id) => id,
        Err(e) => return fail(StatusCode::BAD_REQUEST, e),
    };
    match push_desired(&app, &id, push.base_revision, push.document, &push.author).await {
        Ok(desired) => {
            let (revision, author) = (desired.revision, &push.author);
            tracing::info!(box_id = %id, revision, operator = op.name, author, "config pushed by the API");
            (StatusCode::ACCEPTED, Json(json!({"revision": desired.revision})))
        }
        Err(e @ PushError::Store(_)) => fail(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e @ PushError::Publish(_)) => fail(StatusCode::SERVICE_UNAVAILABLE, e),
    }
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendCommand {
    kind: cloud_sync::CommandKind,
}

async fn send_command(
    State(app): State<App>,
    axum::Extension(op): axum::Extension<crate::web::session::Operator>,
    Path(id): Path<String>,
    Json(body): Json<SendCommand>,
) -> Answer {
    let id = match BoxId::new(&id) {
        Ok(id) => id,
        Err(e) => return fail(StatusCode::BAD_REQUEST, e),
    };
    match crate::commands::send(&app.store, &app.link, &id, body.kind, &op.name).await {
        Ok(cid) => (StatusCode::ACCEPTED, Json(json!({"id": cid}))),
        Err(e @ crate::commands::CommandError::Publish(_)) => fail(StatusCode::SERVICE_UNAVAILABLE, e),
        Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn list_commands(State(app): State<App>, Path(id): Path<String>) -> Answer {
    match BoxId::new(&id).map_err(|e| fail(StatusCode::BAD_REQUEST, e)) {
        Ok(id) => match app.store.commands(id.as_str()) {
            Ok(v) => (StatusCode::OK, Json(json!(v))),
            Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, e),
        },
        Err(answer) => answer,
    }
}

async fn list_backups(State(app): State<App>, Path(id): Path<String>) -> Answer {
    match BoxId::new(&id).map_err(|e| fail(StatusCode::BAD_REQUEST, e)) {
        Ok(id) => match app.store.backups(id.as_str()) {
            Ok(v) => (StatusCode::OK, Json(json!(v))),
            Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, e),
        },
        Err(answer) => answer,
    }
}

/// The `.outpost-backup` file of a complete backup (`latest` works too).
async fn backup_file(State(app): State<App>, Path((id, bid)): Path<(String, String)>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let id = match BoxId::new(&id) {
        Ok(id) => id,
        Err(e) => return fail(StatusCode::BAD_REQUEST, e).into_response(),
    };
    let (store, data) = (app.store.clone(), app.backups.data.clone());
    let loaded = tokio::task::spawn_blocking(move || {
        let found = crate::backups::load(&store, &data, id.as_str(), &bid).map_err(|e| e.to_string())?;
        match found {
            Some((m, chunks)) => {
                cloud_sync::backup::file::to_bytes(&m, &chunks).map(|b| Some((m.id, b))).map_err(|e| e.to_string())
            }
            None => Ok(None),
        }
    })
    .await;
    match loaded {
        Ok(Ok(Some((name, bytes)))) => {
            let disposition = format!("attachment; filename=\"{name}.outpost-backup\"");
            let headers = [
                (axum::http::header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (axum::http::header::CONTENT_DISPOSITION, disposition),
            ];
            (StatusCode::OK, headers, bytes).into_response()
        }
        Ok(Ok(None)) => fail(StatusCode::NOT_FOUND, "no such complete backup").into_response(),
        Ok(Err(e)) => fail(StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
        Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}
