//! Trunks with their live health (state, why, round trip, registration, calls up), add, delete.

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;

use super::dashboard::role_name;
use super::extensions::tenant_select;
use super::page::{self, csrf_field, Nav, Outcome};
use super::session::{Admin, Csrf, Posted};
use super::{tenant_mut, Refused, Ui};
use crate::site::{Transport, Trunk, TrunkHealth, TrunkRole};
use crate::trunk::register::RegState;

pub fn routes() -> Router<Ui> {
    Router::new().route("/ui/trunks", get(list).post(add)).route("/ui/trunks/delete", post(delete))
}

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
        Transport::Tls => "tls",
    }
}

fn registration(r: &RegState, tz: &str) -> String {
    match r {
        RegState::NotNeeded => "not needed".into(),
        RegState::Trying => "trying".into(),
        RegState::Registered { until_unix } => format!("registered until {}", super::when(*until_unix, tz)),
        RegState::Failed { reason, .. } => format!("failed: {reason}"),
    }
}

async fn list(State(ui): State<Ui>, who: Admin) -> Response {
    render(&ui, &who, Outcome::default()).await
}

async fn render(ui: &Ui, who: &Admin, outcome: Outcome) -> Response {
    let doc = match super::current(ui).await {
        Ok(d) => d,
        Err(r) => return super::internal(r.lines().join("; ")),
    };
    let tz = doc.site.time_zone.clone();
    let (status, channels) = match &ui.app.sip {
        Some(sip) => {
            let core = sip.core();
            (core.trunks.status(), core.b2bua.trunk_channels())
        }
        None => (Vec::new(), Default::default()),
    };
    let csrf = who.csrf();
    let first = doc.tenants.first().map_or("", |t| t.name.as_str());
    let body = html! {
        (outcome.markup())
        div.scroll { table #trunks {
            thead { tr { th { "Trunk" } th { "Role" } th { "Peer" } th { "State" } th { "Since" } th { "Round trip" }
                         th { "Registration" } th { "Calls" } th { "Why" } th {} } }
            tbody {
                @for t in &doc.tenants { @for k in &t.trunks {
                    @let s = status.iter().find(|s| s.key.tenant == t.name && s.key.name == k.name);
                    @let used = channels.iter().find(|((tt, n), _)| *tt == t.name && *n == k.name).map_or(0, |(_, c)| *c);
                    tr data-trunk=(format!("{}-{}", t.name, k.name)) {
                        td { (t.name) "/" (k.name) } td { (role_name(k.role)) }
                        td { (transport_name(k.transport)) ":" (k.host) @if let Some(p) = k.port { ":" (p) } }
                        @if let Some(s) = s {
                            td { span class=(format!("state {}", match s.state.as_str() { "up" => "good", "down" => "bad", _ => "" })) { (s.state.as_str()) } }
                            td { (super::when(s.since_unix, &tz)) }
                            td { (s.last_rtt_ms.map(|r| format!("{r} ms")).unwrap_or_default()) }
                            td { (registration(&s.registration, &tz)) }
                            td { (used) " / " (k.max_channels) }
                            td { (s.reason) }
                        } @else {
                            td { "–" } td {} td {} td {} td { (used) " / " (k.max_channels) } td { "not probed yet" }
                        }
                        td { form method="post" action="/ui/trunks/delete" data-confirm="Delete this trunk?" {
                            (csrf_field(&csrf))
                            input type="hidden" name="tenant" value=(t.name);
                            input type="hidden" name="name" value=(k.name);
                            button.danger type="submit" { "Delete" }
                        } }
                    }
                } }
            }
        } }
        form.card.inline method="post" action="/ui/trunks" {
            h2 { "Add a trunk" }
            (csrf_field(&csrf))
            label { "Tenant" (tenant_select(&doc, "tenant", first)) }
            label { "Name" input type="text" name="name" required; }
            label { "Role" select name="role" { option value="cloud" { "cloud PBX" } option value="fallback" { "fallback" } } }
            label { "Host (address or DNS name)" input type="text" name="host" required; }
            label { "Port (blank: DNS SRV)" input type="number" name="port" min="1" max="65535"; }
            label { "Transport" select name="transport" { option value="udp" { "UDP" } option value="tcp" { "TCP" } option value="tls" { "TLS" } } }
            label { "User name (blank: the peer trusts our address)" input type="text" name="username" autocomplete="off"; }
            label { "Secret" input type="password" name="secret" autocomplete="new-password"; }
            label { "Caller ID" input type="text" name="caller_id"; }
            label { "Channels" input type="number" name="max_channels" value="30" min="1"; }
            button type="submit" { "Add" }
        }
        p.hint { "Probe timing, codecs, registration and rewrites: see docs/trunks.md (site config or API)." }
    };
    page::render_status(outcome.status(), page::shell("Trunks", Nav::Admin("trunks"), Some(&csrf), body))
}

async fn add(State(ui): State<Ui>, Posted(who, form): Posted<Admin>) -> Response {
    let port = match form.get("port") {
        "" => None,
        p => p.parse().ok(),
    };
    let trunk = Trunk {
        name: form.get("name").to_owned(),
        role: if form.get("role") == "cloud" { TrunkRole::Cloud } else { TrunkRole::Fallback },
        host: form.get("host").to_owned(),
        port,
        transport: match form.get("transport") {
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            _ => Transport::Udp,
        },
        username: form.opt("username"),
        secret: form.opt("secret"),
        register: None,
        domain: None,
        caller_id: form.opt("caller_id"),
        codecs: Vec::new(),
        max_channels: form.get("max_channels").parse().unwrap_or(30),
        health: TrunkHealth::default(),
    };
    let tenant = form.get("tenant").to_owned();
    let msg = format!("Trunk {} added.", trunk.name);
    let result = super::write(&ui, who.actor(), move |doc| {
        let t = tenant_mut(doc, &tenant)?;
        if t.trunks.iter().any(|k| k.name == trunk.name) {
            return Err(Refused::Said(format!("trunk {} already exists", trunk.name)));
        }
        t.trunks.push(trunk);
        Ok(())
    })
    .await;
    render(&ui, &who, Outcome::of(result, msg)).await
}

async fn delete(State(ui): State<Ui>, Posted(who, form): Posted<Admin>) -> Response {
    let (tenant, name) = (form.get("tenant").to_owned(), form.get("name").to_owned());
    let msg = format!("Trunk {name} deleted.");
    let result = super::write(&ui, who.actor(), move |doc| {
        tenant_mut(doc, &tenant)?.trunks.retain(|k| k.name != name);
        Ok(())
    })
    .await;
    render(&ui, &who, Outcome::of(result, msg)).await
}
