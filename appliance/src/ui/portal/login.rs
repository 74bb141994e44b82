//! The portal's login: tenant, extension number and the portal password an admin set.
//!
//! It shares the admin login's defences: the API's `LoginLimiter` (one budget of failures per
//! address for the API, the admin login and this one), one answer for an unknown extension,
//! an extension without portal password and a wrong password, and a double-submit CSRF token
//! in a short cookie of its own (scoped to this path, as the admin login's is to its own).

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::html;
use serde::Deserialize;

use crate::api::{AppState, Peer};
use crate::ui::page;
use crate::ui::session::{
    self, login_allowed, login_csrf_ok, login_done, random_token, session_cookie, too_many_logins,
};
use crate::ui::UiError;

/// The portal login form's CSRF cookie.
const COOKIE: &str = "outpost_portal_login";
const PATH: &str = "/ui/me/login";

fn form(code: StatusCode, error: Option<&str>, tenant: &str, number: &str) -> Response {
    let Some(csrf) = random_token() else {
        return page::refused(StatusCode::INTERNAL_SERVER_ERROR, "The system random source failed.");
    };
    let body = html! {
        main.login {
            form.card method="post" action=(PATH) id="portal-login" {
                h1 { "My phone" }
                p.hint { "Log in with your extension and the portal password your administrator gave you." }
                @if let Some(e) = error { p.notice.refused role="alert" { (e) } }
                input type="hidden" name="csrf" value=(csrf);
                label { "Tenant" input name="tenant" required autocomplete="organization" value=(tenant); }
                label { "Extension" input name="number" required inputmode="numeric" autocomplete="username" value=(number); }
                label { "Portal password" input type="password" name="password" autocomplete="current-password" required; }
                button type="submit" { "Log in" }
            }
            p.hint { a href="/ui/login" { "The box's admins log in here." } }
        }
    };
    let mut resp = (code, page::document("Log in", None, page::Nav::None, body)).into_response();
    resp.headers_mut().append(SET_COOKIE, web_kit::session_cookie(COOKIE, &csrf, PATH, 3600));
    resp
}

/// `GET /ui/me/login`; someone signed in goes to their own pages.
pub async fn page(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Ok(v) = session::signed_in(&headers, &app, PATH).await {
        return Redirect::to(v.home()).into_response();
    }
    form(StatusCode::OK, None, "", "")
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    tenant: String,
    number: String,
    password: String,
}

/// `POST /ui/me/login`
pub async fn submit(
    State(app): State<AppState>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let (tenant, number) = (f.tenant.trim().to_owned(), f.number.trim().to_owned());
    if !login_csrf_ok(&headers, COOKIE, &f.csrf) {
        return form(StatusCode::FORBIDDEN, Some("The login form expired: try again."), &tenant, &number);
    }
    let Some(now) = login_allowed(&app, peer.ip()) else {
        return too_many_logins(form(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed logins from this address: wait a few minutes."),
            &tenant,
            &number,
        ));
    };
    let (t, n) = (tenant.clone(), number.clone());
    let result = app.store.call(move |s| s.portal_login(&t, &n, &f.password)).await;
    let token = match result {
        Ok(Some((token, _))) => token,
        Ok(None) => {
            login_done(&app, peer.ip(), now, false, "web UI portal");
            // The same words whether the extension, its portal account or the password failed.
            return form(StatusCode::UNAUTHORIZED, Some("Wrong tenant, extension or password."), &tenant, &number);
        }
        Err(e) => return UiError::from(e).into_response(),
    };
    login_done(&app, peer.ip(), now, true, "web UI portal");
    tracing::info!(client = %peer.ip(), %tenant, %number, "web UI portal login");
    let mut resp = Redirect::to("/ui/me").into_response();
    resp.headers_mut().append(SET_COOKIE, session_cookie(&token, crate::store::admin::SESSION_SECONDS));
    resp.headers_mut().append(
        SET_COOKIE,
        HeaderValue::from_static(
            "outpost_portal_login=; HttpOnly; SameSite=Strict; Secure; Path=/ui/me/login; Max-Age=0",
        ),
    );
    resp
}
