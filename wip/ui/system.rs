//! Bans (SIP and provisioning, with lift) and the system page (version, uptime, revision,
//! DHCP, the admin's own password).

use std::net::IpAddr;
use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;

use super::page::{self, csrf_field, Nav, Outcome};
use super::session::{with_admin_cookie, Admin, Csrf, Posted};
use super::{Refused, Ui};

pub fn routes() -> Router<Ui> {
    Router::new()
        .route("/ui/bans", get(bans))
        .route("/ui/bans/lift", post(lift))
        .route("/ui/system", get(system))
        .route("/ui/system/password", post(password))
}

async fn bans(State(ui): State<Ui>, who: Admin) -> Response {
    render_bans(&ui, &who, Outcome::default())
}

fn render_bans(ui: &Ui, who: &Admin, outcome: Outcome) -> Response {
    let sip = ui.app.sip.as_ref().map(|s| s.core().defence.bans(Instant::now())).unwrap_or_default();
    let prov = ui.app.provisioning.as_ref().map(|p| p.bans()).unwrap_or_default();
    let csrf = who.csrf();
    let lift = |kind: &str, ip: IpAddr| {
        html! {
            form method="post" action="/ui/bans/lift" {
                (csrf_field(&csrf))
                input type="hidden" name="kind" value=(kind);
                input type="hidden" name="address" value=(ip.to_string());
                button type="submit" { "Lift" }
            }
        }
    };
    let body = html! {
        (outcome.markup())
        section.card {
            h2 { "SIP" }
            p.hint { "Addresses that failed to authenticate too often, or flooded the box." }
            @if sip.is_empty() { p { "Nobody is banned." } }
            @else { div.scroll { table #sip-bans {
                thead { tr { th { "Address" } th { "Seconds left" } th { "Why" } th {} } }
                tbody { @for b in &sip { tr { td { (b.address) } td { (b.seconds_left) } td { (b.reason) } td { (lift("sip", b.address)) } } } }
            } } }
        }
        section.card {
            h2 { "Provisioning" }
            p.hint { "Addresses that asked for too many unknown phone files (a MAC scan)." }
            @if prov.is_empty() { p { "Nobody is banned." } }
            @else { div.scroll { table #prov-bans {
                thead { tr { th { "Address" } th { "Seconds left" } th {} } }
                tbody { @for b in &prov { tr { td { (b.address) } td { (b.seconds_left) } td { (lift("provisioning", b.address)) } } } }
            } } }
        }
    };
    page::render_status(outcome.status(), page::shell("Bans", Nav::Admin("bans"), Some(&csrf), body))
}

async fn lift(State(ui): State<Ui>, Posted(who, form): Posted<Admin>) -> Response {
    let outcome = match form.get("address").parse::<IpAddr>() {
        Err(_) => Outcome { ok: None, refused: Some(Refused::Said(format!("`{}` is not an address", form.get("address")))) },
        Ok(ip) => {
            let lifted = match form.get("kind") {
                "sip" => ui.app.sip.as_ref().is_some_and(|s| s.core().defence.lift(ip)),
                _ => ui.app.provisioning.as_ref().is_some_and(|p| p.lift_ban(ip)),
            };
            if lifted {
                tracing::info!(%ip, by = %who.session.username, "ban lifted in the web UI");
                Outcome::ok(format!("The ban on {ip} is lifted."))
            } else {
                Outcome { ok: None, refused: Some(Refused::Said(format!("{ip} is not banned"))) }
            }
        }
    };
    render_bans(&ui, &who, outcome)
}

async fn system(State(ui): State<Ui>, who: Admin) -> Response {
    render_system(&ui, &who, Outcome::default()).await
}

async fn render_system(ui: &Ui, who: &Admin, outcome: Outcome) -> Response {
    let doc = match super::current(ui).await {
        Ok(d) => d,
        Err(r) => return super::internal(r.lines().join("; ")),
    };
    let dhcp = ui.app.dhcp.as_ref().map(|d| super::setup::dhcp_words(&d.status()).1);
    let csrf = who.csrf();
    let body = html! {
        (outcome.markup())
        section.card {
            dl {
                dt { "Version" } dd #version { "Outpost " (env!("CARGO_PKG_VERSION")) }
                dt { "Up for" } dd { (ui.app.started.elapsed().as_secs() / 60) " min" }
                dt { "Site" } dd { (doc.site.name) " (" (doc.site.time_zone) ")" }
                dt { "Site config revision" } dd { (doc.revision.unwrap_or(0)) }
                dt { "DHCP" } dd { (dhcp.unwrap_or_else(|| "not running".into())) }
                dt { "Logged in as" } dd { (who.session.username) }
            }
        }
        form.card method="post" action="/ui/system/password" {
            h2 { "Change my password" }
            (csrf_field(&csrf))
            label { "Current password" input type="password" name="current" autocomplete="current-password" required; }
            label { "New password (at least 10 characters)" input type="password" name="new" autocomplete="new-password" minlength="10" required; }
            button type="submit" { "Change" }
        }
        p.hint { "Not built in the UI yet: A/B slots, update upload, reboot, factory reset, backups (see docs/web-ui.md)." }
    };
    page::render_status(outcome.status(), page::shell("System", Nav::Admin("system"), Some(&csrf), body))
}

async fn password(State(ui): State<Ui>, Posted(who, form): Posted<Admin>) -> Response {
    let (current, new) = (form.get("current").to_owned(), form.get("new").to_owned());
    let refuse = |why: &str| Outcome { ok: None, refused: Some(Refused::Said(why.into())) };
    if new.chars().count() < 10 {
        return render_system(&ui, &who, refuse("the new password must be at least 10 characters")).await;
    }
    if new == current {
        return render_system(&ui, &who, refuse("the new password must differ from the current one")).await;
    }
    let (user, actor) = (who.session.username.clone(), who.actor());
    let changed = ui
        .app
        .store
        .call(move |s| match s.check_credentials(&user, &current)? {
            Some(_) => {
                s.set_password(&user, &new, false, &actor)?;
                s.login(&user, &new)
            }
            None => Ok(None),
        })
        .await;
    match changed {
        Ok(Some((token, session))) => {
            let fresh = Admin { session, token: token.clone() };
            with_admin_cookie(render_system(&ui, &fresh, Outcome::ok("Password changed.")).await, &token)
        }
        Ok(None) => render_system(&ui, &who, refuse("the current password is wrong")).await,
        Err(e) => super::internal(e),
    }
}
