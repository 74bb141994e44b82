//! The routes page: each tenant's outbound and inbound routes in the order they are tried,
//! with their edit and move-up actions and the add forms (`route_forms`), and a route tester
//! that says where a number dialled from an extension goes, and why.
//!
//! The tester asks `routing::route_in`, the pure function the B2BUA asks for every call, with
//! the stored site config and the SIP core's live situation (trunk states, survivable mode,
//! the site's clock), so its answer is the one a call placed now would get. It changes
//! nothing, so it is a GET form (bookmarkable, no CSRF token needed, no resubmission).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::page::{self, Nav};
use super::phones::{line_value, parse_line};
use super::route_forms::{add_forms, row_actions};
use super::session::{Admin, Viewer};
use super::UiError;
use crate::api::AppState;
use crate::routing::{route_in, CallRequest, Decision, Situation};
use crate::site::SiteDoc;

pub fn routes() -> Router<AppState> {
    Router::new().route("/ui/routes", get(page))
}

/// The tester's fields: the calling extension (`tenant/number`) and the number dialled.
#[derive(Debug, Default, Deserialize)]
struct Test {
    #[serde(default)]
    from: String,
    #[serde(default)]
    number: String,
}

/// A routing decision in words: a headline, the trunks with the number each is sent, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub headline: String,
    /// (trunk, number as sent to it), in the order they are tried.
    pub trunks: Vec<(String, String)>,
    pub why: String,
}

/// Puts `decision` in the page's words. A 404 is "No route": nothing on the box takes the number.
pub fn outcome(decision: &Decision) -> Outcome {
    match decision {
        Decision::Trunk(plan) => Outcome {
            headline: if plan.emergency { "Emergency call, out over a trunk" } else { "Out over a trunk" }.to_owned(),
            trunks: plan.legs.iter().map(|l| (l.trunk.clone(), l.number.clone())).collect(),
            why: plan.why.clone(),
        },
        Decision::Local(plan) => Outcome {
            headline: format!("Rings inside: {}", plan.extensions().collect::<Vec<_>>().join(", ")),
            trunks: Vec::new(),
            why: plan.why.clone(),
        },
        Decision::Reject { code: 404, reason } => {
            Outcome { headline: "No route (404)".to_owned(), trunks: Vec::new(), why: reason.clone() }
        }
        Decision::Reject { code, reason } => {
            Outcome { headline: format!("Refused ({code})"), trunks: Vec::new(), why: reason.clone() }
        }
    }
}

fn route_tables(doc: &SiteDoc, viewer: &Viewer) -> Markup {
    html! {
        @for t in &doc.tenants {
            section.card data-tenant=(t.name) {
                h2 { "Tenant " (t.name) }
                h3 { "Outbound, in the order they are tried" }
                div.scroll { table.outbound {
                    thead { tr { th { "Route" } th { "Pattern" } th { "Trunks, in order" } th { "Strip" } th { "Prepend" } th {} } }
                    tbody {
                        @for (i, r) in t.outbound_routes.iter().enumerate() {
                            tr data-route=(r.name) {
                                td { (r.name) } td data-f="pattern" { code { (r.pattern) } }
                                td data-f="trunks" { (r.trunks.iter().map(|x| x.name()).collect::<Vec<_>>().join(", ")) }
                                td data-f="strip" { (r.strip) } td data-f="prepend" { (r.prepend) }
                                td.actions { (row_actions(viewer, &format!("/ui/routes/{}/outbound/{}", t.name, r.name), i == 0, None)) }
                            }
                        }
                    }
                } }
                @if t.outbound_routes.is_empty() { p.hint { "No outbound routes." } }
                h3 { "Inbound, in the order they are tried" }
                div.scroll { table.inbound {
                    thead { tr { th { "DID" } th { "Goes to" } th { "Caller" } th { "Days" } th { "Hours" } th {} } }
                    tbody {
                        @for (i, r) in t.inbound_routes.iter().enumerate() {
                            tr data-did=(r.did) {
                                td { (r.did) } td data-f="destination" { (r.destination) }
                                td data-f="caller" { (r.caller.as_deref().unwrap_or("any")) }
                                td data-f="days" { @if r.days.is_empty() { "every day" } @else { (r.days.join(", ")) } }
                                td data-f="hours" { (r.hours.as_deref().unwrap_or("all day")) }
                                td.actions { (row_actions(viewer, &format!("/ui/routes/{}/inbound/{i}", t.name), i == 0, Some(&r.did))) }
                            }
                        }
                    }
                } }
                @if t.inbound_routes.is_empty() { p.hint { "No inbound routes." } }
            }
        }
    }
}

fn tester(doc: &SiteDoc, test: &Test) -> Markup {
    html! {
        section.card {
            h2 { "Test a number" }
            form.inline method="get" action="/ui/routes" id="route-test" {
                label { "Dialled from" select name="from" {
                    @for t in &doc.tenants {
                        @for x in &t.extensions {
                            @let v = line_value(&t.name, &x.number);
                            option value=(v) selected[v == test.from] { (x.number) " (" (t.name) ")" }
                        }
                    }
                } }
                label { "Number" input name="number" value=(test.number) required inputmode="tel"; }
                button type="submit" { "Test" }
            }
        }
    }
}

fn result(o: &Outcome, number: &str) -> Markup {
    html! {
        section.card #route-result {
            h2 data-f="headline" { (o.headline) }
            dl {
                dt { "Dialled" } dd { code { (number) } }
                dt { "Why" } dd data-f="why" { (o.why) }
            }
            @if !o.trunks.is_empty() {
                table #route-trunks {
                    thead { tr { th { "Trunk" } th { "Number sent" } } }
                    tbody { @for (trunk, sent) in &o.trunks { tr { td data-f="trunk" { (trunk) } td { code { (sent) } } } } }
                }
            }
        }
    }
}

/// `GET /ui/routes[?from=tenant/number&number=...]`
async fn page(
    State(app): State<AppState>,
    Admin(viewer): Admin,
    test: Option<Query<Test>>,
) -> Result<Response, UiError> {
    let test = test.map(|Query(t)| t).unwrap_or_default();
    render_with(&app, &viewer, StatusCode::OK, None, &test).await
}

/// The page after a change of the routes, saying what happened.
pub(super) async fn render(
    app: &AppState,
    viewer: &Viewer,
    code: StatusCode,
    shown: Option<Markup>,
) -> Result<Response, UiError> {
    render_with(app, viewer, code, shown, &Test::default()).await
}

async fn render_with(
    app: &AppState,
    viewer: &Viewer,
    code: StatusCode,
    shown: Option<Markup>,
    test: &Test,
) -> Result<Response, UiError> {
    let doc = app.store.call(|s| s.export_site()).await?;
    let number = test.number.trim().to_owned();
    let tested = match parse_line(&test.from) {
        Some((tenant, caller)) if !number.is_empty() => {
            let situation: Situation = app.sip.as_ref().map(|s| s.core().situation.clone()).unwrap_or_default();
            let decision = route_in(&doc, &CallRequest { tenant, caller, dialled: &number }, &situation);
            Some(result(&outcome(&decision), &number))
        }
        _ => None,
    };
    let owner = super::owner::banner(app).await;
    let body = html! {
        main #routes-page {
            h1 { "Routes" }
            (owner)
            @if let Some(m) = shown { (m) }
            (tester(&doc, test))
            @if let Some(r) = tested { (r) }
            (route_tables(&doc, viewer))
            (add_forms(&doc, viewer))
        }
    };
    Ok((code, page::document("Routes", Some(viewer), Nav::Routes, body)).into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::routing::route;

    fn doc() -> SiteDoc {
        serde_json::from_value(serde_json::json!({"schema": 1, "tenants": [{
            "name": "acme", "domains": [],
            "extensions": [{"number": "201"}],
            "trunks": [{"name": "pstn", "role": "fallback", "host": "192.0.2.5", "transport": "udp"}],
            "outbound_routes": [{"name": "national", "pattern": "0Z.", "trunks": ["pstn"], "strip": 1, "prepend": "+49"}]
        }]}))
        .unwrap()
    }

    #[test]
    fn a_matching_number_names_its_route_and_trunk_and_another_has_no_route() {
        let doc = doc();
        let call = |n| route(&doc, &CallRequest { tenant: "acme", caller: "201", dialled: n });
        let out = outcome(&call("0301234"));
        assert_eq!(out.headline, "Out over a trunk");
        assert_eq!(out.trunks, vec![("pstn".to_owned(), "+49301234".to_owned())]);
        assert!(out.why.contains("outbound route national"), "{}", out.why);
        let none = outcome(&call("555"));
        assert_eq!(none.headline, "No route (404)");
        assert!(none.trunks.is_empty() && none.why.contains("555"), "{none:?}");
        assert_eq!(outcome(&call("abc")).headline, "Refused (484)");
        assert!(outcome(&call("201")).headline.starts_with("Refused (486)"));
    }
}
