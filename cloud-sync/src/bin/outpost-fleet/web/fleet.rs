//! The fleet list: every box the fleet knows, with its state and alerts, filtered by state and
//! text. The page is whole without script; `fleet.js` refreshes the rows from `/live/fleet.json`
//! every 2 s and filters as the operator types.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cloud_sync::{BoxState, Outcome};
use maud::html;
use serde::{Deserialize, Serialize};

use super::page::{self, Nav};
use super::session::Viewer;
use crate::api::App;
use crate::store::views::BoxRow;

/// A box without a complete backup this recent is flagged.
pub const BACKUP_ALERT_SECS: i64 = 48 * 3600;

/// One row of the list, every cell ready to show (the script only copies text).
#[derive(Debug, Clone, Serialize)]
pub struct BoxLine {
    pub id: String,
    pub tenant: String,
    /// `online`, `offline` or `unknown` (never connected since the fleet knew it).
    pub state: &'static str,
    pub seen: String,
    pub mode: String,
    pub version: String,
    pub registrations: String,
    pub calls: String,
    pub revision: String,
    pub backup: String,
    pub alerts: Vec<String>,
}

pub fn state(row: &BoxRow) -> &'static str {
    match row.status.as_ref().map(|s| s.state) {
        Some(BoxState::Online) => "online",
        Some(BoxState::Offline) => "offline",
        None => "unknown",
    }
}

/// What needs an operator's eye, in a few words each.
pub fn alerts(row: &BoxRow, now: i64) -> Vec<String> {
    let mut out = Vec::new();
    match state(row) {
        "offline" => out.push("offline".to_owned()),
        "unknown" => out.push("never connected".to_owned()),
        _ => {}
    }
    if let Some(r) = &row.reported {
        match &r.outcome {
            Some(Outcome::Rejected { reasons }) => out.push(format!("config rejected ({} reasons)", reasons.len())),
            Some(Outcome::Conflict { base_revision, current_revision }) => out.push(format!(
                "config conflict: pushed from revision {base_revision}, the box is at {current_revision}"
            )),
            _ => {}
        }
        if r.local_edits {
            out.push("edited on the box".to_owned());
        }
    }
    if row.telemetry.as_ref().and_then(|t| t.survivable) == Some(true) {
        out.push("survivable mode".to_owned());
    }
    if row.last_backup.is_none_or(|t| now - t > BACKUP_ALERT_SECS) {
        out.push("no backup in 48 h".to_owned());
    }
    out
}

pub fn line(row: &BoxRow, now: i64) -> BoxLine {
    let t = row.telemetry.as_ref();
    let seen = match (row.status.as_ref(), row.telemetry_at) {
        (_, Some(at)) => page::ago(now, at),
        // No telemetry yet: the status only says when the box connected.
        (Some(s), None) => format!("connected {}", page::ago(now, s.at as i64)),
        (None, None) => "never".to_owned(),
    };
    BoxLine {
        id: row.box_id.clone(),
        tenant: row.tenant.clone().unwrap_or_default(),
        state: state(row),
        seen,
        mode: match t.and_then(|t| t.survivable) {
            Some(true) => "survivable".to_owned(),
            Some(false) => "normal".to_owned(),
            None => "—".to_owned(),
        },
        version: t
            .map(|t| t.version.clone())
            .or_else(|| row.status.as_ref().map(|s| s.version.clone()))
            .unwrap_or_default(),
        registrations: page::count(t.and_then(|t| t.registrations)),
        calls: page::count(t.and_then(|t| t.active_calls)),
        revision: page::count(row.reported.as_ref().map(|r| r.revision).or(t.map(|t| t.revision))),
        backup: row.last_backup.map_or_else(|| "never".to_owned(), |at| page::ago(now, at)),
        alerts: alerts(row, now),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    #[serde(default)]
    state: String,
    #[serde(default)]
    q: String,
}

impl Filter {
    /// The same rule as `fleet.js`'s, for the page without script.
    fn keeps(&self, l: &BoxLine) -> bool {
        let state_ok = match self.state.as_str() {
            "online" | "offline" | "unknown" => l.state == self.state,
            "alerts" => !l.alerts.is_empty(),
            _ => true,
        };
        let q = self.q.trim().to_lowercase();
        state_ok && (q.is_empty() || haystack(l).contains(&q))
    }
}

/// What the text filter searches.
fn haystack(l: &BoxLine) -> String {
    format!("{} {} {} {}", l.id, l.tenant, l.version, l.alerts.join(" ")).to_lowercase()
}

fn lines(app: &App) -> Result<Vec<BoxLine>, crate::store::StoreError> {
    let now = crate::store::now();
    Ok(app.store.fleet_rows()?.iter().map(|r| line(r, now)).collect())
}

/// `GET /`
pub async fn page(State(app): State<App>, viewer: Viewer, Query(filter): Query<Filter>) -> Response {
    let all = match lines(&app) {
        Ok(l) => l,
        Err(e) => return page::store_failed(e),
    };
    let online = all.iter().filter(|l| l.state == "online").count();
    let alerting = all.iter().filter(|l| !l.alerts.is_empty()).count();
    let states = [("", "All"), ("online", "Online"), ("offline", "Offline"), ("alerts", "With alerts")];
    let body = html! {
        main #fleet-page data-poll="/live/fleet.json" {
            h1 { "Boxes" }
            p.summary {
                span #count-total { (all.len()) } " boxes, "
                span #count-online { (online) } " online, "
                span #count-alerts { (alerting) } " with alerts"
            }
            form #filter.filters method="get" action="/" {
                label { "State"
                    select name="state" {
                        @for (value, label) in states {
                            option value=(value) selected[filter.state == value] { (label) }
                        }
                    }
                }
                label.grow { "Search" input type="search" name="q" value=(filter.q) placeholder="box, tenant, version, alert"; }
                button type="submit" { "Filter" }
            }
            div.scroll {
                table #fleet.boxes {
                    thead { tr {
                        th { "Box" } th { "State" } th { "Mode" } th { "Version" } th { "Phones" }
                        th { "Calls" } th { "Config" } th { "Last backup" } th { "Alerts" }
                    } }
                    tbody {
                        @for l in &all {
                            tr data-box=(l.id) data-state=(l.state) data-alerts=(l.alerts.len()) data-text=(haystack(l))
                               hidden[!filter.keeps(l)] {
                                td data-label="Box" { a href={ "/box/" (l.id) } { (l.id) } br; small data-f="tenant" { (l.tenant) } }
                                td data-label="State" { span class={ "state " (l.state) } data-f="state" { (l.state) } " " small data-f="seen" { (l.seen) } }
                                td data-label="Mode" data-f="mode" { (l.mode) }
                                td data-label="Version" data-f="version" { (l.version) }
                                td data-label="Phones" data-f="registrations" { (l.registrations) }
                                td data-label="Calls" data-f="calls" { (l.calls) }
                                td data-label="Config" data-f="revision" { (l.revision) }
                                td data-label="Last backup" data-f="backup" { (l.backup) }
                                td data-label="Alerts" { ul.alerts data-f="alerts" { @for a in &l.alerts { li { (a) } } } }
                            }
                        }
                    }
                }
            }
            @if all.is_empty() {
                p.hint #empty { "No box has connected yet. Make a claim code for a new box on " a href="/claims" { "Claim codes" } "." }
            }
        }
    };
    page::document("Boxes", Some(&viewer), Nav::Fleet, body).into_response()
}

/// `GET /live/fleet.json`: the rows for `fleet.js`.
pub async fn live(State(app): State<App>, _viewer: Viewer) -> Response {
    match lines(&app) {
        Ok(l) => Json(serde_json::json!({ "boxes": l })).into_response(),
        Err(e) => page::store_failed(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cloud_sync::{Reason, Reported, Status, Telemetry};

    #[test]
    fn alerts_name_offline_rejections_survivable_mode_and_old_backups() {
        let now = 1_000_000;
        let mut reported = Reported::new(3);
        reported.outcome = Some(Outcome::Rejected { reasons: vec![Reason { field: "a".into(), reason: "b".into() }] });
        let row = BoxRow {
            box_id: "b1".into(),
            status: Some(Status::new(BoxState::Offline, 1, "0.1.0", 0)),
            telemetry: Some(Telemetry { survivable: Some(true), ..Telemetry::new(0, "0.1.0", 5, 1, 3) }),
            reported: Some(reported),
            last_backup: Some(now - BACKUP_ALERT_SECS - 1),
            ..BoxRow::default()
        };
        assert_eq!(
            alerts(&row, now),
            ["offline", "config rejected (1 reasons)", "survivable mode", "no backup in 48 h"]
        );
        let fine = BoxRow {
            status: Some(Status::new(BoxState::Online, 1, "0.1.0", 0)),
            last_backup: Some(now - 10),
            ..BoxRow::default()
        };
        assert!(alerts(&fine, now).is_empty());
        let l = line(&row, now);
        assert_eq!((l.state, l.mode.as_str(), l.revision.as_str()), ("offline", "survivable", "3"));
        assert!(Filter { state: "alerts".into(), q: "REJECTED".into() }.keeps(&l));
        assert!(!Filter { state: "online".into(), q: String::new() }.keeps(&l));
    }
}
