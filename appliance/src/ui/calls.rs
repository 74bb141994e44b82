//! The calls page: the call detail records, newest first, 50 to a page, filtered by a GET form
//! (extension or number, tenant, dates from / to, outcome), each with when, who, the outcome
//! and the time talked; and a "Download CSV" of every call the filters match.
//!
//! The filters become the REST API's `CdrQuery` (its validation, the store's `cdrs` query),
//! and the download is the API's CSV (`api::cdrs::csv_response`) behind the UI's session
//! cookie: the API itself takes only bearer tokens, so a browser link cannot reach
//! `/api/v1/cdrs.csv` (docs/web-ui.md).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::dashboard::utc;
use super::page::{self, notice, Nav};
use super::portal::outcome_words;
use super::session::Admin;
use super::UiError;
use crate::api::cdrs::{csv_response, CdrQuery, MAX_LIMIT};
use crate::api::AppState;
use crate::sip::b2bua::cdr::{CallRecord, Disposition};
use crate::store::cdrs::CdrFilter;

/// Calls on one page.
pub const PAGE: usize = 50;

/// Every disposition, in the order the outcome filter offers them.
const OUTCOMES: [Disposition; 7] = [
    Disposition::Answered,
    Disposition::Busy,
    Disposition::NoAnswer,
    Disposition::Cancelled,
    Disposition::Failed,
    Disposition::NoTrunk,
    Disposition::MediaTimeout,
];

pub fn routes() -> Router<AppState> {
    Router::new().route("/ui/calls", get(list)).route("/ui/calls.csv", get(download))
}

/// The filter form's fields, as typed (an empty field does not filter). All text, so that a
/// hand-edited address is answered with the page and a reason, not a bare 400.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct CallsQuery {
    /// Caller or callee: an extension or an outside number.
    #[serde(default)]
    pub number: String,
    #[serde(default)]
    pub tenant: String,
    /// Dates `YYYY-MM-DD` in UTC, both days included.
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    /// A disposition (`answered`, `busy`, …).
    #[serde(default)]
    pub outcome: String,
    /// 1 for the newest calls.
    #[serde(default)]
    pub page: String,
}

fn some(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The Unix time at the start of `date` (`YYYY-MM-DD`, UTC).
fn day_start(date: &str) -> Result<i64, String> {
    let day: jiff::civil::Date = date.parse().map_err(|_| format!("`{date}` is not a date like 2026-12-04"))?;
    day.to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp().as_second())
        .map_err(|_| format!("`{date}` is out of range"))
}

impl CallsQuery {
    /// The page number, 1 when absent or not a number.
    pub fn page(&self) -> usize {
        self.page.trim().parse().unwrap_or(1).max(1)
    }

    /// The API's query of these filters, for `limit` calls.
    pub fn api_query(&self, limit: usize) -> Result<CdrQuery, String> {
        let since = some(&self.from).map(|d| day_start(&d)).transpose()?;
        // `to` is included: the calls before the start of the next day.
        let until = some(&self.to).map(|d| day_start(&d).map(|s| s + 86_400)).transpose()?;
        if let (Some(s), Some(u)) = (since, until) {
            if u <= s {
                return Err("the first day is after the last".to_owned());
            }
        }
        Ok(CdrQuery {
            tenant: some(&self.tenant),
            extension: some(&self.number),
            since,
            until,
            disposition: some(&self.outcome),
            limit,
        })
    }

    /// The store's filter of one page: one call more than shown, to know whether older ones
    /// follow.
    pub fn page_filter(&self) -> Result<CdrFilter, String> {
        let mut filter = self.api_query(PAGE + 1)?.filter().map_err(|e| e.to_string())?;
        filter.offset = (self.page() - 1).saturating_mul(PAGE);
        Ok(filter)
    }

    /// The query string of these filters and `page` (none: no page), for links.
    pub fn link(&self, page: Option<usize>) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("number", &self.number),
            ("tenant", &self.tenant),
            ("from", &self.from),
            ("to", &self.to),
            ("outcome", &self.outcome),
        ] {
            if !v.trim().is_empty() {
                parts.push(format!("{k}={}", percent(v.trim())));
            }
        }
        if let Some(p) = page {
            parts.push(format!("page={p}"));
        }
        parts.join("&")
    }
}

/// Percent-encoding of a query value: everything but the unreserved characters.
fn percent(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Seconds as `m:ss`, or `h:mm:ss` from an hour.
pub fn talked(seconds: i64) -> String {
    let s = seconds.max(0);
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// The outcome of a call in words, with the SIP status the caller got when it was not
/// answered and who hung up when it was.
pub fn outcome(r: &CallRecord) -> String {
    let mut words = outcome_words(r.disposition).to_owned();
    match (r.status, r.hangup.as_str()) {
        (Some(code), _) if r.disposition != Disposition::Answered => words.push_str(&format!(" ({code})")),
        (_, "caller" | "callee" | "box") if r.answer.is_some() => words.push_str(&format!(", {} hung up", r.hangup)),
        _ => {}
    }
    words
}

fn filters(q: &CallsQuery, tenants: &[String]) -> Markup {
    html! {
        section.card {
            form.inline method="get" action="/ui/calls" id="call-filter" {
                label { "Extension or number" input name="number" value=(q.number) inputmode="tel"; }
                @if tenants.len() > 1 {
                    label { "Tenant" select name="tenant" {
                        option value="" { "any" }
                        @for t in tenants { option value=(t) selected[*t == q.tenant] { (t) } }
                    } }
                }
                label { "From (UTC)" input type="date" name="from" value=(q.from); }
                label { "To (UTC)" input type="date" name="to" value=(q.to); }
                label { "Outcome" select name="outcome" {
                    option value="" { "any" }
                    @for d in OUTCOMES {
                        option value=(d.as_str()) selected[d.as_str() == q.outcome] { (outcome_words(d)) }
                    }
                } }
                button type="submit" { "Show" }
                a.button #calls-csv href=(format!("/ui/calls.csv?{}", q.link(None))) download="calls.csv" { "Download CSV" }
            }
        }
    }
}

fn table(rows: &[CallRecord]) -> Markup {
    html! {
        div.scroll { table #calls {
            thead { tr {
                th { "Started" } th { "Tenant" } th { "From" } th { "Dialled" } th { "Answered by" }
                th { "Outcome" } th { "Talked" } th { "Trunk" }
            } }
            tbody {
                @for r in rows {
                    tr data-call=(r.call) title=(r.route) {
                        td { (utc(r.start)) }
                        td { (r.tenant) }
                        td data-f="caller" { (r.caller) }
                        td data-f="dialled" { (r.dialled) }
                        td data-f="callee" { @if r.answer.is_some() { (r.callee) } @else { "—" } }
                        td data-f="outcome" { (outcome(r)) }
                        td data-f="talked" { (talked(r.duration)) }
                        td { (r.trunk.as_deref().unwrap_or("—")) }
                    }
                }
            }
        } }
    }
}

/// `GET /ui/calls[?number=&tenant=&from=&to=&outcome=&page=]`
async fn list(
    State(app): State<AppState>,
    Admin(viewer): Admin,
    q: Option<Query<CallsQuery>>,
) -> Result<Response, UiError> {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let doc = app.store.call(|s| s.export_site()).await?;
    let tenants: Vec<String> = doc.tenants.iter().map(|t| t.name.clone()).collect();
    let (code, shown, mut rows) = match q.page_filter() {
        Ok(filter) => (StatusCode::OK, None, app.store.call(move |s| s.cdrs(&filter)).await?),
        Err(why) => (StatusCode::UNPROCESSABLE_ENTITY, Some(notice(false, &format!("Not shown: {why}"))), Vec::new()),
    };
    let older = rows.len() > PAGE;
    rows.truncate(PAGE);
    let page = q.page();
    let filtered = !q.link(None).is_empty();
    let body = html! {
        main #calls-page {
            h1 { "Calls" }
            @if let Some(m) = shown { (m) }
            (filters(&q, &tenants))
            section.card {
                (table(&rows))
                @if rows.is_empty() && code == StatusCode::OK {
                    p.hint #no-calls { @if filtered { "No call matches these filters." } @else { "No calls yet." } }
                }
                p.pages {
                    @if page > 1 { a #newer href=(format!("/ui/calls?{}", q.link(Some(page - 1)))) { "← Newer calls" } " " }
                    @if older { a #older href=(format!("/ui/calls?{}", q.link(Some(page + 1)))) { "Older calls →" } }
                }
                p.hint { "Page " (page) ", " (PAGE) " calls a page, newest first. Times in UTC." }
            }
        }
    };
    Ok((code, page::document("Calls", Some(&viewer), Nav::Calls, body)).into_response())
}

/// `GET /ui/calls.csv[?filters]`: every call the filters match (up to the API's maximum), as
/// the API's CSV export writes it.
async fn download(
    State(app): State<AppState>,
    Admin(_): Admin,
    q: Option<Query<CallsQuery>>,
) -> Result<Response, UiError> {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let filter = match q.api_query(MAX_LIMIT).and_then(|a| a.filter().map_err(|e| e.to_string())) {
        Ok(f) => f,
        Err(why) => return Ok(page::refused(StatusCode::UNPROCESSABLE_ENTITY, &format!("No CSV: {why}"))),
    };
    let rows = app.store.call(move |s| s.cdrs(&filter)).await?;
    Ok(csv_response(&rows, Some("calls.csv")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn q(number: &str, from: &str, to: &str, outcome: &str) -> CallsQuery {
        CallsQuery {
            number: number.into(),
            from: from.into(),
            to: to.into(),
            outcome: outcome.into(),
            ..CallsQuery::default()
        }
    }

    #[test]
    fn the_filters_become_the_apis_query_with_both_days_included() {
        let f = q(" 201 ", "2026-12-04", "2026-12-04", "busy").page_filter().unwrap();
        assert_eq!(f.extension.as_deref(), Some("201"));
        assert_eq!((f.since, f.until), (Some(1_796_342_400), Some(1_796_342_400 + 86_400)));
        assert_eq!(f.disposition, Some(Disposition::Busy));
        assert_eq!((f.limit, f.offset), (PAGE + 1, 0));
        let empty = CallsQuery::default().page_filter().unwrap();
        assert!(empty.extension.is_none() && empty.since.is_none() && empty.disposition.is_none());
        let later = CallsQuery { page: "3".into(), ..CallsQuery::default() }.page_filter().unwrap();
        assert_eq!(later.offset, 2 * PAGE);
        assert_eq!(CallsQuery { page: "x".into(), ..CallsQuery::default() }.page(), 1);
    }

    #[test]
    fn bad_filters_are_refused_in_words() {
        assert!(q("", "04.12.2026", "", "").page_filter().unwrap_err().contains("not a date"));
        assert!(q("", "2026-12-05", "2026-12-04", "").page_filter().unwrap_err().contains("after the last"));
        assert!(q("", "", "", "lost").page_filter().unwrap_err().contains("not a disposition"));
    }

    #[test]
    fn links_keep_the_filters_encoded() {
        let query = q("+49 30&x", "2026-12-04", "", "answered");
        assert_eq!(query.link(Some(2)), "number=%2B49%2030%26x&from=2026-12-04&outcome=answered&page=2");
        assert_eq!(CallsQuery::default().link(None), "");
    }

    #[test]
    fn durations_and_outcomes_in_words() {
        assert_eq!((talked(0), talked(62), talked(3723)), ("0:00".into(), "1:02".into(), "1:02:03".into()));
        let mut r = CallRecord {
            call: "c".into(),
            tenant: "acme".into(),
            caller: "201".into(),
            callee: "202".into(),
            dialled: "202".into(),
            start: 0,
            answer: Some(1),
            end: 9,
            duration: 8,
            disposition: Disposition::Answered,
            status: None,
            hangup: "caller".into(),
            legs: 1,
            route: String::new(),
            media: None,
            trunk: None,
        };
        assert_eq!(outcome(&r), "answered, caller hung up");
        r.answer = None;
        r.disposition = Disposition::Busy;
        r.status = Some(486);
        r.hangup = String::new();
        assert_eq!(outcome(&r), "busy (486)");
    }
}
