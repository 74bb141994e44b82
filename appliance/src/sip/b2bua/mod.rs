//! The back-to-back user agent: a call from a phone (leg A) is answered by the box as a UAS and
//! placed again by the box as a UAC towards the callee's phones (B legs, one per registered
//! contact: parallel forking), with its own Call-ID, tags and Contact on each side. Pure: told
//! the time, handed bytes, returns messages to send and records to write.
//!
//! Layout: `dialog` (reading and writing messages), `call` (one call's state), `inbound`
//! (requests from A: INVITE, ACK, CANCEL, BYE), `outbound` (responses from B legs, requests
//! from B, timers), `reinvite` (hold and resume passed through), `transfer` (REFER), `update` (UPDATE passed through), `fork` (ringing a plan step by step, forwarding, the final answer),
//! `media` (the bridge as a trait), `cdr` (the record of a call).

pub mod call;
pub mod cdr;
pub mod dialog;
pub mod fork;
pub mod from_trunk;
pub mod inbound;
pub mod media;
pub mod outbound;
pub mod reinvite;
pub mod transfer;
pub mod trunk;
pub mod update;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use self::call::{Call, Phase};
use self::cdr::CallRecord;
use self::dialog::Dest;
use self::media::Anchor;
use crate::sip::txn::{ClientTxn, ServerInvite, Step, TIMEOUT};

/// A message for the driver to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub to: Dest,
    pub bytes: Vec<u8>,
}

/// Who a client transaction works for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The INVITE of fork `fork` of `call`.
    Fork { call: u64, fork: usize },
    /// A re-INVITE we passed on for `call`.
    Reinvite { call: u64 },
    /// An UPDATE we passed on to `side` of `call`.
    Update { call: u64, side: media::Side },
    /// A BYE or CANCEL: its answer changes nothing.
    Fire,
}

pub(crate) struct ClientEntry {
    pub txn: ClientTxn,
    pub dest: Dest,
    pub owner: Owner,
}

pub(crate) struct ServerEntry {
    pub txn: ServerInvite,
    pub dest: Dest,
    /// The call this INVITE created (none for a challenge, a refusal or a re-INVITE).
    pub call: Option<u64>,
    /// Call-ID and CSeq number of the INVITE: the dialog ACK of its 2xx repeats them.
    pub call_id: String,
    pub cseq: String,
}

pub struct B2bua {
    /// Where phones reach the box: Via sent-by and Contact of both sides.
    pub me: SocketAddr,
    seed: u64,
    next: u64,
    pub(crate) calls: HashMap<u64, Call>,
    /// A's Call-ID → call.
    pub(crate) by_a: HashMap<String, u64>,
    /// A B leg's Call-ID → (call, fork).
    pub(crate) by_b: HashMap<String, (u64, usize)>,
    pub(crate) servers: HashMap<String, ServerEntry>,
    pub(crate) clients: HashMap<String, ClientEntry>,
    pub(crate) media: Box<dyn Anchor>,
    /// Messages to send, drained by the core after each input.
    pub(crate) out: Vec<Outgoing>,
    pub(crate) records: Vec<CallRecord>,
    /// UPDATEs received (their answers, for retransmissions).
    pub(crate) updates: update::Updates,
    /// Our UPDATEs' branches → the received UPDATE they answer.
    pub(crate) pending_updates: HashMap<String, String>,
    /// Trunk legs that failed during setup, for trunk health (drained by the core).
    pub(crate) trunk_failures: Vec<trunk::TrunkFailure>,
}

/// A call not yet ended: who calls whom, since when, answered by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveCall {
    pub id: u64,
    pub tenant: String,
    pub caller: String,
    pub dialled: String,
    /// The extension (or trunk) that answered.
    pub callee: Option<String>,
    pub start_unix: i64,
    pub answer_unix: Option<i64>,
}

impl B2bua {
    pub fn new(me: SocketAddr, seed: u64, media: Box<dyn Anchor>) -> B2bua {
        B2bua {
            me,
            seed,
            next: 0,
            calls: HashMap::new(),
            by_a: HashMap::new(),
            by_b: HashMap::new(),
            servers: HashMap::new(),
            clients: HashMap::new(),
            media,
            out: Vec::new(),
            records: Vec::new(),
            updates: update::Updates::default(),
            pending_updates: HashMap::new(),
            trunk_failures: Vec::new(),
        }
    }

    pub fn set_media(&mut self, media: Box<dyn Anchor>) {
        self.media = media;
    }

    /// Calls not yet ended, oldest first, as the dashboard lists them.
    pub fn in_progress(&self) -> Vec<ActiveCall> {
        let mut all: Vec<ActiveCall> = self
            .calls
            .values()
            .filter(|c| c.phase != Phase::Ended)
            .map(|c| ActiveCall {
                id: c.id,
                tenant: c.tenant.clone(),
                caller: c.caller.clone(),
                dialled: c.dialled.clone(),
                callee: c.answered.and_then(|i| c.forks.get(i)).map(|f| f.extension.clone()),
                start_unix: c.start_unix,
                answer_unix: c.answer_unix,
            })
            .collect();
        all.sort_by_key(|c| (c.start_unix, c.id));
        all
    }

    /// Calls not yet ended.
    pub fn active(&self) -> usize {
        self.calls.values().filter(|c| c.phase != Phase::Ended).count()
    }

    /// Messages and records produced since the last call.
    pub fn drain(&mut self) -> (Vec<Outgoing>, Vec<CallRecord>) {
        (std::mem::take(&mut self.out), std::mem::take(&mut self.records))
    }

    /// A fresh identifier: unique within this start (counter) and across starts (seed).
    pub(crate) fn unique(&mut self) -> String {
        self.next += 1;
        format!("{:016x}{:x}", self.seed, self.next)
    }

    pub(crate) fn next_call_id(&mut self) -> u64 {
        self.next += 1;
        (self.seed << 20) ^ self.next
    }

    /// Our Contact for a side reached over `dest`'s transport.
    pub(crate) fn contact(&self, dest: Dest) -> String {
        match dest.transport {
            crate::sip::message::Transport::Udp => format!("<sip:{}>", self.me),
            t => format!("<sip:{};transport={}>", self.me, t.name()),
        }
    }

    pub(crate) fn via(&self, dest: Dest, branch: &str) -> String {
        format!("SIP/2.0/{} {};branch={branch};rport", dest.via_transport(), self.me)
    }

    pub(crate) fn send_all(&mut self, dest: Dest, step: &Step) {
        for bytes in &step.send {
            self.out.push(Outgoing { to: dest, bytes: bytes.clone() });
        }
    }

    /// Starts a client transaction for `request` towards `dest`. Transactions are keyed by
    /// branch and method (RFC 3261 §17.1.3): a CANCEL shares its INVITE's branch.
    pub(crate) fn start_client(&mut self, now: Instant, branch: &str, dest: Dest, request: Vec<u8>, owner: Owner) {
        let method = request.split(|b| *b == b' ').next().unwrap_or_default();
        let key = client_key(branch, &String::from_utf8_lossy(method));
        let invite = method == b"INVITE";
        let (txn, step, _) = ClientTxn::start(now, invite, dest.transport.reliable(), request);
        self.send_all(dest, &step);
        self.clients.insert(key, ClientEntry { txn, dest, owner });
    }

    /// The earliest deadline of any transaction or call.
    pub fn deadline(&self) -> Option<Instant> {
        let clients = self.clients.values().filter_map(|c| c.txn.deadline());
        let servers = self.servers.values().filter_map(|s| s.txn.deadline());
        let calls = self.calls.values().flat_map(|c| [c.step_until, c.forget_at]).flatten();
        clients.chain(servers).chain(calls).chain(self.updates.deadline()).min()
    }

    /// Marks a call ended: forgotten after 64·T1, once late responses of its forks are absorbed.
    pub(crate) fn forget_later(call: &mut Call, now: Instant) {
        call.phase = Phase::Ended;
        call.step_until = None;
        call.forget_at = Some(now + TIMEOUT);
    }

    pub(crate) fn forget(&mut self, id: u64) {
        if let Some(call) = self.calls.remove(&id) {
            self.by_a.remove(&call.a.base.call_id);
            for f in &call.forks {
                self.by_b.remove(&f.call_id);
            }
        }
    }
}

/// A client transaction's key: its branch and its CSeq method.
pub(crate) fn client_key(branch: &str, method: &str) -> String {
    format!("{branch}|{method}")
}

/// What the B2BUA's requests need from the rest of the core.
pub struct Env<'a> {
    pub now: crate::sip::core::Now,
    pub location: &'a crate::sip::location::Location,
    /// What routing decides against (a transfer target is routed like a call).
    pub site: &'a crate::site::SiteDoc,
    /// Trunk states, the clock and the site's mode, for routing.
    pub sit: &'a crate::routing::Situation,
    /// Where each trunk is reached now.
    pub trunks: &'a dyn trunk::TrunkTargets,
}

#[cfg(test)]
mod tests;
