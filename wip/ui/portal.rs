//! A phone user's portal: their phone's registration, their call forwarding (always, busy,
//! no answer after a delay: written through the site config like `PUT …/forwarding`, with the
//! same validation), and their call history.

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;

use super::extensions::{forwarding_fields, forwarding_of, forwarding_summary};
use super::page::{self, csrf_field, Nav, Outcome};
use super::session::{Csrf, Posted, User};
use super::{tenant_mut, Refused, Ui};
use crate::store::cdrs::CdrFilter;

pub fn routes() -> Router<Ui> {
    Router::new().route("/ui/me", get(me)).route("/ui/me/forwarding", post(forwarding))
}

async fn me(State(ui): State<Ui>, who: User) -> Response {
    render(&ui, &who, Outcome::default()).await
}

async fn render(ui: &Ui, who: &User, outcome: Outcome) -> Response {
    let doc = match super::current(ui).await {
        Ok(d) => d,
        Err(r) => return super::internal(r.lines().join("; ")),
    };
    let tenant = doc.tenants.iter().find(|t| t.name == who.tenant);
    let Some(x) = tenant.and_then(|t| t.extensions.iter().find(|x| x.number == who.extension)) else {
        // Deleted while logged in.
        return page::forbidden("This extension no longer exists.");
    };
    let now = crate::store::unix_now();
    let bindings = ui.app.store.call(move |s| s.bindings(now)).await.unwrap_or_default();
    let regs: Vec<_> = bindings.iter().filter(|b| b.tenant == who.tenant && b.aor == who.extension).collect();
    let filter = CdrFilter {
        tenant: Some(who.tenant.clone()),
        extension: Some(who.extension.clone()),
        since: None,
        until: None,
        disposition: None,
        limit: 50,
    };
    let calls = ui.app.store.call(move |s| s.cdrs(&filter)).await.unwrap_or_default();
    let tz = &doc.site.time_zone;
    let csrf = who.csrf();
    let body = html! {
        (outcome.markup())
        section.card #my-phone {
            h2 { "My phone" }
            @if regs.is_empty() { p { span.state.bad #reg-state { "not registered" } } }
            @for b in &regs {
                p { span.state.good #reg-state { "registered" } " · " (b.user_agent) " · until " (super::when(b.expires_at, tz)) }
            }
            p { "Forwarding now: " span #fwd-summary { (forwarding_summary(x)) } }
        }
        form.card method="post" action="/ui/me/forwarding" #forwarding {
            h2 { "Call forwarding" }
            (csrf_field(&csrf))
            (forwarding_fields(x))
            p.hint { "Leave a field empty to switch that forwarding off." }
            button type="submit" { "Save" }
        }
        section.card {
            h2 { "My calls" }
            div.scroll { table #my-calls {
                thead { tr { th { "When" } th { "From" } th { "To" } th { "Outcome" } th { "Talk (s)" } } }
                tbody { @for r in &calls {
                    tr { td { (super::when(r.start, tz)) } td { (r.caller) } td { (r.dialled) } td { (r.disposition.as_str()) } td { (r.duration) } }
                } }
            } }
        }
    };
    let title = if x.name.is_empty() { format!("Extension {}", x.number) } else { format!("{} ({})", x.name, x.number) };
    page::render_status(outcome.status(), page::shell(&title, Nav::User, Some(&csrf), body))
}

async fn forwarding(State(ui): State<Ui>, Posted(who, form): Posted<User>) -> Response {
    let (tenant, number) = (who.tenant.clone(), who.extension.clone());
    let actor = format!("portal:{tenant}/{number}");
    let result = super::write(&ui, actor, move |doc| {
        let x = tenant_mut(doc, &tenant)?
            .extensions
            .iter_mut()
            .find(|x| x.number == number)
            .ok_or_else(|| Refused::Said(format!("no extension {number}")))?;
        forwarding_of(&form, x)
    })
    .await;
    render(&ui, &who, Outcome::of(result, "Forwarding saved.")).await
}
