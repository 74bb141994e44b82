//! The call detail record the B2BUA hands out when a call ends: one per call, written by the
//! driver to `cdrs` (store/cdrs.rs).

use serde::{Deserialize, Serialize};

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Answered, then hung up by either side.
    Answered,
    /// Every phone rung was busy (486/600) and there was no forward-busy.
    Busy,
    /// Rang out without an answer (or 480/408 from every phone).
    NoAnswer,
    /// The caller hung up (CANCEL) before an answer.
    Cancelled,
    /// Refused by routing (404, 484, …) or by the callee with another failure.
    Failed,
    /// An outside number that no trunk could take (all down, full or failing).
    NoTrunk,
    /// Answered, then ended by the box because media stopped.
    MediaTimeout,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "answered",
            Disposition::Busy => "busy",
            Disposition::NoAnswer => "no_answer",
            Disposition::Cancelled => "cancelled",
            Disposition::Failed => "failed",
            Disposition::NoTrunk => "no_trunk",
            Disposition::MediaTimeout => "media_timeout",
        }
    }

    pub fn parse(s: &str) -> Option<Disposition> {
        [
            Disposition::Answered,
            Disposition::Busy,
            Disposition::NoAnswer,
            Disposition::Cancelled,
            Disposition::Failed,
            Disposition::NoTrunk,
            Disposition::MediaTimeout,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// One call, as stored and as `GET /api/v1/cdrs` shows it. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The B2BUA's call id (unique per start of the box, with the start time it is unique).
    pub call: String,
    pub tenant: String,
    pub caller: String,
    /// The extension that answered, else the one dialled.
    pub callee: String,
    pub dialled: String,
    pub start: i64,
    pub answer: Option<i64>,
    pub end: i64,
    /// Seconds from answer to end (0 when not answered).
    pub duration: i64,
    pub disposition: Disposition,
    /// SIP status the caller got when the call was not answered.
    pub status: Option<u16>,
    /// `caller`, `callee` or `box` (media timeout, failure); empty when never answered.
    pub hangup: String,
    /// B legs created (forks), over every step and forward.
    pub legs: u32,
    /// Why the call went where it went (routing's account).
    pub route: String,
    /// Media counters of the bridge, when media was anchored.
    pub media: Option<serde_json::Value>,
    /// The trunk that carried the call (outbound: the one that answered or was tried last;
    /// inbound: the one it came from), by name (trunks belong to the record's tenant).
    #[serde(default)]
    pub trunk: Option<String>,
}
