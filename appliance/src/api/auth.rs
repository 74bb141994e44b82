//! Login, logout, password change, and the extractors that guard every other route.
//!
//! Sessions are bearer tokens (`Authorization: Bearer …`). A session opened with the one-time
//! password may only change the password. Failed logins are counted per client address; past
//! the limit the address gets 429 until the window ends, whichever user it tries.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::JsonBody;
use super::{ApiError, AppState, Peer};
use crate::store::admin::{Role, Session};

const MAX_FAILURES: u32 = 5;
const WINDOW: Duration = Duration::from_secs(300);
/// Shortest admin password; the web UI's setup page asks the same.
pub(crate) const MIN_PASSWORD: usize = 10;

/// Failed logins per client address within a sliding window.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl LoginLimiter {
    pub(crate) fn blocked(&self, ip: IpAddr, now: Instant) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        map.get(&ip).is_some_and(|(n, _)| *n >= MAX_FAILURES)
    }

    pub(crate) fn failed(&self, ip: IpAddr, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(ip).or_insert((0, now)).0 += 1;
    }

    pub(crate) fn succeeded(&self, ip: IpAddr) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&ip);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: String,
}

pub async fn login(
    State(app): State<AppState>,
    Extension(Peer(peer)): Extension<Peer>,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Json<Value>, ApiError> {
    let now = Instant::now();
    if app.logins.blocked(peer.ip(), now) {
        app.metrics.inc("outpost_api_logins_total", &[("result", "blocked")]);
        return Err(ApiError::TooManyRequests);
    }
    let user = req.username.clone();
    let result = app.store.call(move |s| s.login(&req.username, &req.password)).await?;
    let Some((token, session)) = result else {
        app.logins.failed(peer.ip(), now);
        app.metrics.inc("outpost_api_logins_total", &[("result", "failed")]);
        tracing::warn!(client = %peer.ip(), "API login failed");
        return Err(ApiError::BadCredentials);
    };
    app.logins.succeeded(peer.ip());
    app.metrics.inc("outpost_api_logins_total", &[("result", "ok")]);
    tracing::info!(client = %peer.ip(), user = %user, "API login");
    Ok(Json(json!({
        "token": token,
        "username": session.username,
        "role": session.role,
        "must_change_password": session.must_change_password,
        "expires_in": crate::store::admin::SESSION_SECONDS,
    })))
}

pub async fn logout(State(app): State<AppState>, auth: Authenticated) -> Result<StatusCode, ApiError> {
    app.store.call(move |s| s.logout(&auth.token)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current: String,
    new: String,
}

/// Changes the caller's own password; every session of theirs ends, so they log in again.
pub async fn change_password(
    State(app): State<AppState>,
    auth: Authenticated,
    JsonBody(req): JsonBody<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let user = auth.session.username.clone();
    change_own_password(&app, &user, req.current, req.new, user.clone()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes `user`'s own password from `current` to `new` (at least [`MIN_PASSWORD`]
/// characters, not the current one), booked as `actor`; every session of `user` ends. What
/// the API's `POST /api/v1/password` and the portal's password form both do.
pub(crate) async fn change_own_password(
    app: &AppState,
    user: &str,
    current: String,
    new: String,
    actor: String,
) -> Result<(), ApiError> {
    if new.chars().count() < MIN_PASSWORD {
        return Err(ApiError::Invalid(vec![crate::site::FieldError {
            field: "new".into(),
            reason: format!("must be at least {MIN_PASSWORD} characters"),
        }]));
    }
    if new == current {
        return Err(ApiError::BadRequest("the new password must differ from the current one".into()));
    }
    let user = user.to_owned();
    app.store
        .call(move |s| match s.check_credentials(&user, &current)? {
            Some(_) => s.set_password(&user, &new, false, &actor).map(|()| true),
            None => Ok(false),
        })
        .await?
        .then_some(())
        .ok_or(ApiError::Forbidden("the current password is wrong"))
}

/// Any valid session, even one that still has to change its one-time password.
pub struct Authenticated {
    pub session: Session,
    pub token: String,
}

/// A session of an admin whose password is set: what every admin route needs.
pub struct Admin(pub Session);

#[axum::async_trait]
impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 128)
            .ok_or(ApiError::Unauthorized)?
            .to_owned();
        let lookup = token.clone();
        let session = app.store.call(move |s| s.session(&lookup)).await?.ok_or(ApiError::Unauthorized)?;
        Ok(Authenticated { session, token })
    }
}

#[axum::async_trait]
impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let Authenticated { session, .. } = Authenticated::from_request_parts(parts, app).await?;
        if session.must_change_password {
            return Err(ApiError::Forbidden("change the one-time password first (POST /api/v1/password)"));
        }
        if session.role != Role::Admin {
            return Err(ApiError::Forbidden("this needs an admin"));
        }
        Ok(Admin(session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_repeated_failures_and_freed_later() {
        let limiter = LoginLimiter::default();
        let ip: IpAddr = [192, 0, 2, 1].into();
        let other: IpAddr = [192, 0, 2, 2].into();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(!limiter.blocked(ip, t0));
            limiter.failed(ip, t0);
        }
        assert!(limiter.blocked(ip, t0));
        assert!(!limiter.blocked(other, t0), "other clients are not punished");
        assert!(!limiter.blocked(ip, t0 + WINDOW), "the block ends with the window");
    }
}
