//! The pure parts of the portal: reading the forwarding form into the API's `Forwarding`,
//! wording the site's refusals for a phone user, and the rows of the call history.
//!
//! The form is read only as far as its shape goes (empty means off, the ring time is a whole
//! number in the site's range); whether a target can be reached is the site validation's
//! question, asked when the edit is applied, as for `PUT …/forwarding`.

use serde::Deserialize;

use crate::api::forwarding::Forwarding;
use crate::sip::b2bua::cdr::{CallRecord, Disposition};
use crate::site::forwarding::NO_ANSWER_SECS;
use crate::site::{FieldError, DEFAULT_NO_ANSWER_SECS};

/// The portal's forwarding form, as posted: every field text, empty when switched off.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ForwardingForm {
    #[serde(default)]
    pub forward_always: String,
    #[serde(default)]
    pub forward_busy: String,
    #[serde(default)]
    pub forward_no_answer: String,
    #[serde(default)]
    pub no_answer_secs: String,
}

/// The form as the API's forwarding settings, or what is wrong with it in words.
pub fn parse(form: &ForwardingForm) -> Result<Forwarding, String> {
    let target = |s: &str| Some(s.trim().to_owned()).filter(|t| !t.is_empty());
    let secs = form.no_answer_secs.trim();
    let no_answer_secs = if secs.is_empty() {
        DEFAULT_NO_ANSWER_SECS
    } else {
        secs.parse::<u32>().map_err(|_| format!("Ring time: `{secs}` is not a whole number of seconds."))?
    };
    if !NO_ANSWER_SECS.contains(&no_answer_secs) {
        return Err(format!(
            "Ring time: between {} and {} seconds, not {no_answer_secs}.",
            NO_ANSWER_SECS.start(),
            NO_ANSWER_SECS.end()
        ));
    }
    Ok(Forwarding {
        forward_always: target(&form.forward_always),
        forward_busy: target(&form.forward_busy),
        forward_no_answer: target(&form.forward_no_answer),
        no_answer_secs,
    })
}

/// A site refusal worded for the portal: the field's label instead of its document path
/// (`tenants[0].extensions[3].forward_busy` reads "Forward when busy").
pub fn worded(reasons: &[FieldError]) -> String {
    let label = |field: &str| {
        let last = field.rsplit('.').next().unwrap_or(field);
        match last {
            "forward_always" => "Forward always",
            "forward_busy" => "Forward when busy",
            "forward_no_answer" => "Forward when not answered",
            "no_answer_secs" => "Ring time",
            _ => "The site",
        }
    };
    reasons.iter().map(|r| format!("{}: {}", label(&r.field), r.reason)).collect::<Vec<_>>().join("; ")
}

/// One call of the history, seen from the extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub start: i64,
    /// "out" (this extension called) or "in".
    pub direction: &'static str,
    /// The other side: the number dialled for a call out, the caller for a call in.
    pub other: String,
    /// The disposition in words, with where a call to this extension was forwarded.
    pub outcome: String,
    /// Seconds talked.
    pub talk: i64,
}

/// The history rows of extension `number` from its call records (newest first, as given).
pub fn history(number: &str, records: &[CallRecord]) -> Vec<HistoryRow> {
    records
        .iter()
        .map(|r| {
            let out = r.caller == number;
            let mut outcome = outcome_words(r.disposition).to_owned();
            if !out && r.dialled == number && r.callee != number {
                outcome.push_str(&format!(" (forwarded to {})", r.callee));
            }
            HistoryRow {
                start: r.start,
                direction: if out { "out" } else { "in" },
                other: if out { r.dialled.clone() } else { r.caller.clone() },
                outcome,
                talk: r.duration,
            }
        })
        .collect()
}

pub(crate) fn outcome_words(d: Disposition) -> &'static str {
    match d {
        Disposition::Answered => "answered",
        Disposition::Busy => "busy",
        Disposition::NoAnswer => "not answered",
        Disposition::Cancelled => "cancelled",
        Disposition::Failed => "failed",
        Disposition::NoTrunk => "no line out",
        Disposition::MediaTimeout => "cut off (no sound)",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn form(always: &str, busy: &str, no_answer: &str, secs: &str) -> ForwardingForm {
        ForwardingForm {
            forward_always: always.into(),
            forward_busy: busy.into(),
            forward_no_answer: no_answer.into(),
            no_answer_secs: secs.into(),
        }
    }

    #[test]
    fn empty_fields_switch_forwarding_off_and_the_ring_time_defaults() {
        let f = parse(&form(" 202 ", "", "  ", "")).unwrap();
        assert_eq!(f.forward_always.as_deref(), Some("202"), "trimmed");
        assert_eq!((f.forward_busy, f.forward_no_answer), (None, None));
        assert_eq!(f.no_answer_secs, DEFAULT_NO_ANSWER_SECS);
        assert_eq!(parse(&form("", "", "203", "15")).unwrap().no_answer_secs, 15);
    }

    #[test]
    fn a_ring_time_that_is_no_number_or_out_of_range_is_refused_in_words() {
        assert!(parse(&form("", "", "203", "ten")).unwrap_err().contains("not a whole number"));
        assert!(parse(&form("", "", "203", "-5")).unwrap_err().contains("not a whole number"));
        assert!(parse(&form("", "", "203", "3")).unwrap_err().contains("between 5 and 120"));
        assert!(parse(&form("", "", "203", "121")).unwrap_err().contains("between 5 and 120"));
        assert!(parse(&form("", "", "203", "120")).is_ok());
    }

    #[test]
    fn a_site_refusal_names_the_field_as_the_form_does() {
        let r = |field: &str, reason: &str| FieldError { field: field.into(), reason: reason.into() };
        let words = worded(&[
            r("tenants[0].extensions[2].forward_busy", "extension 201 forwards to itself"),
            r("tenants[0].extensions[2].no_answer_secs", "must be between 5 and 120 seconds"),
        ]);
        assert_eq!(
            words,
            "Forward when busy: extension 201 forwards to itself; Ring time: must be between 5 and 120 seconds"
        );
    }

    fn call(caller: &str, dialled: &str, callee: &str, d: Disposition) -> CallRecord {
        CallRecord {
            call: "c".into(),
            tenant: "acme".into(),
            caller: caller.into(),
            callee: callee.into(),
            dialled: dialled.into(),
            start: 100,
            answer: None,
            end: 110,
            duration: 7,
            disposition: d,
            status: None,
            hangup: String::new(),
            legs: 1,
            route: String::new(),
            media: None,
            trunk: None,
        }
    }

    #[test]
    fn the_history_reads_from_the_extension_side_with_its_forwards() {
        let rows = history(
            "201",
            &[
                call("203", "201", "202", Disposition::Answered),
                call("201", "0301234567", "0301234567", Disposition::NoTrunk),
                call("203", "201", "201", Disposition::Busy),
            ],
        );
        assert_eq!((rows[0].direction, rows[0].other.as_str()), ("in", "203"));
        assert_eq!(rows[0].outcome, "answered (forwarded to 202)");
        assert_eq!(
            (rows[1].direction, rows[1].other.as_str(), rows[1].outcome.as_str()),
            ("out", "0301234567", "no line out")
        );
        assert_eq!(rows[2].outcome, "busy", "not forwarded");
        assert_eq!(rows[0].talk, 7);
    }
}
