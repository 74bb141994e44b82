//! Extensions: the list with each one's phone and registration, add, edit (name, caller ID,
//! forwarding), reset the SIP secret (shown once), delete.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};

use super::page::{self, csrf_field, Nav, Outcome};
use super::session::{Admin, Csrf, Posted};
use super::{tenant_mut, Refused, Ui};
use crate::site::{Extension, SiteDoc};
use crate::sip::location::Binding;

pub fn routes() -> Router<Ui> {
    Router::new()
        .route("/ui/extensions", get(list).post(add))
        .route("/ui/extensions/:tenant/:number", get(one).post(save))
        .route("/ui/extensions/:tenant/:number/secret", post(reset_secret))
        .route("/ui/extensions/:tenant/:number/delete", post(delete))
}

async fn bindings(ui: &Ui) -> Vec<Binding> {
    let now = crate::store::unix_now();
    ui.app.store.call(move |s| s.bindings(now)).await.unwrap_or_default()
}

async fn list(State(ui): State<Ui>, who: Admin) -> Response {
    render_list(&ui, &who, Outcome::default()).await
}

pub fn tenant_select(doc: &SiteDoc, name: &str, chosen: &str) -> Markup {
    html! {
        select name=(name) {
            @for t in &doc.tenants { option value=(t.name) selected[t.name == chosen] { (t.name) } }
        }
    }
}

async fn render_list(ui: &Ui, who: &Admin, outcome: Outcome) -> Response {
    let doc = match super::current(ui).await {
        Ok(d) => d,
        Err(r) => return super::internal(r.lines().join("; ")),
    };
    let bindings = bindings(ui).await;
    let first = doc.tenants.first().map_or("", |t| t.name.as_str());
    let body = html! {
        (outcome.markup())
        div.scroll { table #extensions {
            thead { tr { th { "Extension" } th { "Name" } th { "Tenant" } th { "Phone" } th { "Registration" } th { "Forwarding" } } }
            tbody {
                @for t in &doc.tenants {
                    @for x in &t.extensions {
                        @let reg = bindings.iter().find(|b| b.tenant == t.name && b.aor == x.number);
                        tr data-extension=(format!("{}-{}", t.name, x.number)) {
                            td { a href=(format!("/ui/extensions/{}/{}", t.name, x.number)) { (x.number) } }
                            td { (x.name) } td { (t.name) }
                            td { @for d in t.devices.iter().filter(|d| d.extension.as_deref() == Some(&x.number)) {
                                (d.vendor.as_str()) " " (d.model) " " code { (d.mac) } br; } }
                            td { @if let Some(b) = reg { span.state.good { "registered" } " " (b.source) }
                                 @else { span.state.bad { "not registered" } } }
                            td { (forwarding_summary(x)) }
                        }
                    }
                }
            }
        } }
        form.card.inline method="post" action="/ui/extensions" #add-extension {
            h2 { "Add an extension" }
            (csrf_field(&who.csrf()))
            label { "Tenant" (tenant_select(&doc, "tenant", first)) }
            label { "Number" input type="text" name="number" inputmode="numeric" required; }
            label { "Name" input type="text" name="name"; }
            label { "SIP secret (blank: generated)" input type="text" name="secret" autocomplete="off"; }
            button type="submit" { "Add" }
        }
    };
    let status = outcome.status();
    page::render_status(status, page::shell("Extensions", Nav::Admin("extensions"), Some(&who.csrf()), body))
}

pub fn forwarding_summary(x: &Extension) -> String {
    let mut parts = Vec::new();
    if let Some(t) = &x.forward_always {
        parts.push(format!("always → {t}"));
    }
    if let Some(t) = &x.forward_busy {
        parts.push(format!("busy → {t}"));
    }
    if let Some(t) = &x.forward_no_answer {
        parts.push(format!("no answer ({} s) → {t}", x.no_answer_secs));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

async fn add(State(ui): State<Ui>, Posted(who, form): Posted<Admin>) -> Response {
    let (tenant, number) = (form.get("tenant").to_owned(), form.get("number").to_owned());
    let ext = Extension {
        number: number.clone(),
        name: form.get("name").to_owned(),
        secret: form.opt("secret"),
        ..Extension::default()
    };
    let t = tenant.clone();
    let result = super::write(&ui, who.actor(), move |doc| {
        let t = tenant_mut(doc, &t)?;
        if t.extensions.iter().any(|x| x.number == ext.number) {
            return Err(Refused::Said(format!("extension {} already exists", ext.number)));
        }
        t.extensions.push(ext);
        Ok(())
    })
    .await;
    let outcome = match result {
        Ok(doc) => {
            let secret = find(&doc, &tenant, &number).and_then(|x| x.secret.clone()).unwrap_or_default();
            Outcome::ok(format!("Extension {number} added. Its SIP secret (shown this once): {secret}"))
        }
        Err(r) => Outcome { ok: None, refused: Some(r) },
    };
    render_list(&ui, &who, outcome).await
}

fn find<'a>(doc: &'a SiteDoc, tenant: &str, number: &str) -> Option<&'a Extension> {
    doc.tenants.iter().find(|t| t.name == tenant)?.extensions.iter().find(|x| x.number == number)
}

async fn one(State(ui): State<Ui>, who: Admin, Path((tenant, number)): Path<(String, String)>) -> Response {
    render_one(&ui, &who, &tenant, &number, Outcome::default()).await
}

async fn render_one(ui: &Ui, who: &Admin, tenant: &str, number: &str, outcome: Outcome) -> Response {
    let doc = match super::current(ui).await {
        Ok(d) => d,
        Err(r) => return super::internal(r.lines().join("; ")),
    };
    let Some(x) = find(&doc, tenant, number) else {
        return page::not_found(&format!("No extension {number} in tenant {tenant}."));
    };
    let t = doc.tenants.iter().find(|t| t.name == tenant);
    let regs: Vec<Binding> = bindings(ui).await.into_iter().filter(|b| b.tenant == tenant && b.aor == number).collect();
    let base = format!("/ui/extensions/{tenant}/{number}");
    let csrf = who.csrf();
    let body = html! {
        (outcome.markup())
        p { a href="/ui/extensions" { "← All extensions" } }
        form.card method="post" action=(base) #edit-extension {
            h2 { "Settings" }
            (csrf_field(&csrf))
            label { "Name" input type="text" name="name" value=(x.name); }
            label { "Caller ID on trunk calls (blank: the trunk's)" input type="text" name="caller_id" value=[x.caller_id.as_deref()]; }
            (forwarding_fields(x))
            button type="submit" { "Save" }
        }
        section.card {
            h2 { "Phone and registration" }
            @if regs.is_empty() { p { span.state.bad { "not registered" } } }
            @for b in &regs {
                p { span.state.good { "registered" } " from " code { (b.source) } " (" (b.user_agent) "), until "
                    (super::when(b.expires_at, &doc.site.time_zone)) }
            }
            @if let Some(t) = t {
                @for d in t.devices.iter().filter(|d| d.extension.as_deref() == Some(number)) {
                    p { "Device " code { (d.mac) } " " (d.vendor.as_str()) " " (d.model) }
                }
            }
        }
        section.card {
            h2 { "SIP secret" }
            p.hint { "Resetting it makes a new random secret, shown once here; the phone gets it with its next \
                      configuration fetch, and the extension's portal sessions end." }
            form method="post" action=(format!("{base}/secret")) data-confirm="Make a new SIP secret for this extension?" {
                (csrf_field(&csrf)) button type="submit" { "Reset secret" }
            }
        }
        section.card {
            h2 { "Delete" }
            form method="post" action=(format!("{base}/delete")) data-confirm="Delete this extension?" {
                (csrf_field(&csrf)) button.danger type="submit" { "Delete extension " (number) }
            }
        }
    };
    let title = format!("Extension {number} ({tenant})");
    page::render_status(outcome.status(), page::shell(&title, Nav::Admin("extensions"), Some(&csrf), body))
}

/// The forwarding fields, shared with the user portal.
pub fn forwarding_fields(x: &Extension) -> Markup {
    html! {
        fieldset {
            legend { "Call forwarding (an extension, a ring group or an outside number)" }
            label { "Always to" input type="text" name="forward_always" inputmode="tel" value=[x.forward_always.as_deref()]; }
            label { "When busy to" input type="text" name="forward_busy" inputmode="tel" value=[x.forward_busy.as_deref()]; }
            label { "When not answered to" input type="text" name="forward_no_answer" inputmode="tel" value=[x.forward_no_answer.as_deref()]; }
            label { "…after ringing for (seconds, 5–120)"
                input type="number" name="no_answer_secs" min="5" max="120" value=(x.no_answer_secs); }
        }
    }
}

/// The forwarding of a form, as `api/forwarding.rs` takes it: blank is off.
pub fn forwarding_of(form: &super::form::Form, x: &mut Extension) -> Result<(), Refused> {
    x.forward_always = form.opt("forward_always");
    x.forward_busy = form.opt("forward_busy");
    x.forward_no_answer = form.opt("forward_no_answer");
    x.no_answer_secs = match form.get("no_answer_secs") {
        "" => crate::site::DEFAULT_NO_ANSWER_SECS,
        s => s.parse().map_err(|_| Refused::Said(format!("`{s}` is not a number of seconds")))?,
    };
    Ok(())
}

async fn save(
    State(ui): State<Ui>,
    Path((tenant, number)): Path<(String, String)>,
    Posted(who, form): Posted<Admin>,
) -> Response {
    let (t, n) = (tenant.clone(), number.clone());
    let result = super::write(&ui, who.actor(), move |doc| {
        let x = tenant_mut(doc, &t)?
            .extensions
            .iter_mut()
            .find(|x| x.number == n)
            .ok_or_else(|| Refused::Said(format!("no extension {n}")))?;
        x.name = form.get("name").to_owned();
        x.caller_id = form.opt("caller_id");
        forwarding_of(&form, x)
    })
    .await;
    render_one(&ui, &who, &tenant, &number, Outcome::of(result, "Saved.")).await
}

async fn reset_secret(
    State(ui): State<Ui>,
    Path((tenant, number)): Path<(String, String)>,
    Posted(who, _): Posted<Admin>,
) -> Response {
    let secret = match crate::store::secrets::random_password(16) {
        Ok(s) => s,
        Err(e) => return super::internal(e),
    };
    let (t, n, s) = (tenant.clone(), number.clone(), secret.clone());
    let result = super::write(&ui, who.actor(), move |doc| {
        let x = tenant_mut(doc, &t)?
            .extensions
            .iter_mut()
            .find(|x| x.number == n)
            .ok_or_else(|| Refused::Said(format!("no extension {n}")))?;
        x.secret = Some(s);
        Ok(())
    })
    .await;
    if result.is_ok() {
        ui.sessions.close_all(&tenant, &number);
    }
    let outcome = Outcome::of(result, format!("New SIP secret (shown this once): {secret}"));
    render_one(&ui, &who, &tenant, &number, outcome).await
}

async fn delete(
    State(ui): State<Ui>,
    Path((tenant, number)): Path<(String, String)>,
    Posted(who, _): Posted<Admin>,
) -> Response {
    let (t, n) = (tenant.clone(), number.clone());
    let result = super::write(&ui, who.actor(), move |doc| {
        let t = tenant_mut(doc, &t)?;
        let before = t.extensions.len();
        t.extensions.retain(|x| x.number != n);
        if t.extensions.len() == before {
            return Err(Refused::Said(format!("no extension {n}")));
        }
        Ok(())
    })
    .await;
    match result {
        Ok(_) => {
            ui.sessions.close_all(&tenant, &number);
            render_list(&ui, &who, Outcome::ok(format!("Extension {number} deleted."))).await
        }
        Err(r) => render_one(&ui, &who, &tenant, &number, Outcome { ok: None, refused: Some(r) }).await,
    }
}
