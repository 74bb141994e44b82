//! Claim codes: make one for a tenant (a new box, or the replacement of a known one) and list
//! them. A code is shown once, on the page that made it; only its hash is kept
//! (`store::boxes`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::page::{self, csrf_field, Nav};
use super::session::{Posted, Viewer};
use crate::api::App;
use crate::store::boxes::NewClaim;

fn render(app: &App, viewer: &Viewer, made: Option<&NewClaim>, error: Option<&str>, code: StatusCode) -> Response {
    let now = crate::store::now();
    let (claims, boxes) = match app.store.claim_views(100).and_then(|c| Ok((c, app.store.claimed_boxes()?))) {
        Ok(v) => v,
        Err(e) => return page::store_failed(e),
    };
    let made_card: Markup = match made {
        Some(m) => html! {
            section.card.made #made {
                h2 { "Claim code for " (m.box_id) }
                p.code #claim-code { (m.code) }
                p.hint {
                    "Enter it on the box (its console or first-boot page) before " (page::utc(m.expires_at))
                    ". It is shown only now: the fleet keeps its hash, not the code."
                }
            }
        },
        None => html! {},
    };
    let body = html! {
        main #claims-page {
            h1 { "Claim codes" }
            @if let Some(e) = error { (page::notice(false, e)) }
            (made_card)
            form.card #new-claim method="post" action="/claims" {
                h2 { "New code" }
                (csrf_field(viewer))
                label { "Tenant" input name="tenant" required pattern="[a-z0-9_\\-]{1,64}" placeholder="acme"; }
                label { "Replaces"
                    select name="replaces" {
                        option value="" { "nothing: a new box" }
                        @for (id, tenant) in &boxes { option value=(id) { (id) " (" (tenant) ")" } }
                    }
                }
                p.hint { "A replacement takes over the dead box's identity and restores its newest backup." }
                button type="submit" { "Make a code" }
            }
            section.card {
                h2 { "Codes" }
                @if claims.is_empty() { p.hint { "No code made yet." } }
                @else { div.scroll { table #claims {
                    thead { tr { th { "Box" } th { "Tenant" } th { "Replaces" } th { "By" } th { "Made" } th { "State" } } }
                    tbody { @for c in &claims { tr data-box=(c.box_id) {
                        td data-label="Box" { (c.box_id) }
                        td data-label="Tenant" { (c.tenant) }
                        td data-label="Replaces" { (c.replaces.as_deref().unwrap_or("—")) }
                        td data-label="By" { (c.created_by) }
                        td data-label="Made" { (page::utc(c.created_at)) }
                        td data-label="State" {
                            @if let Some(at) = c.used_at { span.state.online { "used " (page::ago(now, at)) } }
                            @else if c.expires_at <= now { span.state.offline { "expired" } }
                            @else { span.state.unknown { "open until " (page::utc(c.expires_at)) } }
                        }
                    } } }
                } } }
            }
        }
    };
    (code, page::document("Claim codes", Some(viewer), Nav::Claims, body)).into_response()
}

/// `GET /claims`
pub async fn page(State(app): State<App>, viewer: Viewer) -> Response {
    render(&app, &viewer, None, None, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct ClaimForm {
    tenant: String,
    #[serde(default)]
    replaces: String,
}

/// `POST /claims`: through `FleetStore::create_claim`, like `POST /api/v1/claims`.
pub async fn create(State(app): State<App>, posted: Posted<ClaimForm>) -> Response {
    let Posted { viewer, form } = posted;
    let replaces = Some(form.replaces.trim()).filter(|r| !r.is_empty());
    match app.store.create_claim(form.tenant.trim(), replaces, &viewer.name, crate::store::now()) {
        Ok(Ok(made)) => {
            tracing::info!(box_id = made.box_id, user = viewer.name, "claim code made from the dashboard");
            render(&app, &viewer, Some(&made), None, StatusCode::OK)
        }
        Ok(Err(e)) => render(&app, &viewer, None, Some(&e.to_string()), StatusCode::UNPROCESSABLE_ENTITY),
        Err(e) => page::store_failed(e),
    }
}
