//! Who is on the other end of a UI request, and whether a form really came from our page.
//!
//! - Admins log in with the store's admin users and get the same kind of session the API hands
//!   out (a random token, kept only as its SHA-256 in SQLite, 12 h), carried in the cookie
//!   `__Host-outpost-admin`. A session opened with the one-time password reaches only setup.
//! - Phone users log in with their extension and its portal password (for now the extension's
//!   SIP secret: the site config has no other per-user credential) and get a session kept in
//!   memory (`PortalSessions`, 12 h, gone with a restart), in `__Host-outpost-user`.
//! - Cookies are `HttpOnly; Secure; SameSite=Strict; Path=/` with the `__Host-` prefix, so no
//!   other origin or script can read or plant them.
//! - Every POST carries a CSRF token in `_csrf`: for a session the SHA-256 of a fixed label and
//!   the session token (unguessable without the cookie, checked server-side on every write);
//!   for the login form a random value also set as a cookie (double submit).
//! - Failed logins are counted per client address, as the API counts them: after 5 within
//!   5 minutes the address gets 429 until the window ends, whichever account it tries.
//! - Roles are enforced here, on the server: an admin page answers 403 to a phone user or an
//!   admin user without the admin role, and redirects to the login page without a session.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use ring::digest;

use super::form::Form;
use super::page::{self, csrf_field, Nav};
use super::Ui;
use crate::api::Peer;
use crate::store::admin::{Role, Session, SESSION_SECONDS};
use crate::store::secrets::random_bytes;

pub const ADMIN_COOKIE: &str = "__Host-outpost-admin";
pub const USER_COOKIE: &str = "__Host-outpost-user";
const LOGIN_COOKIE: &str = "__Host-outpost-login";

const MAX_FAILURES: u32 = 5;
const WINDOW: Duration = Duration::from_secs(300);
const PORTAL_SESSION: Duration = Duration::from_secs(SESSION_SECONDS as u64);
/// Forms are small; a site document is not edited through one.
const MAX_FORM: usize = 256 * 1024;

fn set_cookie(name: &str, value: &str, max_age: i64) -> (header::HeaderName, HeaderValue) {
    let text = format!("{name}={value}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}");
    (header::SET_COOKIE, HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("")))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The CSRF token of a session: bound to it, useless to anyone without its cookie.
pub fn csrf_of(token: &str) -> String {
    hex::encode(sha256(&[b"outpost-ui-csrf\0", token.as_bytes()]))
}

/// Equal in time independent of where the strings differ.
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (sha256(&[a.as_bytes()]), sha256(&[b.as_bytes()]));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_token() -> Option<String> {
    random_bytes::<32>().ok().map(hex::encode)
}

/// Failed logins per client address within a window (the API's rule, for the UI's logins).
#[derive(Default)]
pub struct Limiter {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Limiter {
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        map.get(&ip).is_some_and(|(n, _)| *n >= MAX_FAILURES)
    }

    pub fn failed(&self, ip: IpAddr, now: Instant) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).entry(ip).or_insert((0, now)).0 += 1;
    }

    pub fn succeeded(&self, ip: IpAddr) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&ip);
    }
}

struct PortalSession {
    tenant: String,
    extension: String,
    expires: Instant,
}

/// Phone users' sessions, by the SHA-256 of their token.
#[derive(Default)]
pub struct PortalSessions {
    map: Mutex<HashMap<[u8; 32], PortalSession>>,
}

impl PortalSessions {
    fn open(&self, tenant: &str, extension: &str) -> Option<String> {
        let token = random_token()?;
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, s| s.expires > now);
        let session = PortalSession { tenant: tenant.into(), extension: extension.into(), expires: now + PORTAL_SESSION };
        map.insert(sha256(&[token.as_bytes()]), session);
        Some(token)
    }

    fn get(&self, token: &str) -> Option<(String, String)> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&sha256(&[token.as_bytes()]))
            .filter(|s| s.expires > Instant::now())
            .map(|s| (s.tenant.clone(), s.extension.clone()))
    }

    fn close(&self, token: &str) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).remove(&sha256(&[token.as_bytes()]));
    }

    /// Ends every session of an extension (its secret was reset, or it was deleted).
    pub fn close_all(&self, tenant: &str, extension: &str) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, s| !(s.tenant == tenant && s.extension == extension));
    }
}

/// A session whose forms carry a CSRF token.
pub trait Csrf {
    fn csrf(&self) -> String;
}

/// An admin whose password is set: what every admin page needs.
pub struct Admin {
    pub session: Session,
    pub token: String,
}

impl Admin {
    /// Who the audit log names for this admin's changes.
    pub fn actor(&self) -> String {
        format!("ui:{}", self.session.username)
    }
}

impl Csrf for Admin {
    fn csrf(&self) -> String {
        csrf_of(&self.token)
    }
}

/// The admin of a one-time-password session, on the setup page.
pub struct SetupAdmin(pub Admin);

impl Csrf for SetupAdmin {
    fn csrf(&self) -> String {
        self.0.csrf()
    }
}

/// A phone user in their portal.
pub struct User {
    pub tenant: String,
    pub extension: String,
    pub token: String,
}

impl Csrf for User {
    fn csrf(&self) -> String {
        csrf_of(&self.token)
    }
}

async fn admin_session(parts: &Parts, ui: &Ui) -> Result<Option<(Session, String)>, Response> {
    let Some(token) = cookie(&parts.headers, ADMIN_COOKIE) else { return Ok(None) };
    let lookup = token.clone();
    let session = ui.app.store.call(move |s| s.session(&lookup)).await.map_err(super::internal)?;
    Ok(session.map(|s| (s, token)))
}

fn user_session(parts: &Parts, ui: &Ui) -> Option<User> {
    let token = cookie(&parts.headers, USER_COOKIE)?;
    let (tenant, extension) = ui.sessions.get(&token)?;
    Some(User { tenant, extension, token })
}

#[axum::async_trait]
impl FromRequestParts<Ui> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ui: &Ui) -> Result<Self, Response> {
        match admin_session(parts, ui).await? {
            Some((session, _)) if session.role != Role::Admin => Err(page::forbidden("This page is for admins.")),
            Some((session, _)) if session.must_change_password => Err(Redirect::to("/ui/setup").into_response()),
            Some((session, token)) => Ok(Admin { session, token }),
            None if user_session(parts, ui).is_some() => Err(page::forbidden("This page is for admins.")),
            None => Err(Redirect::to("/ui/login").into_response()),
        }
    }
}

#[axum::async_trait]
impl FromRequestParts<Ui> for SetupAdmin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ui: &Ui) -> Result<Self, Response> {
        match admin_session(parts, ui).await? {
            Some((session, _)) if session.role != Role::Admin => Err(page::forbidden("Setup is for admins.")),
            Some((session, token)) if session.must_change_password => Ok(SetupAdmin(Admin { session, token })),
            Some(_) => Err(Redirect::to("/ui/").into_response()),
            None => Err(Redirect::to("/ui/login").into_response()),
        }
    }
}

#[axum::async_trait]
impl FromRequestParts<Ui> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ui: &Ui) -> Result<Self, Response> {
        user_session(parts, ui).ok_or_else(|| Redirect::to("/ui/login").into_response())
    }
}

/// A POSTed form of session `S`, its CSRF token checked: a form without the right token is
/// refused with 403 before any handler runs.
pub struct Posted<S>(pub S, pub Form);

#[axum::async_trait]
impl<S> FromRequest<Ui> for Posted<S>
where
    S: FromRequestParts<Ui, Rejection = Response> + Csrf + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, ui: &Ui) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let who = S::from_request_parts(&mut parts, ui).await?;
        let bytes = axum::body::to_bytes(body, MAX_FORM)
            .await
            .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response())?;
        let form = Form::parse(&bytes);
        if !same(form.get("_csrf"), &who.csrf()) {
            return Err(csrf_refused());
        }
        Ok(Posted(who, form))
    }
}

fn csrf_refused() -> Response {
    let mut r = page::forbidden("The form's security token is missing or stale: reload the page and try again.");
    r.headers_mut().insert("x-outpost-refused", HeaderValue::from_static("csrf"));
    r
}

fn peer_ip(parts: &Parts) -> IpAddr {
    parts.extensions.get::<Peer>().map_or(IpAddr::from([0, 0, 0, 0]), |p| p.0.ip())
}

fn login_form(status: StatusCode, error: Option<&str>) -> Response {
    let Some(nonce) = random_token() else { return super::internal("no randomness") };
    let body = html! {
        @if let Some(e) = error { p.notice.refused role="alert" { (e) } }
        form.card method="post" action="/ui/login" {
            (csrf_field(&nonce))
            label { "User name or extension"
                input type="text" name="username" autocomplete="username" required autofocus; }
            label { "Password"
                input type="password" name="password" autocomplete="current-password" required; }
            button type="submit" { "Log in" }
        }
        p.hint {
            "Admins: user name " code { "admin" } " (on first boot, the one-time password the box printed). "
            "Phone users: your extension (" code { "101" } ", or " code { "101@your.domain" }
            " when the box serves several tenants) and your portal password."
        }
    };
    let page = page::shell("Log in", Nav::None, None, body);
    let mut response = page::render_status(status, page);
    let (k, v) = set_cookie(LOGIN_COOKIE, &nonce, 3600);
    response.headers_mut().append(k, v);
    response
}

pub async fn login_page() -> Response {
    login_form(StatusCode::OK, None)
}

/// Admin or phone user: a name that starts with a digit is an extension.
pub async fn login(State(ui): State<Ui>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response();
    };
    let form = Form::parse(&bytes);
    let nonce = cookie(&parts.headers, LOGIN_COOKIE).unwrap_or_default();
    if nonce.is_empty() || !same(form.get("_csrf"), &nonce) {
        return csrf_refused();
    }
    let ip = peer_ip(&parts);
    let now = Instant::now();
    if ui.limiter.blocked(ip, now) {
        ui.app.metrics.inc("outpost_api_logins_total", &[("result", "blocked")]);
        return login_form(StatusCode::TOO_MANY_REQUESTS, Some("Too many failed logins from this address: try again later."));
    }
    let (username, password) = (form.get("username").to_owned(), form.get("password").to_owned());
    let outcome = if username.starts_with(|c: char| c.is_ascii_digit()) {
        portal_login(&ui, &username, &password).await
    } else {
        admin_login(&ui, &username, &password).await
    };
    match outcome {
        Ok(Some(response)) => {
            ui.limiter.succeeded(ip);
            ui.app.metrics.inc("outpost_api_logins_total", &[("result", "ok")]);
            tracing::info!(client = %ip, user = %username, "web UI login");
            response
        }
        Ok(None) => {
            ui.limiter.failed(ip, now);
            ui.app.metrics.inc("outpost_api_logins_total", &[("result", "failed")]);
            tracing::warn!(client = %ip, "web UI login failed");
            login_form(StatusCode::UNAUTHORIZED, Some("Wrong user name or password."))
        }
        Err(response) => response,
    }
}

fn logged_in(to: &str, cookie_name: &str, token: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    let (k, v) = set_cookie(cookie_name, token, SESSION_SECONDS);
    response.headers_mut().append(k, v);
    let (k, v) = set_cookie(LOGIN_COOKIE, "", 0);
    response.headers_mut().append(k, v);
    response
}

async fn admin_login(ui: &Ui, username: &str, password: &str) -> Result<Option<Response>, Response> {
    let (u, p) = (username.to_owned(), password.to_owned());
    let opened = ui.app.store.call(move |s| s.login(&u, &p)).await.map_err(super::internal)?;
    Ok(opened.map(|(token, session)| {
        let to = if session.must_change_password { "/ui/setup" } else { "/ui/" };
        logged_in(to, ADMIN_COOKIE, &token)
    }))
}

/// `101` (the one tenant that has it) or `101@domain-or-tenant`, against the extension's
/// portal password (its SIP secret).
async fn portal_login(ui: &Ui, username: &str, password: &str) -> Result<Option<Response>, Response> {
    let doc = super::current(ui).await.map_err(|r| super::internal(r.lines().join("; ")))?;
    let (number, scope) = username.split_once('@').map_or((username, None), |(n, d)| (n, Some(d)));
    let found: Vec<(&str, Option<&str>)> = doc
        .tenants
        .iter()
        .filter(|t| scope.is_none_or(|d| t.name == d || t.domains.iter().any(|x| x.eq_ignore_ascii_case(d))))
        .filter_map(|t| t.extensions.iter().find(|x| x.number == number).map(|x| (t.name.as_str(), x.secret.as_deref())))
        .collect();
    // Always compare once, so an unknown extension costs what a wrong password does.
    let (tenant, secret) = match found.as_slice() {
        [(tenant, secret)] => (Some(*tenant), secret.unwrap_or_default()),
        _ => (None, "\0no such extension"),
    };
    let ok = same(password, secret) && !password.is_empty();
    let Some(tenant) = tenant.filter(|_| ok) else { return Ok(None) };
    let token = ui.sessions.open(tenant, number).ok_or_else(|| super::internal("no randomness"))?;
    Ok(Some(logged_in("/ui/me", USER_COOKIE, &token)))
}

/// Ends whichever sessions the form's token proves.
pub async fn logout(State(ui): State<Ui>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let form = Form::parse(&axum::body::to_bytes(body, MAX_FORM).await.unwrap_or_default());
    let given = form.get("_csrf");
    let mut proved = false;
    if let Some(token) = cookie(&parts.headers, ADMIN_COOKIE).filter(|t| same(given, &csrf_of(t))) {
        proved = true;
        if let Err(e) = ui.app.store.call(move |s| s.logout(&token)).await {
            return super::internal(e);
        }
    }
    if let Some(token) = cookie(&parts.headers, USER_COOKIE).filter(|t| same(given, &csrf_of(t))) {
        proved = true;
        ui.sessions.close(&token);
    }
    if !proved {
        return csrf_refused();
    }
    let mut response = Redirect::to("/ui/login").into_response();
    for name in [ADMIN_COOKIE, USER_COOKIE] {
        let (k, v) = set_cookie(name, "", 0);
        response.headers_mut().append(k, v);
    }
    response
}

/// Replaces the admin cookie after a password change (which ends the old session).
pub fn with_admin_cookie(mut response: Response, token: &str) -> Response {
    let (k, v) = set_cookie(ADMIN_COOKIE, token, SESSION_SECONDS);
    response.headers_mut().append(k, v);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_exact_name_and_csrf_tokens_are_bound_to_the_session() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; __Host-outpost-admin=tok; __Host-outpost-adminx=no"));
        assert_eq!(cookie(&h, ADMIN_COOKIE).as_deref(), Some("tok"));
        assert_eq!(cookie(&h, USER_COOKIE), None);
        assert_ne!(csrf_of("tok"), csrf_of("tok2"));
        assert!(same(&csrf_of("tok"), &csrf_of("tok")));
        assert!(!same("", &csrf_of("tok")));
        let (_, v) = set_cookie(ADMIN_COOKIE, "t", 60);
        let v = v.to_str().unwrap();
        for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(v.contains(part), "{v}");
        }
    }

    #[test]
    fn the_limiter_blocks_an_address_after_repeated_failures() {
        let l = Limiter::default();
        let ip: IpAddr = [192, 0, 2, 1].into();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(!l.blocked(ip, t0));
            l.failed(ip, t0);
        }
        assert!(l.blocked(ip, t0));
        assert!(!l.blocked([192, 0, 2, 2].into(), t0));
        assert!(!l.blocked(ip, t0 + WINDOW));
    }

    #[test]
    fn portal_sessions_open_resolve_and_close() {
        let s = PortalSessions::default();
        let t = s.open("acme", "101").unwrap();
        assert_eq!(s.get(&t), Some(("acme".into(), "101".into())));
        assert_eq!(s.get("other"), None);
        s.close_all("acme", "101");
        assert_eq!(s.get(&t), None);
    }
}
