//! The frame every page shares (header, navigation, logout), notices, and the refusal page.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

pub use web_kit::notice;

use super::session::Viewer;
use crate::store::admin::Role;

/// Which navigation entry is the current page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    None,
    Dashboard,
    Extensions,
    RingGroups,
    Phones,
    Trunks,
    Routes,
    Calls,
    Security,
    Audit,
    Backups,
    Dhcp,
    System,
    /// The extension user's portal.
    Portal,
}

/// A whole page. Only the one style sheet and the one script: no inline code (see the CSP).
/// The admin navigation shows only to an admin whose password is set; an extension user sees
/// the portal's one entry.
pub fn document(title: &str, viewer: Option<&Viewer>, nav: Nav, body: Markup) -> Html<String> {
    let open = |n: Nav| if n == nav { "open" } else { "" };
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · Outpost" }
                    link rel="stylesheet" href="/ui/assets/ui.css";
                    script src="/ui/assets/ui.js" defer {}
                }
                body {
                    @if let Some(v) = viewer {
                        header.top {
                            a.brand href=(v.home()) { "Outpost" }
                            @if v.role != Role::Admin {
                                nav.menu {
                                    a class=(open(Nav::Portal)) href="/ui/me" { "My phone" }
                                }
                            } @else if !v.must_change_password {
                                nav.menu {
                                    a class=(open(Nav::Dashboard)) href="/ui/" { "Dashboard" }
                                    a class=(open(Nav::Extensions)) href="/ui/extensions" { "Extensions" }
                                    a class=(open(Nav::RingGroups)) href="/ui/ring-groups" { "Ring groups" }
                                    a class=(open(Nav::Phones)) href="/ui/phones" { "Phones" }
                                    a class=(open(Nav::Trunks)) href="/ui/trunks" { "Trunks" }
                                    a class=(open(Nav::Routes)) href="/ui/routes" { "Routes" }
                                    a class=(open(Nav::Calls)) href="/ui/calls" { "Calls" }
                                    a class=(open(Nav::Security)) href="/ui/security" { "Security" }
                                    a class=(open(Nav::Audit)) href="/ui/audit" { "Audit" }
                                    a class=(open(Nav::Backups)) href="/ui/backups" { "Backups" }
                                    a class=(open(Nav::Dhcp)) href="/ui/dhcp" { "DHCP" }
                                    a class=(open(Nav::System)) href="/ui/system" { "System" }
                                }
                            }
                            form.logout method="post" action="/ui/logout" {
                                (csrf_field(v))
                                span.who { (v.username) }
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
    refused_to(code, why, "/ui/")
}

/// A refusal page whose way back leads to `home` (the dashboard or the portal).
pub fn refused_to(code: StatusCode, why: &str, home: &str) -> Response {
    let body = html! {
        main { section.card { h1 { "Not done" } p.notice.refused role="alert" { (why) } p { a href=(home) { "Back" } } } }
    };
    (code, document("Refused", None, Nav::None, body)).into_response()
}
