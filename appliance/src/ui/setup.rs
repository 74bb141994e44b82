//! The first-boot page: reached by logging in with the one-time password, it sets the admin's
//! own password, the site's name and its time zone. The site fields go through
//! `Store::apply_site` first (the validation of `outpost config apply`), so a bad time zone
//! leaves the one-time password in place and the page shows why.
//!
//! Not here yet (docs/web-ui.md): the LAN interface, the DHCP scope with the rival-server
//! check, the cloud claim code.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::page::{self, csrf_field, Nav};
use super::session::{session_cookie, Posted, Setup, Viewer};
use super::{apply, UiError};
use crate::api::{AppState, MIN_PASSWORD};
use crate::site::Site;

fn form(viewer: &Viewer, site: &Site, error: Option<&str>) -> maud::Markup {
    html! {
        main {
            form.card method="post" action="/ui/setup" id="setup" {
                h1 { "Set up this box" }
                p.hint { "Choose the admin password that replaces the one-time password, and name the site." }
                @if let Some(e) = error { p.notice.refused role="alert" { (e) } }
                (csrf_field(viewer))
                label { "New admin password (at least " (MIN_PASSWORD) " characters)"
                    input type="password" name="password" autocomplete="new-password" required minlength=(MIN_PASSWORD); }
                label { "The same again" input type="password" name="confirm" autocomplete="new-password" required; }
                label { "Site name" input name="site_name" required value=(site.name); }
                label { "Time zone (IANA, e.g. Europe/Berlin)" input name="time_zone" required value=(site.time_zone); }
                button type="submit" { "Save and continue" }
            }
        }
    }
}

/// `GET /ui/setup`
pub async fn page(State(app): State<AppState>, Setup(viewer): Setup) -> Result<Response, UiError> {
    let doc = app.store.call(|s| s.export_site()).await?;
    Ok(page::document("Set up", Some(&viewer), Nav::None, form(&viewer, &doc.site, None)).into_response())
}

#[derive(Deserialize)]
pub struct SetupForm {
    password: String,
    confirm: String,
    site_name: String,
    time_zone: String,
}

/// What is wrong with the new password, in words; `None` when it will do.
pub fn password_problem(password: &str, confirm: &str) -> Option<String> {
    if password.chars().count() < MIN_PASSWORD {
        return Some(format!("The password must have at least {MIN_PASSWORD} characters."));
    }
    if password != confirm {
        return Some("The two passwords differ.".into());
    }
    None
}

/// `POST /ui/setup`: the site fields, then the password (which ends every session of the
/// admin, the one-time one included), then a fresh session so the admin lands on the
/// dashboard.
pub async fn submit(State(app): State<AppState>, posted: Posted<SetupForm>) -> Result<Response, UiError> {
    let Posted { viewer, form: f } = posted;
    if !viewer.must_change_password {
        return Ok(Redirect::to("/ui/").into_response());
    }
    let site =
        Site { name: f.site_name.trim().to_owned(), time_zone: f.time_zone.trim().to_owned(), ..Site::default() };
    let refuse = |why: &str| {
        let body = form(&viewer, &site, Some(why));
        (StatusCode::UNPROCESSABLE_ENTITY, page::document("Set up", Some(&viewer), Nav::None, body)).into_response()
    };
    if let Some(why) = password_problem(&f.password, &f.confirm) {
        return Ok(refuse(&why));
    }
    let (name, zone) = (site.name.clone(), site.time_zone.clone());
    let applied = apply(&app, &viewer.username, move |doc| {
        doc.site.name = name;
        doc.site.time_zone = zone;
        Ok(())
    })
    .await?;
    if let Err(why) = applied {
        return Ok(refuse(&format!("Not saved: {why}")));
    }
    let (user, password) = (viewer.username.clone(), f.password);
    let opened = app
        .store
        .call(move |s| {
            s.set_password(&user, &password, false, &format!("ui:{user}"))?;
            s.login(&user, &password)
        })
        .await?;
    tracing::info!(user = %viewer.username, "first-boot setup done in the web UI");
    let Some((token, _)) = opened else {
        return Ok(Redirect::to("/ui/login").into_response());
    };
    let mut resp = Redirect::to("/ui/").into_response();
    resp.headers_mut().append(SET_COOKIE, session_cookie(&token, crate::store::admin::SESSION_SECONDS));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_or_mistyped_password_is_refused_in_words() {
        assert!(password_problem("short", "short").is_some_and(|w| w.contains("at least")));
        assert!(password_problem("long-enough-1", "long-enough-2").is_some_and(|w| w.contains("differ")));
        assert_eq!(password_problem("long-enough-1", "long-enough-1"), None);
    }
}
