//! The routes page: each tenant's outbound and inbound routes (read-only), and a route tester
//! that says where a number dialled from an extension goes, and why.
//!
//! The tester asks `routing::route_in`, the pure function the B2BUA asks for every call, with
//! the stored site config and the SIP core's live situation (trunk states, survivable mode,
//! the site's clock), so its answer is the one a call placed now would get. It changes
//! nothing, so it is a GET form (bookmarkable, no CSRF token needed, no resubmission).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::page::{self, Nav};
use super::phones::{line_value, parse_line};
use super::session::Admin;
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

fn route_tables(doc: &SiteDoc) -> Markup {
    html! {
        @for t in &doc.tenants {
            section.card data-tenant=(t.name) {
                h2 { "Tenant " (t.name) }
                h3 { "Outbound" }
                div.scroll { table.outbound {
                    thead { tr { th { "Route" } th { "Pattern" } th { "Trunks, in order" } th { "Strip" } th { "Prepend" } } }
                    tbody {
                        @for r in &t.outbound_routes {
                            tr {
                                td { (r.name) } td { code { (r.pattern) } }
                                td { (r.trunks.iter().map(|x| x.name()).collect::<Vec<_>>().join(", ")) }
                                td { (r.strip) } td { (r.prepend) }
                            }
                        }
                    }
                } }
                @if t.outbound_routes.is_empty() { p.hint { "No outbound routes." } }
                h3 { "Inbound" }
                div.scroll { table.inbound {
                    thead { tr { th { "DID" } th { "Goes to" } th { "Caller" } th { "Days" } th { "Hours" } } }
                    tbody {
                        @for r in &t.inbound_routes {
                            tr {
                                td { (r.did) } td { (r.destination) }
                                td { (r.caller.as_deref().unwrap_or("any")) }
                                td { @if r.days.is_empty() { "every day" } @else { (r.days.join(", ")) } }
                                td { (r.hours.as_deref().unwrap_or("all day")) }
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
    let doc = app.store.call(|s| s.export_site()).await?;
    let number = test.number.trim().to_owned();
    let shown = match parse_line(&test.from) {
        Some((tenant, caller)) if !number.is_empty() => {
            let situation: Situation = app.sip.as_ref().map(|s| s.core().situation.clone()).unwrap_or_default();
            let decision = route_in(&doc, &CallRequest { tenant, caller, dialled: &number }, &situation);
            Some(result(&outcome(&decision), &number))
        }
        _ => None,
    };
    let body = html! {
        main #routes-page {
            h1 { "Routes" }
            (tester(&doc, &test))
            @if let Some(r) = shown { (r) }
            (route_tables(&doc))
        }
    };
    Ok(page::document("Routes", Some(&viewer), Nav::Routes, body).into_response())
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
