//! The admin's side of the portal: on an extension's page, a card that sets (or replaces) the
//! extension's portal password, typed or made by the box and shown once, and removes the
//! portal account. Setting a password ends the sessions of the old one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use crate::api::{AppState, MIN_PASSWORD};
use crate::store::portal::PortalSet;
use crate::ui::dashboard::utc;
use crate::ui::page::{self, csrf_field, notice, Nav};
use crate::ui::session::{Nothing, Posted, Viewer};
use crate::ui::UiError;

/// Length of a portal password the box makes.
const MADE_LENGTH: usize = 12;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/extensions/:tenant/:number/portal", post(set))
        .route("/ui/extensions/:tenant/:number/portal/remove", post(remove))
}

/// The card of the extension page; `set_at` is when its portal password was last set.
pub fn card(viewer: &Viewer, tenant: &str, number: &str, set_at: Option<i64>) -> Markup {
    let base = format!("/ui/extensions/{tenant}/{number}/portal");
    html! {
        section.card #portal-access {
            h2 { "User portal" }
            @match set_at {
                Some(at) => p data-f="portal" { "The user of " (number) " can log in to " code { "/ui/me" } "; the password was set " (utc(at)) "." },
                None => p data-f="portal" { "No portal password: the user of " (number) " cannot log in to the portal yet." },
            }
            form method="post" action=(base) id="portal-password" {
                (csrf_field(viewer))
                label { "Portal password (at least " (MIN_PASSWORD) " characters; empty: the box makes one)"
                    input type="password" name="password" autocomplete="new-password"; }
                button type="submit" { "Set portal password" }
            }
            @if set_at.is_some() {
                form method="post" action=(format!("{base}/remove")) id="portal-remove" data-confirm="Remove this extension's portal access?" {
                    (csrf_field(viewer))
                    button.danger type="submit" { "Remove portal access" }
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct PortalPassword {
    password: String,
}

/// The page after a portal password change: the extension's own page with what was done.
fn answer(viewer: &Viewer, tenant: &str, number: &str, code: StatusCode, said: Markup) -> Response {
    let body = html! {
        main #extension-page {
            h1 { "Extension " (number) }
            (said)
            p { a href=(format!("/ui/extensions/{tenant}/{number}")) { "Back to extension " (number) } }
        }
    };
    (code, page::document("Portal password", Some(viewer), Nav::Extensions, body)).into_response()
}

/// Whether the site has this extension.
async fn exists(app: &AppState, tenant: &str, number: &str) -> Result<bool, UiError> {
    let doc = app.store.call(|s| s.export_site()).await?;
    Ok(doc.tenants.iter().any(|t| t.name == tenant && t.extensions.iter().any(|x| x.number == number)))
}

/// `POST /ui/extensions/:tenant/:number/portal`
async fn set(
    State(app): State<AppState>,
    Path((tenant, number)): Path<(String, String)>,
    posted: Posted<PortalPassword>,
) -> Result<Response, UiError> {
    let Posted { viewer, form } = posted;
    if !exists(&app, &tenant, &number).await? {
        return Ok(page::refused(StatusCode::NOT_FOUND, "There is no such extension."));
    }
    let typed = form.password.trim().to_owned();
    if !typed.is_empty() && typed.chars().count() < MIN_PASSWORD {
        let said = notice(false, &format!("Not set: the password must have at least {MIN_PASSWORD} characters."));
        return Ok(answer(&viewer, &tenant, &number, StatusCode::UNPROCESSABLE_ENTITY, said));
    }
    let made = typed.is_empty();
    let password =
        if made { crate::store::secrets::random_password(MADE_LENGTH).map_err(|_| UiError::Random)? } else { typed };
    let (t, n, p, actor) = (tenant.clone(), number.clone(), password.clone(), format!("ui:{}", viewer.username));
    let outcome = app.store.call(move |s| s.set_portal_password(&t, &n, &p, &actor)).await?;
    let said = match outcome {
        PortalSet::NameTaken => {
            let why = format!("Not set: an admin account is named {number}@{tenant}.");
            return Ok(answer(&viewer, &tenant, &number, StatusCode::CONFLICT, notice(false, &why)));
        }
        PortalSet::Set if made => html! {
            p.notice.ok role="status" {
                "Portal password of " (number) " set. Shown only now: " code #portal-secret { (password) }
            }
        },
        PortalSet::Set => notice(true, &format!("Portal password of {number} set.")),
    };
    tracing::info!(user = %viewer.username, %tenant, %number, "portal password set in the web UI");
    Ok(answer(&viewer, &tenant, &number, StatusCode::OK, said))
}

/// `POST /ui/extensions/:tenant/:number/portal/remove`
async fn remove(
    State(app): State<AppState>,
    Path((tenant, number)): Path<(String, String)>,
    posted: Posted<Nothing>,
) -> Result<Response, UiError> {
    let viewer = posted.viewer;
    let (t, n, actor) = (tenant.clone(), number.clone(), format!("ui:{}", viewer.username));
    let gone = app.store.call(move |s| s.remove_portal_account(&t, &n, &actor)).await?;
    let said = if gone {
        tracing::info!(user = %viewer.username, %tenant, %number, "portal access removed in the web UI");
        notice(true, &format!("Portal access of {number} removed."))
    } else {
        notice(false, &format!("Extension {number} had no portal access."))
    };
    Ok(answer(&viewer, &tenant, &number, StatusCode::OK, said))
}
