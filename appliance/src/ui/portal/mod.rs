//! The extension user's portal under `/ui/me`: their phone's registration, their call
//! forwarding (always, busy, no answer after a ring time) and their last calls.
//!
//! The user changes their own portal password here too (the current one required), as
//! `POST /api/v1/password` does.
//!
//! A portal session is an API session of a `user` account bound to one extension
//! (`store::portal`); `Member` and `MemberPosted` admit nobody else, and the admin pages
//! refuse it (`session::admit`). Forwarding is written as `PUT …/forwarding` writes it: the
//! API's `Forwarding` put on the extension, the whole site validated and applied by
//! `Store::apply_site` under the API's write lock (`ui::apply_edit`).
//!
//! # Layout
//! - `login`: the portal's login page.
//! - `form`: the forwarding form's reading, refusals in words, the history rows (pure).
//! - `admin`: the admin's card on the extension page that sets or removes the portal password.

mod admin;
mod form;
mod login;

use axum::async_trait;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::{html, Markup};
use serde::de::DeserializeOwned;

pub use admin::card as admin_card;
pub(super) use form::outcome_words;
use form::{history, parse, worded, ForwardingForm};

use super::dashboard::{state_badge, utc};
use super::page::{self, csrf_field, notice, Nav};
use super::session::{
    admit, csrf_of, login_allowed, login_done, read_post, session_cookie, signed_in, too_many_logins, Audience, Viewer,
};
use super::{apply_edit, Refusal, UiError};
use crate::api::auth::change_own_password;
use crate::api::forwarding::Forwarding;
use crate::api::{ApiError, AppState, Peer};
use crate::store::cdrs::CdrFilter;
use crate::store::portal::Line;

/// Calls the history shows, newest first.
const HISTORY: usize = 50;
const LOGIN: &str = "/ui/me/login";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/me", get(me))
        .route("/ui/me/forwarding", post(forwarding))
        .route("/ui/me/password", post(password))
        .route(LOGIN, get(login::page).post(login::submit))
        .merge(admin::routes())
}

/// An extension user signed in, with their extension. Without a session: to the portal's
/// login; an admin: 403.
pub struct Member(pub Viewer, pub Line);

#[async_trait]
impl FromRequestParts<AppState> for Member {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let v = signed_in(&parts.headers, app, LOGIN).await?;
        admit(Audience::Members, &v)?;
        let line = v.line.clone().ok_or_else(|| page::refused(StatusCode::FORBIDDEN, "No extension."))?;
        Ok(Member(v, line))
    }
}

/// A form posted by an extension user with the session's CSRF token.
pub struct MemberPosted<T> {
    pub viewer: Viewer,
    pub line: Line,
    pub form: T,
}

#[async_trait]
impl<T: DeserializeOwned + Send> FromRequest<AppState> for MemberPosted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Response> {
        let (viewer, form) = read_post(req, app, Audience::Members, LOGIN).await?;
        let line = viewer.line.clone().ok_or_else(|| page::refused(StatusCode::FORBIDDEN, "No extension."))?;
        Ok(MemberPosted { viewer, line, form })
    }
}

/// The value of a forwarding field in the form.
fn shown(target: &Option<String>) -> &str {
    target.as_deref().unwrap_or("")
}

async fn render(
    app: &AppState,
    viewer: &Viewer,
    line: &Line,
    code: StatusCode,
    said: Option<Markup>,
) -> Result<Response, UiError> {
    let now = crate::store::unix_now();
    let filter = CdrFilter {
        tenant: Some(line.tenant.clone()),
        party: Some(line.number.clone()),
        limit: HISTORY,
        ..CdrFilter::default()
    };
    let (doc, bindings, calls) =
        app.store.call(move |s| Ok((s.export_site()?, s.bindings(now)?, s.cdrs(&filter)?))).await?;
    let ext = doc
        .tenants
        .iter()
        .find(|t| t.name == line.tenant)
        .and_then(|t| t.extensions.iter().find(|x| x.number == line.number));
    let Some(x) = ext else {
        return Ok(page::refused_to(StatusCode::NOT_FOUND, "This extension no longer exists.", LOGIN));
    };
    let fwd = Forwarding::from(x);
    let mine: Vec<_> = bindings.iter().filter(|b| b.tenant == line.tenant && b.aor == line.number).collect();
    let rows = history(&line.number, &calls);
    let body = html! {
        main #portal {
            h1 { "Extension " (x.number) @if !x.name.is_empty() { " · " (x.name) } }
            @if let Some(m) = said { (m) }
            section.card #my-phone {
                h2 { "My phone" }
                p { (state_badge(!mine.is_empty())) }
                @for b in &mine {
                    p.hint data-f="binding" { (b.user_agent) " · registered until " (utc(b.expires_at)) }
                }
            }
            section.card {
                h2 { "Call forwarding" }
                form method="post" action="/ui/me/forwarding" id="forwarding" {
                    (csrf_field(viewer))
                    div.fields {
                        label { "Forward every call to" input name="forward_always" inputmode="tel" value=(shown(&fwd.forward_always)); }
                        label { "When I am busy, forward to" input name="forward_busy" inputmode="tel" value=(shown(&fwd.forward_busy)); }
                        label { "When I do not answer, forward to" input name="forward_no_answer" inputmode="tel" value=(shown(&fwd.forward_no_answer)); }
                        label { "Ring for (seconds) before that" input name="no_answer_secs" type="number" min="5" max="120" value=(fwd.no_answer_secs); }
                    }
                    p.hint { "Leave a number empty to switch that forwarding off. Forward-every-call wins over the other two." }
                    button type="submit" { "Save" }
                }
            }
            section.card {
                h2 { "My portal password" }
                form method="post" action="/ui/me/password" id="my-password" {
                    (csrf_field(viewer))
                    div.fields {
                        label { "Current password" input type="password" name="current" autocomplete="current-password" required; }
                        label { "New password (at least " (crate::api::MIN_PASSWORD) " characters)" input type="password" name="new" autocomplete="new-password" required; }
                        label { "The same again" input type="password" name="confirm" autocomplete="new-password" required; }
                    }
                    p.hint { "Your other sessions (other browsers, other devices) are logged out." }
                    button type="submit" { "Change password" }
                }
            }
            section.card {
                h2 { "My calls" }
                div.scroll {
                    table #my-calls {
                        thead { tr { th { "When" } th { "" } th { "With" } th { "Outcome" } th { "Talked (s)" } } }
                        tbody {
                            @for r in &rows {
                                tr {
                                    td { (utc(r.start)) } td data-f="direction" { (r.direction) } td data-f="other" { (r.other) }
                                    td data-f="outcome" { (r.outcome) } td { (r.talk) }
                                }
                            }
                        }
                    }
                }
                @if rows.is_empty() { p.hint { "No calls yet." } }
            }
        }
    };
    Ok((code, page::document("My phone", Some(viewer), Nav::Portal, body)).into_response())
}

/// `GET /ui/me`
async fn me(State(app): State<AppState>, Member(viewer, line): Member) -> Result<Response, UiError> {
    render(&app, &viewer, &line, StatusCode::OK, None).await
}

/// `POST /ui/me/forwarding`: the four fields of the user's own extension, nothing else.
async fn forwarding(State(app): State<AppState>, posted: MemberPosted<ForwardingForm>) -> Result<Response, UiError> {
    let MemberPosted { viewer, line, form } = posted;
    let fwd = match parse(&form) {
        Ok(f) => f,
        Err(why) => {
            let said = notice(false, &format!("Not saved: {why}"));
            return render(&app, &viewer, &line, StatusCode::UNPROCESSABLE_ENTITY, Some(said)).await;
        }
    };
    let (tenant, number) = (line.tenant.clone(), line.number.clone());
    let outcome = apply_edit(&app, &viewer.username, move |doc| {
        let x = doc
            .tenants
            .iter_mut()
            .find(|t| t.name == tenant)
            .and_then(|t| t.extensions.iter_mut().find(|x| x.number == number))
            .ok_or_else(|| "this extension no longer exists".to_owned())?;
        fwd.apply_to(x);
        Ok(())
    })
    .await?;
    let (code, said) = match outcome {
        Ok(()) => {
            tracing::info!(user = %viewer.username, "forwarding changed in the web UI portal");
            (StatusCode::OK, notice(true, "Forwarding saved."))
        }
        Err(Refusal::Edit(why)) => (StatusCode::UNPROCESSABLE_ENTITY, notice(false, &format!("Not saved: {why}"))),
        Err(Refusal::Site(e)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, notice(false, &format!("Not saved: {}", worded(&e.reasons()))))
        }
    };
    render(&app, &viewer, &line, code, Some(said)).await
}

#[derive(serde::Deserialize)]
struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

/// `POST /ui/me/password`: the user changes their own portal password, with the current one,
/// as `POST /api/v1/password` does (`api::auth::change_own_password`). Every session of the
/// account ends; this browser gets a fresh one. A wrong current password counts in the
/// login limiter of the client's address, as a failed login.
async fn password(
    State(app): State<AppState>,
    Extension(Peer(peer)): Extension<Peer>,
    posted: MemberPosted<PasswordForm>,
) -> Result<Response, UiError> {
    let MemberPosted { viewer, line, form: f } = posted;
    if let Some(why) = super::setup::password_problem(&f.new, &f.confirm) {
        let said = notice(false, &format!("Not changed: {why}"));
        return render(&app, &viewer, &line, StatusCode::UNPROCESSABLE_ENTITY, Some(said)).await;
    }
    let Some(now) = login_allowed(&app, peer.ip()) else {
        let said = notice(false, "Not changed: too many wrong passwords from this address: wait a few minutes.");
        let page = render(&app, &viewer, &line, StatusCode::TOO_MANY_REQUESTS, Some(said)).await?;
        return Ok(too_many_logins(page));
    };
    let actor = format!("ui:{}", viewer.username);
    let changed = change_own_password(&app, &viewer.username, f.current, f.new.clone(), actor).await;
    let (code, why) = match changed {
        Ok(()) => (StatusCode::OK, None),
        Err(ApiError::Forbidden(_)) => {
            login_done(&app, peer.ip(), now, false, "portal password change");
            (StatusCode::FORBIDDEN, Some("the current password is wrong.".to_owned()))
        }
        Err(ApiError::BadRequest(why)) => (StatusCode::UNPROCESSABLE_ENTITY, Some(format!("{why}."))),
        Err(ApiError::Invalid(reasons)) => {
            let why = reasons.iter().map(|r| r.reason.clone()).collect::<Vec<_>>().join("; ");
            (StatusCode::UNPROCESSABLE_ENTITY, Some(format!("the new password {why}.")))
        }
        Err(other) => {
            tracing::warn!(error = ?other, "portal password change failed");
            (StatusCode::INTERNAL_SERVER_ERROR, Some("the box could not do this; its log says why.".to_owned()))
        }
    };
    if let Some(why) = why {
        let said = notice(false, &format!("Not changed: {why}"));
        return render(&app, &viewer, &line, code, Some(said)).await;
    }
    login_done(&app, peer.ip(), now, true, "portal password change");
    tracing::info!(user = %viewer.username, "portal password changed by its user");
    // Every session ended with the change: this browser logs in again with the new password.
    let (t, n, new) = (line.tenant.clone(), line.number.clone(), f.new);
    let Some((token, _)) = app.store.call(move |s| s.portal_login(&t, &n, &new)).await? else {
        return Ok(Redirect::to(LOGIN).into_response());
    };
    let fresh = Viewer { csrf: csrf_of(&token), token: token.clone(), ..viewer };
    let said = notice(true, "Password changed. Your other sessions are logged out.");
    let mut resp = render(&app, &fresh, &line, StatusCode::OK, Some(said)).await?;
    resp.headers_mut().append(SET_COOKIE, session_cookie(&token, crate::store::admin::SESSION_SECONDS));
    Ok(resp)
}
