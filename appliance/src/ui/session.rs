//! The UI's login, its session cookie, CSRF tokens, and the guards of every page.
//!
//! Decisions (docs/web-ui.md):
//! - A UI session is an API session (`Store::login`, the `sessions` table, 12 h): its token
//!   travels in a cookie `HttpOnly; Secure; SameSite=Strict; Path=/ui`. The API never reads
//!   that cookie (it takes only `Authorization: Bearer`), so no other site can make a browser
//!   call the API.
//! - A form's CSRF token is derived from the session token (SHA-256 of a label and the token):
//!   nothing more to store, unguessable without the cookie, and it ends with the session.
//!   The login form, before there is a session, uses a random token in a short cookie of its
//!   own that the form echoes (double submit).
//! - Failed logins count in the API's `LoginLimiter`: the UI and the API share one budget
//!   per client address.

use std::time::Instant;

use axum::async_trait;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use cloud_sync::password::same;
use maud::html;
use ring::digest::{digest, SHA256};
use serde::de::DeserializeOwned;
use serde::Deserialize;

pub use web_kit::cookie;

use super::page;
use crate::api::{AppState, Peer};
use crate::store::admin::Role;

/// The session cookie.
pub const COOKIE_NAME: &str = "outpost_session";
/// The login form's CSRF cookie (there is no session yet to derive its token from).
const LOGIN_COOKIE: &str = "outpost_login";

/// Someone signed in to the UI, with the CSRF token its forms carry.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub username: String,
    pub role: Role,
    pub must_change_password: bool,
    pub csrf: String,
    pub token: String,
}

/// The CSRF token of the session `token`.
pub fn csrf_of(token: &str) -> String {
    B64.encode(digest(&SHA256, format!("outpost-ui-csrf\0{token}").as_bytes()))
}

async fn viewer(headers: &HeaderMap, app: &AppState) -> Option<Viewer> {
    let token = cookie(headers, COOKIE_NAME).filter(|t| !t.is_empty() && t.len() <= 128)?.to_owned();
    let lookup = token.clone();
    let session = match app.store.call(move |s| s.session(&lookup)).await {
        Ok(s) => s?,
        Err(e) => {
            tracing::warn!(error = %e, "web UI: session lookup failed");
            return None;
        }
    };
    Some(Viewer {
        username: session.username,
        role: session.role,
        must_change_password: session.must_change_password,
        csrf: csrf_of(&token),
        token,
    })
}

/// An admin whose password is set: what every page but login and setup needs. Without a
/// session: to the login page; with the one-time password still set: to the setup page.
pub struct Admin(pub Viewer);

#[async_trait]
impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let v = viewer(&parts.headers, app).await.ok_or_else(|| Redirect::to("/ui/login").into_response())?;
        if v.must_change_password {
            return Err(Redirect::to("/ui/setup").into_response());
        }
        if v.role != Role::Admin {
            return Err(page::refused(StatusCode::FORBIDDEN, "These pages are for the box's admins."));
        }
        Ok(Admin(v))
    }
}

/// A session that still has its one-time password: only the setup page takes it.
pub struct Setup(pub Viewer);

#[async_trait]
impl FromRequestParts<AppState> for Setup {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let v = viewer(&parts.headers, app).await.ok_or_else(|| Redirect::to("/ui/login").into_response())?;
        if !v.must_change_password {
            return Err(Redirect::to("/ui/").into_response());
        }
        Ok(Setup(v))
    }
}

#[derive(Deserialize)]
struct CsrfField {
    csrf: String,
}

/// A form posted by a signed-in viewer (admin or in setup) with the session's CSRF token.
pub struct Posted<T> {
    pub viewer: Viewer,
    pub form: T,
}

#[async_trait]
impl<T: DeserializeOwned + Send> FromRequest<AppState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let viewer = viewer(&parts.headers, app).await.ok_or_else(|| Redirect::to("/ui/login").into_response())?;
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), app)
            .await
            .map_err(IntoResponse::into_response)?;
        let again = |bytes: Bytes| Request::from_parts(parts.clone(), axum::body::Body::from(bytes));
        let token = Form::<CsrfField>::from_request(again(bytes.clone()), app).await.ok().map(|f| f.0.csrf);
        if !token.is_some_and(|t| same(t.as_bytes(), viewer.csrf.as_bytes())) {
            tracing::warn!(user = %viewer.username, path = %parts.uri.path(), "web UI form without a valid CSRF token refused");
            return Err(page::refused(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this box: reload the page and try again.",
            ));
        }
        let Form(form) = Form::<T>::from_request(again(bytes), app)
            .await
            .map_err(|e| page::refused(StatusCode::BAD_REQUEST, &format!("The form could not be read: {e}")))?;
        Ok(Posted { viewer, form })
    }
}

/// `Set-Cookie` for the session (an empty token with age 0 removes it).
pub fn session_cookie(token: &str, max_age: i64) -> HeaderValue {
    web_kit::session_cookie(COOKIE_NAME, token, "/ui", max_age.max(0).unsigned_abs())
}

fn random_token() -> Option<String> {
    crate::store::secrets::random_bytes::<32>().ok().map(|b| B64.encode(b))
}

/// The login page; sets a fresh login CSRF cookie that the form echoes.
fn login_form(code: StatusCode, error: Option<&str>) -> Response {
    let Some(csrf) = random_token() else {
        return page::refused(StatusCode::INTERNAL_SERVER_ERROR, "The system random source failed.");
    };
    let body = html! {
        main.login {
            form.card method="post" action="/ui/login" id="login" {
                h1 { "Outpost" }
                p.hint { "The first time, log in as admin with the one-time password the box printed when it started." }
                @if let Some(e) = error { p.notice.refused role="alert" { (e) } }
                input type="hidden" name="csrf" value=(csrf);
                label { "User" input name="username" autocomplete="username" required value="admin"; }
                label { "Password" input type="password" name="password" autocomplete="current-password" required autofocus; }
                button type="submit" { "Log in" }
            }
        }
    };
    let mut resp = (code, page::document("Log in", None, page::Nav::None, body)).into_response();
    resp.headers_mut().append(SET_COOKIE, web_kit::session_cookie(LOGIN_COOKIE, &csrf, "/ui/login", 3600));
    resp
}

/// `GET /ui/login`
pub async fn login_page(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if viewer(&headers, &app).await.is_some() {
        return Redirect::to("/ui/").into_response();
    }
    login_form(StatusCode::OK, None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    username: String,
    password: String,
}

/// `POST /ui/login`: within the API's rate limit, opens a session; the one-time password
/// leads to the setup page.
pub async fn login(
    State(app): State<AppState>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !cookie(&headers, LOGIN_COOKIE).is_some_and(|c| same(c.as_bytes(), form.csrf.as_bytes())) {
        return login_form(StatusCode::FORBIDDEN, Some("The login form expired: try again."));
    }
    let now = Instant::now();
    if app.logins.blocked(peer.ip(), now) {
        app.metrics.inc("outpost_api_logins_total", &[("result", "blocked")]);
        let mut resp = login_form(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed logins from this address: wait a few minutes."),
        );
        resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("300"));
        return resp;
    }
    let user = form.username.clone();
    let result = app.store.call(move |s| s.login(&form.username, &form.password)).await;
    let (token, session) = match result {
        Ok(Some(pair)) => pair,
        Ok(None) => {
            app.logins.failed(peer.ip(), now);
            app.metrics.inc("outpost_api_logins_total", &[("result", "failed")]);
            tracing::warn!(client = %peer.ip(), "web UI login failed");
            // The same words whether the user exists or not.
            return login_form(StatusCode::UNAUTHORIZED, Some("Wrong user name or password."));
        }
        Err(e) => return super::UiError::from(e).into_response(),
    };
    app.logins.succeeded(peer.ip());
    app.metrics.inc("outpost_api_logins_total", &[("result", "ok")]);
    tracing::info!(client = %peer.ip(), user = %user, "web UI login");
    let to = if session.must_change_password { "/ui/setup" } else { "/ui/" };
    let mut resp = Redirect::to(to).into_response();
    resp.headers_mut().append(SET_COOKIE, session_cookie(&token, crate::store::admin::SESSION_SECONDS));
    resp.headers_mut().append(
        SET_COOKIE,
        HeaderValue::from_static("outpost_login=; HttpOnly; SameSite=Strict; Secure; Path=/ui/login; Max-Age=0"),
    );
    resp
}

#[derive(Deserialize)]
pub struct Nothing {}

/// `POST /ui/logout`
pub async fn logout(State(app): State<AppState>, posted: Posted<Nothing>) -> Response {
    let token = posted.viewer.token;
    if let Err(e) = app.store.call(move |s| s.logout(&token)).await {
        return super::UiError::from(e).into_response();
    }
    let mut resp = Redirect::to("/ui/login").into_response();
    resp.headers_mut().append(SET_COOKIE, session_cookie("", 0));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_is_bound_to_the_session() {
        let (a, b) = (csrf_of("token-a"), csrf_of("token-b"));
        assert_ne!(a, b);
        assert_eq!(a, csrf_of("token-a"), "stable for one session");
        assert!(!a.contains("token-a"), "the token does not show in the page");
    }

    #[test]
    fn the_session_cookie_is_http_only_secure_and_strict() {
        let c = session_cookie("t", 60);
        let c = c.to_str().unwrap_or_default();
        assert!(c.contains("HttpOnly") && c.contains("Secure") && c.contains("SameSite=Strict"), "{c}");
    }
}
