//! Call forwarding of one extension: `GET` and `PUT /tenants/:tenant/extensions/:key/forwarding`.
//!
//! A view of four fields of the extension, so that a phone user's portal (`ui::portal`) can change
//! forwarding without seeing or resending the extension's secret and name. A write goes through
//! the site document like every other (`resources::write`): the same validation as
//! `outpost config apply`, one new revision, an audit row.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::Admin;
use super::error::JsonBody;
use super::resources::write;
use super::{ApiError, AppState};
use crate::site::{Extension, SiteDoc, DEFAULT_NO_ANSWER_SECS};

pub fn routes() -> Router<AppState> {
    // `:key` like the extension's own route: the router wants one name per path position.
    Router::new().route("/tenants/:tenant/extensions/:key/forwarding", get(read).put(replace))
}

/// The forwarding settings. Unset targets are `null` in answers and may be left out of a `PUT`,
/// which replaces all four: what is not given is switched off (or back to the default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forwarding {
    #[serde(default)]
    pub forward_always: Option<String>,
    #[serde(default)]
    pub forward_busy: Option<String>,
    #[serde(default)]
    pub forward_no_answer: Option<String>,
    #[serde(default = "default_no_answer_secs")]
    pub no_answer_secs: u32,
}

fn default_no_answer_secs() -> u32 {
    DEFAULT_NO_ANSWER_SECS
}

impl From<&Extension> for Forwarding {
    fn from(x: &Extension) -> Self {
        Forwarding {
            forward_always: x.forward_always.clone(),
            forward_busy: x.forward_busy.clone(),
            forward_no_answer: x.forward_no_answer.clone(),
            no_answer_secs: x.no_answer_secs,
        }
    }
}

impl Forwarding {
    /// Puts the four fields on the extension: the one edit both this route and the web UI's
    /// portal make, before the site document is validated and applied whole.
    pub fn apply_to(self, x: &mut Extension) {
        x.forward_always = self.forward_always;
        x.forward_busy = self.forward_busy;
        x.forward_no_answer = self.forward_no_answer;
        x.no_answer_secs = self.no_answer_secs;
    }
}

fn extension<'a>(doc: &'a mut SiteDoc, tenant: &str, number: &str) -> Result<&'a mut Extension, ApiError> {
    let t = doc
        .tenants
        .iter_mut()
        .find(|t| t.name == tenant)
        .ok_or_else(|| ApiError::NotFound(format!("no tenant `{tenant}`")))?;
    t.extensions
        .iter_mut()
        .find(|x| x.number == number)
        .ok_or_else(|| ApiError::NotFound(format!("no extension `{number}` in tenant `{tenant}`")))
}

async fn read(
    State(app): State<AppState>,
    _: Admin,
    Path((tenant, number)): Path<(String, String)>,
) -> Result<Json<Forwarding>, ApiError> {
    let mut doc = app.store.call(|s| s.export_site()).await?;
    Ok(Json(Forwarding::from(&*extension(&mut doc, &tenant, &number)?)))
}

/// Replaces the forwarding; a bad target answers 422 with the field and the reason, and
/// changes nothing.
async fn replace(
    State(app): State<AppState>,
    admin: Admin,
    Path((tenant, number)): Path<(String, String)>,
    JsonBody(fwd): JsonBody<Forwarding>,
) -> Result<Json<Forwarding>, ApiError> {
    let mut stored = write(&app, &admin, |doc| {
        fwd.apply_to(extension(doc, &tenant, &number)?);
        Ok(())
    })
    .await?;
    Ok(Json(Forwarding::from(&*extension(&mut stored, &tenant, &number)?)))
}
