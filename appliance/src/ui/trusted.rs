//! The security page's trusted networks added on the box: a list with "Remove" and a form to
//! add one (`api::trusted`: stored with its audit entry, then handed to the running SIP
//! defences and provisioning guard, which forget what the network's addresses were counted
//! or banned for). The allowlists of `outpost.toml` are shown beside them, read-only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::dashboard::utc;
use super::page::{csrf_field, notice};
use super::session::{Posted, Viewer};
use super::UiError;
use crate::api::{ApiError, AppState};
use crate::store::trusted::TrustedNetwork;

pub fn routes() -> Router<AppState> {
    Router::new().route("/ui/security/trusted", post(add)).route("/ui/security/trusted/remove", post(remove))
}

/// The list and the add form.
pub fn card(list: &[TrustedNetwork], viewer: &Viewer) -> Markup {
    html! {
        h3 { "Added on this box (SIP and provisioning)" }
        @if list.is_empty() { p.hint #no-trusted { "None yet." } }
        @else {
            div.scroll { table #trusted {
                thead { tr { th { "Network" } th { "Note" } th { "Added" } th {} } }
                tbody {
                    @for t in list {
                        tr data-cidr=(t.cidr) {
                            td { code { (t.cidr) } } td data-f="note" { (t.note) }
                            td { (utc(t.added_at)) " by " (super::audit::who(&t.added_by)) }
                            td {
                                form.remove-trusted method="post" action="/ui/security/trusted/remove"
                                    data-confirm=(format!("Stop trusting {}? Its addresses can be banned again.", t.cidr)) {
                                    (csrf_field(viewer))
                                    input type="hidden" name="cidr" value=(t.cidr);
                                    button type="submit" { "Remove" }
                                }
                            }
                        }
                    }
                }
            } }
        }
        form.inline method="post" action="/ui/security/trusted" id="add-trusted" {
            (csrf_field(viewer))
            label { "Network (192.168.10.0/24, fd00::/8, or one address)" input name="cidr" required; }
            label { "Note" input name="note" placeholder="the branch office's NAT"; }
            button type="submit" { "Trust" }
        }
    }
}

fn said(e: &ApiError) -> (StatusCode, String) {
    match e {
        ApiError::BadRequest(why) => (StatusCode::UNPROCESSABLE_ENTITY, why.clone()),
        ApiError::Conflict(why) => (StatusCode::CONFLICT, why.clone()),
        ApiError::NotFound(why) => (StatusCode::NOT_FOUND, why.clone()),
        other => {
            tracing::warn!(error = ?other, "web UI: a trusted network change failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "the box could not do this; its log says why".to_owned())
        }
    }
}

#[derive(Deserialize)]
struct AddForm {
    #[serde(default)]
    cidr: String,
    #[serde(default)]
    note: String,
}

/// `POST /ui/security/trusted`
async fn add(State(app): State<AppState>, posted: Posted<AddForm>) -> Result<Response, UiError> {
    let Posted { viewer, form } = posted;
    let actor = format!("ui:{}", viewer.username);
    let (code, shown) = match crate::api::trusted::add(&app, &form.cidr, &form.note, &actor).await {
        Ok(net) => (StatusCode::OK, notice(true, &format!("{net} is trusted: never rate-limited or banned."))),
        Err(e) => {
            let (code, why) = said(&e);
            (code, notice(false, &format!("Not trusted: {why}.")))
        }
    };
    Ok(super::security::render(&app, &viewer, code, Some(shown)).await)
}

#[derive(Deserialize)]
struct RemoveForm {
    #[serde(default)]
    cidr: String,
}

/// `POST /ui/security/trusted/remove`
async fn remove(State(app): State<AppState>, posted: Posted<RemoveForm>) -> Result<Response, UiError> {
    let Posted { viewer, form } = posted;
    let actor = format!("ui:{}", viewer.username);
    let (code, shown) = match crate::api::trusted::remove(&app, &form.cidr, &actor).await {
        Ok(()) => (StatusCode::OK, notice(true, &format!("{} is no longer trusted.", form.cidr.trim()))),
        Err(e) => {
            let (code, why) = said(&e);
            (code, notice(false, &format!("Not removed: {why}.")))
        }
    };
    Ok(super::security::render(&app, &viewer, code, Some(shown)).await)
}
