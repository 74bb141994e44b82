//! A desired document from the cloud, applied the way `outpost config apply` applies a file:
//! `Store::apply_site` validates the whole document and writes it in one transaction, and only
//! if the base revision is still the box's. Everything here is synchronous and told its input,
//! so tests drive it with an in-memory store.

use cloud_sync::{Desired, Outcome, Reason, Reported};

use super::state::State;
use crate::site::{SiteDoc, SiteError};
use crate::store::{Store, StoreError};

/// The box's document as the cloud may see it: secrets left out.
pub fn shareable(store: &Store) -> Result<serde_json::Value, StoreError> {
    let mut doc = store.export_site()?;
    for t in &mut doc.tenants {
        t.extensions.iter_mut().for_each(|x| x.secret = None);
        t.trunks.iter_mut().for_each(|x| x.secret = None);
    }
    Ok(serde_json::to_value(&doc).unwrap_or(serde_json::Value::Null))
}

/// Handles one desired document and returns the report to publish; `state` records it.
///
/// A desired already handled (the retained message comes again on every subscribe) gets the
/// same report and is not applied again; an older one is ignored (`None`). A store failure
/// (disk, database) is returned as an error and not recorded, so that the next delivery retries.
pub fn handle_desired(store: &Store, state: &mut State, desired: Desired) -> Result<Option<Reported>, StoreError> {
    match state.last_desired {
        Some(last) if desired.revision == last => return Ok(state.last_report.clone()),
        Some(last) if desired.revision < last => {
            tracing::info!(revision = desired.revision, last, "ignoring an older desired config");
            return Ok(None);
        }
        _ => {}
    }
    let outcome = match serde_json::from_value::<SiteDoc>(desired.document) {
        Err(e) => Outcome::Rejected { reasons: vec![Reason { field: String::new(), reason: e.to_string() }] },
        Ok(mut doc) => {
            doc.revision = Some(desired.base_revision);
            let actor = format!("cloud:{}", desired.author);
            match store.apply_site(doc, &actor) {
                Ok(applied) => Outcome::Applied { applied_revision: applied.revision },
                Err(StoreError::Site(SiteError::Conflict { base, current })) => {
                    Outcome::Conflict { base_revision: base, current_revision: current }
                }
                Err(StoreError::Site(e)) => Outcome::Rejected {
                    reasons: e.reasons().into_iter().map(|f| Reason { field: f.field, reason: f.reason }).collect(),
                },
                Err(other) => return Err(other),
            }
        }
    };
    let revision = store.revision()?;
    let mut report = Reported::new(revision);
    report.desired_revision = Some(desired.revision);
    if let Outcome::Conflict { .. } = outcome {
        report.document = Some(shareable(store)?);
        report.local_edits = true;
    }
    report.outcome = Some(outcome);
    state.last_desired = Some(desired.revision);
    state.last_report = Some(report.clone());
    state.reported_revision = Some(revision);
    Ok(Some(report))
}

/// The report sent on each connect: the box's revision, whether it moved without the cloud
/// (then with the document), and whether the cloud should resend the full desired document.
pub fn hello(store: &Store, state: &mut State, want_full: bool) -> Result<Reported, StoreError> {
    let revision = store.revision()?;
    let mut report = Reported::new(revision);
    report.want_full = want_full;
    report.local_edits = state.reported_revision.is_some_and(|r| r != revision);
    if report.local_edits {
        report.document = Some(shareable(store)?);
    }
    state.reported_revision = Some(revision);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SecretBox;
    use serde_json::json;

    fn store() -> Store {
        let store = Store::open_in_memory(SecretBox::from_key(&[7; 32])).unwrap();
        store.apply_site(crate::daemon::first_site("box"), "system").unwrap();
        store
    }

    fn doc(name: &str) -> serde_json::Value {
        let mut d = crate::daemon::first_site("box");
        d.site.name = name.into();
        serde_json::to_value(d).unwrap()
    }

    #[test]
    fn a_desired_on_the_current_base_is_applied_once() {
        let (store, mut state) = (store(), State::default());
        let report = handle_desired(&store, &mut state, Desired::new(1, 1, doc("Harbour"), "ops", 0)).unwrap();
        assert_eq!(report.unwrap().outcome, Some(Outcome::Applied { applied_revision: 2 }));
        assert_eq!(store.export_site().unwrap().site.name, "Harbour");
        // Delivered again (a reconnect): the same answer, no second apply.
        let again = handle_desired(&store, &mut state, Desired::new(1, 1, doc("Harbour"), "ops", 0)).unwrap();
        assert_eq!(again.unwrap().outcome, Some(Outcome::Applied { applied_revision: 2 }));
        assert_eq!(store.revision().unwrap(), 2);
        assert!(handle_desired(&store, &mut state, Desired::new(0, 1, doc("Old"), "ops", 0)).unwrap().is_none());
    }

    #[test]
    fn a_bad_document_is_rejected_whole_with_every_reason() {
        let (store, mut state) = (store(), State::default());
        let mut bad = doc("x");
        bad["tenants"][0]["name"] = json!("Not Valid");
        bad["tenants"][0]["domains"] = json!([]);
        let report = handle_desired(&store, &mut state, Desired::new(1, 1, bad, "ops", 0)).unwrap().unwrap();
        let Some(Outcome::Rejected { reasons }) = report.outcome else { panic!("{report:?}") };
        assert!(reasons.len() >= 2, "{reasons:?}");
        assert_eq!(store.revision().unwrap(), 1);
        let unknown = json!({"schema": 1, "site": {"name": "x"}, "firewall": true});
        let report = handle_desired(&store, &mut state, Desired::new(2, 1, unknown, "ops", 0)).unwrap().unwrap();
        assert!(matches!(report.outcome, Some(Outcome::Rejected { .. })));
    }

    #[test]
    fn a_stale_base_is_a_conflict_and_the_local_edit_stays() {
        let (store, mut state) = (store(), State::default());
        let mut local = store.export_site().unwrap();
        local.site.name = "Local".into();
        store.apply_site(local, "api:admin").unwrap();
        let report = handle_desired(&store, &mut state, Desired::new(1, 1, doc("Cloud"), "ops", 0)).unwrap().unwrap();
        assert_eq!(report.outcome, Some(Outcome::Conflict { base_revision: 1, current_revision: 2 }));
        assert_eq!(store.export_site().unwrap().site.name, "Local");
        assert!(report.document.is_some_and(|d| d["site"]["name"] == "Local"));
    }

    #[test]
    fn hello_reports_local_edits_since_the_last_report() {
        let (store, mut state) = (store(), State::default());
        assert!(!hello(&store, &mut state, true).unwrap().local_edits);
        let mut local = store.export_site().unwrap();
        local.site.name = "Local".into();
        store.apply_site(local, "api:admin").unwrap();
        let report = hello(&store, &mut state, true).unwrap();
        assert!(report.local_edits && report.want_full);
        assert_eq!(report.revision, 2);
        assert!(!hello(&store, &mut state, false).unwrap().local_edits);
    }
}
