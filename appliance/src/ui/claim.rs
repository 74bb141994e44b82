//! Claiming the box into a cloud fleet from the web UI: the "Cloud" card of the system page,
//! and the optional claim code of the first-boot setup.
//!
//! It is `outpost cloud claim` run by the daemon (`sync::claim::claim`): the one-time code
//! is redeemed at the fleet, the answer (box id, broker and credentials) kept in
//! `<data>/cloud-claim.json`, and for the replacement of a dead box its latest backup fetched
//! and staged. The daemon reads the claim when it starts, so the box connects to the fleet at
//! its next start; the card says so until then. The credentials are never shown.

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
use crate::api::AppState;
use crate::sync::claim::{self, Claim};

pub fn routes() -> Router<AppState> {
    Router::new().route("/ui/system/claim", post(submit))
}

/// The claim form's fields (the setup form carries them too).
#[derive(Debug, Default, Deserialize)]
pub struct ClaimFields {
    /// The fleet's address, `https://fleet.example.net`.
    #[serde(default)]
    pub fleet: String,
    #[serde(default)]
    pub code: String,
}

fn claimed(app: &AppState) -> Option<Claim> {
    app.data_dir.as_deref().and_then(|d| claim::load(d).ok().flatten())
}

/// Redeems `f.code` at `f.fleet`; what happened, in words, for the page.
pub async fn claim_now(app: &AppState, f: &ClaimFields, actor: &str) -> (StatusCode, Markup) {
    let Some(dir) = app.data_dir.clone() else {
        return (StatusCode::NOT_FOUND, notice(false, "Not claimed: this box has no data directory."));
    };
    let (fleet, code) = (f.fleet.trim().to_owned(), f.code.trim().to_owned());
    match claim::claim(&dir, &fleet, &code, None).await {
        Ok(done) => {
            let c = &done.claim;
            tracing::warn!(box_id = %c.box_id, tenant = %c.tenant, fleet = %c.fleet, by = %actor, "box claimed in the web UI");
            let detail = format!("claimed as `{}` in tenant `{}` at {}", c.box_id, c.tenant, c.fleet);
            let (who, what) = (actor.to_owned(), detail.clone());
            if let Err(e) = app.store.call(move |s| s.audit(&who, "cloud.claim", &what)).await {
                tracing::warn!(error = %e, "the claim is not in the audit log");
            }
            let restored = match &done.restored {
                Some((id, revision)) => {
                    format!(" The replaced box's backup {id} (revision {revision}) is staged: it is restored then too.")
                }
                None => String::new(),
            };
            let said = format!(
                "Claimed as {} in tenant {}. The box connects to the fleet at its next start.{restored}",
                c.box_id, c.tenant
            );
            (StatusCode::OK, notice(true, &said))
        }
        Err(e) => {
            tracing::warn!(error = %e, by = %actor, "claim refused");
            (StatusCode::UNPROCESSABLE_ENTITY, notice(false, &format!("Not claimed: {e}.")))
        }
    }
}

/// The claim's fields, for the system page's card and the setup form.
pub fn fields() -> Markup {
    html! {
        label { "Fleet address (https://fleet.example.net)" input name="fleet" type="url" autocomplete="off"; }
        label { "Claim code (from the fleet's Claims page)" input name="code" autocomplete="off"; }
    }
}

/// The system page's "Cloud" card: the claim, or the form to make one.
pub fn card(app: &AppState, viewer: &Viewer) -> Markup {
    let connected = app.backups.as_ref().and_then(|b| b.cloud.clone());
    html! {
        section.card #cloud {
            h2 { "Cloud" }
            @match claimed(app) {
                Some(c) => {
                    dl #claim {
                        dt { "Claimed as" } dd data-f="box" { (c.box_id) }
                        dt { "Tenant" } dd data-f="tenant" { (c.tenant) }
                        dt { "Fleet" } dd data-f="fleet" { (c.fleet) }
                        dt { "Since" } dd { (utc(c.claimed_at)) }
                        @if let Some(old) = &c.replaces { dt { "Replaces" } dd { (old) } }
                    }
                    @match connected {
                        Some(broker) => p data-f="link" { "Syncing with the fleet's broker " code { (broker) } "." },
                        None => p.notice.refused data-f="link" { "Not connected yet: the box connects to the fleet at its next start (Reboot, below)." },
                    }
                }
                None => {
                    @if let Some(broker) = connected {
                        p data-f="link" { "Syncing with " code { (broker) } " as " code { "[cloud]" } " in outpost.toml says." }
                    } @else {
                        p.hint { "Not claimed. Make a claim code on the fleet's Claims page, then enter it here: the box gets its identity and broker credentials from the fleet." }
                        form method="post" action="/ui/system/claim" id="claim-form" {
                            (csrf_field(viewer))
                            (fields())
                            button type="submit" { "Claim" }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /ui/system/claim`
async fn submit(State(app): State<AppState>, posted: Posted<ClaimFields>) -> Response {
    let Posted { viewer, form } = posted;
    let (code, shown) = claim_now(&app, &form, &format!("ui:{}", viewer.username)).await;
    super::system::render(&app, &viewer, code, Some(shown))
}
