//! Editing the routes of the routes page: add, change, move up and remove outbound routes (by
//! name) and inbound routes (by position: one DID can have several, tried in order).
//!
//! Order matters for both: the first outbound route whose pattern matches takes the call, and
//! the first inbound route of a DID that is open now. So a new route goes last and "Up" moves
//! one a place earlier. Every write is an edit of the site document applied by `ui::apply`
//! (the REST API's validation and transaction): a pattern that is no pattern, a trunk or a
//! destination the tenant does not have, a day or a time span that is none, an inbound route
//! that an earlier one always hides, are refused with the site's reason and nothing changes.
//!
//! An inbound route has no name, so its forms carry its DID as well as its position: if the
//! routes changed since the page was loaded, the position names another route and the change
//! is refused rather than made to the wrong one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::page::{self, csrf_field, notice, Nav};
use super::routes::render as render_routes;
use super::session::{Admin, Nothing, Posted, Viewer};
use super::{apply, UiError};
use crate::api::AppState;
use crate::site::{InboundRoute, OutboundRoute, RouteTrunk, SiteDoc, Tenant};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/routes/outbound", post(add_out))
        .route("/ui/routes/:tenant/outbound/:name", get(edit_out_page).post(edit_out))
        .route("/ui/routes/:tenant/outbound/:name/up", post(up_out))
        .route("/ui/routes/:tenant/outbound/:name/remove", post(remove_out))
        .route("/ui/routes/inbound", post(add_in))
        .route("/ui/routes/:tenant/inbound/:index", get(edit_in_page).post(edit_in))
        .route("/ui/routes/:tenant/inbound/:index/up", post(up_in))
        .route("/ui/routes/:tenant/inbound/:index/remove", post(remove_in))
}

/// An outbound route's fields, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct OutFields {
    #[serde(default)]
    pub pattern: String,
    /// Trunk names in the order they are tried, separated by commas or spaces.
    #[serde(default)]
    pub trunks: String,
    /// Leading digits to drop; empty: none.
    #[serde(default)]
    pub strip: String,
    #[serde(default)]
    pub prepend: String,
}

/// An inbound route's fields, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct InFields {
    #[serde(default)]
    pub did: String,
    #[serde(default)]
    pub destination: String,
    /// A caller pattern; empty: any caller.
    #[serde(default)]
    pub caller: String,
    /// `mon tue wed` (commas or spaces); empty: every day.
    #[serde(default)]
    pub days: String,
    /// `08:00-18:00`; empty: all day.
    #[serde(default)]
    pub hours: String,
}

/// Words separated by commas or spaces, in order, each once.
fn words(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in s.split(|c: char| c == ',' || c.is_whitespace()).filter(|w| !w.is_empty()) {
        if !out.iter().any(|x| x == w) {
            out.push(w.to_owned());
        }
    }
    out
}

/// Puts the form's fields into `r`. A trunk that stays keeps its own number rewriting (which
/// the form does not show); a new one is named plainly. Whether the route makes sense is the
/// site's to say.
pub fn set_out(r: &mut OutboundRoute, f: &OutFields) -> Result<(), String> {
    r.pattern = f.pattern.trim().to_owned();
    let old = std::mem::take(&mut r.trunks);
    r.trunks = words(&f.trunks)
        .into_iter()
        .map(|name| old.iter().find(|t| t.name() == name).cloned().unwrap_or(RouteTrunk::Name(name)))
        .collect();
    let strip = f.strip.trim();
    r.strip = if strip.is_empty() {
        0
    } else {
        strip.parse().map_err(|_| format!("strip: `{strip}` is not a whole number of digits"))?
    };
    r.prepend = f.prepend.trim().to_owned();
    Ok(())
}

/// The form's fields as an inbound route.
pub fn inbound(f: &InFields) -> InboundRoute {
    let optional = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    InboundRoute {
        did: f.did.trim().to_owned(),
        destination: f.destination.trim().to_owned(),
        caller: optional(&f.caller),
        days: words(&f.days.to_ascii_lowercase()),
        hours: optional(&f.hours),
    }
}

fn tenant_mut<'a>(doc: &'a mut SiteDoc, tenant: &str) -> Result<&'a mut Tenant, String> {
    doc.tenants.iter_mut().find(|t| t.name == tenant).ok_or_else(|| format!("no tenant `{tenant}`"))
}

fn out_index(t: &Tenant, name: &str) -> Result<usize, String> {
    t.outbound_routes.iter().position(|r| r.name == name).ok_or_else(|| format!("no outbound route `{name}`"))
}

/// The inbound route at `index`, if it still has DID `did` (the form's view of it).
fn in_index(t: &Tenant, index: usize, did: &str) -> Result<usize, String> {
    match t.inbound_routes.get(index) {
        Some(r) if r.did == did.trim() => Ok(index),
        _ => Err("the inbound routes changed since this page was loaded: reload it and try again".to_owned()),
    }
}

/// Adds outbound route `name` last, unless the tenant has one of that name.
pub fn add_out_to(doc: &mut SiteDoc, tenant: &str, name: &str, f: &OutFields) -> Result<(), String> {
    let t = tenant_mut(doc, tenant)?;
    let name = name.trim();
    if name.is_empty() {
        return Err("name: a route needs a name".to_owned());
    }
    if t.outbound_routes.iter().any(|r| r.name == name) {
        return Err(format!("outbound route `{name}` already exists"));
    }
    let mut r = OutboundRoute {
        name: name.to_owned(),
        pattern: String::new(),
        trunks: Vec::new(),
        strip: 0,
        prepend: String::new(),
    };
    set_out(&mut r, f)?;
    t.outbound_routes.push(r);
    Ok(())
}

/// Moves the route at `i` one place earlier (the first stays first).
fn up<T>(list: &mut [T], i: usize) {
    if i > 0 && i < list.len() {
        list.swap(i - 1, i);
    }
}

fn tenant_options(doc: &SiteDoc) -> Markup {
    html! { label { "Tenant" select name="tenant" { @for t in &doc.tenants { option value=(t.name) { (t.name) } } } } }
}

const PATTERN_LABEL: &str = "Pattern: digits, X any digit, Z 1-9, N 2-9, [1-5] a set, a final . for the rest";
const TRUNKS_LABEL: &str = "Trunks, in the order they are tried (names, separated by commas or spaces)";
const DAYS_LABEL: &str = "Days (mon tue wed thu fri sat sun; empty: every day)";
const HOURS_LABEL: &str = "Hours (08:00-18:00; empty: all day; an end before the start spans midnight)";
const CALLER_LABEL: &str = "Only callers matching (a pattern such as 0171.; empty: any caller)";

fn out_fields(r: Option<&OutboundRoute>) -> Markup {
    let trunks = r.map(|r| r.trunks.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")).unwrap_or_default();
    html! {
        label { (PATTERN_LABEL) input name="pattern" required value=[r.map(|r| &r.pattern)]; }
        label { (TRUNKS_LABEL) input name="trunks" required value=(trunks); }
        label { "Strip (leading digits to drop)" input name="strip" inputmode="numeric" value=(r.map_or(0, |r| r.strip)); }
        label { "Prepend (after stripping)" input name="prepend" value=[r.map(|r| &r.prepend)]; }
    }
}

fn in_fields(r: Option<&InboundRoute>) -> Markup {
    html! {
        label { "DID (the number as the trunk delivers it)" input name="did" required value=[r.map(|r| &r.did)]; }
        label { "Goes to (an extension, a ring group or an outside number)" input name="destination" required value=[r.map(|r| &r.destination)]; }
        label { (CALLER_LABEL) input name="caller" value=[r.and_then(|r| r.caller.as_ref())]; }
        label { (DAYS_LABEL) input name="days" value=(r.map(|r| r.days.join(" ")).unwrap_or_default()); }
        label { (HOURS_LABEL) input name="hours" value=[r.and_then(|r| r.hours.as_ref())]; }
    }
}

/// The add forms under the route tables of the routes page.
pub fn add_forms(doc: &SiteDoc, viewer: &Viewer) -> Markup {
    html! {
        section.card {
            h2 { "Add an outbound route" }
            p.hint { "It goes last: the first route whose pattern matches a dialled number takes the call." }
            form method="post" action="/ui/routes/outbound" id="new-outbound" {
                (csrf_field(viewer))
                (tenant_options(doc))
                label { "Name" input name="name" required; }
                (out_fields(None))
                button type="submit" { "Add" }
            }
        }
        section.card {
            h2 { "Add an inbound route" }
            p.hint { "It goes last: of the routes of one DID, the first that is open now takes the call." }
            form method="post" action="/ui/routes/inbound" id="new-inbound" {
                (csrf_field(viewer))
                (tenant_options(doc))
                (in_fields(None))
                button type="submit" { "Add" }
            }
        }
    }
}

/// The "Edit" link and "Up" button of a row of the routes page.
pub fn row_actions(viewer: &Viewer, base: &str, first: bool, did: Option<&str>) -> Markup {
    html! {
        a href=(base) { "Edit" }
        @if !first {
            form.inline.up method="post" action=(format!("{base}/up")) {
                (csrf_field(viewer))
                @if let Some(did) = did { input type="hidden" name="did" value=(did); }
                button type="submit" title="Try this route one place earlier" { "Up" }
            }
        }
    }
}

/// After a change: the routes page with what happened.
async fn answer(
    app: &AppState,
    viewer: &Viewer,
    outcome: Result<(), String>,
    done: String,
    refused: &str,
) -> Result<Response, UiError> {
    match outcome {
        Ok(()) => {
            tracing::info!(user = %viewer.username, %done, "routes changed in the web UI");
            render_routes(app, viewer, StatusCode::OK, Some(notice(true, &done))).await
        }
        Err(why) => {
            let shown = notice(false, &format!("{refused}: {why}"));
            render_routes(app, viewer, StatusCode::UNPROCESSABLE_ENTITY, Some(shown)).await
        }
    }
}

#[derive(Deserialize)]
struct NewOut {
    tenant: String,
    #[serde(default)]
    name: String,
    #[serde(flatten)]
    fields: OutFields,
}

/// `POST /ui/routes/outbound`
async fn add_out(State(app): State<AppState>, posted: Posted<NewOut>) -> Result<Response, UiError> {
    let Posted { viewer, form: f } = posted;
    let done = format!("Outbound route {} added.", f.name.trim());
    let outcome = apply(&app, &viewer.username, move |doc| add_out_to(doc, &f.tenant, &f.name, &f.fields)).await?;
    answer(&app, &viewer, outcome, done, "Not added").await
}

#[derive(Deserialize)]
struct NewIn {
    tenant: String,
    #[serde(flatten)]
    fields: InFields,
}

/// `POST /ui/routes/inbound`
async fn add_in(State(app): State<AppState>, posted: Posted<NewIn>) -> Result<Response, UiError> {
    let Posted { viewer, form: f } = posted;
    let route = inbound(&f.fields);
    let done = format!("Inbound route for {} added.", route.did);
    let outcome = apply(&app, &viewer.username, move |doc| {
        tenant_mut(doc, &f.tenant)?.inbound_routes.push(route);
        Ok(())
    })
    .await?;
    answer(&app, &viewer, outcome, done, "Not added").await
}

async fn render_edit(
    app: &AppState,
    viewer: &Viewer,
    (tenant, key): (&str, &str),
    code: StatusCode,
    shown: Option<Markup>,
) -> Result<Response, UiError> {
    let doc = app.store.call(|s| s.export_site()).await?;
    let Some(t) = doc.tenants.iter().find(|t| t.name == tenant) else {
        return Ok(page::refused(StatusCode::NOT_FOUND, &format!("No tenant `{tenant}`.")));
    };
    let body = if let Some(name) = key.strip_prefix("outbound/") {
        let Some(r) = t.outbound_routes.iter().find(|r| r.name == name) else {
            return Ok(page::refused(StatusCode::NOT_FOUND, &format!("No outbound route `{name}` in `{tenant}`.")));
        };
        let base = format!("/ui/routes/{tenant}/outbound/{name}");
        html! {
            main #route-page {
                h1 { "Outbound route " (name) " (" (tenant) ")" }
                @if let Some(m) = shown { (m) }
                form.card method="post" action=(base) id="edit-route" {
                    (csrf_field(viewer))
                    (out_fields(Some(r)))
                    button type="submit" { "Save" }
                }
                form.card method="post" action=(format!("{base}/remove")) id="remove-route"
                    data-confirm=(format!("Remove outbound route {name}? Numbers only it matched get no route.")) {
                    (csrf_field(viewer))
                    button.danger type="submit" { "Remove this route" }
                }
                p { a href="/ui/routes" { "Back to the routes" } }
            }
        }
    } else {
        let index: usize = key.strip_prefix("inbound/").and_then(|i| i.parse().ok()).unwrap_or(usize::MAX);
        let Some(r) = t.inbound_routes.get(index) else {
            return Ok(page::refused(StatusCode::NOT_FOUND, &format!("No inbound route {index} in `{tenant}`.")));
        };
        let base = format!("/ui/routes/{tenant}/inbound/{index}");
        html! {
            main #route-page {
                h1 { "Inbound route for " (r.did) " (" (tenant) ")" }
                @if let Some(m) = shown { (m) }
                form.card method="post" action=(base) id="edit-route" {
                    (csrf_field(viewer))
                    input type="hidden" name="was" value=(r.did);
                    (in_fields(Some(r)))
                    button type="submit" { "Save" }
                }
                form.card method="post" action=(format!("{base}/remove")) id="remove-route"
                    data-confirm=(format!("Remove this inbound route for {}?", r.did)) {
                    (csrf_field(viewer))
                    input type="hidden" name="did" value=(r.did);
                    button.danger type="submit" { "Remove this route" }
                }
                p { a href="/ui/routes" { "Back to the routes" } }
            }
        }
    };
    Ok((code, page::document("Route", Some(viewer), Nav::Routes, body)).into_response())
}

/// `GET /ui/routes/:tenant/outbound/:name`
async fn edit_out_page(
    State(app): State<AppState>,
    Admin(viewer): Admin,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<Response, UiError> {
    render_edit(&app, &viewer, (&tenant, &format!("outbound/{name}")), StatusCode::OK, None).await
}

/// `POST /ui/routes/:tenant/outbound/:name`
async fn edit_out(
    State(app): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
    posted: Posted<OutFields>,
) -> Result<Response, UiError> {
    let Posted { viewer, form: f } = posted;
    let (t, n) = (tenant.clone(), name.clone());
    let outcome = apply(&app, &viewer.username, move |doc| {
        let tenant = tenant_mut(doc, &t)?;
        let i = out_index(tenant, &n)?;
        set_out(&mut tenant.outbound_routes[i], &f)
    })
    .await?;
    let key = format!("outbound/{name}");
    match outcome {
        Ok(()) => render_edit(&app, &viewer, (&tenant, &key), StatusCode::OK, Some(notice(true, "Saved."))).await,
        Err(why) => {
            let shown = notice(false, &format!("Not saved: {why}"));
            render_edit(&app, &viewer, (&tenant, &key), StatusCode::UNPROCESSABLE_ENTITY, Some(shown)).await
        }
    }
}

/// `POST /ui/routes/:tenant/outbound/:name/up`
async fn up_out(
    State(app): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
    posted: Posted<Nothing>,
) -> Result<Response, UiError> {
    let viewer = posted.viewer;
    let done = format!("Outbound route {name} moved up.");
    let outcome = apply(&app, &viewer.username, move |doc| {
        let t = tenant_mut(doc, &tenant)?;
        let i = out_index(t, &name)?;
        up(&mut t.outbound_routes, i);
        Ok(())
    })
    .await?;
    answer(&app, &viewer, outcome, done, "Not moved").await
}

/// `POST /ui/routes/:tenant/outbound/:name/remove`
async fn remove_out(
    State(app): State<AppState>,
    Path((tenant, name)): Path<(String, String)>,
    posted: Posted<Nothing>,
) -> Result<Response, UiError> {
    let viewer = posted.viewer;
    let done = format!("Outbound route {name} removed.");
    let outcome = apply(&app, &viewer.username, move |doc| {
        let t = tenant_mut(doc, &tenant)?;
        let i = out_index(t, &name)?;
        t.outbound_routes.remove(i);
        Ok(())
    })
    .await?;
    answer(&app, &viewer, outcome, done, "Not removed").await
}

/// `GET /ui/routes/:tenant/inbound/:index`
async fn edit_in_page(
    State(app): State<AppState>,
    Admin(viewer): Admin,
    Path((tenant, index)): Path<(String, String)>,
) -> Result<Response, UiError> {
    render_edit(&app, &viewer, (&tenant, &format!("inbound/{index}")), StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct EditIn {
    /// The DID the route had when the page was loaded.
    #[serde(default)]
    was: String,
    #[serde(flatten)]
    fields: InFields,
}

/// `POST /ui/routes/:tenant/inbound/:index`
async fn edit_in(
    State(app): State<AppState>,
    Path((tenant, index)): Path<(String, usize)>,
    posted: Posted<EditIn>,
) -> Result<Response, UiError> {
    let Posted { viewer, form: f } = posted;
    let route = inbound(&f.fields);
    let t = tenant.clone();
    let outcome = apply(&app, &viewer.username, move |doc| {
        let tenant = tenant_mut(doc, &t)?;
        let i = in_index(tenant, index, &f.was)?;
        tenant.inbound_routes[i] = route;
        Ok(())
    })
    .await?;
    let key = format!("inbound/{index}");
    match outcome {
        Ok(()) => render_edit(&app, &viewer, (&tenant, &key), StatusCode::OK, Some(notice(true, "Saved."))).await,
        Err(why) => {
            let shown = notice(false, &format!("Not saved: {why}"));
            render_edit(&app, &viewer, (&tenant, &key), StatusCode::UNPROCESSABLE_ENTITY, Some(shown)).await
        }
    }
}

#[derive(Deserialize)]
struct Did {
    #[serde(default)]
    did: String,
}

/// `POST /ui/routes/:tenant/inbound/:index/up`
async fn up_in(
    State(app): State<AppState>,
    Path((tenant, index)): Path<(String, usize)>,
    posted: Posted<Did>,
) -> Result<Response, UiError> {
    let Posted { viewer, form } = posted;
    let done = format!("Inbound route for {} moved up.", form.did.trim());
    let outcome = apply(&app, &viewer.username, move |doc| {
        let t = tenant_mut(doc, &tenant)?;
        let i = in_index(t, index, &form.did)?;
        up(&mut t.inbound_routes, i);
        Ok(())
    })
    .await?;
    answer(&app, &viewer, outcome, done, "Not moved").await
}

/// `POST /ui/routes/:tenant/inbound/:index/remove`
async fn remove_in(
    State(app): State<AppState>,
    Path((tenant, index)): Path<(String, usize)>,
    posted: Posted<Did>,
) -> Result<Response, UiError> {
    let Posted { viewer, form } = posted;
    let done = format!("Inbound route for {} removed.", form.did.trim());
    let outcome = apply(&app, &viewer.username, move |doc| {
        let t = tenant_mut(doc, &tenant)?;
        let i = in_index(t, index, &form.did)?;
        t.inbound_routes.remove(i);
        Ok(())
    })
    .await?;
    answer(&app, &viewer, outcome, done, "Not removed").await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::site::TrunkRewrite;

    fn doc() -> SiteDoc {
        serde_json::from_value(serde_json::json!({"schema": 1, "tenants": [{
            "name": "acme", "domains": [],
            "outbound_routes": [{"name": "national", "pattern": "0Z.", "trunks": [
                {"name": "cloud", "strip": 1}, "pstn"
            ]}],
            "inbound_routes": [{"did": "100", "destination": "201"}, {"did": "100", "destination": "600"}]
        }]}))
        .unwrap()
    }

    #[test]
    fn a_trunk_that_stays_keeps_its_rewriting_and_the_order_is_as_typed() {
        let mut doc = doc();
        let r = &mut doc.tenants[0].outbound_routes[0];
        let f = OutFields {
            pattern: " 00Z. ".into(),
            trunks: "pstn, cloud gsm cloud".into(),
            strip: "".into(),
            prepend: "+".into(),
        };
        set_out(r, &f).unwrap();
        assert_eq!(r.pattern, "00Z.");
        assert_eq!(r.trunks.iter().map(RouteTrunk::name).collect::<Vec<_>>(), ["pstn", "cloud", "gsm"]);
        assert!(matches!(&r.trunks[1], RouteTrunk::Rewrite(TrunkRewrite { strip: Some(1), .. })), "{:?}", r.trunks[1]);
        assert_eq!((r.strip, r.prepend.as_str()), (0, "+"));
        let bad = OutFields { strip: "two".into(), ..f };
        assert_eq!(set_out(r, &bad).unwrap_err(), "strip: `two` is not a whole number of digits");
    }

    #[test]
    fn routes_are_added_once_last_and_moved_up_one_place() {
        let mut doc = doc();
        let f = OutFields { pattern: "112".into(), trunks: "pstn".into(), ..OutFields::default() };
        add_out_to(&mut doc, "acme", "emergency", &f).unwrap();
        assert_eq!(doc.tenants[0].outbound_routes[1].name, "emergency");
        assert_eq!(
            add_out_to(&mut doc, "acme", "emergency", &f).unwrap_err(),
            "outbound route `emergency` already exists"
        );
        assert_eq!(add_out_to(&mut doc, "acme", " ", &f).unwrap_err(), "name: a route needs a name");
        assert_eq!(add_out_to(&mut doc, "other", "x", &f).unwrap_err(), "no tenant `other`");
        up(&mut doc.tenants[0].outbound_routes, 1);
        up(&mut doc.tenants[0].outbound_routes, 0);
        assert_eq!(doc.tenants[0].outbound_routes[0].name, "emergency", "up once; the first stays first");
    }

    #[test]
    fn an_inbound_route_is_found_by_place_only_while_its_did_is_the_same() {
        let doc = doc();
        let t = &doc.tenants[0];
        assert_eq!(in_index(t, 1, "100"), Ok(1));
        assert!(in_index(t, 1, "101").unwrap_err().contains("changed since this page was loaded"));
        assert!(in_index(t, 2, "100").is_err());
        let r = inbound(&InFields {
            did: " 100 ".into(),
            destination: "201".into(),
            caller: " ".into(),
            days: "Mon, tue  wed".into(),
            hours: "".into(),
        });
        assert_eq!(
            (r.did.as_str(), r.caller, r.days, r.hours),
            ("100", None, vec!["mon".into(), "tue".into(), "wed".into()], None)
        );
    }
}
