//! Ring groups: list, add, delete.

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;

use super::extensions::tenant_select;
use super::page::{self, csrf_field, Nav, Outcome};
use super::session::{Admin, Csrf, Posted};
use super::{tenant_mut, Refused, Ui};
use crate::site::{RingGroup, RingStrategy};

pub fn routes() -> Router<Ui> {
    Router::new().route("/ui/ring-groups", get(list).post(add)).route("/ui/ring-groups/delete", post(delete))
}

async fn list(State(ui): State<Ui>, who: Admin) -> Response {
    render(&ui, &who, Outcome::default()).await
}

async fn render(ui: &Ui, who: &Admin, outcome: Outcome) -> Response {
    let doc = match super::current(ui).await {
        Ok(d) => d,
        Err(r) => return super::internal(r.lines().join("; ")),
    };
    let csrf = who.csrf();
    let first = doc.tenants.first().map_or("", |t| t.name.as_str());
    let body = html! {
        (outcome.markup())
        div.scroll { table #ring-groups {
            thead { tr { th { "Number" } th { "Name" } th { "Tenant" } th { "Strategy" } th { "Members" } th { "Rings (s)" } th {} } }
            tbody {
                @for t in &doc.tenants { @for g in &t.ring_groups {
                    tr {
                        td { (g.number) } td { (g.name) } td { (t.name) } td { (g.strategy.as_str()) }
                        td { (g.members.join(", ")) } td { (g.member_timeout) }
                        td { form method="post" action="/ui/ring-groups/delete" data-confirm="Delete this ring group?" {
                            (csrf_field(&csrf))
                            input type="hidden" name="tenant" value=(t.name);
                            input type="hidden" name="number" value=(g.number);
                            button.danger type="submit" { "Delete" }
                        } }
                    }
                } }
            }
        } }
        form.card.inline method="post" action="/ui/ring-groups" {
            h2 { "Add a ring group" }
            (csrf_field(&csrf))
            label { "Tenant" (tenant_select(&doc, "tenant", first)) }
            label { "Number" input type="text" name="number" inputmode="numeric" required; }
            label { "Name" input type="text" name="name"; }
            label { "Strategy" select name="strategy" {
                option value="simultaneous" { "all at once" } option value="sequential" { "one after another" } } }
            label { "Members (extension numbers, comma-separated)" input type="text" name="members" required; }
            label { "Each rings for (s)" input type="number" name="member_timeout" value="20" min="5" max="300"; }
            button type="submit" { "Add" }
        }
    };
    page::render_status(outcome.status(), page::shell("Ring groups", Nav::Admin("groups"), Some(&csrf), body))
}

async fn add(State(ui): State<Ui>, Posted(who, form): Posted<Admin>) -> Response {
    let group = RingGroup {
        number: form.get("number").to_owned(),
        name: form.get("name").to_owned(),
        strategy: if form.get("strategy") == "sequential" { RingStrategy::Sequential } else { RingStrategy::Simultaneous },
        members: form.get("members").split([',', ' ']).filter(|m| !m.is_empty()).map(str::to_owned).collect(),
        member_timeout: form.get("member_timeout").parse().unwrap_or(20),
    };
    let tenant = form.get("tenant").to_owned();
    let msg = format!("Ring group {} added.", group.number);
    let result = super::write(&ui, who.actor(), move |doc| {
        let t = tenant_mut(doc, &tenant)?;
        if t.ring_groups.iter().any(|g| g.number == group.number) {
            return Err(Refused::Said(format!("ring group {} already exists", group.number)));
        }
        t.ring_groups.push(group);
        Ok(())
    })
    .await;
    render(&ui, &who, Outcome::of(result, msg)).await
}

async fn delete(State(ui): State<Ui>, Posted(who, form): Posted<Admin>) -> Response {
    let (tenant, number) = (form.get("tenant").to_owned(), form.get("number").to_owned());
    let msg = format!("Ring group {number} deleted.");
    let result = super::write(&ui, who.actor(), move |doc| {
        tenant_mut(doc, &tenant)?.ring_groups.retain(|g| g.number != number);
        Ok(())
    })
    .await;
    render(&ui, &who, Outcome::of(result, msg)).await
}
