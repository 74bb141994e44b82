//! The dashboard: phones registered or not, calls in progress, trunks and survivable mode,
//! DHCP leases, the last backup. The page is rendered whole once; `ui.js` then polls
//! `/ui/live.json` every 2 s and fills the same cells (`data-f`), without reloading.

use std::collections::HashSet;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::html;
use serde::Serialize;

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
    pub trunks: Vec<TrunkRow>,
    /// "normal", "survivable: <reason>", or "—" without SIP.
    pub mode: String,
    pub leases: usize,
    pub last_backup: String,
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
    let (doc, bindings, leases) =
        app.store.call(move |s| Ok((s.export_site()?, s.bindings(now)?, s.leases()?))).await?;
    let extensions = extension_rows(&doc, &bindings);
    let registered = extensions.iter().filter(|x| x.registered).count();
    let live_leases = leases.iter().filter(|l| l.expires_at > now).count();
    let calls = app.media.as_ref().map_or(0, |m| m.all().len());
    let (trunks, mode) = match &app.sip {
        Some(sip) => {
            let core = sip.core();
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
            let m = core.trunks.mode();
            (trunks, if m.survivable { format!("survivable: {}", m.reason) } else { "normal".to_owned() })
        }
        None => (Vec::new(), "—".to_owned()),
    };
    let last_backup = match app.backups.clone() {
        Some(l) => tokio::task::spawn_blocking(move || crate::backup::local::list(&l.data_dir))
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|all| all.iter().map(|(_, m)| m.created_at).max())
            .map_or_else(|| "none yet".to_owned(), utc),
        None => "not set up".to_owned(),
    };
    Ok(Live {
        registered,
        unregistered: extensions.len() - registered,
        extensions,
        calls,
        trunks,
        mode,
        leases: live_leases,
        last_backup,
    })
}

/// `2026-12-02 16:51 UTC`.
pub fn utc(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map_or_else(|_| unix.to_string(), |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
}

/// `GET /ui/`
pub async fn page(State(app): State<AppState>, Admin(viewer): Admin) -> Result<Response, UiError> {
    let live = gather(&app).await?;
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
        }
    };
    Ok(page::document("Dashboard", Some(&viewer), Nav::Dashboard, body).into_response())
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
    fn times_read_as_people_write_them() {
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13 UTC");
    }
}
