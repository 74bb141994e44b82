//! The audit log page: who changed what on the box and when, newest first; the store's audit
//! query (`Store::audit_log`), the same rows as `GET /api/v1/audit`, with the same limit
//! (100 by default, at most 1000). Read-only, so a GET form picks how many rows to show.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::html;
use serde::Deserialize;

use super::page::{self, notice, Nav};
use super::session::Admin;
use super::UiError;
use crate::api::AppState;
use crate::store::audit::AuditEntry;

pub fn routes() -> Router<AppState> {
    Router::new().route("/ui/audit", get(page))
}

/// Rows shown unless the form asks for another count (the API's default).
const DEFAULT_ROWS: u32 = 100;
/// The most rows a page shows (the API's maximum).
const MAX_ROWS: u32 = 1000;
const CHOICES: [u32; 4] = [50, 100, 500, 1000];

#[derive(Debug, Default, Deserialize)]
struct Rows {
    #[serde(default)]
    limit: String,
}

/// The form's count: empty is the default; a number is held to 1..=1000.
fn rows(limit: &str) -> Result<u32, String> {
    let limit = limit.trim();
    if limit.is_empty() {
        return Ok(DEFAULT_ROWS);
    }
    limit
        .parse::<u32>()
        .map(|n| n.clamp(1, MAX_ROWS))
        .map_err(|_| format!("`{limit}` is not a number of rows: showing {DEFAULT_ROWS}"))
}

/// Who acted, in words: the actor is `ui:<user>`, `api:<user>`, `cloud:<author>`, `cli`
/// or `system` (see the writers of `audit_log`).
pub fn who(actor: &str) -> String {
    if let Some(user) = actor.strip_prefix("ui:") {
        format!("{user} (web UI)")
    } else if let Some(user) = actor.strip_prefix("api:") {
        format!("{user} (API)")
    } else if let Some(author) = actor.strip_prefix("cloud:") {
        format!("{author} (cloud)")
    } else {
        match actor {
            "cli" => "outpost config apply (command line)".to_owned(),
            "system" => "the box".to_owned(),
            other => other.to_owned(),
        }
    }
}

/// What was done, in words (an action this page does not know reads as it is stored).
pub fn what(action: &str) -> &str {
    match action {
        "config.apply" => "site config changed",
        "admin.create" => "admin account created",
        "admin.password" => "admin password set",
        "portal.password" => "portal password set",
        "portal.remove" => "portal access removed",
        "system.reboot" => "reboot asked for",
        "system.factory-reset" => "factory reset asked for",
        "update.staged" => "update bundle staged",
        "cloud.claim" => "box claimed into a cloud fleet",
        "trusted.add" => "network trusted",
        "trusted.remove" => "network no longer trusted",
        other => other,
    }
}

/// `2026-12-04 19:48:12 UTC`: to the second, as the log is.
fn at(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map_or_else(|_| unix.to_string(), |t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// `GET /ui/audit[?limit=N]`
async fn page(State(app): State<AppState>, Admin(viewer): Admin, q: Option<Query<Rows>>) -> Result<Response, UiError> {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let (code, limit, said) = match rows(&q.limit) {
        Ok(n) => (StatusCode::OK, n, None),
        Err(why) => (StatusCode::UNPROCESSABLE_ENTITY, DEFAULT_ROWS, Some(notice(false, &why))),
    };
    let entries: Vec<AuditEntry> = app.store.call(move |s| s.audit_log(limit)).await?;
    let body = html! {
        main #audit-page {
            h1 { "Audit log" }
            @if let Some(m) = said { (m) }
            section.card {
                form.inline method="get" action="/ui/audit" id="audit-rows" {
                    label { "Show the newest" select name="limit" {
                        @for n in CHOICES { option value=(n) selected[n == limit] { (n) " changes" } }
                    } }
                    button type="submit" { "Show" }
                }
            }
            section.card {
                div.scroll { table #audit {
                    thead { tr { th { "When" } th { "Who" } th { "What" } th { "Detail" } } }
                    tbody {
                        @for e in &entries {
                            tr data-id=(e.id) {
                                td data-f="when" { (at(e.at)) }
                                td data-f="who" title=(e.actor) { (who(&e.actor)) }
                                td data-f="what" title=(e.action) { (what(&e.action)) }
                                td data-f="detail" { (e.detail) }
                            }
                        }
                    }
                } }
                @if entries.is_empty() { p.hint #no-audit { "Nothing recorded yet." } }
                @if entries.len() as u32 == limit && limit < MAX_ROWS {
                    p.hint #audit-more { "Only the newest " (limit) " are shown: choose more above." }
                }
            }
        }
    };
    Ok((code, page::document("Audit log", Some(&viewer), Nav::Audit, body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_and_actions_in_words() {
        assert_eq!(who("ui:admin"), "admin (web UI)");
        assert_eq!(who("api:ops"), "ops (API)");
        assert_eq!(who("cloud:fleet"), "fleet (cloud)");
        assert_eq!(who("ui:201@acme"), "201@acme (web UI)");
        assert_eq!((who("system").as_str(), who("someone")), ("the box", "someone".to_owned()));
        assert_eq!((what("config.apply"), what("backup.made")), ("site config changed", "backup.made"));
        assert_eq!(at(0), "1970-01-01 00:00:00 UTC");
    }

    #[test]
    fn the_count_is_the_apis() {
        assert_eq!(rows(""), Ok(100));
        assert_eq!(rows(" 50 "), Ok(50));
        assert_eq!((rows("0"), rows("5000")), (Ok(1), Ok(1000)));
        assert!(rows("all").unwrap_err().contains("not a number"));
    }
}
