//! The trunks page: every trunk of every tenant with what the SIP core sees of it now (state
//! and why, since when, probe round trip, registration, calls up), the site's survivable mode
//! with when it last changed and the recent trunk and mode changes; a form to add a trunk, and
//! per trunk a page to change its peer (host, port, transport) and credentials, or remove it.
//!
//! The live figures are the API's (`api::trunks::rows`, `TrunkManager::mode`, the store's
//! trunk events), read at each page load: the page is what `GET /api/v1/trunks/status` and
//! `GET /api/v1/survivable` say. Every write is an edit of the site document applied by
//! `ui::apply` (the REST API's validation and transaction), so a bad host, a secret without a
//! username or a trunk still named by a route is refused with the site's reason. A trunk's
//! secret is never shown back: its field is empty and left empty keeps the stored one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::dashboard::utc;
use super::page::{self, csrf_field, notice, Nav};
use super::session::{Admin, Nothing, Posted, Viewer};
use super::{apply, UiError};
use crate::api::trunks::TrunkRow;
use crate::api::AppState;
use crate::site::{SiteDoc, Transport, Trunk, TrunkHealth, TrunkRole};
use crate::store::trunk_events::TrunkEventRow;
use crate::trunk::{ModeStatus, RegState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/trunks", get(list).post(add))
        .route("/ui/trunks/:tenant/:name", get(edit_page).post(edit))
        .route("/ui/trunks/:tenant/:name/remove", post(remove))
}

/// Trunk and mode changes the page lists, newest first.
const EVENTS_SHOWN: usize = 15;

/// What the SIP core says now: each trunk's row and the site's mode (`None`: SIP does not run).
fn live(app: &AppState) -> Option<(Vec<TrunkRow>, ModeStatus)> {
    app.sip.as_ref().map(|s| {
        let core = s.core();
        (crate::api::trunks::rows(&core), core.trunks.mode())
    })
}

fn transport_str(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
        Transport::Tls => "tls",
    }
}

fn parse_transport(s: &str) -> Result<Transport, String> {
    match s.trim() {
        "udp" => Ok(Transport::Udp),
        "tcp" => Ok(Transport::Tcp),
        "tls" => Ok(Transport::Tls),
        other => Err(format!("transport: `{other}` is not udp, tcp or tls")),
    }
}

fn role_str(r: TrunkRole) -> &'static str {
    match r {
        TrunkRole::Cloud => "cloud",
        TrunkRole::Fallback => "fallback",
    }
}

fn parse_role(s: &str) -> Result<TrunkRole, String> {
    match s.trim() {
        "cloud" => Ok(TrunkRole::Cloud),
        "fallback" => Ok(TrunkRole::Fallback),
        other => Err(format!("role: `{other}` is not cloud or fallback")),
    }
}

/// The peer and credential fields of both forms.
#[derive(Debug, Default, Deserialize)]
struct Peer {
    host: String,
    #[serde(default)]
    port: String,
    transport: String,
    #[serde(default)]
    username: String,
    /// Empty: the stored secret stays.
    #[serde(default)]
    password: String,
}

/// Puts the form's peer and credentials into `t`. An empty port is none (DNS SRV decides); an
/// empty username removes the credentials (the peer knows the box by address); an empty
/// password keeps the stored secret. Whether the result makes sense is the site's validation's
/// to say.
fn set_peer(t: &mut Trunk, f: &Peer) -> Result<(), String> {
    t.host = f.host.trim().to_owned();
    let port = f.port.trim();
    t.port = if port.is_empty() {
        None
    } else {
        Some(port.parse::<u16>().map_err(|_| format!("port: `{port}` is not a port number (1-65535)"))?)
    };
    t.transport = parse_transport(&f.transport)?;
    let username = f.username.trim();
    if username.is_empty() {
        t.username = None;
        t.secret = None;
    } else {
        t.username = Some(username.to_owned());
        if !f.password.is_empty() {
            t.secret = Some(f.password.clone());
        }
    }
    Ok(())
}

fn find<'a>(doc: &'a SiteDoc, tenant: &str, name: &str) -> Option<&'a Trunk> {
    doc.tenants.iter().find(|t| t.name == tenant)?.trunks.iter().find(|k| k.name == name)
}

fn find_mut<'a>(doc: &'a mut SiteDoc, tenant: &str, name: &str) -> Result<&'a mut Trunk, String> {
    doc.tenants
        .iter_mut()
        .find(|t| t.name == tenant)
        .ok_or_else(|| format!("no tenant `{tenant}`"))?
        .trunks
        .iter_mut()
        .find(|k| k.name == name)
        .ok_or_else(|| format!("no trunk `{name}` in `{tenant}`"))
}

/// Adds `k` to `tenant` unless the name is taken there.
fn add_to(doc: &mut SiteDoc, tenant: &str, k: Trunk) -> Result<(), String> {
    let t = doc.tenants.iter_mut().find(|t| t.name == tenant).ok_or_else(|| format!("no tenant `{tenant}`"))?;
    if t.trunks.iter().any(|x| x.name == k.name) {
        return Err(format!("trunk `{}` already exists", k.name));
    }
    t.trunks.push(k);
    Ok(())
}

/// Takes trunk `name` out of `tenant` (a route still naming it makes the site refuse).
fn remove_from(doc: &mut SiteDoc, tenant: &str, name: &str) -> Result<(), String> {
    let t = doc.tenants.iter_mut().find(|t| t.name == tenant).ok_or_else(|| format!("no tenant `{tenant}`"))?;
    let before = t.trunks.len();
    t.trunks.retain(|k| k.name != name);
    if t.trunks.len() == before {
        return Err(format!("no trunk `{name}` in `{tenant}`"));
    }
    Ok(())
}

fn registration(r: &RegState) -> String {
    match r {
        RegState::NotNeeded => "not needed".to_owned(),
        RegState::Trying => "trying".to_owned(),
        RegState::Registered { until_unix } => format!("registered until {}", utc(*until_unix)),
        RegState::Failed { reason, .. } => format!("failed: {reason}"),
    }
}

fn peer_text(k: &Trunk) -> String {
    match k.port {
        Some(p) => format!("{}:{p} ({})", k.host, transport_str(k.transport)),
        None => format!("{} ({})", k.host, transport_str(k.transport)),
    }
}

fn event_text(e: &TrunkEventRow) -> &str {
    match e.kind.as_str() {
        "up" => "up",
        "down" => "down",
        "registered" => "registered",
        "unregistered" => "registration failed",
        "survivable" => "survivable mode entered",
        "normal" => "survivable mode left",
        other => other,
    }
}

fn mode_card(mode: Option<&ModeStatus>, events: &[TrunkEventRow]) -> Markup {
    let last_mode_change = events.iter().find(|e| e.kind == "survivable" || e.kind == "normal");
    html! {
        section.card #mode {
            h2 { "Survivable mode" }
            @match mode {
                None => p.hint { "SIP does not run on this box." },
                Some(m) => dl {
                    dt { "Mode" }
                    dd data-f="mode" { @if m.survivable { span.badge.down { "survivable" } } @else { span.badge.up { "normal" } } }
                    dt { "Why" } dd data-f="mode-why" { (m.reason) }
                    dt { "Since" }
                    dd data-f="mode-since" { (m.since_unix.map_or_else(|| "the box started".to_owned(), utc)) }
                    dt { "Last changed" }
                    dd data-f="mode-changed" {
                        @match last_mode_change {
                            Some(e) => { (utc(e.at)) " (" (event_text(e)) ")" }
                            None => "never",
                        }
                    }
                },
            }
            @if !events.is_empty() {
                h3 { "Recent changes" }
                div.scroll { table #trunk-events {
                    thead { tr { th { "When" } th { "Trunk" } th { "What" } th { "Why" } } }
                    tbody {
                        @for e in events {
                            tr {
                                td { (utc(e.at)) }
                                td { @match (&e.tenant, &e.trunk) {
                                    (Some(t), Some(n)) => { (n) " (" (t) ")" }
                                    _ => "the site",
                                } }
                                td data-f="what" { (event_text(e)) }
                                td { (e.reason) }
                            }
                        }
                    }
                } }
            }
        }
    }
}

fn trunk_tables(doc: &SiteDoc, rows: Option<&[TrunkRow]>) -> Markup {
    html! {
        @for t in &doc.tenants {
            section.card data-tenant=(t.name) {
                h2 { "Tenant " (t.name) }
                div.scroll { table.trunks {
                    thead { tr {
                        th { "Trunk" } th { "Role" } th { "Peer" } th { "Credentials" } th { "State" }
                        th { "Since" } th { "Probe" } th { "Registration" } th { "Calls" } th {}
                    } }
                    tbody {
                        @for k in &t.trunks {
                            @let row = rows.and_then(|r| r.iter().find(|x| x.tenant == t.name && x.name == k.name));
                            tr data-trunk=(format!("{}/{}", t.name, k.name)) {
                                td { (k.name) }
                                td data-f="role" { (role_str(k.role)) }
                                td data-f="peer" { code { (peer_text(k)) } }
                                td data-f="credentials" { (k.username.as_deref().unwrap_or("none (by address)")) }
                                @match row {
                                    Some(r) => {
                                        td { span class=(format!("badge {}", r.status.state.as_str())) data-f="state" { (r.status.state.as_str()) }
                                             br; span.hint data-f="why" { (r.status.reason) } }
                                        td data-f="since" { (utc(r.status.since_unix)) }
                                        td { (r.status.last_rtt_ms.map_or_else(|| "—".to_owned(), |ms| format!("{ms} ms"))) }
                                        td data-f="registration" { (registration(&r.status.registration)) }
                                        td data-f="channels" { (r.channels) " / " (k.max_channels) }
                                    }
                                    None => {
                                        td { span.badge.unknown data-f="state" { "unknown" }
                                             br; span.hint data-f="why" { @if rows.is_some() { "not started yet" } @else { "SIP does not run" } } }
                                        td { "—" } td { "—" } td { "—" } td { "—" }
                                    }
                                }
                                td { a href=(format!("/ui/trunks/{}/{}", t.name, k.name)) { "Edit" } }
                            }
                        }
                    }
                } }
                @if t.trunks.is_empty() { p.hint { "No trunks." } }
            }
        }
    }
}

fn transport_select(current: Transport) -> Markup {
    html! {
        label { "Transport" select name="transport" {
            @for t in [Transport::Udp, Transport::Tcp, Transport::Tls] {
                option value=(transport_str(t)) selected[t == current] { (transport_str(t).to_uppercase()) }
            }
        } }
    }
}

async fn render(app: &AppState, viewer: &Viewer, code: StatusCode, shown: Option<Markup>) -> Result<Response, UiError> {
    let (doc, mut events) = app.store.call(|s| Ok((s.export_site()?, s.trunk_events(EVENTS_SHOWN)?))).await?;
    events.reverse();
    let live = live(app);
    let owner = super::owner::banner(app).await;
    let body = html! {
        main #trunks-page {
            h1 { "Trunks" }
            (owner)
            @if let Some(m) = shown { (m) }
            (mode_card(live.as_ref().map(|(_, m)| m), &events))
            (trunk_tables(&doc, live.as_ref().map(|(r, _)| r.as_slice())))
            section.card {
                h2 { "Add a trunk" }
                form method="post" action="/ui/trunks" id="new-trunk" {
                    (csrf_field(viewer))
                    label { "Tenant" select name="tenant" {
                        @for t in &doc.tenants { option value=(t.name) { (t.name) } }
                    } }
                    label { "Name (letters, digits, - and _)" input name="name" required; }
                    label { "Role" select name="role" {
                        option value="cloud" { "cloud: the central PBX (its health decides survivable mode)" }
                        option value="fallback" { "fallback: a second provider or a PSTN gateway" }
                    } }
                    label { "Host (address or DNS name)" input name="host" required; }
                    label { "Port (empty: DNS SRV, else 5060 / 5061)" input name="port" inputmode="numeric"; }
                    (transport_select(Transport::Udp))
                    label { "Username (empty: the peer knows the box by its address)" input name="username" autocomplete="off"; }
                    label { "Password" input type="password" name="password" autocomplete="new-password"; }
                    button type="submit" { "Add" }
                }
            }
        }
    };
    Ok((code, page::document("Trunks", Some(viewer), Nav::Trunks, body)).into_response())
}

/// `GET /ui/trunks`
async fn list(State(app): State<AppState>, Admin(viewer): Admin) -> Result<Response, UiError> {
    render(&app, &viewer, StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct NewTrunk {
    tenant: String,
    name: String,
    role: String,
    #[serde(flatten)]
    peer: Peer,
}

/// `POST /ui/trunks`
async fn add(State(app): State<AppState>, posted: Posted<NewTrunk>) -> Result<Response, UiError> {
    let Posted { viewer, form: f } = posted;
    let (tenant, name) = (f.tenant.trim().to_owned(), f.name.trim().to_owned());
    let (t, n) = (tenant.clone(), name.clone());
    let outcome = apply(&app, &viewer.username, move |doc| {
        let mut k = Trunk {
            name: n,
            role: parse_role(&f.role)?,
            host: String::new(),
            port: None,
            transport: Transport::Udp,
            username: None,
            secret: None,
            register: None,
            domain: None,
            caller_id: None,
            codecs: Vec::new(),
            max_channels: 30,
            health: TrunkHealth::default(),
        };
        set_peer(&mut k, &f.peer)?;
        add_to(doc, &t, k)
    })
    .await?;
    match outcome {
        Ok(()) => {
            tracing::info!(user = %viewer.username, %tenant, %name, "trunk added in the web UI");
            render(&app, &viewer, StatusCode::OK, Some(notice(true, &format!("Trunk {name} added.")))).await
        }
        Err(why) => {
            render(&app, &viewer, StatusCode::UNPROCESSABLE_ENTITY, Some(notice(false, &format!("Not added: {why}"))))
                .await
        }
    }
}

async fn render_edit(
    app: &AppState,
    viewer: &Viewer,
    tenant: &str,
    name: &str,
    code: StatusCode,
    shown: Option<Markup>,
) -> Result<Response, UiError> {
    let doc = app.store.call(|s| s.export_site()).await?;
    let Some(k) = find(&doc, tenant, name) else {
        return Ok(page::refused(StatusCode::NOT_FOUND, "There is no such trunk."));
    };
    let base = format!("/ui/trunks/{tenant}/{name}");
    let body = html! {
        main #trunk-page {
            h1 { "Trunk " (k.name) }
            @if let Some(m) = shown { (m) }
            section.card {
                p.hint { "Tenant " (tenant) ", role " (role_str(k.role)) "." }
                form method="post" action=(base) id="edit-trunk" {
                    (csrf_field(viewer))
                    label { "Host (address or DNS name)" input name="host" value=(k.host) required; }
                    label { "Port (empty: DNS SRV, else 5060 / 5061)" input name="port" inputmode="numeric"
                        value=(k.port.map(|p| p.to_string()).unwrap_or_default()); }
                    (transport_select(k.transport))
                    label { "Username (empty: no credentials, the peer knows the box by its address)"
                        input name="username" autocomplete="off" value=(k.username.as_deref().unwrap_or_default()); }
                    label { "Password (leave blank to keep the stored one)"
                        input type="password" name="password" autocomplete="new-password"
                            placeholder=(if k.secret.is_some() { "stored: leave blank to keep" } else { "none stored" }); }
                    button type="submit" { "Save" }
                }
            }
            section.card {
                h2 { "Remove" }
                p.hint { "Routes that still name this trunk must be changed first: the box refuses the removal and says which." }
                form method="post" action=(format!("{base}/remove")) id="remove-trunk" data-confirm="Remove this trunk?" {
                    (csrf_field(viewer))
                    button.danger type="submit" { "Remove the trunk" }
                }
            }
            p { a href="/ui/trunks" { "Back to the trunks" } }
        }
    };
    Ok((code, page::document("Trunk", Some(viewer), Nav::Trunks, body)).into_response())
}

/// `GET /ui/trunks/:tenant/:name`
async fn edit_page(
    State(app): State<AppState>,
    Admin(viewer): Admin,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<Response, UiError> {
    render_edit(&app, &viewer, &tenant, &name, StatusCode::OK, None).await
}

/// `POST /ui/trunks/:tenant/:name`: saved, back to the list; refused, the form again with why.
async fn edit(
    State(app): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
    posted: Posted<Peer>,
) -> Result<Response, UiError> {
    let Posted { viewer, form: f } = posted;
    let (t, n) = (tenant.clone(), name.clone());
    let outcome = apply(&app, &viewer.username, move |doc| set_peer(find_mut(doc, &t, &n)?, &f)).await?;
    match outcome {
        Ok(()) => {
            tracing::info!(user = %viewer.username, %tenant, %name, "trunk changed in the web UI");
            render(&app, &viewer, StatusCode::OK, Some(notice(true, &format!("Trunk {name} saved.")))).await
        }
        Err(why) => {
            let said = notice(false, &format!("Not saved: {why}"));
            render_edit(&app, &viewer, &tenant, &name, StatusCode::UNPROCESSABLE_ENTITY, Some(said)).await
        }
    }
}

/// `POST /ui/trunks/:tenant/:name/remove`
async fn remove(
    State(app): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
    posted: Posted<Nothing>,
) -> Result<Response, UiError> {
    let viewer = posted.viewer;
    let (t, n) = (tenant.clone(), name.clone());
    match apply(&app, &viewer.username, move |doc| remove_from(doc, &t, &n)).await? {
        Ok(()) => {
            tracing::info!(user = %viewer.username, %tenant, %name, "trunk removed in the web UI");
            render(&app, &viewer, StatusCode::OK, Some(notice(true, &format!("Trunk {name} removed.")))).await
        }
        Err(why) => {
            let said = notice(false, &format!("Not removed: {why}"));
            render_edit(&app, &viewer, &tenant, &name, StatusCode::UNPROCESSABLE_ENTITY, Some(said)).await
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn trunk() -> Trunk {
        serde_json::from_value(serde_json::json!({
            "name": "cloud", "role": "cloud", "host": "192.0.2.5", "transport": "udp",
            "username": "box", "secret": "s3cret"
        }))
        .unwrap()
    }

    fn peer(host: &str, port: &str, transport: &str, username: &str, password: &str) -> Peer {
        Peer {
            host: host.into(),
            port: port.into(),
            transport: transport.into(),
            username: username.into(),
            password: password.into(),
        }
    }

    #[test]
    fn a_blank_password_keeps_the_secret_and_a_blank_username_drops_the_credentials() {
        let mut k = trunk();
        set_peer(&mut k, &peer(" pbx.example ", "5070", "tcp", "box", "")).unwrap();
        assert_eq!((k.host.as_str(), k.port, k.transport), ("pbx.example", Some(5070), Transport::Tcp));
        assert_eq!(k.secret.as_deref(), Some("s3cret"), "kept");
        set_peer(&mut k, &peer("pbx.example", "", "tls", "box2", "new")).unwrap();
        assert_eq!((k.port, k.username.as_deref(), k.secret.as_deref()), (None, Some("box2"), Some("new")));
        set_peer(&mut k, &peer("pbx.example", "", "udp", " ", "ignored")).unwrap();
        assert_eq!((k.username.clone(), k.secret.clone()), (None, None));
    }

    #[test]
    fn a_bad_port_or_transport_is_refused_in_words() {
        let mut k = trunk();
        assert!(set_peer(&mut k, &peer("h", "70000", "udp", "", "")).unwrap_err().starts_with("port: `70000`"));
        assert!(set_peer(&mut k, &peer("h", "", "sctp", "", "")).unwrap_err().starts_with("transport: `sctp`"));
        assert!(parse_role("primary").unwrap_err().contains("cloud or fallback"));
    }

    #[test]
    fn trunks_are_added_once_and_removed_by_name() {
        let mut doc: SiteDoc =
            serde_json::from_value(serde_json::json!({"schema": 1, "tenants": [{"name": "a", "domains": []}]}))
                .unwrap();
        assert_eq!(add_to(&mut doc, "a", trunk()), Ok(()));
        assert!(add_to(&mut doc, "a", trunk()).unwrap_err().contains("already exists"));
        assert!(add_to(&mut doc, "b", trunk()).unwrap_err().contains("no tenant"));
        assert!(find(&doc, "a", "cloud").is_some());
        assert_eq!(remove_from(&mut doc, "a", "cloud"), Ok(()));
        assert!(remove_from(&mut doc, "a", "cloud").unwrap_err().contains("no trunk"));
    }
}
