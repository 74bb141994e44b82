//! One call's state: the caller's leg (A), the forks towards the callee's phones (B legs),
//! where the routing plan stands, and what the CDR will say.

use std::net::SocketAddr;
use std::time::Instant;

use super::cdr::{CallRecord, Disposition};
use super::dialog::{Dest, Request};
use crate::routing::{Plan, TrunkLeg, TrunkPlan};
use crate::sip::message::ReplyBase;

/// The caller's side: what every response and request on A's dialog repeats.
#[derive(Debug)]
pub struct ALeg {
    pub dest: Dest,
    /// Via, From, To (without our tag), Call-ID and CSeq of the INVITE.
    pub base: ReplyBase,
    /// Our tag on A's dialog.
    pub to_tag: String,
    /// The INVITE's server transaction.
    pub server_key: String,
    /// A's Contact: where in-dialog requests to A go (by way of `dest`).
    pub remote_target: String,
    /// CSeq of the requests we send on A's dialog (BYE).
    pub local_cseq: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkState {
    /// INVITE sent, no provisional response yet.
    Calling,
    /// A provisional response came (CANCEL is allowed now).
    Early,
    /// This fork answered and is the call's B leg.
    Answered,
    /// Failed, cancelled, or hung up.
    Done,
}

/// One INVITE towards one registered contact.
#[derive(Debug)]
pub struct Fork {
    pub extension: String,
    pub dest: Dest,
    /// The contact URI: our INVITE's Request-URI.
    pub uri: String,
    pub call_id: String,
    /// From with our tag, To as sent (CANCEL repeats it).
    pub from: String,
    pub to: String,
    /// To with the callee's tag, once it answered (provisionally or finally): the dialog's.
    pub to_tagged: Option<String>,
    /// Top Via of the INVITE (its branch is the transaction's).
    pub via: String,
    pub branch: String,
    pub cseq: u32,
    pub state: ForkState,
    /// CANCEL asked for before any provisional response: sent when one comes.
    pub cancel_wanted: bool,
    /// The Contact of its 2xx.
    pub remote_target: Option<String>,
    /// Our ACK of its 2xx, sent again if the 2xx is.
    pub ack: Option<Vec<u8>>,
    /// The step of the plan it belongs to.
    pub step: usize,
    pub status: u16,
    /// The trunk this fork goes out on (none for a phone).
    pub trunk: Option<TrunkLeg>,
}

impl Fork {
    /// A request on this fork's dialog (ACK, BYE, re-INVITE, NOTIFY): to its remote target,
    /// with its Call-ID, tags and current CSeq, from `me`. The caller sets what differs
    /// (Contact, extra headers, body) with struct update syntax.
    pub fn in_dialog<'a>(&'a self, method: &'a str, me: SocketAddr, branch: &str) -> Request<'a> {
        Request {
            method,
            uri: self.remote_target.as_deref().unwrap_or(&self.uri),
            via: format!("SIP/2.0/{} {me};branch={branch};rport", self.dest.via_transport()),
            from: &self.from,
            to: self.to_tagged.as_deref().unwrap_or(&self.to),
            call_id: &self.call_id,
            cseq: self.cseq,
            contact: None,
            extra: Vec::new(),
            body: b"",
            content_type: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Forks are ringing (or routing is still choosing).
    Ringing,
    /// A fork answered; `answered` says which.
    Answered,
    /// Over; kept a little for late responses of losing forks.
    Ended,
}

#[derive(Debug)]
pub struct Call {
    pub id: u64,
    pub tenant: String,
    pub caller: String,
    pub dialled: String,
    /// The domain in From/To towards B (the caller's tenant domain as the caller wrote it).
    pub domain: String,
    /// A's From value, for the B legs' From display (caller id).
    pub a_from_display: String,
    pub a: ALeg,
    pub forks: Vec<Fork>,
    pub plan: Option<Plan>,
    pub step: usize,
    /// When the current step rings out.
    pub step_until: Option<Instant>,
    pub phase: Phase,
    pub answered: Option<usize>,
    /// A's offer as the B legs get it (rewritten), and its content type.
    pub offer: Vec<u8>,
    pub content_type: Option<String>,
    pub start_unix: i64,
    pub answer_unix: Option<i64>,
    pub why: String,
    /// When the entry is forgotten, once ended.
    pub forget_at: Option<Instant>,
    /// A's ACK of our 2xx came.
    pub a_acked: bool,
    /// A re-INVITE being passed through.
    pub reinvite: Option<super::reinvite::Reinvite>,
    /// A blind transfer ringing its target.
    pub transfer: Option<super::transfer::Transfer>,
    /// The outside number being placed over trunks, and which leg of its plan is tried.
    pub trunk: Option<TrunkCall>,
    /// The trunk the call came in on (then A is the trunk, the caller an outside number).
    pub a_trunk: Option<String>,
}

/// An outside call's progress through its trunk plan.
#[derive(Debug)]
pub struct TrunkCall {
    pub plan: TrunkPlan,
    /// The leg tried now.
    pub leg: usize,
    /// What each failed leg answered, for the caller's reason phrase and the CDR.
    pub failures: Vec<String>,
}

impl Call {
    pub fn active_forks(&self) -> impl Iterator<Item = usize> + '_ {
        self.forks
            .iter()
            .enumerate()
            .filter(|(_, f)| matches!(f.state, ForkState::Calling | ForkState::Early))
            .map(|(i, _)| i)
    }

    /// The trunk this call uses: the answered fork's, else the one it came in on, else the
    /// last one tried.
    pub fn trunk_name(&self) -> Option<String> {
        let answered = self.answered.and_then(|i| self.forks.get(i)).and_then(|f| f.trunk.as_ref());
        let tried = || self.forks.iter().rev().find_map(|f| f.trunk.as_ref());
        answered.or_else(tried).map(|t| t.trunk.clone()).or_else(|| self.a_trunk.clone())
    }

    pub fn callee(&self) -> String {
        match self.answered.and_then(|i| self.forks.get(i)) {
            Some(f) => f.extension.clone(),
            None => self.dialled.clone(),
        }
    }

    /// The CDR of this call, ended now.
    pub fn record(
        &self,
        end: i64,
        disposition: Disposition,
        status: Option<u16>,
        hangup: &str,
        media: Option<serde_json::Value>,
    ) -> CallRecord {
        CallRecord {
            call: format!("{:x}", self.id),
            tenant: self.tenant.clone(),
            caller: self.caller.clone(),
            callee: self.callee(),
            dialled: self.dialled.clone(),
            start: self.start_unix,
            answer: self.answer_unix,
            end,
            duration: self.answer_unix.map_or(0, |a| (end - a).max(0)),
            disposition,
            status,
            hangup: hangup.to_owned(),
            legs: self.forks.len() as u32,
            route: self.why.clone(),
            media,
            trunk: self.trunk_name(),
        }
    }
}
