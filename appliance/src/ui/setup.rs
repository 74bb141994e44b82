//! The first-boot page: reached by logging in with the one-time password, it sets the admin's
//! own password, the site's name and its time zone. The site fields go through
//! `Store::apply_site` first (the validation of `outpost config apply`), so a bad time zone
//! leaves the one-time password in place and the page shows why.
//!
//! Beside the form, read-only: the network interfaces the box has (`/sys/class/net`, without
//! `lo`) and the DHCP server's state with the result of its check for another DHCP server
//! (`api::dhcp::current`), with how to turn DHCP on (outpost.toml's `[dhcp] interface` and a
//! scope in the site: the page writes neither).
//!
//! Optionally the LAN: an interface of the box and the scope phones get their addresses from.
//! It is written into the site (a DHCP scope naming the interface, `set_lan`), where the
//! daemon finds it at its next start when `outpost.toml` names no `[dhcp] interface`.
//!
//! Optionally a cloud claim code (`ui::claim`): redeemed once the password is set; the admin
//! then lands on the system page, which says how the claim went.

use std::path::Path;

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::page::{self, csrf_field, Nav};
use super::session::{session_cookie, Setup, SetupPosted, Viewer};
use super::{apply, UiError};
use crate::api::{AppState, MIN_PASSWORD};
use crate::site::{Site, SiteDoc};

/// One network interface as `/sys/class/net` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    /// The hardware address, empty if none is given.
    pub mac: String,
    /// `up`, `down`, `unknown`…
    pub state: String,
}

/// The interfaces under `root` (`/sys/class/net`), by name, without the loopback; none if
/// the directory cannot be read.
pub fn interfaces(root: &Path) -> Vec<Interface> {
    let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
    let read = |dir: &Path, file: &str| std::fs::read_to_string(dir.join(file)).map(|s| s.trim().to_owned());
    let mut out: Vec<Interface> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let dir = e.path();
            (name != "lo").then(|| Interface {
                mac: read(&dir, "address").unwrap_or_default(),
                state: read(&dir, "operstate").unwrap_or_else(|_| "unknown".to_owned()),
                name,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The read-only network card: the interfaces, the DHCP server and its rival check.
fn network(app: &AppState) -> maud::Markup {
    let list = interfaces(Path::new("/sys/class/net"));
    let status = crate::api::dhcp::current(app);
    let (state, said) = super::dhcp::state_words(&status);
    html! {
        section.card #setup-network {
            h2 { "Network" }
            div.scroll { table #interfaces {
                thead { tr { th { "Interface" } th { "MAC" } th { "State" } } }
                tbody {
                    @for i in &list {
                        tr data-iface=(i.name) {
                            td data-f="name" { (i.name) }
                            td data-f="mac" { code { (if i.mac.is_empty() { "—" } else { i.mac.as_str() }) } }
                            td data-f="state" { (i.state) }
                        }
                    }
                }
            } }
            @if list.is_empty() { p.hint #no-interfaces { "No network interface found." } }
            h3 { "DHCP server" }
            p data-f="dhcp-state" data-state=(state) { (said) }
            p data-f="rival" { "Another DHCP server on the segment: " (super::dhcp::rival_words(&status)) }
            p.hint #dhcp-how {
                "To hand phones their addresses, set " code { "[dhcp] interface" } " to the LAN interface in "
                code { "outpost.toml" } ", add a scope to the site config (" code { "dhcp_scopes" }
                ", through the API or " code { "outpost config apply" } ") and restart the box; or choose the LAN interface in this form, which writes a scope naming it. The server first checks the segment for another DHCP server and does not serve beside one."
            }
        }
    }
}

/// The LAN chosen at setup, as typed; no interface: no DHCP from this box.
#[derive(Debug, Default, Deserialize)]
pub struct LanFields {
    #[serde(default)]
    pub lan_interface: String,
    #[serde(default)]
    pub network: String,
    #[serde(default)]
    pub range_start: String,
    #[serde(default)]
    pub range_end: String,
    #[serde(default)]
    pub router: String,
}

/// Puts the LAN chosen at setup into the site: the scope already serving that interface, or
/// else the one named `lan`, takes the interface, network, range and router; without either a
/// scope `lan` is added. The site's validation judges the addresses.
pub fn set_lan(doc: &mut SiteDoc, f: &LanFields) {
    let interface = f.lan_interface.trim();
    if interface.is_empty() {
        return;
    }
    let at = doc.dhcp_scopes.iter().position(|s| s.interface.as_deref() == Some(interface));
    let at = at.or_else(|| doc.dhcp_scopes.iter().position(|s| s.name == "lan"));
    let i = at.unwrap_or_else(|| {
        doc.dhcp_scopes.push(super::dhcp_forms::blank("lan"));
        doc.dhcp_scopes.len() - 1
    });
    let scope = &mut doc.dhcp_scopes[i];
    scope.interface = Some(interface.to_owned());
    scope.network = f.network.trim().to_owned();
    scope.range_start = f.range_start.trim().to_owned();
    scope.range_end = f.range_end.trim().to_owned();
    scope.router = Some(f.router.trim().to_owned()).filter(|r| !r.is_empty());
}

/// The LAN part of the setup form.
fn lan_fields(list: &[Interface]) -> maud::Markup {
    html! {
        fieldset #setup-lan {
            legend { "LAN and DHCP (optional)" }
            p.hint { "The interface on the phones' network, and the addresses the box hands them. On the Outpost image DHCP serves there from the box's next start (Reboot on the System page), after checking the segment for another DHCP server; elsewhere only with " code { "[dhcp] from_site = true" } " in outpost.toml." }
            label { "LAN interface" select name="lan_interface" {
                option value="" { "None: no DHCP from this box" }
                @for i in list { option value=(i.name) { (i.name) " (" (if i.mac.is_empty() { "no MAC" } else { i.mac.as_str() }) ", " (i.state) ")" } }
            } }
            label { "Network (192.168.10.0/24)" input name="network"; }
            label { "First address handed out" input name="range_start"; }
            label { "Last address handed out" input name="range_end"; }
            label { "Router (empty: none)" input name="router"; }
        }
    }
}

fn form(viewer: &Viewer, site: &Site, error: Option<&str>, network: &maud::Markup) -> maud::Markup {
    let list = interfaces(Path::new("/sys/class/net"));
    html! {
        main {
            form.card method="post" action="/ui/setup" id="setup" {
                h1 { "Set up this box" }
                p.hint { "Choose the admin password that replaces the one-time password, and name the site." }
                @if let Some(e) = error { p.notice.refused role="alert" { (e) } }
                (csrf_field(viewer))
                label { "New admin password (at least " (MIN_PASSWORD) " characters)"
                    input type="password" name="password" autocomplete="new-password" required minlength=(MIN_PASSWORD); }
                label { "The same again" input type="password" name="confirm" autocomplete="new-password" required; }
                label { "Site name" input name="site_name" required value=(site.name); }
                label { "Time zone (IANA, e.g. Europe/Berlin)" input name="time_zone" required value=(site.time_zone); }
                (lan_fields(&list))
                fieldset #setup-cloud {
                    legend { "Cloud (optional)" }
                    p.hint { "A claim code from your fleet joins this box to it; leave empty to run on its own (the System page can claim later)." }
                    (super::claim::fields())
                }
                button type="submit" { "Save and continue" }
            }
            (network)
        }
    }
}

/// `GET /ui/setup`
pub async fn page(State(app): State<AppState>, Setup(viewer): Setup) -> Result<Response, UiError> {
    let doc = app.store.call(|s| s.export_site()).await?;
    Ok(page::document("Set up", Some(&viewer), Nav::None, form(&viewer, &doc.site, None, &network(&app)))
        .into_response())
}

#[derive(Deserialize)]
pub struct SetupForm {
    password: String,
    confirm: String,
    site_name: String,
    time_zone: String,
    #[serde(flatten)]
    lan: LanFields,
    #[serde(flatten)]
    cloud: super::claim::ClaimFields,
}

/// What is wrong with the new password, in words; `None` when it will do.
pub fn password_problem(password: &str, confirm: &str) -> Option<String> {
    if password.chars().count() < MIN_PASSWORD {
        return Some(format!("The password must have at least {MIN_PASSWORD} characters."));
    }
    if password != confirm {
        return Some("The two passwords differ.".into());
    }
    None
}

/// `POST /ui/setup`: the site fields, then the password (which ends every session of the
/// admin, the one-time one included), then a fresh session so the admin lands on the
/// dashboard.
pub async fn submit(State(app): State<AppState>, posted: SetupPosted<SetupForm>) -> Result<Response, UiError> {
    let SetupPosted { viewer, form: f } = posted;
    let site =
        Site { name: f.site_name.trim().to_owned(), time_zone: f.time_zone.trim().to_owned(), ..Site::default() };
    let net = network(&app);
    let refuse = |why: &str| {
        let body = form(&viewer, &site, Some(why), &net);
        (StatusCode::UNPROCESSABLE_ENTITY, page::document("Set up", Some(&viewer), Nav::None, body)).into_response()
    };
    if let Some(why) = password_problem(&f.password, &f.confirm) {
        return Ok(refuse(&why));
    }
    let (name, zone, lan) = (site.name.clone(), site.time_zone.clone(), f.lan);
    let applied = apply(&app, &viewer.username, move |doc| {
        doc.site.name = name;
        doc.site.time_zone = zone;
        set_lan(doc, &lan);
        Ok(())
    })
    .await?;
    if let Err(why) = applied {
        return Ok(refuse(&format!("Not saved: {why}")));
    }
    let (user, password) = (viewer.username.clone(), f.password);
    let opened = app
        .store
        .call(move |s| {
            s.set_password(&user, &password, false, &format!("ui:{user}"))?;
            s.login(&user, &password)
        })
        .await?;
    tracing::info!(user = %viewer.username, "first-boot setup done in the web UI");
    let Some((token, session)) = opened else {
        return Ok(Redirect::to("/ui/login").into_response());
    };
    let mut resp = if f.cloud.code.trim().is_empty() {
        Redirect::to("/ui/").into_response()
    } else {
        // The claim, answered by the system page as the admin's fresh session sees it.
        let fresh = Viewer {
            username: session.username,
            role: session.role,
            must_change_password: false,
            csrf: super::session::csrf_of(&token),
            token: token.clone(),
            line: None,
        };
        let (code, shown) = super::claim::claim_now(&app, &f.cloud, &format!("ui:{}", fresh.username)).await;
        super::system::render(&app, &fresh, code, Some(shown))
    };
    resp.headers_mut().append(SET_COOKIE, session_cookie(&token, crate::store::admin::SESSION_SECONDS));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_or_mistyped_password_is_refused_in_words() {
        assert!(password_problem("short", "short").is_some_and(|w| w.contains("at least")));
        assert!(password_problem("long-enough-1", "long-enough-2").is_some_and(|w| w.contains("differ")));
        assert_eq!(password_problem("long-enough-1", "long-enough-1"), None);
    }

    #[test]
    fn the_lan_chosen_at_setup_becomes_the_scope_of_its_interface() {
        let f = LanFields {
            lan_interface: "eth1".into(),
            network: "10.7.0.0/24".into(),
            range_start: "10.7.0.100".into(),
            range_end: "10.7.0.150".into(),
            router: " ".into(),
        };
        let mut doc = SiteDoc::default();
        set_lan(&mut doc, &LanFields::default());
        assert!(doc.dhcp_scopes.is_empty(), "no interface chosen: nothing written");
        set_lan(&mut doc, &f);
        set_lan(&mut doc, &LanFields { range_end: "10.7.0.120".into(), ..f });
        assert_eq!(doc.dhcp_scopes.len(), 1, "the same interface's scope is updated, not doubled");
        let s = &doc.dhcp_scopes[0];
        assert_eq!(
            (s.name.as_str(), s.interface.as_deref(), s.range_end.as_str()),
            ("lan", Some("eth1"), "10.7.0.120")
        );
        assert_eq!(s.router, None);
    }

    #[test]
    fn interfaces_are_read_by_name_without_the_loopback() {
        #![allow(clippy::unwrap_used)]
        let root = tempfile::tempdir().unwrap();
        for (name, mac, state) in [
            ("lo", "00:00:00:00:00:00", "unknown"),
            ("eth1", "52:54:00:12:34:57", "down"),
            ("eth0", "52:54:00:12:34:56", "up"),
        ] {
            let dir = root.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("address"), format!("{mac}\n")).unwrap();
            std::fs::write(dir.join("operstate"), format!("{state}\n")).unwrap();
        }
        std::fs::create_dir(root.path().join("wg0")).unwrap();
        let names: Vec<_> = interfaces(root.path()).into_iter().map(|i| (i.name, i.mac, i.state)).collect();
        assert_eq!(
            names,
            [
                ("eth0".into(), "52:54:00:12:34:56".into(), "up".into()),
                ("eth1".into(), "52:54:00:12:34:57".into(), "down".into()),
                ("wg0".into(), String::new(), "unknown".into()),
            ]
        );
        assert!(interfaces(&root.path().join("none")).is_empty());
    }
}
