//! The page shell (head, navigation, logout), notices, and the error pages.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::Refused;

/// Which menu a page shows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// Not logged in (login, errors).
    None,
    /// The one-time-password session of first boot: only setup and logout.
    Setup,
    /// An admin, with the page that is open.
    Admin(&'static str),
    /// A phone user in their portal.
    User,
}

const ADMIN_PAGES: [(&str, &str, &str); 10] = [
    ("dashboard", "/ui/", "Dashboard"),
    ("extensions", "/ui/extensions", "Extensions"),
    ("phones", "/ui/phones", "Phones"),
    ("groups", "/ui/ring-groups", "Ring groups"),
    ("trunks", "/ui/trunks", "Trunks"),
    ("routes", "/ui/routes", "Routes"),
    ("cdrs", "/ui/cdrs", "Calls"),
    ("bans", "/ui/bans", "Bans"),
    ("system", "/ui/system", "System"),
    ("audit", "/ui/audit", "Audit log"),
];

/// A whole page. `csrf` is the session's token, for the logout form.
pub fn shell(title: &str, nav: Nav, csrf: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Outpost" }
                link rel="stylesheet" href="/ui/app.css";
                script src="/ui/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/ui/" { "Outpost" }
                    @if let Nav::Admin(open) = nav {
                        nav.menu {
                            @for (key, href, label) in ADMIN_PAGES {
                                a href=(href) class=[(key == open).then_some("open")] { (label) }
                            }
                        }
                    }
                    @if nav == Nav::User {
                        nav.menu { a.open href="/ui/me" { "My phone" } }
                    }
                    @if let Some(token) = csrf {
                        form.logout method="post" action="/ui/logout" {
                            (csrf_field(token))
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="_csrf" value=(token); }
}

pub fn render(markup: Markup) -> Response {
    Html(markup.into_string()).into_response()
}

pub fn render_status(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// A success line and/or the reasons a change was refused.
pub fn notice(ok: Option<&str>, refused: Option<&Refused>) -> Markup {
    html! {
        @if let Some(ok) = ok { p.notice.ok role="status" { (ok) } }
        @if let Some(r) = refused {
            div.notice.refused role="alert" {
                strong { "The change was refused:" }
                ul { @for line in r.lines() { li { (line) } } }
            }
        }
    }
}

/// The outcome of a change, for the page that shows it again.
#[derive(Default)]
pub struct Outcome {
    pub ok: Option<String>,
    pub refused: Option<Refused>,
}

impl Outcome {
    pub fn ok(msg: impl Into<String>) -> Outcome {
        Outcome { ok: Some(msg.into()), refused: None }
    }

    pub fn of<T>(result: Result<T, Refused>, msg: impl Into<String>) -> Outcome {
        match result {
            Ok(_) => Outcome::ok(msg),
            Err(r) => Outcome { ok: None, refused: Some(r) },
        }
    }

    pub fn markup(&self) -> Markup {
        notice(self.ok.as_deref(), self.refused.as_ref())
    }

    /// 422 when refused, so that a script (or a test) sees the refusal without reading.
    pub fn status(&self) -> StatusCode {
        if self.refused.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        }
    }
}

pub fn forbidden(why: &str) -> Response {
    let body = html! {
        p { (why) }
        p { a href="/ui/login" { "Log in as someone else" } }
    };
    render_status(StatusCode::FORBIDDEN, shell("Not allowed", Nav::None, None, body))
}

pub fn not_found(what: &str) -> Response {
    let body = html! { p { (what) } p { a href="/ui/" { "Back" } } };
    render_status(StatusCode::NOT_FOUND, shell("Not found", Nav::None, None, body))
}
