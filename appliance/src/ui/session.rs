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
//!   per client address (the portal's login too).
//! - Roles are checked here, on the server, for every page and every form: `Admin` and
//!   `Posted` admit only admins, `portal::Member` and `portal::MemberPosted` only extension
//!   users bound to an extension; each refuses the other role with 403. The admin login
//!   admits only admins and the portal login only extension users, so neither form opens the
//!   other's session.

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
use crate::store::portal::Line;

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
    /// The extension of an extension user (role `user`); `None` for admins.
    pub line: Option<Line>,
}

impl Viewer {
    /// Where this viewer's pages start.
    pub fn home(&self) -> &'static str {
        if self.role == Role::Admin {
            "/ui/"
        } else {
            "/ui/me"
        }
    }
}

/// Who may use a page or form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The box's admins.
    Admins,
    /// Extension users, each bound to one extension.
    Members,
    /// Anyone signed in (logout).
    Anyone,
}

/// Whether `viewer` is of `audience`. A `user` without an extension (an API-only account) is
/// no member: the portal has nothing to show it.
pub fn admits(audience: Audience, viewer: &Viewer) -> bool {
    match audience {
        Audience::Admins => viewer.role == Role::Admin,
        Audience::Members => viewer.role == Role::User && viewer.line.is_some(),
        Audience::Anyone => true,
    }
}

/// `Err` with a refusal page (403) when `viewer` is not of `audience`.
#[allow(clippy::result_large_err)] // every guard's rejection is a `Response`
pub fn admit(audience: Audience, viewer: &Viewer) -> Result<(), Response> {
    if admits(audience, viewer) {
        return Ok(());
    }
    tracing::warn!(user = %viewer.username, ?audience, "web UI: a page of another role refused");
    let why = match audience {
        Audience::Members => {
            "This is the portal of an extension's user; admins change forwarding on the extension's page."
        }
        _ => "These pages are for the box's admins.",
    };
    Err(page::refused_to(StatusCode::FORBIDDEN, why, viewer.home()))
}

/// The CSRF token of the session `token`.
pub fn csrf_of(token: &str) -> String {
    B64.encode(digest(&SHA256, format!("outpost-ui-csrf\0{token}").as_bytes()))
}

async fn viewer(headers: &HeaderMap, app: &AppState) -> Option<Viewer> {
    let token = cookie(headers, COOKIE_NAME).filter(|t| !t.is_empty() && t.len() <= 128)?.to_owned();
    let lookup = token.clone();
    let found = app
        .store
        .call(move |s| {
            let Some(session) = s.session(&lookup)? else { return Ok(None) };
            let line = if session.role == Role::User { s.portal_line(&session.username)? } else { None };
            Ok(Some((session, line)))
        })
        .await;
    let (session, line) = match found {
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
        line,
    })
}

/// The signed-in viewer, or a redirect to `login` (the admin or the portal login page).
pub(super) async fn signed_in(headers: &HeaderMap, app: &AppState, login: &str) -> Result<Viewer, Response> {
    viewer(headers, app).await.ok_or_else(|| Redirect::to(login).into_response())
}

/// An admin whose password is set: what every page but login and setup needs. Without a
/// session: to the login page; with the one-time password still set: to the setup page.
pub struct Admin(pub Viewer);

#[async_trait]
impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let v = signed_in(&parts.headers, app, "/ui/login").await?;
        admit(Audience::Admins, &v)?;
        if v.must_change_password {
            return Err(Redirect::to("/ui/setup").into_response());
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
        let v = signed_in(&parts.headers, app, "/ui/login").await?;
        admit(Audience::Admins, &v)?;
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

/// A form posted by an admin whose password is set, with the session's CSRF token; with the
/// one-time password still set: to the setup page (as [`Admin`] does for pages).
pub struct Posted<T> {
    pub viewer: Viewer,
    pub form: T,
}

#[async_trait]
impl<T: DeserializeOwned + Send> FromRequest<AppState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Response> {
        let (viewer, form) = read_post(req, app, Audience::Admins, "/ui/login").await?;
        if viewer.must_change_password {
            return Err(Redirect::to("/ui/setup").into_response());
        }
        Ok(Posted { viewer, form })
    }
}

/// The setup form, posted by an admin who still has the one-time password (as [`Setup`]);
/// once it is set: to the dashboard.
pub struct SetupPosted<T> {
    pub viewer: Viewer,
    pub form: T,
}

#[async_trait]
impl<T: DeserializeOwned + Send> FromRequest<AppState> for SetupPosted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Response> {
        let (viewer, form) = read_post(req, app, Audience::Admins, "/ui/login").await?;
        if !viewer.must_change_password {
            return Err(Redirect::to("/ui/").into_response());
        }
        Ok(SetupPosted { viewer, form })
    }
}

/// An empty form (a button) posted by anyone signed in, with the session's CSRF token: logout.
pub struct SignedPosted {
    pub viewer: Viewer,
}

#[async_trait]
impl FromRequest<AppState> for SignedPosted {
    type Rejection = Response;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Response> {
        let (viewer, Nothing {}) = read_post(req, app, Audience::Anyone, "/ui/login").await?;
        Ok(SignedPosted { viewer })
    }
}

/// Reads a posted form of a viewer of `audience`: the session (else to `login`), the role
/// (else 403, before the body is read), the CSRF token (else 403), then the form itself.
pub(super) async fn read_post<T: DeserializeOwned + Send>(
    req: Request,
    app: &AppState,
    audience: Audience,
    login: &str,
) -> Result<(Viewer, T), Response> {
    let (parts, body) = req.into_parts();
    let viewer = signed_in(&parts.headers, app, login).await?;
    admit(audience, &viewer)?;
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
    Ok((viewer, form))
}

/// `Set-Cookie` for the session (an empty token with age 0 removes it).
pub fn session_cookie(token: &str, max_age: i64) -> HeaderValue {
    web_kit::session_cookie(COOKIE_NAME, token, "/ui", max_age.max(0).unsigned_abs())
}

pub(super) fn random_token() -> Option<String> {
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

/// Whether a login form's echoed CSRF token matches its cookie `name` (double submit).
pub(super) fn login_csrf_ok(headers: &HeaderMap, name: &str, echoed: &str) -> bool {
    cookie(headers, name).is_some_and(|c| same(c.as_bytes(), echoed.as_bytes()))
}

/// The start of a login post: `Some(now)` while the address's budget (shared with the API's
/// login) lasts; `None`, counted, once it is spent.
pub(super) fn login_allowed(app: &AppState, ip: std::net::IpAddr) -> Option<Instant> {
    let now = Instant::now();
    if app.logins.blocked(ip, now) {
        app.metrics.inc("outpost_api_logins_total", &[("result", "blocked")]);
        return None;
    }
    Some(now)
}

/// The 429 answer to a login post over budget: `form` with when to come back.
pub(super) fn too_many_logins(mut form: Response) -> Response {
    form.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("300"));
    form
}

/// Books a login's outcome in the shared budget and the metric; `what` names the form in the
/// log of a failure.
pub(super) fn login_done(app: &AppState, ip: std::net::IpAddr, now: Instant, ok: bool, what: &str) {
    if ok {
        app.logins.succeeded(ip);
        app.metrics.inc("outpost_api_logins_total", &[("result", "ok")]);
    } else {
        app.logins.failed(ip, now);
        app.metrics.inc("outpost_api_logins_total", &[("result", "failed")]);
        tracing::warn!(client = %ip, "{what} login failed");
    }
}

/// `GET /ui/login`
pub async fn login_page(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(v) = viewer(&headers, &app).await {
        return Redirect::to(v.home()).into_response();
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
    if !login_csrf_ok(&headers, LOGIN_COOKIE, &form.csrf) {
        return login_form(StatusCode::FORBIDDEN, Some("The login form expired: try again."));
    }
    let Some(now) = login_allowed(&app, peer.ip()) else {
        return too_many_logins(login_form(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed logins from this address: wait a few minutes."),
        ));
    };
    let user = form.username.clone();
    // Only admins log in here: an extension user's right password reads as a wrong one (its
    // form is the portal's), and the session it opened is closed at once.
    let result = app
        .store
        .call(move |s| match s.login(&form.username, &form.password)? {
            Some((token, session)) if session.role != Role::Admin => s.logout(&token).map(|()| None),
            other => Ok(other),
        })
        .await;
    let (token, session) = match result {
        Ok(Some(pair)) => pair,
        Ok(None) => {
            login_done(&app, peer.ip(), now, false, "web UI");
            // The same words whether the user exists or not.
            return login_form(StatusCode::UNAUTHORIZED, Some("Wrong user name or password."));
        }
        Err(e) => return super::UiError::from(e).into_response(),
    };
    login_done(&app, peer.ip(), now, true, "web UI");
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

/// `POST /ui/logout`, for admins and extension users alike: back to their own login page.
pub async fn logout(State(app): State<AppState>, posted: SignedPosted) -> Response {
    let token = posted.viewer.token;
    let to = if posted.viewer.role == Role::Admin { "/ui/login" } else { "/ui/me/login" };
    if let Err(e) = app.store.call(move |s| s.logout(&token)).await {
        return super::UiError::from(e).into_response();
    }
    let mut resp = Redirect::to(to).into_response();
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

    fn someone(role: Role, line: bool) -> Viewer {
        Viewer {
            username: "x".into(),
            role,
            must_change_password: false,
            csrf: String::new(),
            token: String::new(),
            line: line.then(|| Line { tenant: "acme".into(), number: "201".into() }),
        }
    }

    #[test]
    fn each_role_reaches_only_its_own_pages() {
        let admin = someone(Role::Admin, false);
        let member = someone(Role::User, true);
        let unbound = someone(Role::User, false);
        assert!(admits(Audience::Admins, &admin));
        assert!(!admits(Audience::Admins, &member));
        assert!(admits(Audience::Members, &member));
        assert!(!admits(Audience::Members, &admin), "an admin is no extension user");
        assert!(!admits(Audience::Members, &unbound), "a user without an extension");
        assert!(!admits(Audience::Admins, &unbound));
        assert!(admits(Audience::Anyone, &member));
        assert_eq!(admit(Audience::Admins, &member).err().map(|r| r.status()), Some(StatusCode::FORBIDDEN));
        assert_eq!((admin.home(), member.home()), ("/ui/", "/ui/me"));
    }

    #[test]
    fn the_session_cookie_is_http_only_secure_and_strict() {
        let c = session_cookie("t", 60);
        let c = c.to_str().unwrap_or_default();
        assert!(c.contains("HttpOnly") && c.contains("Secure") && c.contains("SameSite=Strict"), "{c}");
    }
}
