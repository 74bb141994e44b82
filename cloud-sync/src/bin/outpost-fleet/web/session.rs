//! Operators' logins and sessions, for the dashboard (a cookie) and the REST API (a bearer
//! token), CSRF tokens for the dashboard's forms, and the login rate limit.
//!
//! Decisions (docs/fleet-dashboard.md):
//! - A session is a random 256-bit token; only its SHA-256 is kept, in memory: a restart of the
//!   fleet service logs everybody out, which is cheaper than a table of live secrets.
//! - The dashboard's cookie is `HttpOnly; SameSite=Strict; Secure; Path=/`, and each form
//!   carries the session's CSRF token besides (`Posted`), so a page elsewhere cannot post.
//! - The API takes only `Authorization: Bearer`: it never acts on a cookie, so no other site
//!   can make a browser call it, and it needs no CSRF token.
//! - Unknown user and wrong password get the same answer, at the same cost (a decoy hash).
//! - After `MAX_FAILURES` failed logins from one address within `WINDOW`, that address gets
//!   429 until the window has passed.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::async_trait;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER, SET_COOKIE, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use cloud_sync::password::same;
use maud::html;
use ring::digest::{digest, SHA256};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use web_kit::cookie;

use super::page;
use crate::api::App;
use crate::store::{FleetStore, StoreError};

/// How long a login lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Failed logins allowed per address within `WINDOW`.
pub const MAX_FAILURES: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(60);
/// The dashboard's session cookie.
const COOKIE_NAME: &str = "outpost_fleet_session";
/// The login form's CSRF cookie (there is no session yet to hold its token).
const LOGIN_COOKIE: &str = "outpost_fleet_login";
/// `/api/v1/…` routes that need no operator: logging in, and what boxes call themselves.
pub const OPEN_API: &[&str] = &["/api/v1/login", "/api/v1/claim"];
/// The name of the operator made on the first start.
pub const FIRST_USER: &str = "admin";

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong name or password")]
    Refused,
    #[error("too many failed logins from this address; try again in a minute")]
    TooMany,
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("the system random source failed")]
    Random,
    #[error("the password check did not finish")]
    Join,
}

/// Where a session is used: a cookie never works as a bearer token, nor the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cookie,
    Bearer,
}

struct Session {
    name: String,
    csrf: String,
    kind: Kind,
    expires: Instant,
}

#[derive(Default)]
struct AuthState {
    /// By SHA-256 of the token.
    sessions: HashMap<[u8; 32], Session>,
    /// Failed logins per address, oldest first.
    failures: HashMap<IpAddr, VecDeque<Instant>>,
}

/// Sessions and login failures of this fleet instance.
#[derive(Clone, Default)]
pub struct Auth {
    state: Arc<Mutex<AuthState>>,
}

fn token_hash(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    out
}

fn random_token() -> Result<String, LoginError> {
    let bytes: [u8; 32] = cloud_sync::password::random_bytes().map_err(|_| LoginError::Random)?;
    Ok(B64.encode(bytes))
}

impl Auth {
    fn lock(&self) -> MutexGuard<'_, AuthState> {
        // A panic while holding the lock leaves maps that are still consistent (every change
        // is one insert or remove): go on with them.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open(&self, name: &str, kind: Kind, now: Instant) -> Result<String, LoginError> {
        let token = random_token()?;
        let csrf = random_token()?;
        let mut state = self.lock();
        state.sessions.retain(|_, s| s.expires > now);
        state
            .sessions
            .insert(token_hash(&token), Session { name: name.to_owned(), csrf, kind, expires: now + SESSION_LIFETIME });
        Ok(token)
    }

    fn find(&self, token: &str, kind: Kind, now: Instant) -> Option<Viewer> {
        let state = self.lock();
        let s = state.sessions.get(&token_hash(token)).filter(|s| s.kind == kind && s.expires > now)?;
        Some(Viewer { name: s.name.clone(), csrf: s.csrf.clone() })
    }

    fn close(&self, token: &str) {
        self.lock().sessions.remove(&token_hash(token));
    }

    fn limited(&self, ip: IpAddr, now: Instant) -> bool {
        let mut state = self.lock();
        let Some(times) = state.failures.get_mut(&ip) else { return false };
        while times.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            times.pop_front();
        }
        times.len() >= MAX_FAILURES
    }

    fn failed(&self, ip: IpAddr, now: Instant) {
        let mut state = self.lock();
        // Forget addresses whose failures are all past the window, so the map stays small.
        state.failures.retain(|_, t| t.back().is_some_and(|last| now.duration_since(*last) < WINDOW));
        state.failures.entry(ip).or_default().push_back(now);
    }

    fn succeeded(&self, ip: IpAddr) {
        self.lock().failures.remove(&ip);
    }

    /// Checks a login, within the rate limit, and opens a session of `kind`.
    async fn login(
        &self,
        store: &FleetStore,
        ip: IpAddr,
        name: &str,
        password: &str,
        kind: Kind,
    ) -> Result<String, LoginError> {
        if self.limited(ip, Instant::now()) {
            return Err(LoginError::TooMany);
        }
        let (store, user, pw) = (store.clone(), name.to_owned(), password.to_owned());
        // PBKDF2 takes a while: off the async workers.
        let ok = tokio::task::spawn_blocking(move || store.user_password_ok(&user, &pw))
            .await
            .map_err(|_| LoginError::Join)??;
        if !ok {
            self.failed(ip, Instant::now());
            tracing::info!(%ip, "failed dashboard login");
            return Err(LoginError::Refused);
        }
        self.succeeded(ip);
        tracing::info!(%ip, user = name, "operator logged in");
        self.open(name, kind, Instant::now())
    }
}

/// On a store without users, makes `admin` with `$OUTPOST_FLEET_ADMIN_PASSWORD` or, without
/// it, a random password, which is returned so that it can be shown once.
pub fn first_admin(store: &FleetStore, from_env: Option<String>) -> Result<Option<String>, LoginError> {
    if store.user_count()? > 0 {
        return Ok(None);
    }
    let (password, show) = match from_env.filter(|p| !p.is_empty()) {
        Some(p) => (p, false),
        None => (cloud_sync::password::random_password(16).map_err(|_| LoginError::Random)?, true),
    };
    store.set_user(FIRST_USER, &password, crate::store::now())?;
    Ok(show.then_some(password))
}

/// An operator signed in to the dashboard (by cookie), with the CSRF token its forms carry.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub name: String,
    pub csrf: String,
}

/// An operator calling the REST API (by bearer token). `require_operator` puts it in the
/// request's extensions; API handlers that want the name take `Extension<Operator>`.
#[derive(Debug, Clone)]
pub struct Operator {
    pub name: String,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

fn client_ip(parts: &Parts) -> IpAddr {
    // Without connect info (not served so), every client shares one bucket: stricter, not looser.
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

fn api_error(code: StatusCode, why: impl ToString) -> Response {
    (code, Json(json!({"error": why.to_string()}))).into_response()
}

fn login_error_response(e: &LoginError, json_body: bool) -> Response {
    let code = match e {
        LoginError::Refused => StatusCode::UNAUTHORIZED,
        LoginError::TooMany => StatusCode::TOO_MANY_REQUESTS,
        _ => {
            tracing::warn!(error = %e, "login failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let mut resp = if json_body { api_error(code, e) } else { login_form(code, Some(&e.to_string()), None) };
    if matches!(e, LoginError::TooMany) {
        resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("60"));
    }
    resp
}

/// Middleware on the whole router: every `/api/…` route but `OPEN_API` needs a bearer token.
/// Deny by default, so a route added later is protected without anyone remembering to.
pub async fn require_operator(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !path.starts_with("/api/") || OPEN_API.contains(&path) {
        return next.run(req).await;
    }
    let who = bearer(req.headers()).and_then(|t| app.auth.find(t, Kind::Bearer, Instant::now()));
    match who {
        Some(v) => {
            req.extensions_mut().insert(Operator { name: v.name });
            next.run(req).await
        }
        None => {
            let mut resp = api_error(
                StatusCode::UNAUTHORIZED,
                "log in first: POST /api/v1/login, then Authorization: Bearer <token>",
            );
            resp.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            resp
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiLogin {
    name: String,
    password: String,
}

/// `POST /api/v1/login {name, password}` → `{token, expires_in}`.
pub async fn api_login(State(app): State<App>, parts: Parts, Json(login): Json<ApiLogin>) -> Response {
    let ip = client_ip(&parts);
    match app.auth.login(&app.store, ip, &login.name, &login.password, Kind::Bearer).await {
        Ok(token) => Json(json!({"token": token, "expires_in": SESSION_LIFETIME.as_secs()})).into_response(),
        Err(e) => login_error_response(&e, true),
    }
}

/// `POST /api/v1/logout`: ends the bearer session.
pub async fn api_logout(State(app): State<App>, headers: HeaderMap) -> StatusCode {
    if let Some(t) = bearer(&headers) {
        app.auth.close(t);
    }
    StatusCode::NO_CONTENT
}

#[async_trait]
impl FromRequestParts<App> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        cookie(&parts.headers, COOKIE_NAME)
            .and_then(|t| app.auth.find(t, Kind::Cookie, Instant::now()))
            .ok_or_else(|| Redirect::to("/login").into_response())
    }
}

#[derive(Deserialize)]
struct CsrfField {
    csrf: String,
}

/// A dashboard form posted by a signed-in operator with the right CSRF token.
pub struct Posted<T> {
    pub viewer: Viewer,
    pub form: T,
}

#[async_trait]
impl<T: DeserializeOwned + Send> FromRequest<App> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, app).await?;
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), app)
            .await
            .map_err(IntoResponse::into_response)?;
        let again = |bytes: Bytes| Request::from_parts(parts.clone(), axum::body::Body::from(bytes));
        let token = Form::<CsrfField>::from_request(again(bytes.clone()), app).await.ok().map(|f| f.0.csrf);
        if !token.is_some_and(|t| same(t.as_bytes(), viewer.csrf.as_bytes())) {
            tracing::warn!(user = viewer.name, path = %parts.uri.path(), "form without a valid CSRF token refused");
            return Err(page::refused(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this dashboard: reload the page and try again.",
            ));
        }
        let Form(form) = Form::<T>::from_request(again(bytes), app)
            .await
            .map_err(|e| page::refused(StatusCode::BAD_REQUEST, &format!("The form could not be read: {e}")))?;
        Ok(Posted { viewer, form })
    }
}

fn session_cookie(token: &str, max_age: u64) -> HeaderValue {
    web_kit::session_cookie(COOKIE_NAME, token, "/", max_age)
}

/// The login page; sets a fresh login CSRF cookie that the form echoes.
fn login_form(code: StatusCode, error: Option<&str>, name: Option<&str>) -> Response {
    let Ok(csrf) = random_token() else {
        return page::refused(StatusCode::INTERNAL_SERVER_ERROR, "The system random source failed.");
    };
    let body = html! {
        main.login {
            form.card method="post" action="/login" id="login" {
                h1 { "Outpost fleet" }
                @if let Some(e) = error { p.notice.refused role="alert" { (e) } }
                input type="hidden" name="csrf" value=(csrf);
                label { "Name" input name="name" autocomplete="username" required value=(name.unwrap_or(FIRST_USER)); }
                label { "Password" input type="password" name="password" autocomplete="current-password" required autofocus; }
                button type="submit" { "Log in" }
            }
        }
    };
    let mut resp = (code, page::document("Log in", None, page::Nav::None, body)).into_response();
    resp.headers_mut().append(SET_COOKIE, web_kit::session_cookie(LOGIN_COOKIE, &csrf, "/login", 3600));
    resp
}

/// `GET /login`
pub async fn login_page(State(app): State<App>, headers: HeaderMap) -> Response {
    // Already signed in: straight to the fleet.
    if cookie(&headers, COOKIE_NAME).and_then(|t| app.auth.find(t, Kind::Cookie, Instant::now())).is_some() {
        return Redirect::to("/").into_response();
    }
    login_form(StatusCode::OK, None, None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    name: String,
    password: String,
}

/// `POST /login`
pub async fn login(State(app): State<App>, parts: Parts, Form(form): Form<LoginForm>) -> Response {
    let expected = cookie(&parts.headers, LOGIN_COOKIE);
    if !expected.is_some_and(|c| same(c.as_bytes(), form.csrf.as_bytes())) {
        return login_form(StatusCode::FORBIDDEN, Some("The login form expired: try again."), Some(&form.name));
    }
    let ip = client_ip(&parts);
    match app.auth.login(&app.store, ip, &form.name, &form.password, Kind::Cookie).await {
        Ok(token) => {
            let mut resp = Redirect::to("/").into_response();
            resp.headers_mut().append(SET_COOKIE, session_cookie(&token, SESSION_LIFETIME.as_secs()));
            resp.headers_mut().append(
                SET_COOKIE,
                HeaderValue::from_static(
                    "outpost_fleet_login=; HttpOnly; SameSite=Strict; Secure; Path=/login; Max-Age=0",
                ),
            );
            resp
        }
        Err(LoginError::Refused) => {
            // Shown again with the name typed; the same words whether the name exists or not.
            login_form(StatusCode::UNAUTHORIZED, Some(&LoginError::Refused.to_string()), Some(&form.name))
        }
        Err(e) => login_error_response(&e, false),
    }
}

#[derive(Deserialize)]
pub struct Nothing {}

/// `POST /logout`
pub async fn logout(State(app): State<App>, headers: HeaderMap, _posted: Posted<Nothing>) -> Response {
    if let Some(t) = cookie(&headers, COOKIE_NAME) {
        app.auth.close(t);
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().append(SET_COOKIE, session_cookie("", 0));
    resp
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_session_is_found_by_its_token_of_its_kind_only_and_ends_at_logout() {
        let auth = Auth::default();
        let now = Instant::now();
        let token = auth.open("admin", Kind::Cookie, now).unwrap();
        assert_eq!(auth.find(&token, Kind::Cookie, now).unwrap().name, "admin");
        assert!(auth.find(&token, Kind::Bearer, now).is_none(), "a cookie is no bearer token");
        assert!(auth.find("guess", Kind::Cookie, now).is_none());
        assert!(auth.find(&token, Kind::Cookie, now + SESSION_LIFETIME).is_none(), "expired");
        assert!(!auth.lock().sessions.keys().any(|k| k.as_slice() == token.as_bytes()), "only the hash is kept");
        auth.close(&token);
        assert!(auth.find(&token, Kind::Cookie, now).is_none());
    }

    #[test]
    fn failures_past_the_limit_block_an_address_for_the_window() {
        let auth = Auth::default();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(!auth.limited(a, t0));
            auth.failed(a, t0);
        }
        assert!(auth.limited(a, t0));
        assert!(!auth.limited(b, t0), "per address");
        assert!(!auth.limited(a, t0 + WINDOW), "the window passes");
    }

    #[test]
    fn cookies_and_bearer_tokens_are_read_from_their_headers() {
        let mut h = HeaderMap::new();
        h.append(axum::http::header::COOKIE, HeaderValue::from_static("a=1; outpost_fleet_session=tok; b=2"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(cookie(&h, COOKIE_NAME), Some("tok"));
        assert_eq!(cookie(&h, "c"), None);
        assert_eq!(bearer(&h), Some("abc"));
    }
}
