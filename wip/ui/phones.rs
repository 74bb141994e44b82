//! Phones: devices the box has seen but the site config does not list (with the vendor and
//! model guessed from the MAC and User-Agent), adopted in one click onto an extension, and the
//! site's devices with their extension's registration.

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;

use super::page::{self, csrf_field, Nav, Outcome};
use super::session::{Admin, Csrf, Posted};
use super::{tenant_mut, Refused, Ui};
use crate::site::{self, Device, Vendor};

pub fn routes() -> Router<Ui> {
    Router::new()
        .route("/ui/phones", get(list))
        .route("/ui/phones/adopt", post(adopt))
        .route("/ui/phones/remove", post(remove))
}

async fn list(State(ui): State<Ui>, who: Admin) -> Response {
    render(&ui, &who, Outcome::default()).await
}

async fn render(ui: &Ui, who: &Admin, outcome: Outcome) -> Response {
    let doc = match super::current(ui).await {
        Ok(d) => d,
        Err(r) => return super::internal(r.lines().join("; ")),
    };
    let found = ui.app.store.call(|s| s.discovered()).await.unwrap_or_default();
    let now = crate::store::unix_now();
    let bindings = ui.app.store.call(move |s| s.bindings(now)).await.unwrap_or_default();
    let tz = doc.site.time_zone.clone();
    let taken = |tenant: &str, number: &str| {
        doc.tenants.iter().any(|t| t.name == tenant && t.devices.iter().any(|d| d.extension.as_deref() == Some(number)))
    };
    let csrf = who.csrf();
    let body = html! {
        (outcome.markup())
        section.card {
            h2 { "Waiting for adoption" }
            @if found.is_empty() {
                p.hint { "No unknown phone has asked the box for its files yet. A phone that does (DHCP, TFTP or \
                          HTTPS) shows up here." }
            } @else {
                div.scroll { table #discovered {
                    thead { tr { th { "MAC" } th { "Vendor (guess)" } th { "Model (guess)" } th { "Seen by" } th { "Last seen" } th { "Adopt onto" } } }
                    tbody {
                        @for d in &found {
                            tr data-mac=(d.mac) {
                                td { code { (d.mac) } } td { (d.vendor_guess) } td { (d.model_guess) } td { (d.seen_by) }
                                td { (super::when(d.last_seen, &tz)) }
                                td {
                                    form.adopt method="post" action="/ui/phones/adopt" {
                                        (csrf_field(&csrf))
                                        input type="hidden" name="mac" value=(d.mac);
                                        select name="target" aria-label="Extension" {
                                            @for t in &doc.tenants { @for x in &t.extensions {
                                                option value=(format!("{}/{}", t.name, x.number)) disabled[taken(&t.name, &x.number)] {
                                                    (x.number) @if !x.name.is_empty() { " " (x.name) } " (" (t.name) ")"
                                                }
                                            } }
                                        }
                                        select name="vendor" aria-label="Vendor" {
                                            @for v in Vendor::ALL { option value=(v.as_str()) selected[v.as_str() == d.vendor_guess] { (v.as_str()) } }
                                        }
                                        input type="text" name="model" value=(d.model_guess) aria-label="Model" placeholder="model";
                                        button type="submit" { "Adopt" }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        }
        section.card {
            h2 { "Phones of the site" }
            div.scroll { table #devices {
                thead { tr { th { "MAC" } th { "Vendor" } th { "Model" } th { "Extension" } th { "Registration" } th {} } }
                tbody {
                    @for t in &doc.tenants { @for d in &t.devices {
                        @let reg = d.extension.as_ref().and_then(|n| bindings.iter().find(|b| b.tenant == t.name && &b.aor == n));
                        tr data-mac=(d.mac) {
                            td { code { (d.mac) } } td { (d.vendor.as_str()) } td { (d.model) }
                            td { (d.extension.as_deref().unwrap_or("–")) " (" (t.name) ")" }
                            td { @if let Some(b) = reg { span.state.good { "registered" } " " (b.user_agent) }
                                 @else { span.state.bad { "not registered" } } }
                            td { form method="post" action="/ui/phones/remove" data-confirm="Remove this phone from the site?" {
                                (csrf_field(&csrf))
                                input type="hidden" name="tenant" value=(t.name);
                                input type="hidden" name="mac" value=(d.mac);
                                button.danger type="submit" { "Remove" }
                            } }
                        }
                    } }
                }
            } }
        }
    };
    page::render_status(outcome.status(), page::shell("Phones", Nav::Admin("phones"), Some(&csrf), body))
}

/// As `POST /api/v1/devices/discovered/{mac}/adopt`: the device joins the tenant's devices on
/// the chosen extension, and its file is served from the next fetch on.
async fn adopt(State(ui): State<Ui>, Posted(who, form): Posted<Admin>) -> Response {
    let outcome = match adopt_one(&ui, &who, &form).await {
        Ok(msg) => Outcome::ok(msg),
        Err(r) => Outcome { ok: None, refused: Some(r) },
    };
    render(&ui, &who, outcome).await
}

async fn adopt_one(ui: &Ui, who: &Admin, form: &super::form::Form) -> Result<String, Refused> {
    let mac = site::normalize_mac(form.get("mac"))
        .ok_or_else(|| Refused::Said(format!("`{}` is not a MAC address", form.get("mac"))))?;
    let found = ui.app.store.call(|s| s.discovered()).await?.into_iter().find(|d| d.mac == mac);
    let found = found.ok_or_else(|| Refused::Said(format!("no discovered device {mac}")))?;
    let (tenant, extension) =
        form.get("target").split_once('/').ok_or_else(|| Refused::Said("choose an extension".into()))?;
    let vendor = Vendor::ALL
        .into_iter()
        .find(|v| v.as_str() == form.get("vendor"))
        .or_else(|| Vendor::ALL.into_iter().find(|v| v.as_str() == found.vendor_guess))
        .ok_or_else(|| Refused::Said(format!("the vendor of {mac} is not known: choose one")))?;
    let device = Device {
        mac: mac.clone(),
        vendor,
        model: form.opt("model").unwrap_or(found.model_guess),
        extension: Some(extension.to_owned()),
    };
    let t = tenant.to_owned();
    super::write(ui, who.actor(), move |doc| {
        tenant_mut(doc, &t)?.devices.push(device);
        Ok(())
    })
    .await?;
    tracing::info!(%mac, by = %who.session.username, "discovered device adopted in the web UI");
    Ok(format!("{mac} adopted onto extension {extension} ({tenant}): it gets its configuration at its next fetch."))
}

async fn remove(State(ui): State<Ui>, Posted(who, form): Posted<Admin>) -> Response {
    let (tenant, mac) = (form.get("tenant").to_owned(), site::normalize_mac(form.get("mac")).unwrap_or_default());
    let m = mac.clone();
    let result = super::write(&ui, who.actor(), move |doc| {
        let t = tenant_mut(doc, &tenant)?;
        let before = t.devices.len();
        t.devices.retain(|d| site::normalize_mac(&d.mac).as_deref() != Some(m.as_str()));
        if before == t.devices.len() {
            return Err(Refused::Said(format!("no device {m}")));
        }
        Ok(())
    })
    .await;
    render(&ui, &who, Outcome::of(result, format!("{mac} removed from the site."))).await
}
