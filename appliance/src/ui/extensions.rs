//! The extensions page: every extension with its registration state, a form to add one, and
//! per extension a form to rename it and a button that gives it a new SIP secret. Every write
//! is an edit of the site document applied by `ui::apply` (the REST API's validation and
//! transaction); a new secret is shown once, on the page that made it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::dashboard::{extension_rows, state_badge};
use super::page::{self, csrf_field, notice, Nav};
use super::session::{Admin, Posted, Viewer};
use super::{apply, UiError};
use crate::api::AppState;
use crate::site::{Extension, SiteDoc};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/extensions", get(list).post(add))
        .route("/ui/extensions/:tenant/:number", get(edit_page).post(edit))
        .route("/ui/extensions/:tenant/:number/secret", post(new_secret))
}

async fn render(app: &AppState, viewer: &Viewer, code: StatusCode, shown: Option<Markup>) -> Result<Response, UiError> {
    let now = crate::store::unix_now();
    let (doc, bindings) = app.store.call(move |s| Ok((s.export_site()?, s.bindings(now)?))).await?;
    let rows = extension_rows(&doc, &bindings);
    let owner = super::owner::banner(app).await;
    let body = html! {
        main #extensions-page {
            h1 { "Extensions" }
            (owner)
            @if let Some(m) = shown { (m) }
            section.card {
                table #extensions {
                    thead { tr { th { "Extension" } th { "Name" } th { "Tenant" } th { "State" } th {} } }
                    tbody {
                        @for x in &rows {
                            tr data-ext=(format!("{}/{}", x.tenant, x.number)) {
                                td { (x.number) } td { (x.name) } td { (x.tenant) }
                                td { (state_badge(x.registered)) }
                                td { a href=(format!("/ui/extensions/{}/{}", x.tenant, x.number)) { "Edit" } }
                            }
                        }
                    }
                }
                @if rows.is_empty() { p.hint { "No extensions yet." } }
            }
            section.card {
                h2 { "Add an extension" }
                form method="post" action="/ui/extensions" id="new-extension" {
                    (csrf_field(viewer))
                    label { "Tenant" select name="tenant" {
                        @for t in &doc.tenants { option value=(t.name) { (t.name) } }
                    } }
                    label { "Number" input name="number" required inputmode="numeric"; }
                    label { "Name" input name="name"; }
                    label { "SIP secret (empty: the box makes one)" input name="secret" autocomplete="off"; }
                    button type="submit" { "Add" }
                }
            }
        }
    };
    Ok((code, page::document("Extensions", Some(viewer), Nav::Extensions, body)).into_response())
}

/// `GET /ui/extensions`
async fn list(State(app): State<AppState>, Admin(viewer): Admin) -> Result<Response, UiError> {
    render(&app, &viewer, StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct NewExtension {
    tenant: String,
    number: String,
    name: String,
    secret: String,
}

/// The stored secret of an extension, to show once after it was made.
async fn secret_of(app: &AppState, tenant: &str, number: &str) -> Result<Option<String>, UiError> {
    let doc = app.store.call(|s| s.export_site()).await?;
    Ok(find(&doc, tenant, number).and_then(|x| x.secret.clone()))
}

fn find<'a>(doc: &'a SiteDoc, tenant: &str, number: &str) -> Option<&'a Extension> {
    doc.tenants.iter().find(|t| t.name == tenant)?.extensions.iter().find(|x| x.number == number)
}

fn find_mut<'a>(doc: &'a mut SiteDoc, tenant: &str, number: &str) -> Result<&'a mut Extension, String> {
    doc.tenants
        .iter_mut()
        .find(|t| t.name == tenant)
        .ok_or_else(|| format!("no tenant `{tenant}`"))?
        .extensions
        .iter_mut()
        .find(|x| x.number == number)
        .ok_or_else(|| format!("no extension `{number}` in `{tenant}`"))
}

/// Adds `x` to `tenant` unless the number is taken there.
pub fn add_to(doc: &mut SiteDoc, tenant: &str, x: Extension) -> Result<(), String> {
    let t = doc.tenants.iter_mut().find(|t| t.name == tenant).ok_or_else(|| format!("no tenant `{tenant}`"))?;
    if t.extensions.iter().any(|e| e.number == x.number) {
        return Err(format!("extension `{}` already exists", x.number));
    }
    t.extensions.push(x);
    Ok(())
}

fn secret_shown(number: &str, secret: &str) -> Markup {
    html! {
        p.notice.ok role="status" {
            "Extension " (number) " saved. Its SIP secret, shown only now: "
            code #secret { (secret) }
        }
    }
}

/// `POST /ui/extensions`
async fn add(State(app): State<AppState>, posted: Posted<NewExtension>) -> Result<Response, UiError> {
    let Posted { viewer, form: f } = posted;
    let (tenant, number) = (f.tenant.trim().to_owned(), f.number.trim().to_owned());
    let secret = Some(f.secret.trim().to_owned()).filter(|s| !s.is_empty());
    let x = Extension { number: number.clone(), name: f.name.trim().to_owned(), secret, ..Extension::default() };
    let t = tenant.clone();
    match apply(&app, &viewer.username, move |doc| add_to(doc, &t, x)).await? {
        Ok(()) => {
            tracing::info!(user = %viewer.username, %tenant, %number, "extension added in the web UI");
            let secret = secret_of(&app, &tenant, &number).await?.unwrap_or_default();
            render(&app, &viewer, StatusCode::OK, Some(secret_shown(&number, &secret))).await
        }
        Err(why) => {
            render(&app, &viewer, StatusCode::UNPROCESSABLE_ENTITY, Some(notice(false, &format!("Not added: {why}"))))
                .await
        }
    }
}

/// The extension's forwarding in words: "none", or each rule that is set.
pub fn forwarding_words(x: &Extension) -> String {
    let mut rules = Vec::new();
    if let Some(to) = &x.forward_always {
        rules.push(format!("every call to {to}"));
    }
    if let Some(to) = &x.forward_busy {
        rules.push(format!("when busy to {to}"));
    }
    if let Some(to) = &x.forward_no_answer {
        rules.push(format!("when not answered after {} s to {to}", x.no_answer_secs));
    }
    if rules.is_empty() {
        "none".to_owned()
    } else {
        rules.join("; ")
    }
}

/// `GET /ui/extensions/:tenant/:number`
async fn edit_page(
    State(app): State<AppState>,
    Admin(viewer): Admin,
    Path((tenant, number)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let (t, n) = (tenant.clone(), number.clone());
    let now = crate::store::unix_now();
    let (doc, portal_set, bindings, fetches) = app
        .store
        .call(move |s| Ok((s.export_site()?, s.portal_password_set_at(&t, &n)?, s.bindings(now)?, s.fetches()?)))
        .await?;
    let Some(x) = find(&doc, &tenant, &number) else {
        return Ok(page::refused(StatusCode::NOT_FOUND, "There is no such extension."));
    };
    let phones: Vec<_> = super::phones::phone_rows(&doc, &[], &fetches)
        .into_iter()
        .filter(|p| p.tenant == tenant && p.extension.as_deref() == Some(number.as_str()))
        .collect();
    let mine: Vec<_> = bindings.iter().filter(|b| b.tenant == tenant && b.aor == number).collect();
    let forwarding = forwarding_words(x);
    let base = format!("/ui/extensions/{tenant}/{number}");
    let body = html! {
        main #extension-page {
            h1 { "Extension " (x.number) }
            section.card {
                form method="post" action=(base) id="edit-extension" {
                    (csrf_field(&viewer))
                    label { "Name" input name="name" value=(x.name); }
                    button type="submit" { "Save" }
                }
            }
            section.card {
                h2 { "SIP secret" }
                p.hint { "A new secret logs the phone out until it is configured with the new one." }
                form method="post" action=(format!("{base}/secret")) id="reset-secret" data-confirm="Give this extension a new SIP secret?" {
                    (csrf_field(&viewer))
                    button.danger type="submit" { "Make a new secret" }
                }
            }
            section.card #extension-phone {
                h2 { "Phone and registration" }
                @if phones.is_empty() {
                    p.hint #no-phone { "No phone of the site is on this extension (adopt one on the " a href="/ui/phones" { "Phones" } " page)." }
                }
                @for p in &phones {
                    p data-mac=(p.mac) { code { (p.mac) } " " (p.vendor) " " (p.model) ": last fetch " span data-f="last-fetch" { (p.last_fetch.as_deref().unwrap_or("never")) } }
                }
                p { (state_badge(!mine.is_empty())) }
                @for b in &mine {
                    p.binding data-f="binding" { code { (b.contact) } " from " (b.source) ", " (if b.user_agent.is_empty() { "no user agent" } else { b.user_agent.as_str() }) ", until " (super::dashboard::utc(b.expires_at)) }
                }
                h3 { "Forwarding" }
                p data-f="forwarding" { (forwarding) }
                p.hint { "The extension's user sets it in the portal; the API's " code { "PUT …/forwarding" } " too." }
            }
            (super::portal::admin_card(&viewer, &tenant, &number, portal_set))
            p { a href="/ui/extensions" { "Back to the extensions" } }
        }
    };
    Ok(page::document("Extension", Some(&viewer), Nav::Extensions, body).into_response())
}

#[derive(Deserialize)]
struct EditExtension {
    name: String,
}

/// `POST /ui/extensions/:tenant/:number`
async fn edit(
    State(app): State<AppState>,
    Path((tenant, number)): Path<(String, String)>,
    posted: Posted<EditExtension>,
) -> Result<Response, UiError> {
    let Posted { viewer, form: f } = posted;
    let (t, n, name) = (tenant.clone(), number.clone(), f.name.trim().to_owned());
    let outcome = apply(&app, &viewer.username, move |doc| {
        find_mut(doc, &t, &n)?.name = name;
        Ok(())
    })
    .await?;
    let shown = match outcome {
        Ok(()) => notice(true, &format!("Extension {number} saved.")),
        Err(why) => notice(false, &format!("Not saved: {why}")),
    };
    render(&app, &viewer, StatusCode::OK, Some(shown)).await
}

/// `POST /ui/extensions/:tenant/:number/secret`
async fn new_secret(
    State(app): State<AppState>,
    Path((tenant, number)): Path<(String, String)>,
    posted: Posted<super::session::Nothing>,
) -> Result<Response, UiError> {
    let viewer = posted.viewer;
    let secret = crate::store::secrets::random_password(20).map_err(|_| UiError::Random)?;
    let (t, n, s) = (tenant.clone(), number.clone(), secret.clone());
    let outcome = apply(&app, &viewer.username, move |doc| {
        find_mut(doc, &t, &n)?.secret = Some(s);
        Ok(())
    })
    .await?;
    let shown = match outcome {
        Ok(()) => {
            tracing::info!(user = %viewer.username, %tenant, %number, "extension secret reset in the web UI");
            secret_shown(&number, &secret)
        }
        Err(why) => notice(false, &format!("Not saved: {why}")),
    };
    render(&app, &viewer, StatusCode::OK, Some(shown)).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn forwarding_in_words() {
        let mut x = Extension { number: "201".into(), ..Extension::default() };
        assert_eq!(forwarding_words(&x), "none");
        x.forward_busy = Some("202".into());
        x.forward_no_answer = Some("600".into());
        assert_eq!(forwarding_words(&x), "when busy to 202; when not answered after 20 s to 600");
    }

    #[test]
    fn a_number_is_added_once_per_tenant() {
        let mut doc: SiteDoc =
            serde_json::from_value(serde_json::json!({"schema": 1, "tenants": [{"name": "a", "domains": []}]}))
                .unwrap();
        let x = |n: &str| Extension { number: n.into(), ..Extension::default() };
        assert_eq!(add_to(&mut doc, "a", x("201")), Ok(()));
        assert!(add_to(&mut doc, "a", x("201")).unwrap_err().contains("already exists"));
        assert!(add_to(&mut doc, "b", x("201")).unwrap_err().contains("no tenant"));
        assert_eq!(find_mut(&mut doc, "a", "201").map(|e| e.number.clone()), Ok("201".to_owned()));
    }
}
