//! The site config between cloud and box.
//!
//! Revision rules (see `docs/sync-protocol.md`): the box owns its revision counter. The cloud
//! sends a `Desired` edited from `base_revision`; the box applies it only if that equals its own
//! revision, and reports the revision it reached. A base that is not the box's means somebody
//! edited the box meanwhile: the box reports a conflict and keeps its document. `revision` is
//! the cloud's own sequence number of desired documents, so that a retained desired that is
//! delivered again (every reconnect) is recognised and answered with the same report.

use serde::{Deserialize, Serialize};

use crate::SCHEMA;

/// Cloud → box, retained on `config/desired`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Desired {
    pub schema: u32,
    /// The cloud's sequence number of this desired document (increasing per box).
    pub revision: u64,
    /// The box revision the document was edited from.
    pub base_revision: u64,
    /// The site config as JSON (the fields of `outpost config export`); the box validates it.
    pub document: serde_json::Value,
    /// Who pushed it (a fleet user or an automation), for the box's audit log.
    pub author: String,
    /// Unix seconds when it was pushed.
    pub at: u64,
}

impl Desired {
    pub fn new(revision: u64, base_revision: u64, document: serde_json::Value, author: &str, at: u64) -> Desired {
        Desired { schema: SCHEMA, revision, base_revision, document, author: author.to_owned(), at }
    }
}

/// One problem with a desired document, named by the path of its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    pub field: String,
    pub reason: String,
}

/// What became of one desired document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    /// Applied (or already equal): the box is now at `applied_revision`.
    Applied { applied_revision: u64 },
    /// Refused whole; nothing changed. Every problem is listed.
    Rejected { reasons: Vec<Reason> },
    /// Edited from `base_revision` but the box is at `current_revision` (a local edit):
    /// nothing changed. The cloud must fetch the box's document and redo the change.
    Conflict { base_revision: u64, current_revision: u64 },
}

/// Box → cloud on `config/reported` (QoS 1, not retained).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reported {
    pub schema: u32,
    /// The box's revision when this was sent.
    pub revision: u64,
    /// The desired document this answers (its `revision`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_revision: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// The box's revision moved without the cloud (an admin on the box) since its last report.
    #[serde(default)]
    pub local_edits: bool,
    /// The box lost its session: the cloud should send the full desired document again.
    #[serde(default)]
    pub want_full: bool,
    /// The box's document (JSON, secrets left out) when it reports local edits or a conflict,
    /// so that the cloud can show and rebase on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<serde_json::Value>,
}

impl Reported {
    pub fn new(revision: u64) -> Reported {
        Reported {
            schema: SCHEMA,
            revision,
            desired_revision: None,
            outcome: None,
            local_edits: false,
            want_full: false,
            document: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, encode};
    use proptest::prelude::*;

    #[test]
    fn a_rejection_reads_as_documented() {
        let mut r = Reported::new(4);
        r.desired_revision = Some(9);
        r.outcome = Some(Outcome::Rejected {
            reasons: vec![Reason { field: "tenants[0].name".into(), reason: "empty".into() }],
        });
        let text = String::from_utf8(encode(&r)).unwrap();
        assert_eq!(
            text,
            r#"{"schema":1,"revision":4,"desired_revision":9,"outcome":{"result":"rejected","reasons":[{"field":"tenants[0].name","reason":"empty"}]},"local_edits":false,"want_full":false}"#
        );
        assert_eq!(decode::<Reported>(text.as_bytes()).unwrap(), r);
    }

    #[test]
    fn a_desired_with_an_unknown_field_is_refused() {
        let bytes = br#"{"schema":1,"revision":1,"base_revision":0,"document":{},"author":"a","at":0,"force":true}"#;
        assert!(decode::<Desired>(bytes).is_err());
    }

    fn outcome() -> impl Strategy<Value = Option<Outcome>> {
        prop_oneof![
            Just(None),
            any::<u64>().prop_map(|r| Some(Outcome::Applied { applied_revision: r })),
            prop::collection::vec(("\\PC{0,12}", "\\PC{0,30}"), 0..4).prop_map(|v| Some(Outcome::Rejected {
                reasons: v.into_iter().map(|(field, reason)| Reason { field, reason }).collect()
            })),
            (any::<u64>(), any::<u64>())
                .prop_map(|(b, c)| Some(Outcome::Conflict { base_revision: b, current_revision: c })),
        ]
    }

    proptest! {
        #[test]
        fn reported_round_trips(rev in any::<u64>(), d in any::<Option<u64>>(), o in outcome(),
                                local in any::<bool>(), full in any::<bool>()) {
            let r = Reported { desired_revision: d, outcome: o, local_edits: local, want_full: full, ..Reported::new(rev) };
            prop_assert_eq!(decode::<Reported>(&encode(&r)).unwrap(), r);
        }

        #[test]
        fn desired_round_trips(rev in any::<u64>(), base in any::<u64>(), name in "\\PC{0,20}",
                               author in "\\PC{0,10}", at in any::<u64>()) {
            let d = Desired::new(rev, base, serde_json::json!({"site": {"name": name}}), &author, at);
            prop_assert_eq!(decode::<Desired>(&encode(&d)).unwrap(), d);
        }
    }
}
