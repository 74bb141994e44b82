//! The phones page: devices seen on the network that wait for adoption (with the vendor and
//! model the box guessed), adopted in one click onto an extension; the site's phones with
//! their line, registration and last fetch of their device file, and a re-provision button.
//!
//! Adoption takes the REST API's path (`provision::adopt`, then `ui::apply`, so
//! `Store::apply_site` validates it); re-provision is the cloud command's
//! (`provision::checksync::reprovision`, a check-sync NOTIFY to the phone's registrations).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::dashboard::{extension_rows, state_badge, utc};
use super::page::{self, csrf_field, notice, Nav};
use super::session::{Admin, Nothing, Posted, Viewer};
use super::{apply, UiError};
use crate::api::AppState;
use crate::provision::{adopt, checksync};
use crate::site::{SiteDoc, Vendor};
use crate::store::discovered::{Discovered, Fetch};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/phones", axum::routing::get(list))
        .route("/ui/phones/:mac/adopt", post(adopt_one))
        .route("/ui/phones/:mac/reprovision", post(reprovision))
}

/// One phone of the site config, as the page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneRow {
    pub mac: String,
    pub tenant: String,
    pub vendor: &'static str,
    pub model: String,
    pub extension: Option<String>,
    /// Whether its extension has a live registration.
    pub registered: bool,
    /// "2026-12-03 08:40 UTC over https from 192.0.2.10", or `None` before its first fetch.
    pub last_fetch: Option<String>,
}

/// Every device of the document, with its line's registration and its last fetch.
pub fn phone_rows(doc: &SiteDoc, registered: &[(String, String)], fetches: &[Fetch]) -> Vec<PhoneRow> {
    let fetched: HashMap<&str, &Fetch> = fetches.iter().map(|f| (f.mac.as_str(), f)).collect();
    doc.tenants
        .iter()
        .flat_map(|t| {
            t.devices.iter().map(|d| PhoneRow {
                mac: d.mac.clone(),
                tenant: t.name.clone(),
                vendor: d.vendor.as_str(),
                model: d.model.clone(),
                extension: d.extension.clone(),
                registered: d
                    .extension
                    .as_ref()
                    .is_some_and(|x| registered.iter().any(|(tn, n)| *tn == t.name && n == x)),
                last_fetch: fetched
                    .get(d.mac.as_str())
                    .map(|f| format!("{} over {} from {}", utc(f.at), f.via, f.client)),
            })
        })
        .collect()
}

/// The value of an extension choice in a form (adopt here, the route tester's caller), and
/// back: `tenant/number` (extension
/// numbers have no `/`, so the last one splits).
pub(super) fn line_value(tenant: &str, number: &str) -> String {
    format!("{tenant}/{number}")
}

pub(super) fn parse_line(value: &str) -> Option<(&str, &str)> {
    value.rsplit_once('/').filter(|(t, n)| !t.is_empty() && !n.is_empty())
}

/// A vendor chosen in the form: empty means "the box's guess".
fn parse_vendor(value: &str) -> Result<Option<Vendor>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    Vendor::ALL.into_iter().find(|v| v.as_str() == value).map(Some).ok_or_else(|| format!("no vendor `{value}`"))
}

fn adopt_form(d: &Discovered, doc: &SiteDoc, viewer: &Viewer) -> Markup {
    html! {
        form.adopt method="post" action=(format!("/ui/phones/{}/adopt", d.mac)) {
            (csrf_field(viewer))
            select name="line" aria-label="Extension" required {
                @for t in &doc.tenants {
                    @for x in &t.extensions {
                        option value=(line_value(&t.name, &x.number)) {
                            (x.number) @if !x.name.is_empty() { " " (x.name) } " (" (t.name) ")"
                        }
                    }
                }
            }
            select name="vendor" aria-label="Vendor" {
                @if d.vendor_guess.is_empty() { option value="" { "vendor?" } }
                @for v in Vendor::ALL {
                    option value=(v.as_str()) selected[v.as_str() == d.vendor_guess] { (v.as_str()) }
                }
            }
            button type="submit" { "Adopt" }
        }
    }
}

async fn render(app: &AppState, viewer: &Viewer, code: StatusCode, shown: Option<Markup>) -> Result<Response, UiError> {
    let now = crate::store::unix_now();
    let (doc, bindings, discovered, fetches) =
        app.store.call(move |s| Ok((s.export_site()?, s.bindings(now)?, s.discovered()?, s.fetches()?))).await?;
    let registered: Vec<(String, String)> =
        extension_rows(&doc, &bindings).into_iter().filter(|x| x.registered).map(|x| (x.tenant, x.number)).collect();
    let phones = phone_rows(&doc, &registered, &fetches);
    let body = html! {
        main #phones-page {
            h1 { "Phones" }
            @if let Some(m) = shown { (m) }
            section.card {
                h2 { "Waiting for adoption" }
                p.hint { "Phones that asked the box for their configuration, or a DHCP lease, and are not in the site yet." }
                div.scroll { table #discovered {
                    thead { tr { th { "MAC" } th { "Vendor (guess)" } th { "Model (guess)" } th { "Last seen" } th { "Adopt onto" } } }
                    tbody {
                        @for d in &discovered {
                            tr data-mac=(d.mac) {
                                td { code { (d.mac) } }
                                td { (d.vendor_guess) }
                                td { (d.model_guess) }
                                td { (utc(d.last_seen)) " by " (d.seen_by) }
                                td { (adopt_form(d, &doc, viewer)) }
                            }
                        }
                    }
                } }
                @if discovered.is_empty() { p.hint #none-discovered { "No phone is waiting." } }
            }
            section.card {
                h2 { "The site's phones" }
                div.scroll { table #site-phones {
                    thead { tr { th { "MAC" } th { "Vendor" } th { "Model" } th { "Extension" } th { "Tenant" } th { "State" } th { "Last fetch" } th {} } }
                    tbody {
                        @for p in &phones {
                            tr data-mac=(p.mac) {
                                td { code { (p.mac) } }
                                td { (p.vendor) }
                                td { (p.model) }
                                td data-f="extension" { (p.extension.as_deref().unwrap_or("—")) }
                                td { (p.tenant) }
                                td { (state_badge(p.registered)) }
                                td data-f="last-fetch" { (p.last_fetch.as_deref().unwrap_or("never")) }
                                td {
                                    form.reprovision method="post" action=(format!("/ui/phones/{}/reprovision", p.mac))
                                        data-confirm="Tell this phone to fetch its configuration now? Some phones restart." {
                                        (csrf_field(viewer))
                                        button type="submit" { "Re-provision" }
                                    }
                                }
                            }
                        }
                    }
                } }
                @if phones.is_empty() { p.hint { "The site lists no phones yet." } }
            }
        }
    };
    Ok((code, page::document("Phones", Some(viewer), Nav::Phones, body)).into_response())
}

/// `GET /ui/phones`
async fn list(State(app): State<AppState>, Admin(viewer): Admin) -> Result<Response, UiError> {
    render(&app, &viewer, StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct AdoptForm {
    line: String,
    #[serde(default)]
    vendor: String,
}

/// `POST /ui/phones/:mac/adopt`: the REST API's adoption, with the extension chosen.
async fn adopt_one(
    State(app): State<AppState>,
    Path(mac): Path<String>,
    posted: Posted<AdoptForm>,
) -> Result<Response, UiError> {
    let Posted { viewer, form: f } = posted;
    let refused = |why: String| notice(false, &format!("Not adopted: {why}"));
    let Some((tenant, number)) = parse_line(&f.line) else {
        return render(&app, &viewer, StatusCode::UNPROCESSABLE_ENTITY, Some(refused("choose an extension".into())))
            .await;
    };
    let (tenant, number) = (tenant.to_owned(), number.to_owned());
    let vendor = match parse_vendor(&f.vendor) {
        Ok(v) => v,
        Err(why) => return render(&app, &viewer, StatusCode::UNPROCESSABLE_ENTITY, Some(refused(why))).await,
    };
    let discovered = app.store.call(|s| s.discovered()).await?;
    let device = adopt::mac(&mac).and_then(|mac| adopt::device(&discovered, &mac, number.clone(), vendor, None));
    let device = match device {
        Ok(d) => d,
        Err(e) => {
            let why = match e {
                adopt::AdoptError::UnknownVendor(_) => "the box could not guess its vendor: choose one".to_owned(),
                e => e.to_string(),
            };
            return render(&app, &viewer, StatusCode::UNPROCESSABLE_ENTITY, Some(refused(why))).await;
        }
    };
    let mac = device.mac.clone();
    let t = tenant.clone();
    match apply(&app, &viewer.username, move |doc| adopt::add(doc, &t, device).map_err(|e| e.to_string())).await? {
        Ok(()) => {
            tracing::info!(%mac, %tenant, extension = %number, by = %viewer.username, "discovered device adopted in the web UI");
            let done =
                notice(true, &format!("Phone {mac} adopted onto extension {number}: its next fetch gets its account."));
            render(&app, &viewer, StatusCode::OK, Some(done)).await
        }
        Err(why) => render(&app, &viewer, StatusCode::UNPROCESSABLE_ENTITY, Some(refused(why))).await,
    }
}

/// `POST /ui/phones/:mac/reprovision`: check-sync to the phone's registrations, as the
/// cloud's `reprovision` command sends it.
async fn reprovision(
    State(app): State<AppState>,
    Path(mac): Path<String>,
    posted: Posted<Nothing>,
) -> Result<Response, UiError> {
    let viewer = posted.viewer;
    let shown = match (adopt::mac(&mac), app.provisioning.as_ref()) {
        (Err(e), _) => notice(false, &format!("Not re-provisioned: {e}")),
        (Ok(_), None) => notice(false, "Not re-provisioned: provisioning is not running on this box."),
        (Ok(mac), Some(prov)) => match checksync::reprovision(prov, &mac).await {
            Ok(n) if n > 0 => {
                tracing::info!(%mac, by = %viewer.username, "phone re-provisioned from the web UI");
                notice(
                    true,
                    &format!("Phone {mac} was told to fetch its configuration ({n} registration(s) answered)."),
                )
            }
            Ok(_) => notice(false, &format!("Phone {mac} did not answer its check-sync.")),
            Err(why) => notice(false, &format!("Not re-provisioned: {why}.")),
        },
    };
    render(&app, &viewer, StatusCode::OK, Some(shown)).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_extension_choice_reads_back_and_an_empty_vendor_is_the_guess() {
        assert_eq!(parse_line(&line_value("acme", "201")), Some(("acme", "201")));
        assert_eq!(parse_line("a/b/201"), Some(("a/b", "201")));
        assert_eq!(parse_line("201"), None);
        assert_eq!(parse_line("acme/"), None);
        assert_eq!(parse_vendor(""), Ok(None));
        assert_eq!(parse_vendor("snom"), Ok(Some(Vendor::Snom)));
        assert!(parse_vendor("<b>").unwrap_err().contains("no vendor"));
    }

    #[test]
    fn a_phone_row_has_its_line_state_and_last_fetch() {
        let doc: SiteDoc = serde_json::from_value(serde_json::json!({"schema": 1, "tenants": [{
            "name": "acme", "domains": [],
            "extensions": [{"number": "201"}],
            "devices": [{"mac": "80:5e:c0:11:22:33", "vendor": "yealink", "extension": "201"},
                        {"mac": "00:0b:82:aa:bb:cc", "vendor": "grandstream"}]
        }]}))
        .unwrap();
        let fetch = Fetch { mac: "80:5e:c0:11:22:33".into(), at: 0, via: "https".into(), client: "192.0.2.1".into() };
        let rows = phone_rows(&doc, &[("acme".into(), "201".into())], &[fetch]);
        assert_eq!(rows.len(), 2);
        assert!(rows[0].registered);
        assert_eq!(rows[0].last_fetch.as_deref(), Some("1970-01-01 00:00 UTC over https from 192.0.2.1"));
        assert!(!rows[1].registered && rows[1].last_fetch.is_none() && rows[1].extension.is_none());
    }
}
