//! The dashboard: phones registered or not, calls in progress with their media figures, trunk
//! states and survivable mode, DHCP leases and alerts. The page is rendered whole once; then
//! `app.js` polls `/ui/status.json` every 2 s and updates it in place (no reloads).

use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use maud::{html, Markup};
use serde::Serialize;

use super::page::{self, Nav};
use super::session::{Admin, Csrf, User};
use super::{Refused, Ui};
use crate::dhcp::{DhcpStatus, LeaseState};
use crate::site::TrunkRole;

#[derive(Serialize)]
pub struct PhoneRow {
    pub id: String,
    pub tenant: String,
    pub number: String,
    pub name: String,
    pub registered: bool,
    pub contact: String,
    pub agent: String,
}

#[derive(Serialize)]
pub struct CallRow {
    pub call: String,
    pub duration: String,
    pub loss: String,
    pub jitter: String,
}

#[derive(Serialize)]
pub struct TrunkRow {
    pub tenant: String,
    pub name: String,
    pub role: &'static str,
    pub state: &'static str,
    pub reason: String,
    pub since: String,
    pub rtt: String,
}

#[derive(Serialize)]
pub struct Snapshot {
    pub registered: usize,
    pub unregistered: usize,
    pub phones: Vec<PhoneRow>,
    pub calls_active: usize,
    pub calls: Vec<CallRow>,
    pub trunks: Vec<TrunkRow>,
    pub survivable: bool,
    pub mode: String,
    pub leases: usize,
    pub dhcp: String,
    pub alerts: Vec<String>,
    pub revision: u64,
}

pub fn role_name(role: TrunkRole) -> &'static str {
    match role {
        TrunkRole::Cloud => "cloud",
        TrunkRole::Fallback => "fallback",
    }
}

/// Everything the dashboard shows, read now.
pub async fn snapshot(ui: &Ui) -> Result<Snapshot, Refused> {
    let doc = super::current(ui).await?;
    let now = crate::store::unix_now();
    let bindings = ui.app.store.call(move |s| s.bindings(now)).await?;
    let leases = ui.app.store.call(|s| s.leases()).await?;
    let tz = doc.site.time_zone.clone();
    let mut phones = Vec::new();
    for t in &doc.tenants {
        for x in &t.extensions {
            let b = bindings.iter().find(|b| b.tenant == t.name && b.aor == x.number);
            phones.push(PhoneRow {
                id: format!("{}-{}", t.name, x.number),
                tenant: t.name.clone(),
                number: x.number.clone(),
                name: x.name.clone(),
                registered: b.is_some(),
                contact: b.map(|b| b.source.clone()).unwrap_or_default(),
                agent: b.map(|b| b.user_agent.clone()).unwrap_or_default(),
            });
        }
    }
    let registered = phones.iter().filter(|p| p.registered).count();
    let mut alerts = Vec::new();
    let (mut trunks, mut survivable, mut mode, mut calls_active) = (Vec::new(), false, String::new(), 0);
    if let Some(sip) = &ui.app.sip {
        let core = sip.core();
        calls_active = core.b2bua.active();
        for s in core.trunks.status() {
            trunks.push(TrunkRow {
                tenant: s.key.tenant.clone(),
                name: s.key.name.clone(),
                role: role_name(s.role),
                state: s.state.as_str(),
                reason: s.reason.clone(),
                since: super::when(s.since_unix, &tz),
                rtt: s.last_rtt_ms.map(|r| format!("{r} ms")).unwrap_or_default(),
            });
        }
        let m = core.trunks.mode();
        survivable = m.survivable;
        let since = m.since_unix.map(|s| format!(" since {}", super::when(s, &tz))).unwrap_or_default();
        mode = if m.survivable {
            format!("survivable{since}: {}", m.reason)
        } else {
            format!("normal{since}{}", if m.reason.is_empty() { String::new() } else { format!(": {}", m.reason) })
        };
        for ban in core.defence.bans(Instant::now()) {
            alerts.push(format!("SIP: {} banned for {} s more ({})", ban.address, ban.seconds_left, ban.reason));
        }
    } else {
        mode = "SIP is not running".into();
    }
    for t in trunks.iter().filter(|t| t.state == "down") {
        alerts.push(format!("Trunk {}/{} is down: {}", t.tenant, t.name, t.reason));
    }
    if survivable {
        alerts.push(format!("Survivable mode: {mode}"));
    }
    if let Some(p) = &ui.app.provisioning {
        for ban in p.bans() {
            alerts.push(format!("Provisioning: {} banned for {} s more (MAC scan)", ban.address, ban.seconds_left));
        }
    }
    let dhcp = ui.app.dhcp.as_ref().map(|d| d.status());
    if let Some(DhcpStatus::Refused { .. }) = dhcp {
        alerts.push(super::setup::dhcp_words(dhcp.as_ref().unwrap_or(&DhcpStatus::Off { reason: String::new() })).1);
    }
    let calls = ui
        .app
        .media
        .as_ref()
        .map(|m| {
            m.all()
                .into_iter()
                .map(|(_, c)| CallRow {
                    call: c.call.clone(),
                    duration: format!("{:.0} s", c.duration_secs),
                    loss: format!("{} / {}", c.a.received.lost, c.b.received.lost),
                    jitter: format!("{:.1} / {:.1} ms", c.a.received.jitter_ms, c.b.received.jitter_ms),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Snapshot {
        registered,
        unregistered: phones.len() - registered,
        phones,
        calls_active,
        calls,
        trunks,
        survivable,
        mode,
        leases: leases.iter().filter(|l| l.state == LeaseState::Bound && l.expires_at > now).count(),
        dhcp: dhcp.map_or("DHCP is not running".into(), |d| super::setup::dhcp_words(&d).1),
        alerts,
        revision: doc.revision.unwrap_or(0),
    })
}

pub async fn status(State(ui): State<Ui>, _: Admin) -> Response {
    match snapshot(&ui).await {
        Ok(s) => Json(s).into_response(),
        Err(r) => super::internal(r.lines().join("; ")),
    }
}

/// `/ui/`: the dashboard for an admin, the portal for a phone user.
pub async fn home(State(ui): State<Ui>, user: Option<User>, admin: Result<Admin, Response>) -> Response {
    let admin = match (admin, user) {
        (Ok(a), _) => a,
        (Err(_), Some(_)) => return Redirect::to("/ui/me").into_response(),
        (Err(r), None) => return r,
    };
    let snap = match snapshot(&ui).await {
        Ok(s) => s,
        Err(r) => return super::internal(r.lines().join("; ")),
    };
    let body = html! {
        div.tiles {
            div.tile.good { span.big data-live="registered" { (snap.registered) } " registered" }
            div.tile.bad { span.big data-live="unregistered" { (snap.unregistered) } " not registered" }
            div.tile { span.big data-live="calls_active" { (snap.calls_active) } " calls in progress" }
            div.tile { span.big data-live="leases" { (snap.leases) } " DHCP leases" }
            div.tile class=[snap.survivable.then_some("bad")] #mode-tile { "Mode: " span data-live="mode" { (snap.mode) } }
        }
        section.card {
            h2 { "Alerts" }
            ul #alerts { @for a in &snap.alerts { li { (a) } } }
            p.hint #no-alerts hidden[!snap.alerts.is_empty()] { "No alerts." }
        }
        section.card {
            h2 { "Phones" }
            div.scroll { table #phones {
                thead { tr { th { "Extension" } th { "Name" } th { "Tenant" } th { "State" } th { "From" } th { "Phone" } } }
                tbody { @for p in &snap.phones { (phone_row(p)) } }
            } }
        }
        section.card {
            h2 { "Calls in progress" }
            div.scroll { table #calls {
                thead { tr { th { "Call" } th { "Duration" } th { "Lost (A / B)" } th { "Jitter (A / B)" } } }
                tbody { @for c in &snap.calls { tr { td { (c.call) } td { (c.duration) } td { (c.loss) } td { (c.jitter) } } } }
            } }
        }
        section.card {
            h2 { "Trunks" }
            div.scroll { table #trunks {
                thead { tr { th { "Trunk" } th { "Role" } th { "State" } th { "Since" } th { "Round trip" } th { "Why" } } }
                tbody { @for t in &snap.trunks { (trunk_row(t)) } }
            } }
            p.hint { (snap.dhcp) }
        }
        p.hint { "Updated live every 2 s · site config revision " span data-live="revision" { (snap.revision) } }
    };
    let markup = page::shell("Dashboard", Nav::Admin("dashboard"), Some(&admin.csrf()), html! {
        div #dashboard data-poll="/ui/status.json" { (body) }
    });
    page::render(markup)
}

pub fn phone_row(p: &PhoneRow) -> Markup {
    let state = if p.registered { "registered" } else { "not registered" };
    html! {
        tr data-phone=(p.id) {
            td { (p.number) } td { (p.name) } td { (p.tenant) }
            td { span class=(if p.registered { "state good" } else { "state bad" }) { (state) } }
            td { (p.contact) } td { (p.agent) }
        }
    }
}

pub fn trunk_row(t: &TrunkRow) -> Markup {
    html! {
        tr data-trunk=(format!("{}-{}", t.tenant, t.name)) {
            td { (t.tenant) "/" (t.name) } td { (t.role) }
            td { span class=(format!("state {}", if t.state == "up" { "good" } else if t.state == "down" { "bad" } else { "" })) { (t.state) } }
            td { (t.since) } td { (t.rtt) } td { (t.reason) }
        }
    }
}
