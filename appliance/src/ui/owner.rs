//! Who owns the site config a page edits. A box that syncs with a cloud fleet shares the site
//! config with it: the fleet pushes revisions, and a change made on the box is reported to the
//! fleet as a local edit (a push made on a stale revision is then refused as a conflict, not
//! applied over it; docs/sync-protocol.md). The pages that edit the site say so, with who made
//! the last change and through what (the audit log's actor: web UI, API, cloud, command
//! line), so that an admin knows whether the fleet or a colleague last touched it. A box
//! without a fleet owns its config alone and shows nothing.

use maud::{html, Markup};

use super::audit::who;
use super::dashboard::utc;
use crate::api::AppState;

/// The banner, or nothing on a box without a fleet.
pub async fn banner(app: &AppState) -> Markup {
    if app.cloud.is_none() {
        return html! {};
    }
    let last = app.store.call(|s| s.last_audit("config.apply")).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read the audit log for the owner banner");
        None
    });
    html! {
        p.notice #owner data-last=[last.as_ref().map(|e| e.actor.as_str())] {
            "Shared with the cloud fleet: a change made here is reported to the fleet, and the fleet's own changes arrive as new revisions."
            @if let Some(e) = &last {
                " Last change by " strong data-f="who" { (who(&e.actor)) } " at " (utc(e.at)) "."
            }
        }
    }
}
