//! The box page: status and telemetry, the last report, config history with a diff of any
//! revision against the one before, a form to push a change (the same path as
//! `POST /api/v1/boxes/:id/config`: `api::push_desired`), backups with restore, and commands
//! with their results. `fleet.js` refreshes the live cells from `/box/:id/live.json`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use cloud_sync::{BoxId, Outcome};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::diff::{self, Line};
use super::fleet;
use super::page::{self, csrf_field, Nav};
use super::session::{Posted, Viewer};
use crate::api::App;
use crate::store::views::BoxRow;
use crate::store::StoreError;

/// How many history entries, backups and commands the page lists.
const LIST: u32 = 30;

#[derive(Debug, Default, Deserialize)]
pub struct Shown {
    /// A revision whose diff against the one before is shown.
    diff: Option<u64>,
    /// The revision just pushed, for the notice.
    pushed: Option<u64>,
    /// A command just sent, for the notice.
    sent: Option<String>,
}

fn bad_id(e: cloud_sync::TopicError) -> Response {
    page::refused(StatusCode::BAD_REQUEST, &format!("Not a box id: {e}"))
}

fn outcome_text(o: &Option<Outcome>) -> String {
    match o {
        Some(Outcome::Applied { applied_revision }) => format!("applied, now at revision {applied_revision}"),
        Some(Outcome::Rejected { reasons }) => format!("rejected ({} reasons)", reasons.len()),
        Some(Outcome::Conflict { base_revision, current_revision }) => {
            format!("conflict: pushed from revision {base_revision}, the box is at {current_revision}")
        }
        None => "—".to_owned(),
    }
}

/// The live cells, by the `data-live` name the page gives them.
fn live_fields(row: &BoxRow, now: i64) -> Value {
    let l = fleet::line(row, now);
    let t = row.telemetry.as_ref();
    let r = row.reported.as_ref();
    json!({
        "state": l.state,
        "seen": l.seen,
        "version": l.version,
        "mode": l.mode,
        "uptime": t.map_or_else(|| "—".to_owned(), |t| page::duration(t.uptime_secs)),
        "registrations": l.registrations,
        "calls": l.calls,
        "leases": page::count(t.and_then(|t| t.dhcp_leases)),
        "reported_revision": page::count(r.map(|r| r.revision)),
        "answered": page::count(r.and_then(|r| r.desired_revision)),
        "outcome": outcome_text(&r.and_then(|r| r.outcome.clone())),
        "reported_at": row.reported_at.map_or_else(|| "never".to_owned(), |at| page::ago(now, at)),
        "desired_revision": page::count(row.desired_revision),
        "backup": l.backup,
        "alerts": l.alerts,
    })
}

/// The document the push form starts from: what the box last sent of its own (after local
/// edits or a conflict), else the newest pushed one, else an empty object.
fn draft(app: &App, id: &str, history: &[cloud_sync::Desired]) -> Result<String, StoreError> {
    let doc = match app.store.reported_document(id)? {
        Some(d) => d,
        None => history.first().map_or_else(|| json!({}), |d| d.document.clone()),
    };
    Ok(serde_json::to_string_pretty(&doc)?)
}

fn diff_view(id: &str, this: &cloud_sync::Desired, before: Option<&cloud_sync::Desired>) -> Markup {
    let new = serde_json::to_string_pretty(&this.document).unwrap_or_default();
    let old = before.map(|b| serde_json::to_string_pretty(&b.document).unwrap_or_default()).unwrap_or_default();
    let all = diff::lines(&old, &new);
    let shown = diff::hunks(&all, 3);
    html! {
        section.card #diff {
            h2 {
                "Revision " (this.revision) " against "
                @if let Some(b) = before { "revision " (b.revision) } @else { "nothing (the first push)" }
            }
            @if all.iter().all(|l| matches!(l, Line::Same(_))) {
                p { "No change in the document." }
            } @else {
                pre.diff {
                    @for l in &shown {
                        @match l {
                            None => { span.skip { "…\n" } }
                            Some(Line::Same(t)) => { span.same { "  " (t) "\n" } }
                            Some(Line::Removed(t)) => { del { "- " (t) "\n" } }
                            Some(Line::Added(t)) => { ins { "+ " (t) "\n" } }
                        }
                    }
                }
            }
            p { a href={ "/box/" (id) } { "Close the diff" } }
        }
    }
}

/// What the commands part of the page can do. The commands are sent by `crate::commands`.
fn commands_card(viewer: &Viewer, id: &str, rows: &[crate::store::views::CommandRow], now: i64) -> Markup {
    let action = format!("/box/{id}/command");
    html! {
        section.card #commands-card {
            h2 { "Commands" }
            div.actions {
                form.inline method="post" action=(action) {
                    (csrf_field(viewer)) input type="hidden" name="kind" value="backup_now";
                    button type="submit" disabled[!super::COMMANDS_AVAILABLE] { "Back up now" }
                }
                form.inline method="post" action=(action) data-confirm={ "Reboot " (id) "? Calls in progress are cut." } {
                    (csrf_field(viewer)) input type="hidden" name="kind" value="reboot";
                    button.danger type="submit" disabled[!super::COMMANDS_AVAILABLE] { "Reboot" }
                }
                form.inline method="post" action=(action) {
                    (csrf_field(viewer)) input type="hidden" name="kind" value="reprovision";
                    label { "Phone MAC" input name="mac" placeholder="80:5e:c0:11:22:33" required; }
                    button type="submit" disabled[!super::COMMANDS_AVAILABLE] { "Re-provision" }
                }
                form.inline method="post" action=(action) data-confirm={ "Update " (id) "? It installs the bundle on its other slot and reboots into it." } {
                    (csrf_field(viewer)) input type="hidden" name="kind" value="update";
                    label { "Bundle URL" input name="url" type="url" placeholder="https://downloads.example.net/outpost-1.2.0-x86_64.bundle" required; }
                    label { "Its SHA-256" input name="sha256" required minlength="64" maxlength="64"; }
                    button type="submit" disabled[!super::COMMANDS_AVAILABLE] { "Update" }
                }
            }
            @if !super::COMMANDS_AVAILABLE { p.hint { "Commands are not available in this build of the fleet service." } }
            div.scroll {
                table #commands {
                    thead { tr { th { "Sent" } th { "Command" } th { "Result" } } }
                    tbody {
                        @for c in rows {
                            tr data-command=(c.id) {
                                td { (page::ago(now, c.at)) }
                                td { (c.what) }
                                td { (c.result.as_deref().unwrap_or("waiting")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn backups_card(viewer: &Viewer, id: &str, rows: &[crate::store::views::BackupRow]) -> Markup {
    html! {
        section.card #backups-card {
            h2 { "Backups" }
            @if rows.is_empty() { p.hint { "No backup received yet." } }
            @else {
                div.scroll { table #backups {
                    thead { tr { th { "Taken" } th { "Revision" } th { "Chunks" } th { "State" } th {} } }
                    tbody { @for b in rows { tr data-backup=(b.id) {
                        td { (page::utc(b.created_at)) }
                        td { (page::count(b.revision)) }
                        td { (b.have) " / " (page::count(b.chunks)) }
                        td { @if b.complete { span.state.online { "complete" } } @else { span.state.unknown { "arriving" } } }
                        td {
                            @if b.complete {
                                form method="post" action={ "/box/" (id) "/command" }
                                     data-confirm={ "Restore " (id) " from the backup of " (page::utc(b.created_at)) "? Its current data is replaced." } {
                                    (csrf_field(viewer))
                                    input type="hidden" name="kind" value="restore";
                                    input type="hidden" name="backup" value=(b.id);
                                    button.danger type="submit" disabled[!super::COMMANDS_AVAILABLE] { "Restore" }
                                }
                            }
                        }
                    } } }
                } }
            }
        }
    }
}

struct Draft<'a> {
    document: &'a str,
    base: &'a str,
}

fn render(
    app: &App,
    viewer: &Viewer,
    id: &str,
    shown: &Shown,
    notice: Option<Markup>,
    typed: Option<Draft<'_>>,
    code: StatusCode,
) -> Response {
    let now = crate::store::now();
    let loaded = (|| -> Result<_, StoreError> {
        let row = app.store.fleet_row(id)?.unwrap_or_else(|| BoxRow { box_id: id.to_owned(), ..BoxRow::default() });
        let history = app.store.desired_history(id, LIST)?;
        let pair = match shown.diff {
            Some(rev) => Some(app.store.desired_pair(id, rev)?),
            None => None,
        };
        let draft = draft(app, id, &history)?;
        Ok((row, history, pair, draft, app.store.backup_rows(id, LIST)?, app.store.command_rows(id, LIST)?))
    })();
    let (row, history, pair, draft, backups, commands) = match loaded {
        Ok(v) => v,
        Err(e) => return page::store_failed(e),
    };
    let f = live_fields(&row, now);
    let live = |name: &str| f[name].as_str().unwrap_or("").to_owned();
    let alerts = fleet::alerts(&row, now);
    let base = row.reported.as_ref().map(|r| r.revision.to_string()).unwrap_or_else(|| "0".to_owned());
    let reasons = match row.reported.as_ref().and_then(|r| r.outcome.as_ref()) {
        Some(Outcome::Rejected { reasons }) => reasons.clone(),
        _ => Vec::new(),
    };
    let notice = notice
        .or_else(|| {
            shown.pushed.map(|r| {
                page::notice(
                    true,
                    &format!("Revision {r} sent to the box: its report shows below when it has applied it."),
                )
            })
        })
        .or_else(|| shown.sent.as_ref().map(|c| page::notice(true, &format!("Command {c} sent."))));
    let body = html! {
        main #box-page data-poll={ "/box/" (id) "/live.json" } {
            p.crumbs { a href="/" { "Boxes" } " / " }
            h1 { (id) " " span data-live="state" class={ "state " (live("state")) } { (live("state")) } }
            @if let Some(t) = &row.tenant { p.hint { "Tenant " (t) } }
            (notice.unwrap_or_default())
            ul #alerts.alerts.big { @for a in &alerts { li { (a) } } }
            div.grid {
                section.card {
                    h2 { "Now" }
                    dl {
                        dt { "Last heard" } dd data-live="seen" { (live("seen")) }
                        dt { "Version" } dd data-live="version" { (live("version")) }
                        dt { "Uptime" } dd data-live="uptime" { (live("uptime")) }
                        dt { "Mode" } dd data-live="mode" { (live("mode")) }
                        dt { "Registered phones" } dd data-live="registrations" { (live("registrations")) }
                        dt { "Active calls" } dd data-live="calls" { (live("calls")) }
                        dt { "DHCP leases" } dd data-live="leases" { (live("leases")) }
                        dt { "Last backup" } dd data-live="backup" { (live("backup")) }
                    }
                }
                section.card {
                    h2 { "Config" }
                    dl {
                        dt { "Box revision" } dd data-live="reported_revision" id="reported-revision" { (live("reported_revision")) }
                        dt { "Newest push" } dd data-live="desired_revision" { (live("desired_revision")) }
                        dt { "Last answered push" } dd data-live="answered" { (live("answered")) }
                        dt { "Its outcome" } dd data-live="outcome" id="outcome" { (live("outcome")) }
                        dt { "Last report" } dd data-live="reported_at" { (live("reported_at")) }
                    }
                    @if !reasons.is_empty() {
                        h3 { "Why it was rejected" }
                        ul.reasons { @for r in &reasons { li { code { (r.field) } ": " (r.reason) } } }
                    }
                }
            }
            @if let Some((Some(this), before)) = &pair { (diff_view(id, this, before.as_ref())) }
            @if let Some((None, _)) = &pair { (page::notice(false, "That revision does not exist.")) }
            section.card #push-card {
                h2 { "Push a change" }
                form #push method="post" action={ "/box/" (id) "/config" } {
                    (csrf_field(viewer))
                    label { "Site config (JSON, the fields of " code { "outpost config export" } ")"
                        textarea name="document" rows="16" spellcheck="false" required { (typed.as_ref().map_or(draft.as_str(), |t| t.document)) }
                    }
                    label.narrow { "Edited from box revision"
                        input name="base_revision" inputmode="numeric" required value=(typed.as_ref().map_or(base.as_str(), |t| t.base));
                    }
                    button type="submit" { "Push to the box" }
                }
            }
            section.card #history-card {
                h2 { "Config history" }
                @if history.is_empty() { p.hint { "Nothing pushed yet." } }
                @else { div.scroll { table #history {
                    thead { tr { th { "Revision" } th { "From box revision" } th { "By" } th { "When" } th {} } }
                    tbody { @for d in &history { tr data-revision=(d.revision) {
                        td { (d.revision) } td { (d.base_revision) } td { (d.author) } td { (page::utc(d.at as i64)) }
                        td { a.diff-link href={ "/box/" (id) "?diff=" (d.revision) "#diff" } { "diff" } }
                    } } }
                } } }
            }
            (backups_card(viewer, id, &backups))
            (commands_card(viewer, id, &commands, now))
        }
    };
    (code, page::document(id, Some(viewer), Nav::Fleet, body)).into_response()
}

/// `GET /box/:id`
pub async fn page(
    State(app): State<App>,
    viewer: Viewer,
    Path(raw): Path<String>,
    Query(shown): Query<Shown>,
) -> Response {
    match BoxId::new(&raw) {
        Ok(id) => render(&app, &viewer, id.as_str(), &shown, None, None, StatusCode::OK),
        Err(e) => bad_id(e),
    }
}

/// `GET /box/:id/live.json`
pub async fn live(State(app): State<App>, _viewer: Viewer, Path(raw): Path<String>) -> Response {
    let id = match BoxId::new(&raw) {
        Ok(id) => id,
        Err(e) => return bad_id(e),
    };
    let now = crate::store::now();
    let loaded = (|| -> Result<_, StoreError> {
        Ok((app.store.fleet_row(id.as_str())?, app.store.command_rows(id.as_str(), LIST)?))
    })();
    match loaded {
        Ok((row, commands)) => {
            let row = row.unwrap_or_else(|| BoxRow { box_id: id.as_str().to_owned(), ..BoxRow::default() });
            let commands: Vec<Value> = commands
                .iter()
                .map(|c| {
                    json!({"id": c.id, "sent": page::ago(now, c.at), "what": c.what,
                                "result": c.result.as_deref().unwrap_or("waiting")})
                })
                .collect();
            Json(json!({"fields": live_fields(&row, now), "commands": commands})).into_response()
        }
        Err(e) => page::store_failed(e),
    }
}

#[derive(Deserialize)]
pub struct PushForm {
    document: String,
    base_revision: String,
}

/// `POST /box/:id/config`: through `api::push_desired`, like the REST API.
pub async fn push(State(app): State<App>, Path(raw): Path<String>, posted: Posted<PushForm>) -> Response {
    let id = match BoxId::new(&raw) {
        Ok(id) => id,
        Err(e) => return bad_id(e),
    };
    let Posted { viewer, form } = posted;
    let typed = Draft { document: &form.document, base: &form.base_revision };
    let refuse = |why: String| {
        render(
            &app,
            &viewer,
            id.as_str(),
            &Shown::default(),
            Some(page::notice(false, &why)),
            Some(Draft { ..typed }),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let Ok(base) = form.base_revision.trim().parse::<u64>() else {
        return refuse("The base revision is a whole number: the box revision the change was made from.".into());
    };
    let document: Value = match serde_json::from_str(&form.document) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return refuse("The site config is a JSON object.".into()),
        Err(e) => return refuse(format!("The site config is not valid JSON: {e}")),
    };
    match crate::api::push_desired(&app, &id, base, document, &viewer.name).await {
        Ok(d) => {
            tracing::info!(box_id = %id, revision = d.revision, user = viewer.name, "config pushed from the dashboard");
            Redirect::to(&format!("/box/{id}?pushed={}", d.revision)).into_response()
        }
        Err(e) => refuse(format!("Not sent: {e}")),
    }
}

#[derive(Deserialize)]
pub struct CommandForm {
    kind: String,
    #[serde(default)]
    mac: String,
    #[serde(default)]
    backup: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    sha256: String,
}

/// `POST /box/:id/command`: backup now, reboot, re-provision a phone, restore a backup, update.
pub async fn command(State(app): State<App>, Path(raw): Path<String>, posted: Posted<CommandForm>) -> Response {
    let id = match BoxId::new(&raw) {
        Ok(id) => id,
        Err(e) => return bad_id(e),
    };
    let Posted { viewer, form } = posted;
    let kind = match form.kind.as_str() {
        "backup_now" => cloud_sync::CommandKind::BackupNow,
        "reboot" => cloud_sync::CommandKind::Reboot,
        "reprovision" if !form.mac.trim().is_empty() => {
            cloud_sync::CommandKind::Reprovision { mac: form.mac.trim().to_owned() }
        }
        "restore" if !form.backup.is_empty() => cloud_sync::CommandKind::Restore { backup: form.backup.clone() },
        "update" if !form.url.trim().is_empty() => {
            cloud_sync::CommandKind::Update { url: form.url.trim().to_owned(), sha256: form.sha256.trim().to_owned() }
        }
        _ => return page::refused(StatusCode::BAD_REQUEST, "Unknown command, or a field is missing."),
    };
    match super::send_command(&app, &id, kind, &viewer.name).await {
        Ok(sent) => Redirect::to(&format!("/box/{id}?sent={sent}#commands-card")).into_response(),
        Err(why) => render(
            &app,
            &viewer,
            id.as_str(),
            &Shown::default(),
            Some(page::notice(false, &why)),
            None,
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    }
}
