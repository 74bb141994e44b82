//! Call detail records: `GET /api/v1/cdrs` (JSON) and `GET /api/v1/cdrs.csv` (the same rows
//! as CSV, for a spreadsheet or a billing import), with the same filters.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::auth::Admin;
use super::{ApiError, AppState};
use crate::sip::b2bua::cdr::{CallRecord, Disposition};
use crate::store::cdrs::CdrFilter;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdrQuery {
    pub tenant: Option<String>,
    /// Caller or callee.
    pub extension: Option<String>,
    /// Unix seconds: calls started at or after / before.
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub disposition: Option<String>,
    #[serde(default = "default_limit")]
    pub limit: usize,
}

fn default_limit() -> usize {
    1000
}

/// The most records one query returns (a CSV export of a busy box's month fits).
pub const MAX_LIMIT: usize = 100_000;

impl CdrQuery {
    /// The store's filter; a disposition that is not one is refused with the list of those
    /// that are (the web UI's calls page shows the same words).
    pub fn filter(self) -> Result<CdrFilter, ApiError> {
        let disposition = match self.disposition {
            None => None,
            Some(d) => Some(Disposition::parse(&d).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "`{d}` is not a disposition (answered, busy, no_answer, cancelled, failed, no_trunk, media_timeout)"
                ))
            })?),
        };
        Ok(CdrFilter {
            tenant: self.tenant,
            extension: self.extension,
            party: None,
            since: self.since,
            until: self.until,
            disposition,
            limit: self.limit.clamp(1, MAX_LIMIT),
            offset: 0,
        })
    }
}

async fn records(app: &AppState, q: CdrQuery) -> Result<Vec<CallRecord>, ApiError> {
    let filter = q.filter()?;
    Ok(app.store.call(move |s| s.cdrs(&filter)).await?)
}

pub async fn list(
    State(app): State<AppState>,
    _: Admin,
    Query(q): Query<CdrQuery>,
) -> Result<Json<Vec<CallRecord>>, ApiError> {
    Ok(Json(records(&app, q).await?))
}

pub async fn csv(State(app): State<AppState>, _: Admin, Query(q): Query<CdrQuery>) -> Result<Response, ApiError> {
    Ok(csv_response(&records(&app, q).await?, None))
}

/// The CSV answer of `records` (the API's export and the web UI's download): `text/csv`, and
/// with `filename` a `Content-Disposition` that saves it under that name.
pub fn csv_response(records: &[CallRecord], filename: Option<&str>) -> Response {
    let body = csv_text(records);
    match filename {
        None => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned())], body).into_response(),
        Some(name) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            ],
            body,
        )
            .into_response(),
    }
}

/// The records as CSV, a header line first, CRLF line ends.
pub fn csv_text(records: &[CallRecord]) -> String {
    let mut out = String::from(
        "call,tenant,caller,callee,dialled,start,answer,end,duration,disposition,status,hangup,legs,route,trunk\r\n",
    );
    for r in records.iter().cloned() {
        let fields = [
            r.call,
            r.tenant,
            r.caller,
            r.callee,
            r.dialled,
            r.start.to_string(),
            r.answer.map(|a| a.to_string()).unwrap_or_default(),
            r.end.to_string(),
            r.duration.to_string(),
            r.disposition.as_str().to_owned(),
            r.status.map(|s| s.to_string()).unwrap_or_default(),
            r.hangup,
            r.legs.to_string(),
            r.route,
            r.trunk.unwrap_or_default(),
        ];
        let line: Vec<String> = fields.iter().map(|f| field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// RFC 4180 quoting; a leading `=`, `+`, `-` or `@` is prefixed with `'` so that a
/// spreadsheet does not run it as a formula (CSV injection).
fn field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) { format!("'{value}") } else { value.to_owned() };
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(super::field("plain"), "plain");
        assert_eq!(super::field("a,b"), "\"a,b\"");
        assert_eq!(super::field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(super::field("=cmd()"), "'=cmd()");
        assert_eq!(super::field("+4940"), "'+4940");
    }
}
