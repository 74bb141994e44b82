//! Call records (search, CSV export) and the audit log.
//!
//! The CSV export under the UI's session is answered by the API's own `GET /api/v1/cdrs.csv`
//! handler (called in-process with the admin's session token), so both give the same file.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::html;
use serde::Deserialize;
use tower::ServiceExt;

use super::page::{self, Nav};
use super::session::{Admin, Csrf};
use super::Ui;
use crate::sip::b2bua::cdr::Disposition;
use crate::store::cdrs::CdrFilter;

pub fn routes() -> Router<Ui> {
    Router::new().route("/ui/cdrs", get(list)).route("/ui/cdrs.csv", get(csv)).route("/ui/audit", get(audit))
}

#[derive(Deserialize, Default, Clone)]
pub struct Search {
    #[serde(default)]
    pub extension: String,
    #[serde(default)]
    pub disposition: String,
    /// `YYYY-MM-DD`, in the site's time zone.
    #[serde(default)]
    pub since: String,
    #[serde(default)]
    pub until: String,
}

/// Midnight at the start of `date` in `tz`, as Unix seconds.
fn day_start(date: &str, tz: &str) -> Option<i64> {
    let d: jiff::civil::Date = date.parse().ok()?;
    let zone = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    Some(d.to_zoned(zone).ok()?.timestamp().as_second())
}

impl Search {
    fn filter(&self, tz: &str) -> CdrFilter {
        CdrFilter {
            tenant: None,
            extension: Some(self.extension.clone()).filter(|e| !e.is_empty()),
            since: day_start(&self.since, tz),
            until: day_start(&self.until, tz).map(|t| t + 86_400),
            disposition: Disposition::parse(&self.disposition),
            limit: 500,
        }
    }

    /// The same search as the API's query string.
    fn api_query(&self, tz: &str) -> String {
        let f = self.filter(tz);
        let mut q = vec![format!("limit={}", 100_000)];
        if let Some(e) = &f.extension {
            q.push(format!("extension={}", encode(e)));
        }
        if let Some(d) = f.disposition {
            q.push(format!("disposition={}", d.as_str()));
        }
        if let Some(s) = f.since {
            q.push(format!("since={s}"));
        }
        if let Some(u) = f.until {
            q.push(format!("until={u}"));
        }
        q.join("&")
    }

    fn ui_query(&self) -> String {
        [("extension", &self.extension), ("disposition", &self.disposition), ("since", &self.since), ("until", &self.until)]
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Percent-encodes everything but unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub const DISPOSITIONS: [&str; 7] = ["answered", "busy", "no_answer", "cancelled", "failed", "no_trunk", "media_timeout"];

async fn list(State(ui): State<Ui>, who: Admin, Query(search): Query<Search>) -> Response {
    let doc = match super::current(&ui).await {
        Ok(d) => d,
        Err(r) => return super::internal(r.lines().join("; ")),
    };
    let tz = doc.site.time_zone.clone();
    let filter = search.filter(&tz);
    let rows = match ui.app.store.call(move |s| s.cdrs(&filter)).await {
        Ok(r) => r,
        Err(e) => return super::internal(e),
    };
    let body = html! {
        form.inline.card method="get" action="/ui/cdrs" {
            label { "Extension (caller or callee)" input type="text" name="extension" value=(search.extension) inputmode="tel"; }
            label { "Outcome" select name="disposition" {
                option value="" { "any" }
                @for d in DISPOSITIONS { option value=(d) selected[search.disposition == d] { (d) } } } }
            label { "From (date)" input type="date" name="since" value=(search.since); }
            label { "To (date)" input type="date" name="until" value=(search.until); }
            button type="submit" { "Search" }
            a.button #csv href=(format!("/ui/cdrs.csv?{}", search.ui_query())) download="cdrs.csv" { "Export CSV" }
        }
        p.hint { (rows.len()) " calls (newest first, at most 500 shown; the CSV has them all)." }
        div.scroll { table #cdrs {
            thead { tr { th { "Start" } th { "From" } th { "To" } th { "Dialled" } th { "Outcome" } th { "Talk (s)" } th { "Trunk" } th { "Route" } } }
            tbody { @for r in &rows {
                tr { td { (super::when(r.start, &tz)) } td { (r.caller) } td { (r.callee) } td { (r.dialled) }
                     td { (r.disposition.as_str()) @if let Some(s) = r.status { " (" (s) ")" } } td { (r.duration) }
                     td { (r.trunk.as_deref().unwrap_or("")) } td.why { (r.route) } }
            } }
        } }
    };
    page::render(page::shell("Calls", Nav::Admin("cdrs"), Some(&who.csrf()), body))
}

async fn csv(State(ui): State<Ui>, who: Admin, Query(search): Query<Search>) -> Response {
    let tz = match super::current(&ui).await {
        Ok(d) => d.site.time_zone,
        Err(r) => return super::internal(r.lines().join("; ")),
    };
    let request = Request::builder()
        .uri(format!("/api/v1/cdrs.csv?{}", search.api_query(&tz)))
        .header(header::AUTHORIZATION, format!("Bearer {}", who.token))
        .body(Body::empty());
    let request = match request {
        Ok(r) => r,
        Err(e) => return super::internal(e),
    };
    let Ok(mut response) = ui.api.clone().oneshot(request).await;
    response
        .headers_mut()
        .insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"cdrs.csv\""));
    response.into_response()
}

async fn audit(State(ui): State<Ui>, who: Admin) -> Response {
    let (doc, rows) = match (super::current(&ui).await, ui.app.store.call(|s| s.audit_log(300)).await) {
        (Ok(d), Ok(r)) => (d, r),
        _ => return super::internal("cannot read the audit log"),
    };
    let body = html! {
        p.hint { "Every change, newest first (the last 300)." }
        div.scroll { table #audit {
            thead { tr { th { "When" } th { "Who" } th { "What" } th { "Detail" } } }
            tbody { @for a in &rows {
                tr { td { (super::when(a.at, &doc.site.time_zone)) } td { (a.actor) } td { (a.action) } td { (a.detail) } }
            } }
        } }
    };
    page::render(page::shell("Audit log", Nav::Admin("audit"), Some(&who.csrf()), body))
}
