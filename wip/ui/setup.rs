//! First boot: reached by logging in as `admin` with the one-time password the box printed
//! (or one from `outpost admin reset-password`). It sets the admin's own password, the site's
//! name and time zone, shows what the DHCP service found on the LAN, and takes an optional
//! cloud claim code (claiming is not built yet: the code is not stored, and the page says so).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};

use super::page::{self, csrf_field, Nav};
use super::session::{with_admin_cookie, Csrf, Posted, SetupAdmin};
use super::{Refused, Ui};
use crate::dhcp::DhcpStatus;
use crate::site::SiteDoc;

const MIN_PASSWORD: usize = 10;

pub async fn page(State(ui): State<Ui>, who: SetupAdmin) -> Response {
    match super::current(&ui).await {
        Ok(doc) => render(&ui, &who, &doc, None, None, StatusCode::OK),
        Err(r) => super::internal(r.lines().join("; ")),
    }
}

/// What the DHCP service says about the LAN, in words.
pub fn dhcp_words(status: &DhcpStatus) -> (&'static str, String) {
    match status {
        DhcpStatus::Off { reason } => ("off", format!("DHCP is off: {reason}.")),
        DhcpStatus::Probing { interface } => {
            ("probing", format!("Checking {interface} for another DHCP server before serving…"))
        }
        DhcpStatus::Serving { interface, address, scopes } => (
            "serving",
            format!("Serving on {interface} ({address}), scopes {}; no other DHCP server answered.", scopes.join(", ")),
        ),
        DhcpStatus::Refused { interface, other_server, .. } => (
            "refused",
            format!(
                "Another DHCP server ({other_server}) answers on {interface}: the box stays silent so that phones \
                 do not get conflicting addresses. Turn that server off, or mark the scope authoritative."
            ),
        ),
    }
}

fn render(
    ui: &Ui,
    who: &SetupAdmin,
    doc: &SiteDoc,
    refused: Option<&Refused>,
    given: Option<(&str, &str)>,
    status: StatusCode,
) -> Response {
    let dhcp = ui.app.dhcp.as_ref().map_or(
        DhcpStatus::Off { reason: "the DHCP service is not running".into() },
        |d| d.status(),
    );
    let (state, words) = dhcp_words(&dhcp);
    let (name, tz) = given.unwrap_or((&doc.site.name, &doc.site.time_zone));
    let body: Markup = html! {
        (page::notice(None, refused))
        p { "Welcome. Set your own admin password (the one-time password stops working), name the site and \
             give its time zone (inbound routes' days and hours are read in it)." }
        form.card method="post" action="/ui/setup" {
            (csrf_field(&who.csrf()))
            label { "New admin password (at least 10 characters)"
                input type="password" name="password" autocomplete="new-password" minlength="10" required; }
            label { "The same again"
                input type="password" name="confirm" autocomplete="new-password" required; }
            label { "Site name" input type="text" name="site_name" value=(name) required; }
            label { "Time zone (IANA name, e.g. Europe/Berlin)"
                input type="text" name="time_zone" value=(tz) list="zones" required; }
            datalist #zones {
                @for z in ["UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "America/New_York",
                           "America/Chicago", "America/Los_Angeles", "Asia/Tokyo", "Australia/Sydney"] {
                    option value=(z) {}
                }
            }
            label { "Cloud claim code (optional)"
                input type="text" name="claim_code" autocomplete="off"; }
            p.hint { "Claiming the box for the cloud is not built yet: a code entered here is not stored." }
            button type="submit" { "Save and continue" }
        }
        section.card #dhcp-check {
            h2 { "LAN and DHCP" }
            p class=(format!("dhcp dhcp-{state}")) data-dhcp-state=(state) { (words) }
            @if doc.dhcp_scopes.is_empty() {
                p.hint { "No DHCP scope is configured: the box hands out no addresses. Add one in the site \
                          config (docs/site-config.md) with outpost config apply or the API." }
            } @else {
                table {
                    thead { tr { th { "Scope" } th { "Interface" } th { "Network" } th { "Range" } th { "Authoritative" } } }
                    tbody {
                        @for s in &doc.dhcp_scopes {
                            tr {
                                td { (s.name) } td { (s.interface.as_deref().unwrap_or("any")) } td { (s.network) }
                                td { (s.range_start) " – " (s.range_end) } td { (if s.authoritative { "yes" } else { "no" }) }
                            }
                        }
                    }
                }
            }
        }
    };
    let csrf = who.csrf();
    page::render_status(status, page::shell("First-boot setup", Nav::Setup, Some(&csrf), body))
}

pub async fn save(State(ui): State<Ui>, Posted(who, form): Posted<SetupAdmin>) -> Response {
    let doc = match super::current(&ui).await {
        Ok(d) => d,
        Err(r) => return super::internal(r.lines().join("; ")),
    };
    let (password, name, tz) = (form.get("password"), form.get("site_name"), form.get("time_zone"));
    let refuse = |why: String| {
        render(&ui, &who, &doc, Some(&Refused::Said(why)), Some((name, tz)), StatusCode::UNPROCESSABLE_ENTITY)
    };
    if password.chars().count() < MIN_PASSWORD {
        return refuse(format!("the password must be at least {MIN_PASSWORD} characters"));
    }
    if password != form.get("confirm") {
        return refuse("the two passwords differ".into());
    }
    let user = who.0.session.username.clone();
    let (u, p) = (user.clone(), password.to_owned());
    match ui.app.store.call(move |s| s.check_credentials(&u, &p)).await {
        Ok(Some(_)) => return refuse("the new password must differ from the one-time password".into()),
        Ok(None) => {}
        Err(e) => return super::internal(e),
    }
    let (site_name, time_zone) = (name.to_owned(), tz.to_owned());
    let applied = super::write(&ui, who.0.actor(), move |doc| {
        doc.site.name = site_name;
        doc.site.time_zone = time_zone;
        Ok(())
    })
    .await;
    if let Err(r) = applied {
        return render(&ui, &who, &doc, Some(&r), Some((name, tz)), StatusCode::UNPROCESSABLE_ENTITY);
    }
    if !form.get("claim_code").is_empty() {
        tracing::info!("a cloud claim code was entered at setup; claiming is not built yet, it was not stored");
    }
    let (u, p, actor) = (user.clone(), password.to_owned(), who.0.actor());
    let token = ui.app.store.call(move |s| {
        s.set_password(&u, &p, false, &actor)?;
        s.login(&u, &p)
    });
    match token.await {
        Ok(Some((token, _))) => {
            tracing::info!(user = %user, "first-boot setup done in the web UI");
            with_admin_cookie(Redirect::to("/ui/?setup=done").into_response(), &token)
        }
        Ok(None) => super::internal("the new password did not log in"),
        Err(e) => super::internal(e),
    }
}
