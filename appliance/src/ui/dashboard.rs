//! The dashboard: phones registered or not, calls in progress, trunks and survivable mode,
//! DHCP leases, the last backup, the alerts (`alerts`), the 24 h chart (`chart`, drawn once per load). The page is rendered whole once; `ui.js` then polls
//! `/ui/live.json` every 2 s and fills the same cells (`data-f`), without reloading.

use std::collections::HashSet;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::html;
use serde::Serialize;

use super::alerts::{self, Alert, Backups, Snapshot};
use super::page::{self, Nav};
use super::session::Admin;
use super::UiError;
use crate::api::AppState;
use crate::sip::location::Binding;
use crate::site::SiteDoc;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExtensionRow {
    pub tenant: String,
    pub number: String,
    pub name: String,
    pub registered: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrunkRow {
    pub tenant: String,
    pub name: String,
    pub state: String,
}

/// What the dashboard shows, as `/ui/live.json` sends it.
#[derive(Debug, Clone, Serialize)]
pub struct Live {
    pub registered: usize,
    pub unregistered: usize,
    pub extensions: Vec<ExtensionRow>,
    pub calls: usize,
    /// The calls in progress, oldest first (`live_calls`).
    pub calls_now: Vec<super::live_calls::CallRow>,
    pub trunks: Vec<TrunkRow>,
    /// "normal", "normal since <when>", "survivable since <when>: <reason>", or "—" without SIP.
    pub mode: String,
    pub leases: usize,
    pub last_backup: String,
    /// The cloud link in words: not set up, up or down since when, the last sync.
    pub cloud: String,
    /// What needs attention, the worst first (`alerts`).
    pub alerts: Vec<Alert>,
}

/// Every extension of the document with whether a live binding exists for it.
pub fn extension_rows(doc: &SiteDoc, bindings: &[Binding]) -> Vec<ExtensionRow> {
    let live: HashSet<(&str, &str)> = bindings.iter().map(|b| (b.tenant.as_str(), b.aor.as_str())).collect();
    doc.tenants
        .iter()
        .flat_map(|t| {
            t.extensions.iter().map(|x| ExtensionRow {
                tenant: t.name.clone(),
                number: x.number.clone(),
                name: x.name.clone(),
                registered: live.contains(&(t.name.as_str(), x.number.as_str())),
            })
        })
        .collect()
}

/// Gathers the figures from the store and the running services.
pub async fn gather(app: &AppState) -> Result<Live, UiError> {
    let now = crate::store::unix_now();
    let (doc, bindings, leases, discovered) =
        app.store.call(move |s| Ok((s.export_site()?, s.bindings(now)?, s.leases()?, s.discovered()?))).await?;
    let extensions = extension_rows(&doc, &bindings);
    let registered = extensions.iter().filter(|x| x.registered).count();
    let live_leases = leases.iter().filter(|l| l.expires_at > now).count();
    let media = app.media.as_ref().map(|m| m.all()).unwrap_or_default();
    let (trunks, survivable, calls_now) = match &app.sip {
        Some(sip) => {
            let core = sip.core();
            let calls_now = super::live_calls::rows(&core.b2bua.in_progress(), &media, crate::sip::bridge::name, now);
            let trunks = core
                .trunks
                .status()
                .into_iter()
                .map(|s| TrunkRow {
                    tenant: s.key.tenant.clone(),
                    name: s.key.name.clone(),
                    state: s.state.as_str().to_owned(),
                })
                .collect();
            (trunks, Some(core.trunks.mode()), calls_now)
        }
        None => (Vec::new(), None, Vec::new()),
    };
    let mode = mode_words(survivable.as_ref());
    let survivable = survivable.map(|m| m.survivable.then_some(m.reason));
    let (backups, disk) = match app.backups.clone() {
        Some(l) => tokio::task::spawn_blocking(move || {
            let last =
                crate::backup::local::list(&l.data_dir).ok().map(|all| all.iter().map(|(_, m)| m.created_at).max());
            let backups = match last {
                Some(Some(at)) => Backups::Last(at),
                Some(None) => Backups::None,
                // Unreadable: the backups page says why; no alert on a guess.
                None => Backups::Off,
            };
            (backups, alerts::disk(&l.data_dir))
        })
        .await
        .unwrap_or((Backups::Off, None)),
        None => (Backups::Off, None),
    };
    let last_backup = match (&app.backups, backups) {
        (None, _) => "not set up".to_owned(),
        (Some(_), Backups::Last(at)) => utc(at),
        (Some(_), _) => "none yet".to_owned(),
    };
    let bans = super::security::bans(app, now);
    let sip_bans = bans.iter().filter(|b| b.service == super::security::Service::Sip).count();
    let refused: f64 = app
        .metrics
        .by_label("outpost_provision_requests_total", "outcome")
        .iter()
        .filter(|(o, _)| o == "auth_failed" || o == "mac_mismatch")
        .map(|(_, n)| n)
        .sum();
    // A counter: whole and non-negative.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let provisioning_refused = refused.max(0.0) as u64;
    let snapshot = Snapshot {
        now,
        sip_bans,
        provisioning_bans: bans.len() - sip_bans,
        unknown_devices: discovered.iter().filter(|d| d.last_seen > now - 24 * 3600).count(),
        provisioning_refused,
        disk,
        survivable: survivable.flatten(),
        backups,
    };
    Ok(Live {
        registered,
        unregistered: extensions.len() - registered,
        extensions,
        calls: calls_now.len(),
        calls_now,
        cloud: cloud_words(app.cloud.as_ref().map(|a| a.view())),
        trunks,
        mode,
        leases: live_leases,
        last_backup,
        alerts: alerts::alerts(&snapshot),
    })
}

/// The survivable mode in words, with when it last changed ("—" without SIP).
pub fn mode_words(mode: Option<&crate::trunk::survivable::ModeStatus>) -> String {
    match mode {
        None => "—".to_owned(),
        Some(m) => match (m.survivable, m.since_unix) {
            (true, Some(at)) => format!("survivable since {}: {}", utc(at), m.reason),
            (true, None) => format!("survivable: {}", m.reason),
            (false, Some(at)) => format!("normal since {}", utc(at)),
            (false, None) => "normal".to_owned(),
        },
    }
}

/// The cloud link in words for the dashboard.
pub fn cloud_words(view: Option<crate::sync::LinkView>) -> String {
    let Some(v) = view else { return "not set up".to_owned() };
    let link = match (v.connected, v.since) {
        (true, Some(at)) => format!("connected since {}", utc(at)),
        (false, Some(at)) => format!("down since {}", utc(at)),
        (_, None) => "connecting".to_owned(),
    };
    match (v.last_sync, v.last_sync_revision) {
        (Some(at), Some(revision)) => format!("{link}; last sync {} (revision {revision})", utc(at)),
        _ => format!("{link}; not synced yet"),
    }
}

/// `2026-12-02 16:51 UTC`.
pub fn utc(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map_or_else(|_| unix.to_string(), |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
}

/// `GET /ui/`
pub async fn page(State(app): State<AppState>, Admin(viewer): Admin) -> Result<Response, UiError> {
    let live = gather(&app).await?;
    let now = crate::store::unix_now();
    let since = super::chart::since(now);
    let calls = app.store.call(move |s| s.calls_per_hour(since)).await?;
    let registered_now = u32::try_from(live.registered).unwrap_or(u32::MAX);
    let hours = super::chart::hours(now, &calls, &app.registrations.all(), registered_now);
    let body = html! {
        main #dashboard {
            h1 { "Dashboard" }
            section.tiles {
                div.tile { span.label { "Registered" } span.big.ok data-f="registered" { (live.registered) } }
                div.tile { span.label { "Not registered" } span.big.warn data-f="unregistered" { (live.unregistered) } }
                div.tile { span.label { "Calls now" } span.big data-f="calls" { (live.calls) } }
                div.tile { span.label { "DHCP leases" } span.big data-f="leases" { (live.leases) } }
                div.tile { span.label { "Mode" } span data-f="mode" { (live.mode) } }
                div.tile { span.label { "Last backup" } span data-f="last_backup" { (live.last_backup) } }
                div.tile { span.label { "Cloud" } span data-f="cloud" { (live.cloud) } }
            }
            section.card #alerts {
                h2 { "Alerts" }
                (alert_list(&live.alerts))
            }
            section.card {
                h2 { "Phones" }
                table #phones {
                    thead { tr { th { "Extension" } th { "Name" } th { "Tenant" } th { "State" } } }
                    tbody {
                        @for x in &live.extensions {
                            tr data-ext=(format!("{}/{}", x.tenant, x.number)) {
                                td { (x.number) } td { (x.name) } td { (x.tenant) }
                                td { (state_badge(x.registered)) }
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { "Calls in progress" }
                div.scroll { table #calls-now {
                    thead { tr { th { "From" } th { "Dialled" } th { "Answered by" } th { "State" } th { "Time" } th { "Quality" } } }
                    tbody {
                        @for c in &live.calls_now {
                            tr {
                                td { (c.caller) } td { (c.dialled) } td { (c.callee) } td { (c.state) } td { (c.time) }
                                td { span class=(format!("quality {}", c.quality.replace(' ', "-"))) { (c.quality) }
                                    @if c.quality != "no media yet" { " (" (c.loss_pct) " % lost, " (c.jitter_ms) " ms jitter)" } }
                            }
                        }
                    }
                } }
                p.hint #no-calls hidden[!live.calls_now.is_empty()] { "No call right now." }
            }
            section.card {
                h2 { "Trunks" }
                table #trunks {
                    thead { tr { th { "Trunk" } th { "Tenant" } th { "State" } } }
                    tbody {
                        @for t in &live.trunks {
                            tr { td { (t.name) } td { (t.tenant) } td { span class=(format!("badge {}", t.state)) { (t.state) } } }
                        }
                    }
                }
                @if live.trunks.is_empty() { p.hint #no-trunks { "No trunks configured." } }
            }
            section.card #chart {
                h2 { "Last 24 hours" }
                p.legend {
                    span.key.calls { "Calls started" } " "
                    span.key.registered { "Extensions registered" }
                    " (per hour, UTC; the registrations are sampled every 5 minutes since the box started)"
                }
                (super::chart::svg(&hours))
            }
        }
    };
    Ok(page::document("Dashboard", Some(&viewer), Nav::Dashboard, body).into_response())
}

/// The alerts as a list; `ui.js` builds the same from `/ui/live.json`.
pub fn alert_list(list: &[Alert]) -> maud::Markup {
    html! {
        ul #alert-list {
            @for a in list {
                li class=(format!("alert {}", a.severity.as_str()))
                    data-alert=(a.key) { a href=(a.link) { (a.text) } }
            }
            @if list.is_empty() { li.hint #no-alerts { "Nothing needs attention." } }
        }
    }
}

/// The registration state as a badge; `ui.js` writes the same words.
pub fn state_badge(registered: bool) -> maud::Markup {
    if registered {
        html! { span.badge.up data-f="state" { "registered" } }
    } else {
        html! { span.badge.down data-f="state" { "unregistered" } }
    }
}

/// `GET /ui/live.json`
pub async fn live(State(app): State<AppState>, Admin(_): Admin) -> Result<Json<Live>, UiError> {
    Ok(Json(gather(&app).await?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::site::{Extension, Tenant};

    fn binding(tenant: &str, aor: &str) -> Binding {
        Binding {
            tenant: tenant.into(),
            aor: aor.into(),
            contact: format!("sip:{aor}@192.0.2.1"),
            expires_at: 0,
            source: String::new(),
            user_agent: String::new(),
            call_id: String::new(),
            cseq: 1,
        }
    }

    #[test]
    fn an_extension_is_registered_only_with_a_binding_of_its_own_tenant() {
        let ext = |n: &str| Extension { number: n.into(), ..Extension::default() };
        let tenant = |name: &str| Tenant {
            name: name.into(),
            extensions: vec![ext("201"), ext("202")],
            ..serde_json::from_value(serde_json::json!({"name": name, "domains": []})).unwrap()
        };
        let doc = SiteDoc { tenants: vec![tenant("a"), tenant("b")], ..SiteDoc::default() };
        let rows = extension_rows(&doc, &[binding("a", "201"), binding("b", "202")]);
        let reg: Vec<_> = rows.iter().filter(|r| r.registered).map(|r| format!("{}/{}", r.tenant, r.number)).collect();
        assert_eq!(reg, ["a/201", "b/202"]);
        assert_eq!(rows.len(), 4);
    }

    #[test]
    fn the_mode_says_when_it_last_changed() {
        use crate::trunk::survivable::ModeStatus;
        assert_eq!(mode_words(None), "—");
        let normal = ModeStatus { survivable: false, since_unix: None, reason: String::new() };
        assert_eq!(mode_words(Some(&normal)), "normal");
        let down = ModeStatus { survivable: true, since_unix: Some(1_700_000_000), reason: "cloud down".into() };
        assert_eq!(mode_words(Some(&down)), "survivable since 2023-11-14 22:13 UTC: cloud down");
        let back = ModeStatus { survivable: false, since_unix: Some(1_700_000_060), reason: String::new() };
        assert_eq!(mode_words(Some(&back)), "normal since 2023-11-14 22:14 UTC");
    }

    #[test]
    fn the_cloud_link_in_words() {
        use crate::sync::LinkView;
        assert_eq!(cloud_words(None), "not set up");
        assert_eq!(cloud_words(Some(LinkView::default())), "connecting; not synced yet");
        let up = LinkView {
            connected: true,
            since: Some(1_700_000_000),
            last_sync: Some(1_700_000_060),
            last_sync_revision: Some(7),
        };
        assert_eq!(
            cloud_words(Some(up)),
            "connected since 2023-11-14 22:13 UTC; last sync 2023-11-14 22:14 UTC (revision 7)"
        );
        let down = LinkView { connected: false, ..up };
        assert!(cloud_words(Some(down)).starts_with("down since"));
    }

    #[test]
    fn times_read_as_people_write_them() {
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13 UTC");
    }
}
