//! The frame every page shares (header, navigation, logout), notices, and how times are shown.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

pub use web_kit::notice;

use super::session::Viewer;

/// Which navigation entry is the current page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    None,
    Fleet,
    Claims,
}

/// A whole page. Only the one style sheet and the one script: no inline code (see the CSP).
pub fn document(title: &str, viewer: Option<&Viewer>, nav: Nav, body: Markup) -> Html<String> {
    let open = |n: Nav| if n == nav { "open" } else { "" };
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · Outpost fleet" }
                    link rel="stylesheet" href="/assets/fleet.css";
                    script src="/assets/fleet.js" defer {}
                }
                body {
                    @if let Some(v) = viewer {
                        header.top {
                            a.brand href="/" { "Outpost fleet" }
                            nav.menu {
                                a class=(open(Nav::Fleet)) href="/" { "Boxes" }
                                a class=(open(Nav::Claims)) href="/claims" { "Claim codes" }
                            }
                            form.logout method="post" action="/logout" {
                                (csrf_field(v))
                                span.who { (v.name) }
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                    (body)
                }
            }
        }
        .into_string(),
    )
}

/// The hidden field every form of a signed-in page carries.
pub fn csrf_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf); }
}

/// A short page saying why a request was refused.
pub fn refused(code: StatusCode, why: &str) -> Response {
    let body = html! {
        main { section.card { h1 { "Not done" } p.notice.refused role="alert" { (why) } p { a href="/" { "Back to the fleet" } } } }
    };
    (code, document("Refused", None, Nav::None, body)).into_response()
}

/// The answer when the store fails under a page: logged, and a page that says so.
pub fn store_failed(e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "dashboard: store error");
    refused(StatusCode::INTERNAL_SERVER_ERROR, "The fleet's store could not be read; see the service's log.")
}

/// `2026-12-02 16:51 UTC`.
pub fn utc(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
}

/// `40 s ago`, `5 min ago`, `3 h ago`, `2 d ago`.
pub fn ago(now: i64, then: i64) -> String {
    let d = (now - then).max(0);
    match d {
        0..=59 => format!("{d} s ago"),
        60..=3599 => format!("{} min ago", d / 60),
        3600..=172_799 => format!("{} h ago", d / 3600),
        _ => format!("{} d ago", d / 86_400),
    }
}

/// `1 d 2 h`, `3 h 4 min`, `5 min`.
pub fn duration(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m} min"),
        (0, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

/// An optional count, or a dash for what the box does not measure.
pub fn count(v: Option<u64>) -> String {
    v.map_or_else(|| "—".to_owned(), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_people_write_them() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(ago(100, 60), "40 s ago");
        assert_eq!(ago(10_000, 0), "2 h ago");
        assert_eq!(duration(90_061), "1 d 1 h");
        assert_eq!(count(None), "—");
    }
}
