//! The DHCP page: whether the box's DHCP server runs (serving, checking for another server,
//! refused because another one answers, or off and why), on which interface and address; the
//! result of the check for another DHCP server on the segment; the site's DHCP scopes, each
//! with its edit page, and the add form (`dhcp_forms`); and every stored lease (MAC, address,
//! host name, vendor class, state, expiry).
//!
//! The status and leases are the API's (`api::dhcp::current`, `api::dhcp::all_leases`, as
//! `GET /api/v1/dhcp/status` and `/leases`). The scopes are the site document's; the DHCP
//! server reads its interface from `outpost.toml` at start.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};

use super::dashboard::utc;
use super::dhcp_forms::add_form;
use super::page::{self, Nav};
use super::session::{Admin, Viewer};
use super::UiError;
use crate::api::AppState;
use crate::dhcp::{DhcpStatus, Lease, LeaseState};
use crate::site::DhcpScope;

pub fn routes() -> Router<AppState> {
    Router::new().route("/ui/dhcp", get(show))
}

/// The state's word (as the API's `state`) and its sentence.
pub fn state_words(status: &DhcpStatus) -> (&'static str, String) {
    match status {
        DhcpStatus::Off { reason } => ("off", format!("Off: {reason}.")),
        DhcpStatus::Probing { interface } => {
            ("probing", format!("Checking {interface} for another DHCP server before serving."))
        }
        DhcpStatus::Serving { interface, address, scopes } => {
            ("serving", format!("Serving on {interface} ({address}): {}.", scopes.join(", ")))
        }
        DhcpStatus::Refused { interface, other_server, .. } => {
            ("refused", format!("Not serving on {interface}: another DHCP server ({other_server}) answers there."))
        }
    }
}

/// What the check for another DHCP server found.
pub fn rival_words(status: &DhcpStatus) -> String {
    match status {
        DhcpStatus::Off { .. } => "Not run: the DHCP server is off.".to_owned(),
        DhcpStatus::Probing { .. } => "Running now.".to_owned(),
        DhcpStatus::Serving { .. } => {
            "No other DHCP server answered (or a scope is authoritative and serves anyway).".to_owned()
        }
        DhcpStatus::Refused { other_server, seen_at, .. } => format!(
            "{other_server} answered at {}. Turn that server off, or make the scope authoritative to serve anyway.",
            utc(*seen_at)
        ),
    }
}

/// A lease's expiry: the time, and whether it has passed.
pub fn expiry(lease: &Lease, now: i64) -> String {
    let when = utc(lease.expires_at);
    match lease.state {
        LeaseState::Declined => format!("{when} (held: the client said the address is in use)"),
        LeaseState::Bound if lease.expires_at <= now => format!("{when} (expired, kept for this client)"),
        LeaseState::Bound => when,
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "—"
    } else {
        s
    }
}

fn scopes_table(scopes: &[DhcpScope]) -> Markup {
    html! {
        div.scroll { table #dhcp-scopes {
            thead { tr { th { "Scope" } th { "Interface" } th { "Network" } th { "Range" } th { "Router" } th { "DNS" } th { "Lease time" } th { "Authoritative" } th { "Reservations" } th {} } }
            tbody {
                @for s in scopes {
                    tr data-scope=(s.name) {
                        td data-f="name" { (s.name) }
                        td data-f="interface" { (s.interface.as_deref().unwrap_or("—")) }
                        td data-f="network" { code { (s.network) } }
                        td data-f="range" { (s.range_start) " – " (s.range_end) }
                        td data-f="router" { (s.router.as_deref().unwrap_or("—")) }
                        td data-f="dns" { (or_dash(&s.dns.join(", "))) }
                        td data-f="lease-time" { (s.lease_time) " s" }
                        td data-f="authoritative" { @if s.authoritative { "yes" } @else { "no" } }
                        td data-f="reservations" { (s.reservations.len()) }
                        td { a href=(format!("/ui/dhcp/scopes/{}", s.name)) { "Edit" } }
                    }
                }
            }
        } }
        @if scopes.is_empty() { p.hint #no-scopes { "The site has no DHCP scope." } }
    }
}

/// `GET /ui/dhcp`
async fn show(State(app): State<AppState>, Admin(viewer): Admin) -> Result<Response, UiError> {
    render(&app, &viewer, StatusCode::OK, None).await
}

/// The page, with what a change of the scopes did.
pub(super) async fn render(
    app: &AppState,
    viewer: &Viewer,
    code: StatusCode,
    shown: Option<Markup>,
) -> Result<Response, UiError> {
    let status = crate::api::dhcp::current(app);
    let leases = crate::api::dhcp::all_leases(app).await?;
    let doc = app.store.call(|s| s.export_site()).await?;
    // Chosen since the start (setup, or a scope's interface edited): DHCP starts there next time.
    let waiting = (app.dhcp_from_site && matches!(status, DhcpStatus::Off { .. }))
        .then(|| crate::dhcp::driver::interface_from_site(&doc, std::path::Path::new("/sys/class/net")))
        .flatten();
    let scopes = doc.dhcp_scopes;
    let now = crate::store::unix_now();
    let (state, said) = state_words(&status);
    let owner = super::owner::banner(app).await;
    let body = html! {
        main #dhcp-page {
            h1 { "DHCP" }
            (owner)
            @if let Some(m) = shown { (m) }
            section.card #dhcp-status data-state=(state) {
                h2 { "Server" }
                p { span class=(format!("badge {}", match state { "serving" => "up", "off" | "refused" => "down", _ => "unknown" })) data-f="state" { (state) } }
                p data-f="said" { (said) }
                @if let Some(interface) = waiting {
                    p.notice #dhcp-next-start { "A scope names interface " code { (interface) } ": DHCP serves there from the box's next start (Reboot on the System page)." }
                }
                h3 { "Another DHCP server on the segment" }
                p data-f="rival" { (rival_words(&status)) }
            }
            section.card {
                h2 { "Scopes" }
                p.hint { "From the site config (" code { "dhcp_scopes" } "), as the API and " code { "outpost config apply" } " change them; the interface DHCP serves on is " code { "[dhcp] interface" } " in outpost.toml." }
                (scopes_table(&scopes))
            }
            (add_form(viewer))
            section.card {
                h2 { "Leases" }
                div.scroll { table #leases {
                    thead { tr { th { "MAC" } th { "Address" } th { "Host name" } th { "Vendor" } th { "Scope" } th { "State" } th { "Expires" } } }
                    tbody {
                        @for l in &leases {
                            tr data-mac=(l.mac) {
                                td data-f="mac" { code { (l.mac) } }
                                td data-f="ip" { (l.ip.to_string()) }
                                td data-f="hostname" { (or_dash(&l.hostname)) }
                                td data-f="vendor" { (or_dash(&l.vendor)) }
                                td data-f="scope" { (l.scope) }
                                td data-f="state" { (l.state.as_str()) }
                                td data-f="expires" { (expiry(l, now)) }
                            }
                        }
                    }
                } }
                @if leases.is_empty() { p.hint #no-leases { "No lease handed out yet." } }
            }
        }
    };
    Ok((code, page::document("DHCP", Some(viewer), Nav::Dhcp, body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_the_rival_check_in_words() {
        let off = DhcpStatus::Off { reason: "no [dhcp] interface configured".into() };
        assert_eq!(state_words(&off), ("off", "Off: no [dhcp] interface configured.".to_owned()));
        assert!(rival_words(&off).starts_with("Not run"));
        let refused = DhcpStatus::Refused { interface: "eth0".into(), other_server: [10, 0, 0, 2].into(), seen_at: 0 };
        assert_eq!(state_words(&refused).0, "refused");
        assert!(rival_words(&refused).starts_with("10.0.0.2 answered at 1970-01-01 00:00 UTC"));
        let serving =
            DhcpStatus::Serving { interface: "eth0".into(), address: [10, 0, 0, 1].into(), scopes: vec!["lab".into()] };
        assert_eq!(state_words(&serving), ("serving", "Serving on eth0 (10.0.0.1): lab.".to_owned()));
    }

    #[test]
    fn expiry_says_expired_and_declined() {
        let mut l = Lease {
            ip: [10, 0, 0, 9].into(),
            mac: "00:15:65:00:00:01".into(),
            scope: "lab".into(),
            state: LeaseState::Bound,
            expires_at: 60,
            hostname: String::new(),
            vendor: String::new(),
        };
        assert_eq!(expiry(&l, 0), "1970-01-01 00:01 UTC");
        assert!(expiry(&l, 60).ends_with("(expired, kept for this client)"));
        l.state = LeaseState::Declined;
        assert!(expiry(&l, 0).contains("in use"));
    }
}
