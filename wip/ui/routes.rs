//! Inbound and outbound routes (list, add, delete) and the route tester: a dialled number goes
//! through `routing::route_in` (or `route_inbound` for a call from a trunk) against the stored
//! site config and the SIP core's live situation (trunk states, survivable mode), with the
//! clock read now; the page shows the decision, why, and the trunk legs or extensions rung.

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::extensions::tenant_select;
use super::page::{self, csrf_field, Nav, Outcome};
use super::session::{Admin, Csrf, Posted};
use super::{tenant_mut, Refused, Ui};
use crate::routing::{self, Avail, CallRequest, Clock, Decision, Situation};
use crate::site::{InboundRoute, OutboundRoute, RouteTrunk, SiteDoc};

pub fn routes() -> Router<Ui> {
    Router::new()
        .route("/ui/routes", get(list))
        .route("/ui/routes/inbound", post(add_inbound))
        .route("/ui/routes/outbound", post(add_outbound))
        .route("/ui/routes/delete", post(delete))
}

#[derive(Deserialize, Default)]
struct Test {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    caller: String,
    #[serde(default)]
    number: String,
    /// `inbound`: a call from a trunk to this DID.
    #[serde(default)]
    from: String,
}

async fn list(State(ui): State<Ui>, who: Admin, Query(test): Query<Test>) -> Response {
    render(&ui, &who, Outcome::default(), test).await
}

/// The situation now: the SIP core's trunk states and mode, the clock in the site's zone.
fn situation(ui: &Ui, doc: &SiteDoc) -> Situation {
    let mut sit = ui.app.sip.as_ref().map(|s| s.core().situation.clone()).unwrap_or_default();
    let tz = jiff::tz::TimeZone::get(&doc.site.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    sit.clock = Clock::at(crate::store::unix_now(), &tz);
    sit
}

fn avail(a: Avail) -> &'static str {
    match a {
        Avail::Up => "up",
        Avail::Down => "down",
        Avail::Full => "full",
    }
}

fn decision(d: &Decision, sit: &Situation) -> Markup {
    html! {
        @match d {
            Decision::Local(plan) => {
                p.decision data-kind="local" { strong { "Rings locally: " } span.why { (plan.why) } }
                ol {
                    @for s in &plan.steps {
                        li { "ring " (s.extensions.join(", "))
                             @if let Some(t) = s.ring_for { " for " (t.as_secs()) " s" } @else { " until answered" } }
                    }
                }
                @if let Some(b) = &plan.on_busy { div.sub { "When busy: " (decision(b, sit)) } }
                @if let Some(n) = &plan.on_no_answer { div.sub { "When not answered: " (decision(n, sit)) } }
            }
            Decision::Trunk(plan) => {
                p.decision data-kind="trunk" { strong { @if plan.emergency { "Emergency call over trunks: " } @else { "Goes out over trunks: " } }
                    span.why { (plan.why) } }
                table.legs {
                    thead { tr { th { "Try" } th { "Trunk" } th { "Number sent" } th { "Trunk now" } } }
                    tbody { @for (i, leg) in plan.legs.iter().enumerate() {
                        tr { td { (i + 1) } td.trunk { (leg.trunk) } td.number { (leg.number) } td { (avail(sit.avail(&leg.tenant, &leg.trunk))) } }
                    } }
                }
            }
            Decision::Reject { code, reason } => {
                p.decision data-kind="reject" { strong { "Refused with " (code) ": " } span.why { (reason) } }
            }
        }
    }
}

async fn render(ui: &Ui, who: &Admin, outcome: Outcome, test: Test) -> Response {
    let doc = match super::current(ui).await {
        Ok(d) => d,
        Err(r) => return super::internal(r.lines().join("; ")),
    };
    let csrf = who.csrf();
    let first = doc.tenants.first().map_or("", |t| t.name.as_str()).to_owned();
    let tenant = if test.tenant.is_empty() { first.clone() } else { test.tenant.clone() };
    let result = (!test.number.is_empty()).then(|| {
        let sit = situation(ui, &doc);
        let d = if test.from == "inbound" {
            routing::route_inbound(&doc, &tenant, &test.caller, &test.number, &sit)
        } else {
            routing::route_in(&doc, &CallRequest { tenant: &tenant, caller: &test.caller, dialled: &test.number }, &sit)
        };
        let mode = if sit.survivable { "in survivable mode" } else { "in normal mode" };
        (d, sit, mode)
    });
    let body = html! {
        (outcome.markup())
        section.card #route-tester {
            h2 { "Test a number" }
            form.inline method="get" action="/ui/routes" {
                label { "Tenant" (tenant_select(&doc, "tenant", &tenant)) }
                label { "Caller" input type="text" name="caller" value=(test.caller) placeholder="101" inputmode="tel"; }
                label { "Number dialled" input type="text" name="number" value=(test.number) required inputmode="tel"; }
                label { "Call" select name="from" {
                    option value="phone" selected[test.from != "inbound"] { "from a phone" }
                    option value="inbound" selected[test.from == "inbound"] { "from a trunk (DID)" } } }
                button type="submit" { "Test" }
            }
            @if let Some((d, sit, mode)) = &result {
                div #route-result {
                    p.hint { (test.number) " from " (if test.caller.is_empty() { "nobody" } else { &test.caller }) ", " (mode) ", now:" }
                    (decision(d, sit))
                }
            }
        }
        section.card {
            h2 { "Outbound routes" }
            div.scroll { table #outbound {
                thead { tr { th { "Name" } th { "Pattern" } th { "Trunks" } th { "Strip" } th { "Prepend" } th { "Tenant" } th {} } }
                tbody { @for t in &doc.tenants { @for r in &t.outbound_routes {
                    tr { td { (r.name) } td { code { (r.pattern) } } td { (r.trunks.iter().map(|k| k.name()).collect::<Vec<_>>().join(" → ")) }
                         td { (r.strip) } td { (r.prepend) } td { (t.name) }
                         td { (delete_button(&csrf, &t.name, "outbound", &r.name)) } }
                } } }
            } }
            form.inline method="post" action="/ui/routes/outbound" {
                (csrf_field(&csrf))
                label { "Tenant" (tenant_select(&doc, "tenant", &first)) }
                label { "Name" input type="text" name="name" required; }
                label { "Pattern" input type="text" name="pattern" placeholder="0ZX." required; }
                label { "Trunks in order (comma-separated)" input type="text" name="trunks" required; }
                label { "Strip" input type="number" name="strip" value="0" min="0"; }
                label { "Prepend" input type="text" name="prepend"; }
                button type="submit" { "Add" }
            }
        }
        section.card {
            h2 { "Inbound routes" }
            div.scroll { table #inbound {
                thead { tr { th { "DID" } th { "Destination" } th { "Caller" } th { "Days" } th { "Hours" } th { "Tenant" } th {} } }
                tbody { @for t in &doc.tenants { @for r in &t.inbound_routes {
                    tr { td { (r.did) } td { (r.destination) } td { (r.caller.as_deref().unwrap_or("any")) }
                         td { (if r.days.is_empty() { "every day".to_owned() } else { r.days.join(" ") }) }
                         td { (r.hours.as_deref().unwrap_or("all day")) } td { (t.name) }
                         td { (delete_button(&csrf, &t.name, "inbound", &r.did)) } }
                } } }
            } }
            form.inline method="post" action="/ui/routes/inbound" {
                (csrf_field(&csrf))
                label { "Tenant" (tenant_select(&doc, "tenant", &first)) }
                label { "DID" input type="text" name="did" required inputmode="tel"; }
                label { "Destination" input type="text" name="destination" required inputmode="tel"; }
                label { "Only callers matching" input type="text" name="caller"; }
                label { "Days (mon … sun)" input type="text" name="days" placeholder="mon tue wed thu fri"; }
                label { "Hours" input type="text" name="hours" placeholder="08:00-18:00"; }
                button type="submit" { "Add" }
            }
        }
    };
    page::render_status(outcome.status(), page::shell("Routes", Nav::Admin("routes"), Some(&csrf), body))
}

fn delete_button(csrf: &str, tenant: &str, kind: &str, key: &str) -> Markup {
    html! {
        form method="post" action="/ui/routes/delete" data-confirm="Delete this route?" {
            (csrf_field(csrf))
            input type="hidden" name="tenant" value=(tenant);
            input type="hidden" name="kind" value=(kind);
            input type="hidden" name="key" value=(key);
            button.danger type="submit" { "Delete" }
        }
    }
}

fn words(s: &str) -> Vec<String> {
    s.split([',', ' ']).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

async fn add_inbound(State(ui): State<Ui>, Posted(who, form): Posted<Admin>) -> Response {
    let route = InboundRoute {
        did: form.get("did").to_owned(),
        destination: form.get("destination").to_owned(),
        caller: form.opt("caller"),
        days: words(form.get("days")),
        hours: form.opt("hours"),
    };
    let tenant = form.get("tenant").to_owned();
    let msg = format!("Inbound route for {} added.", route.did);
    let result = super::write(&ui, who.actor(), move |doc| {
        tenant_mut(doc, &tenant)?.inbound_routes.push(route);
        Ok(())
    })
    .await;
    render(&ui, &who, Outcome::of(result, msg), Test::default()).await
}

async fn add_outbound(State(ui): State<Ui>, Posted(who, form): Posted<Admin>) -> Response {
    let route = OutboundRoute {
        name: form.get("name").to_owned(),
        pattern: form.get("pattern").to_owned(),
        trunks: words(form.get("trunks")).into_iter().map(RouteTrunk::Name).collect(),
        strip: form.get("strip").parse().unwrap_or(0),
        prepend: form.get("prepend").to_owned(),
    };
    let tenant = form.get("tenant").to_owned();
    let msg = format!("Outbound route {} added.", route.name);
    let result = super::write(&ui, who.actor(), move |doc| {
        let t = tenant_mut(doc, &tenant)?;
        if t.outbound_routes.iter().any(|r| r.name == route.name) {
            return Err(Refused::Said(format!("outbound route {} already exists", route.name)));
        }
        t.outbound_routes.push(route);
        Ok(())
    })
    .await;
    render(&ui, &who, Outcome::of(result, msg), Test::default()).await
}

async fn delete(State(ui): State<Ui>, Posted(who, form): Posted<Admin>) -> Response {
    let (tenant, kind, key) = (form.get("tenant").to_owned(), form.get("kind").to_owned(), form.get("key").to_owned());
    let msg = format!("Route {key} deleted.");
    let result = super::write(&ui, who.actor(), move |doc| {
        let t = tenant_mut(doc, &tenant)?;
        match kind.as_str() {
            // Every route of that DID (several may differ by caller, days or hours).
            "inbound" => t.inbound_routes.retain(|r| r.did != key),
            _ => t.outbound_routes.retain(|r| r.name != key),
        }
        Ok(())
    })
    .await;
    render(&ui, &who, Outcome::of(result, msg), Test::default()).await
}
