//! The security page: the source addresses banned right now (by the SIP defences for failed
//! digest authentications, or by provisioning's MAC-scan guard), why and until when, each with
//! an "Unban" button; the networks each of them trusts (the allowlists, from `outpost.toml`,
//! read-only, and those added on the box, `ui::trusted`); and the failed logins and bans
//! counted since the box started.
//!
//! Bans live in memory, in the services that make them (`sip::defence`,
//! `provision::guard`): the page reads and lifts them there, as `GET /api/v1/sip/bans`,
//! `DELETE /api/v1/sip/bans/:address` and their provisioning twins do. The counts are the
//! box's metrics (`/metrics`), not a second set of counters.

use std::net::IpAddr;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::dashboard::utc;
use super::page::{self, csrf_field, notice, Nav};
use super::session::{Admin, Posted, Viewer};
use super::UiError;
use crate::api::AppState;
use crate::metrics::Metrics;
use crate::sip::defence::Cidr;

pub fn routes() -> Router<AppState> {
    Router::new().route("/ui/security", get(list)).route("/ui/security/unban", post(unban))
}

/// Which service holds a ban.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Sip,
    Provisioning,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Sip => "sip",
            Service::Provisioning => "provisioning",
        }
    }

    fn parse(s: &str) -> Option<Service> {
        [Service::Sip, Service::Provisioning].into_iter().find(|x| x.as_str() == s)
    }

    fn label(self) -> &'static str {
        match self {
            Service::Sip => "SIP",
            Service::Provisioning => "Provisioning",
        }
    }
}

/// One ban as the page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanRow {
    pub service: Service,
    pub address: IpAddr,
    pub why: String,
    /// Unix time the ban ends.
    pub until: i64,
    pub seconds_left: u64,
}

/// The counts since the box started, from its metrics; `None` where the service does not run.
#[derive(Debug, Clone, PartialEq)]
pub struct Counts {
    pub sip_auth_failed: Option<f64>,
    pub sip_dropped_banned: Option<f64>,
    pub logins_failed: f64,
    pub logins_blocked: f64,
    pub provisioning_bans: Option<f64>,
}

/// The sum of `name`'s series whose `label` is one of `values`.
fn sum_of(metrics: &Metrics, name: &str, label: &str, values: &[&str]) -> f64 {
    metrics.by_label(name, label).iter().filter(|(v, _)| values.contains(&v.as_str())).map(|(_, n)| n).sum()
}

pub fn counts(metrics: &Metrics) -> Counts {
    let sip = metrics.total("outpost_sip_requests_total").is_some();
    let sip_outcome = |values: &[&str]| sip.then(|| sum_of(metrics, "outpost_sip_requests_total", "outcome", values));
    Counts {
        sip_auth_failed: sip_outcome(&["register_auth_failed", "invite_auth_failed"]),
        sip_dropped_banned: sip_outcome(&["banned"]),
        logins_failed: sum_of(metrics, "outpost_api_logins_total", "result", &["failed"]),
        logins_blocked: sum_of(metrics, "outpost_api_logins_total", "result", &["blocked"]),
        provisioning_bans: metrics.total("outpost_provision_bans_total"),
    }
}

/// Every ban of the running services, SIP first, each by address.
pub(super) fn bans(app: &AppState, now_unix: i64) -> Vec<BanRow> {
    let until = |left: u64| now_unix.saturating_add(i64::try_from(left).unwrap_or(i64::MAX));
    let mut rows = Vec::new();
    if let Some(sip) = &app.sip {
        let list = sip.core().defence.bans(std::time::Instant::now());
        rows.extend(list.into_iter().map(|b| BanRow {
            service: Service::Sip,
            address: b.address,
            why: b.reason,
            until: until(b.seconds_left),
            seconds_left: b.seconds_left,
        }));
    }
    if let Some(prov) = &app.provisioning {
        rows.extend(prov.bans().into_iter().map(|b| BanRow {
            service: Service::Provisioning,
            address: b.address,
            why: "asked for too many unknown phones' files (a MAC scan)".to_owned(),
            until: until(b.seconds_left),
            seconds_left: b.seconds_left,
        }));
    }
    rows
}

/// "14 min left", "40 s left".
pub fn left(seconds: u64) -> String {
    if seconds >= 120 {
        format!("{} min left", seconds.div_ceil(60))
    } else {
        format!("{seconds} s left")
    }
}

/// A count as a whole number ("—" where the service does not run). An empty sum of floats is
/// -0, and a count never is.
fn count(n: Option<f64>) -> String {
    n.map_or_else(|| "—".to_owned(), |n| (n.round() as u64).to_string())
}

fn allowlist(title: &str, id: &str, list: Option<&[Cidr]>) -> Markup {
    html! {
        h3 { (title) }
        @match list {
            None => p.hint { "Not running on this box." },
            Some([]) => p.hint #(id) { "None: every address is counted and can be banned." },
            Some(list) => ul #(id) { @for c in list { li { code { (c.to_string()) } } } },
        }
    }
}

pub(super) async fn render(app: &AppState, viewer: &Viewer, code: StatusCode, shown: Option<Markup>) -> Response {
    let now = crate::store::unix_now();
    let rows = bans(app, now);
    let c = counts(&app.metrics);
    let sip_allow: Option<Vec<Cidr>> = app.sip.as_ref().map(|s| s.core().defence.allowlist().to_vec());
    let prov_allow: Option<Vec<Cidr>> = app.provisioning.as_ref().map(|p| p.allowlist());
    let added = app.store.call(|s| s.trusted_networks()).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read the trusted networks");
        Vec::new()
    });
    let body = html! {
        main #security-page {
            h1 { "Security" }
            @if let Some(m) = shown { (m) }
            div.tiles #security-counts {
                div.tile { span.big data-f="banned" { (rows.len()) } span.label { "addresses banned now" } }
                div.tile { span.big data-f="sip-auth-failed" { (count(c.sip_auth_failed)) } span.label { "failed SIP authentications" } }
                div.tile { span.big data-f="sip-dropped" { (count(c.sip_dropped_banned)) } span.label { "SIP requests of banned sources dropped" } }
                div.tile { span.big data-f="logins-failed" { (count(Some(c.logins_failed))) } span.label { "failed logins (web UI, portal, API)" } }
                div.tile { span.big data-f="logins-blocked" { (count(Some(c.logins_blocked))) } span.label { "logins refused: too many failures" } }
                div.tile { span.big data-f="provisioning-bans" { (count(c.provisioning_bans)) } span.label { "provisioning bans (MAC scans)" } }
            }
            p.hint { "Counted since the box started." }
            section.card {
                h2 { "Banned addresses" }
                p.hint { "A banned address gets no answer at all from that service until the ban ends or is lifted here." }
                div.scroll { table #bans {
                    thead { tr { th { "Service" } th { "Address" } th { "Why" } th { "Until" } th {} } }
                    tbody {
                        @for b in &rows {
                            tr data-service=(b.service.as_str()) data-address=(b.address.to_string()) {
                                td { (b.service.label()) }
                                td { code { (b.address.to_string()) } }
                                td data-f="why" { (b.why) }
                                td data-f="until" { (utc(b.until)) " (" (left(b.seconds_left)) ")" }
                                td {
                                    form.unban method="post" action="/ui/security/unban" {
                                        (csrf_field(viewer))
                                        input type="hidden" name="service" value=(b.service.as_str());
                                        input type="hidden" name="address" value=(b.address.to_string());
                                        button type="submit" { "Unban" }
                                    }
                                }
                            }
                        }
                    }
                } }
                @if rows.is_empty() { p.hint #no-bans { "No address is banned." } }
            }
            section.card #allowlists {
                h2 { "Trusted networks" }
                p.hint { "Never rate-limited or banned. Those of outpost.toml (" code { "[sip] allowlist" } ", " code { "[provision] allowlist" } ") are read-only here; those added on the box take effect at once and lift the bans inside them." }
                (allowlist("SIP (outpost.toml)", "sip-allowlist", sip_allow.as_deref()))
                (allowlist("Provisioning (outpost.toml)", "provisioning-allowlist", prov_allow.as_deref()))
                (super::trusted::card(&added, viewer))
            }
        }
    };
    (code, page::document("Security", Some(viewer), Nav::Security, body)).into_response()
}

/// `GET /ui/security`
async fn list(State(app): State<AppState>, Admin(viewer): Admin) -> Result<Response, UiError> {
    Ok(render(&app, &viewer, StatusCode::OK, None).await)
}

#[derive(Deserialize)]
struct UnbanForm {
    service: String,
    address: String,
}

/// `POST /ui/security/unban`: lifts one ban, as `DELETE /api/v1/{sip,provision}/bans/:address`.
async fn unban(State(app): State<AppState>, posted: Posted<UnbanForm>) -> Result<Response, UiError> {
    let Posted { viewer, form: f } = posted;
    let address = f.address.trim();
    let (Some(service), Ok(ip)) = (Service::parse(&f.service), address.parse::<IpAddr>()) else {
        let said = notice(false, &format!("Not unbanned: `{address}` of `{}` is no ban.", f.service));
        return Ok(render(&app, &viewer, StatusCode::UNPROCESSABLE_ENTITY, Some(said)).await);
    };
    let lifted = match service {
        Service::Sip => app.sip.as_ref().map(|s| s.core().defence.lift(ip)),
        Service::Provisioning => app.provisioning.as_ref().map(|p| p.lift_ban(ip)),
    };
    let (code, said) = match lifted {
        Some(true) => {
            tracing::info!(%ip, service = service.as_str(), by = %viewer.username, "ban lifted in the web UI");
            (StatusCode::OK, notice(true, &format!("{ip} unbanned ({}).", service.label())))
        }
        Some(false) => (
            StatusCode::OK,
            notice(false, &format!("{ip} was not banned ({}): its ban may have ended.", service.label())),
        ),
        None => (
            StatusCode::NOT_FOUND,
            notice(false, &format!("Not unbanned: {} does not run on this box.", service.label())),
        ),
    };
    Ok(render(&app, &viewer, code, Some(said)).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counts_come_from_the_metrics_and_services_not_running_show_none() {
        let m = Metrics::new();
        m.inc("outpost_api_logins_total", &[("result", "failed")]);
        m.inc("outpost_api_logins_total", &[("result", "failed")]);
        m.inc("outpost_api_logins_total", &[("result", "ok")]);
        let c = counts(&m);
        assert_eq!((c.logins_failed, c.logins_blocked), (2.0, 0.0));
        assert_eq!((c.sip_auth_failed, c.provisioning_bans), (None, None));
        assert_eq!((count(Some(c.logins_blocked)), count(None)), ("0".to_owned(), "—".to_owned()));
        m.inc("outpost_sip_requests_total", &[("transport", "udp"), ("outcome", "register_auth_failed")]);
        m.inc("outpost_sip_requests_total", &[("transport", "tcp"), ("outcome", "invite_auth_failed")]);
        m.inc("outpost_sip_requests_total", &[("transport", "udp"), ("outcome", "banned")]);
        m.inc("outpost_sip_requests_total", &[("transport", "udp"), ("outcome", "register_registered")]);
        let c = counts(&m);
        assert_eq!((c.sip_auth_failed, c.sip_dropped_banned), (Some(2.0), Some(1.0)));
    }

    #[test]
    fn time_left_in_words_and_services_by_name() {
        assert_eq!(
            (left(40), left(119), left(900), left(901)),
            ("40 s left".into(), "119 s left".into(), "15 min left".into(), "16 min left".into())
        );
        assert_eq!(Service::parse("sip"), Some(Service::Sip));
        assert_eq!(Service::parse("provisioning"), Some(Service::Provisioning));
        assert_eq!(Service::parse("dhcp"), None);
    }
}
