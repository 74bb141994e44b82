//! Editing the site's DHCP scopes from the DHCP page: add one, change one (range, router, DNS,
//! NTP, lease time, authoritative, secrets over TFTP, reservations), remove one.
//!
//! A wrong range or router cuts phones off at their next renewal, so every write goes through
//! `ui::apply` (the site's validation and one transaction: a range outside its network, a
//! reservation outside it or twice the same MAC, two scopes on one network are refused with
//! the reason and nothing changes), and the forms that change a served scope ask first. The
//! DHCP server picks up the new revision within seconds (its reload tick); leases already
//! handed out keep their address until they renew.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::page::{self, csrf_field, notice, Nav};
use super::session::{Admin, Nothing, Posted, Viewer};
use super::{apply, UiError};
use crate::api::AppState;
use crate::site::{DhcpScope, Reservation, SiteDoc};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/dhcp/scopes", post(add))
        .route("/ui/dhcp/scopes/:name", get(edit_page).post(edit))
        .route("/ui/dhcp/scopes/:name/remove", post(remove))
}

/// A new scope's lease time when the field is left empty (the site's default).
const DEFAULT_LEASE_SECS: u32 = 86_400;

/// A scope's fields, as typed. Check boxes are absent from a form when not ticked.
#[derive(Debug, Default, Deserialize)]
pub struct Fields {
    #[serde(default)]
    pub interface: String,
    #[serde(default)]
    pub network: String,
    #[serde(default)]
    pub range_start: String,
    #[serde(default)]
    pub range_end: String,
    #[serde(default)]
    pub router: String,
    /// Addresses separated by commas or spaces.
    #[serde(default)]
    pub dns: String,
    #[serde(default)]
    pub ntp: String,
    /// Seconds; empty: a day.
    #[serde(default)]
    pub lease_time: String,
    pub authoritative: Option<String>,
    pub allow_secrets_over_tftp: Option<String>,
    /// One per line: `MAC address`.
    #[serde(default)]
    pub reservations: String,
}

fn list(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace()).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

/// The reservations as typed, one `MAC address` per line; a line that is not two words says
/// which it is. Whether a MAC or an address is one is the site's to say.
pub fn reservations(text: &str) -> Result<Vec<Reservation>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match line.split_whitespace().collect::<Vec<_>>()[..] {
            [mac, ip] => out.push(Reservation { mac: mac.to_owned(), ip: ip.to_owned() }),
            _ => return Err(format!("reservations, line {}: `{}` is not `MAC address`", n + 1, line.trim())),
        }
    }
    Ok(out)
}

/// Puts the form's fields into `s`.
pub fn set_fields(s: &mut DhcpScope, f: &Fields) -> Result<(), String> {
    let optional = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    s.interface = optional(&f.interface);
    s.network = f.network.trim().to_owned();
    s.range_start = f.range_start.trim().to_owned();
    s.range_end = f.range_end.trim().to_owned();
    s.router = optional(&f.router);
    s.dns = list(&f.dns);
    s.ntp = list(&f.ntp);
    let secs = f.lease_time.trim();
    s.lease_time = if secs.is_empty() {
        DEFAULT_LEASE_SECS
    } else {
        secs.parse().map_err(|_| format!("lease time: `{secs}` is not a whole number of seconds"))?
    };
    s.authoritative = f.authoritative.is_some();
    s.allow_secrets_over_tftp = f.allow_secrets_over_tftp.is_some();
    s.reservations = reservations(&f.reservations)?;
    Ok(())
}

/// Adds scope `name` unless the site has one of that name.
pub fn add_to(doc: &mut SiteDoc, name: &str, f: &Fields) -> Result<(), String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("name: a scope needs a name".to_owned());
    }
    if doc.dhcp_scopes.iter().any(|s| s.name == name) {
        return Err(format!("scope `{name}` already exists"));
    }
    let mut scope = blank(name);
    set_fields(&mut scope, f)?;
    doc.dhcp_scopes.push(scope);
    Ok(())
}

/// A scope named `name` with nothing set but the defaults.
pub fn blank(name: &str) -> DhcpScope {
    DhcpScope {
        name: name.to_owned(),
        interface: None,
        network: String::new(),
        range_start: String::new(),
        range_end: String::new(),
        router: None,
        dns: Vec::new(),
        ntp: Vec::new(),
        lease_time: DEFAULT_LEASE_SECS,
        authoritative: false,
        allow_secrets_over_tftp: false,
        reservations: Vec::new(),
    }
}

fn find_mut<'a>(doc: &'a mut SiteDoc, name: &str) -> Result<&'a mut DhcpScope, String> {
    doc.dhcp_scopes.iter_mut().find(|s| s.name == name).ok_or_else(|| format!("no scope `{name}`"))
}

/// The fields of both forms, filled from `s` when there is one.
fn fields(s: Option<&DhcpScope>) -> Markup {
    let reservations = s
        .map(|s| s.reservations.iter().map(|r| format!("{} {}\n", r.mac, r.ip)).collect::<String>())
        .unwrap_or_default();
    html! {
        label { "Network (10.0.0.0/24)" input name="network" required value=[s.map(|s| &s.network)]; }
        label { "First address handed out" input name="range_start" required value=[s.map(|s| &s.range_start)]; }
        label { "Last address handed out" input name="range_end" required value=[s.map(|s| &s.range_end)]; }
        label { "Router (empty: none)" input name="router" value=[s.and_then(|s| s.router.as_ref())]; }
        label { "DNS servers (separated by commas or spaces)" input name="dns" value=(s.map(|s| s.dns.join(", ")).unwrap_or_default()); }
        label { "NTP servers" input name="ntp" value=(s.map(|s| s.ntp.join(", ")).unwrap_or_default()); }
        label { "Lease time in seconds (60 to a year)" input name="lease_time" inputmode="numeric" value=(s.map_or(DEFAULT_LEASE_SECS, |s| s.lease_time)); }
        label { "Interface (empty: the one DHCP serves on; a relay's subnet otherwise)" input name="interface" value=[s.and_then(|s| s.interface.as_ref())]; }
        label.check { input type="checkbox" name="authoritative" value="on" checked[s.is_some_and(|s| s.authoritative)]; " Authoritative: serve even when another DHCP server answers on the segment" }
        label.check { input type="checkbox" name="allow_secrets_over_tftp" value="on" checked[s.is_some_and(|s| s.allow_secrets_over_tftp)]; " Let phones of this scope get their credentials over TFTP (off: a bootstrap only, credentials over HTTPS)" }
        label { "Reservations, one per line: MAC address" textarea name="reservations" rows="4" { (reservations) } }
    }
}

/// The add form under the scopes table of the DHCP page.
pub fn add_form(viewer: &Viewer) -> Markup {
    html! {
        details.card #add-scope-card {
            summary { "Add a scope" }
            form method="post" action="/ui/dhcp/scopes" id="new-scope" {
                (csrf_field(viewer))
                label { "Name" input name="name" required; }
                (fields(None))
                button type="submit" { "Add" }
            }
        }
    }
}

async fn render_edit(
    app: &AppState,
    viewer: &Viewer,
    name: &str,
    code: StatusCode,
    shown: Option<Markup>,
) -> Result<Response, UiError> {
    let doc = app.store.call(|s| s.export_site()).await?;
    let Some(scope) = doc.dhcp_scopes.iter().find(|s| s.name == name) else {
        return Ok(page::refused(StatusCode::NOT_FOUND, &format!("No DHCP scope `{name}`.")));
    };
    let base = format!("/ui/dhcp/scopes/{name}");
    let body = html! {
        main #scope-page {
            h1 { "DHCP scope " (name) }
            @if let Some(m) = shown { (m) }
            form.card method="post" action=(base) id="edit-scope"
                data-confirm="Save this scope? Phones take the change when they renew their lease." {
                (csrf_field(viewer))
                (fields(Some(scope)))
                button type="submit" { "Save" }
            }
            form.card method="post" action=(format!("{base}/remove")) id="remove-scope"
                data-confirm=(format!("Remove scope {name}? Its phones get no address when their leases end.")) {
                (csrf_field(viewer))
                button.danger type="submit" { "Remove this scope" }
            }
            p { a href="/ui/dhcp" { "Back to DHCP" } }
        }
    };
    Ok((code, page::document("DHCP scope", Some(viewer), Nav::Dhcp, body)).into_response())
}

#[derive(Deserialize)]
struct NewScope {
    #[serde(default)]
    name: String,
    #[serde(flatten)]
    fields: Fields,
}

/// `POST /ui/dhcp/scopes`
async fn add(State(app): State<AppState>, posted: Posted<NewScope>) -> Result<Response, UiError> {
    let Posted { viewer, form: f } = posted;
    let name = f.name.trim().to_owned();
    let outcome = apply(&app, &viewer.username, move |doc| add_to(doc, &f.name, &f.fields)).await?;
    let (code, shown) = match outcome {
        Ok(()) => {
            tracing::info!(user = %viewer.username, scope = %name, "DHCP scope added in the web UI");
            (StatusCode::OK, notice(true, &format!("Scope {name} added.")))
        }
        Err(why) => (StatusCode::UNPROCESSABLE_ENTITY, notice(false, &format!("Not added: {why}"))),
    };
    super::dhcp::render(&app, &viewer, code, Some(shown)).await
}

/// `GET /ui/dhcp/scopes/:name`
async fn edit_page(
    State(app): State<AppState>,
    Admin(viewer): Admin,
    Path(name): Path<String>,
) -> Result<Response, UiError> {
    render_edit(&app, &viewer, &name, StatusCode::OK, None).await
}

/// `POST /ui/dhcp/scopes/:name`
async fn edit(
    State(app): State<AppState>,
    Path(name): Path<String>,
    posted: Posted<Fields>,
) -> Result<Response, UiError> {
    let Posted { viewer, form: f } = posted;
    let n = name.clone();
    let outcome = apply(&app, &viewer.username, move |doc| set_fields(find_mut(doc, &n)?, &f)).await?;
    match outcome {
        Ok(()) => {
            tracing::info!(user = %viewer.username, scope = %name, "DHCP scope changed in the web UI");
            let said = "Saved: the DHCP server serves it within seconds; phones take it when they renew.";
            render_edit(&app, &viewer, &name, StatusCode::OK, Some(notice(true, said))).await
        }
        Err(why) => {
            let shown = notice(false, &format!("Not saved: {why}"));
            render_edit(&app, &viewer, &name, StatusCode::UNPROCESSABLE_ENTITY, Some(shown)).await
        }
    }
}

/// `POST /ui/dhcp/scopes/:name/remove`
async fn remove(
    State(app): State<AppState>,
    Path(name): Path<String>,
    posted: Posted<Nothing>,
) -> Result<Response, UiError> {
    let viewer = posted.viewer;
    let n = name.clone();
    let outcome = apply(&app, &viewer.username, move |doc| {
        let before = doc.dhcp_scopes.len();
        doc.dhcp_scopes.retain(|s| s.name != n);
        if doc.dhcp_scopes.len() == before {
            return Err(format!("no scope `{n}`"));
        }
        Ok(())
    })
    .await?;
    let (code, shown) = match outcome {
        Ok(()) => (StatusCode::OK, notice(true, &format!("Scope {name} removed."))),
        Err(why) => (StatusCode::UNPROCESSABLE_ENTITY, notice(false, &format!("Not removed: {why}"))),
    };
    super::dhcp::render(&app, &viewer, code, Some(shown)).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn typed() -> Fields {
        Fields {
            network: " 10.1.0.0/24 ".into(),
            range_start: "10.1.0.100".into(),
            range_end: "10.1.0.150".into(),
            dns: "10.1.0.1, 9.9.9.9".into(),
            reservations: "00:15:65:00:00:01 10.1.0.20\n\n805ec0112233   10.1.0.21 \n".into(),
            authoritative: Some("on".into()),
            ..Fields::default()
        }
    }

    #[test]
    fn the_form_becomes_a_scope_with_blanks_as_none_and_defaults() {
        let mut doc = SiteDoc::default();
        add_to(&mut doc, " lab ", &typed()).unwrap();
        let s = &doc.dhcp_scopes[0];
        assert_eq!((s.name.as_str(), s.network.as_str()), ("lab", "10.1.0.0/24"));
        assert_eq!((s.router.clone(), s.interface.clone()), (None, None));
        assert_eq!(s.dns, ["10.1.0.1", "9.9.9.9"]);
        assert_eq!(s.lease_time, DEFAULT_LEASE_SECS);
        assert!(s.authoritative && !s.allow_secrets_over_tftp, "a box not ticked is off");
        assert_eq!(s.reservations.len(), 2);
        assert_eq!((s.reservations[1].mac.as_str(), s.reservations[1].ip.as_str()), ("805ec0112233", "10.1.0.21"));
        assert_eq!(add_to(&mut doc, "lab", &typed()).unwrap_err(), "scope `lab` already exists");
        assert_eq!(add_to(&mut doc, "", &typed()).unwrap_err(), "name: a scope needs a name");
    }

    #[test]
    fn bad_lines_and_numbers_are_said() {
        let bad = reservations("00:15:65:00:00:01 10.1.0.20\n00:15:65:00:00:02\n").unwrap_err();
        assert_eq!(bad, "reservations, line 2: `00:15:65:00:00:02` is not `MAC address`");
        let mut s = SiteDoc::default();
        let f = Fields { lease_time: "a day".into(), ..typed() };
        assert_eq!(add_to(&mut s, "lab", &f).unwrap_err(), "lease time: `a day` is not a whole number of seconds");
    }
}
