//! The ring groups page: each tenant's ring groups (number, name, strategy, members in ringing
//! order, ring time), a form to add one, and per group a page to change its name, strategy,
//! members and ring time, or remove it.
//!
//! Every write is an edit of the site document applied by `ui::apply` (the REST API's
//! validation and transaction): a number already taken, a member that is no extension of the
//! tenant, a ring time out of range, or the removal of a group that a forward or an inbound
//! route still names is refused with the site's reason, and nothing changes. The SIP core
//! routes calls to a group by the stored site, so a group added here rings as soon as the
//! core picks up the new revision.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::page::{self, csrf_field, notice, Nav};
use super::session::{Admin, Nothing, Posted, Viewer};
use super::{apply, UiError};
use crate::api::AppState;
use crate::site::{RingGroup, RingStrategy, SiteDoc, Tenant};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/ring-groups", get(list).post(add))
        .route("/ui/ring-groups/:tenant/:number", get(edit_page).post(edit))
        .route("/ui/ring-groups/:tenant/:number/remove", post(remove))
}

/// The ring time of a new group when the field is left empty (the site's default).
const DEFAULT_RING_SECS: u32 = 20;

/// The fields both forms share.
#[derive(Debug, Default, Deserialize)]
struct Fields {
    #[serde(default)]
    name: String,
    strategy: String,
    /// Extension numbers in ringing order, separated by commas or spaces.
    #[serde(default)]
    members: String,
    /// Seconds; empty: 20.
    #[serde(default)]
    ring_secs: String,
}

fn parse_strategy(s: &str) -> Result<RingStrategy, String> {
    match s.trim() {
        "simultaneous" => Ok(RingStrategy::Simultaneous),
        "sequential" => Ok(RingStrategy::Sequential),
        other => Err(format!("strategy: `{other}` is not simultaneous or sequential")),
    }
}

/// The members as typed, in order, each once.
fn parse_members(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in s.split(|c: char| c == ',' || c.is_whitespace()).filter(|m| !m.is_empty()) {
        if !out.iter().any(|x| x == m) {
            out.push(m.to_owned());
        }
    }
    out
}

/// Puts the form's fields into `g`; whether the group makes sense is the site's to say.
fn set_fields(g: &mut RingGroup, f: &Fields) -> Result<(), String> {
    g.name = f.name.trim().to_owned();
    g.strategy = parse_strategy(&f.strategy)?;
    g.members = parse_members(&f.members);
    let secs = f.ring_secs.trim();
    g.member_timeout = if secs.is_empty() {
        DEFAULT_RING_SECS
    } else {
        secs.parse().map_err(|_| format!("ring time: `{secs}` is not a whole number of seconds"))?
    };
    Ok(())
}

fn tenant_mut<'a>(doc: &'a mut SiteDoc, tenant: &str) -> Result<&'a mut Tenant, String> {
    doc.tenants.iter_mut().find(|t| t.name == tenant).ok_or_else(|| format!("no tenant `{tenant}`"))
}

fn find<'a>(doc: &'a SiteDoc, tenant: &str, number: &str) -> Option<(&'a Tenant, &'a RingGroup)> {
    let t = doc.tenants.iter().find(|t| t.name == tenant)?;
    Some((t, t.ring_groups.iter().find(|g| g.number == number)?))
}

fn find_mut<'a>(doc: &'a mut SiteDoc, tenant: &str, number: &str) -> Result<&'a mut RingGroup, String> {
    tenant_mut(doc, tenant)?
        .ring_groups
        .iter_mut()
        .find(|g| g.number == number)
        .ok_or_else(|| format!("no ring group `{number}` in `{tenant}`"))
}

/// Adds `g` to `tenant` unless a group has its number there (an extension with that number
/// is the site's validation's to refuse).
fn add_to(doc: &mut SiteDoc, tenant: &str, g: RingGroup) -> Result<(), String> {
    let t = tenant_mut(doc, tenant)?;
    if t.ring_groups.iter().any(|x| x.number == g.number) {
        return Err(format!("ring group `{}` already exists", g.number));
    }
    t.ring_groups.push(g);
    Ok(())
}

fn remove_from(doc: &mut SiteDoc, tenant: &str, number: &str) -> Result<(), String> {
    let t = tenant_mut(doc, tenant)?;
    let before = t.ring_groups.len();
    t.ring_groups.retain(|g| g.number != number);
    if t.ring_groups.len() == before {
        return Err(format!("no ring group `{number}` in `{tenant}`"));
    }
    Ok(())
}

/// "102 (Reception), 103".
fn members_text(t: &Tenant, g: &RingGroup) -> String {
    g.members
        .iter()
        .map(|m| match t.extensions.iter().find(|x| &x.number == m).map(|x| x.name.as_str()) {
            Some(name) if !name.is_empty() => format!("{m} ({name})"),
            _ => m.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn strategy_text(s: RingStrategy) -> &'static str {
    match s {
        RingStrategy::Simultaneous => "all at once",
        RingStrategy::Sequential => "one after another",
    }
}

fn strategy_select(current: RingStrategy) -> Markup {
    html! {
        label { "Strategy" select name="strategy" {
            @for s in [RingStrategy::Simultaneous, RingStrategy::Sequential] {
                option value=(s.as_str()) selected[s == current] { (s.as_str()) ": " (strategy_text(s)) }
            }
        } }
    }
}

fn group_tables(doc: &SiteDoc) -> Markup {
    html! {
        @for t in &doc.tenants {
            section.card data-tenant=(t.name) {
                h2 { "Tenant " (t.name) }
                div.scroll { table.ring-groups {
                    thead { tr { th { "Number" } th { "Name" } th { "Strategy" } th { "Members, in order" } th { "Ring time" } th {} } }
                    tbody {
                        @for g in &t.ring_groups {
                            tr data-group=(format!("{}/{}", t.name, g.number)) {
                                td { (g.number) }
                                td data-f="name" { (g.name) }
                                td data-f="strategy" { (g.strategy.as_str()) }
                                td data-f="members" { (members_text(t, g)) }
                                td data-f="ring" { (g.member_timeout) " s" @if g.strategy == RingStrategy::Sequential { " each" } }
                                td { a href=(format!("/ui/ring-groups/{}/{}", t.name, g.number)) { "Edit" } }
                            }
                        }
                    }
                } }
                @if t.ring_groups.is_empty() { p.hint { "No ring groups." } }
            }
        }
    }
}

const MEMBERS_LABEL: &str = "Members, in ringing order (extension numbers, separated by commas or spaces)";
const RING_LABEL: &str = "Ring time in seconds, 5-300 (each member's when sequential, the group's when simultaneous)";

async fn render(app: &AppState, viewer: &Viewer, code: StatusCode, shown: Option<Markup>) -> Result<Response, UiError> {
    let doc = app.store.call(|s| s.export_site()).await?;
    let owner = super::owner::banner(app).await;
    let body = html! {
        main #ring-groups-page {
            h1 { "Ring groups" }
            (owner)
            @if let Some(m) = shown { (m) }
            (group_tables(&doc))
            section.card {
                h2 { "Add a ring group" }
                form method="post" action="/ui/ring-groups" id="new-ring-group" {
                    (csrf_field(viewer))
                    label { "Tenant" select name="tenant" {
                        @for t in &doc.tenants { option value=(t.name) { (t.name) } }
                    } }
                    label { "Number (2 to 8 digits, not an extension's)" input name="number" required inputmode="numeric"; }
                    label { "Name" input name="name"; }
                    (strategy_select(RingStrategy::Simultaneous))
                    label { (MEMBERS_LABEL) input name="members" required; }
                    label { (RING_LABEL) input name="ring_secs" inputmode="numeric" value=(DEFAULT_RING_SECS); }
                    button type="submit" { "Add" }
                }
            }
        }
    };
    Ok((code, page::document("Ring groups", Some(viewer), Nav::RingGroups, body)).into_response())
}

/// `GET /ui/ring-groups`
async fn list(State(app): State<AppState>, Admin(viewer): Admin) -> Result<Response, UiError> {
    render(&app, &viewer, StatusCode::OK, None).await
}

#[derive(Deserialize)]
struct NewGroup {
    tenant: String,
    number: String,
    #[serde(flatten)]
    fields: Fields,
}

/// `POST /ui/ring-groups`
async fn add(State(app): State<AppState>, posted: Posted<NewGroup>) -> Result<Response, UiError> {
    let Posted { viewer, form: f } = posted;
    let (tenant, number) = (f.tenant.trim().to_owned(), f.number.trim().to_owned());
    let (t, n) = (tenant.clone(), number.clone());
    let outcome = apply(&app, &viewer.username, move |doc| {
        let mut g = RingGroup {
            number: n,
            name: String::new(),
            strategy: RingStrategy::Simultaneous,
            members: Vec::new(),
            member_timeout: DEFAULT_RING_SECS,
        };
        set_fields(&mut g, &f.fields)?;
        add_to(doc, &t, g)
    })
    .await?;
    match outcome {
        Ok(()) => {
            tracing::info!(user = %viewer.username, %tenant, %number, "ring group added in the web UI");
            render(&app, &viewer, StatusCode::OK, Some(notice(true, &format!("Ring group {number} added.")))).await
        }
        Err(why) => {
            render(&app, &viewer, StatusCode::UNPROCESSABLE_ENTITY, Some(notice(false, &format!("Not added: {why}"))))
                .await
        }
    }
}

async fn render_edit(
    app: &AppState,
    viewer: &Viewer,
    tenant: &str,
    number: &str,
    code: StatusCode,
    shown: Option<Markup>,
) -> Result<Response, UiError> {
    let doc = app.store.call(|s| s.export_site()).await?;
    let Some((t, g)) = find(&doc, tenant, number) else {
        return Ok(page::refused(StatusCode::NOT_FOUND, "There is no such ring group."));
    };
    let base = format!("/ui/ring-groups/{tenant}/{number}");
    let extensions = t.extensions.iter().map(|x| x.number.as_str()).collect::<Vec<_>>().join(", ");
    let body = html! {
        main #ring-group-page {
            h1 { "Ring group " (g.number) }
            @if let Some(m) = shown { (m) }
            section.card {
                p.hint { "Tenant " (tenant) ". Its extensions: " (extensions) "." }
                form method="post" action=(base) id="edit-ring-group" {
                    (csrf_field(viewer))
                    label { "Name" input name="name" value=(g.name); }
                    (strategy_select(g.strategy))
                    label { (MEMBERS_LABEL) input name="members" required value=(g.members.join(", ")); }
                    label { (RING_LABEL) input name="ring_secs" inputmode="numeric" value=(g.member_timeout); }
                    button type="submit" { "Save" }
                }
            }
            section.card {
                h2 { "Remove" }
                p.hint { "A forward or an inbound route that still names this group must be changed first: the box refuses the removal and says which." }
                form method="post" action=(format!("{base}/remove")) id="remove-ring-group" data-confirm="Remove this ring group?" {
                    (csrf_field(viewer))
                    button.danger type="submit" { "Remove the ring group" }
                }
            }
            p { a href="/ui/ring-groups" { "Back to the ring groups" } }
        }
    };
    Ok((code, page::document("Ring group", Some(viewer), Nav::RingGroups, body)).into_response())
}

/// `GET /ui/ring-groups/:tenant/:number`
async fn edit_page(
    State(app): State<AppState>,
    Admin(viewer): Admin,
    Path((tenant, number)): Path<(String, String)>,
) -> Result<Response, UiError> {
    render_edit(&app, &viewer, &tenant, &number, StatusCode::OK, None).await
}

/// `POST /ui/ring-groups/:tenant/:number`: saved, back to the list; refused, the form again.
async fn edit(
    State(app): State<AppState>,
    Path((tenant, number)): Path<(String, String)>,
    posted: Posted<Fields>,
) -> Result<Response, UiError> {
    let Posted { viewer, form: f } = posted;
    let (t, n) = (tenant.clone(), number.clone());
    let outcome = apply(&app, &viewer.username, move |doc| set_fields(find_mut(doc, &t, &n)?, &f)).await?;
    match outcome {
        Ok(()) => {
            tracing::info!(user = %viewer.username, %tenant, %number, "ring group changed in the web UI");
            render(&app, &viewer, StatusCode::OK, Some(notice(true, &format!("Ring group {number} saved.")))).await
        }
        Err(why) => {
            let said = notice(false, &format!("Not saved: {why}"));
            render_edit(&app, &viewer, &tenant, &number, StatusCode::UNPROCESSABLE_ENTITY, Some(said)).await
        }
    }
}

/// `POST /ui/ring-groups/:tenant/:number/remove`
async fn remove(
    State(app): State<AppState>,
    Path((tenant, number)): Path<(String, String)>,
    posted: Posted<Nothing>,
) -> Result<Response, UiError> {
    let viewer = posted.viewer;
    let (t, n) = (tenant.clone(), number.clone());
    match apply(&app, &viewer.username, move |doc| remove_from(doc, &t, &n)).await? {
        Ok(()) => {
            tracing::info!(user = %viewer.username, %tenant, %number, "ring group removed in the web UI");
            render(&app, &viewer, StatusCode::OK, Some(notice(true, &format!("Ring group {number} removed.")))).await
        }
        Err(why) => {
            let said = notice(false, &format!("Not removed: {why}"));
            render_edit(&app, &viewer, &tenant, &number, StatusCode::UNPROCESSABLE_ENTITY, Some(said)).await
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fields(strategy: &str, members: &str, ring: &str) -> Fields {
        Fields { name: " Sales ".into(), strategy: strategy.into(), members: members.into(), ring_secs: ring.into() }
    }

    fn group() -> RingGroup {
        RingGroup {
            number: "600".into(),
            name: String::new(),
            strategy: RingStrategy::Simultaneous,
            members: vec!["101".into()],
            member_timeout: 20,
        }
    }

    #[test]
    fn members_keep_their_order_once_each_and_the_ring_time_defaults() {
        assert_eq!(parse_members(" 104, 103 102,,103 "), ["104", "103", "102"]);
        assert!(parse_members(" , ").is_empty());
        let mut g = group();
        set_fields(&mut g, &fields("sequential", "104 103", "")).unwrap();
        assert_eq!((g.name.as_str(), g.strategy, g.member_timeout), ("Sales", RingStrategy::Sequential, 20));
        assert_eq!(g.members, ["104", "103"]);
        set_fields(&mut g, &fields("simultaneous", "102", "45")).unwrap();
        assert_eq!((g.strategy, g.member_timeout), (RingStrategy::Simultaneous, 45));
    }

    #[test]
    fn a_bad_strategy_or_ring_time_is_refused_in_words() {
        let mut g = group();
        assert!(set_fields(&mut g, &fields("random", "101", "")).unwrap_err().starts_with("strategy: `random`"));
        assert!(set_fields(&mut g, &fields("sequential", "101", "ten")).unwrap_err().starts_with("ring time: `ten`"));
    }

    #[test]
    fn groups_are_added_once_and_removed_by_number() {
        let mut doc: SiteDoc =
            serde_json::from_value(serde_json::json!({"schema": 1, "tenants": [{"name": "a", "domains": []}]}))
                .unwrap();
        assert_eq!(add_to(&mut doc, "a", group()), Ok(()));
        assert!(add_to(&mut doc, "a", group()).unwrap_err().contains("already exists"));
        assert!(add_to(&mut doc, "b", group()).unwrap_err().contains("no tenant"));
        assert!(find(&doc, "a", "600").is_some());
        assert_eq!(remove_from(&mut doc, "a", "600"), Ok(()));
        assert!(remove_from(&mut doc, "a", "600").unwrap_err().contains("no ring group"));
    }
}
