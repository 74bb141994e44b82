//! UPDATE pass-through (RFC 3311): a session change or a Session-Timers refresh (RFC 4028)
//! from either phone of an answered call goes to the other phone on its own dialog, its SDP
//! (if any) rewritten through the bridge, and the answer comes back. UPDATE is a non-INVITE
//! request whose answer waits on the far phone, so it keeps its own server transactions here:
//! a retransmission gets the answer once known, and is dropped while it is not.

use std::collections::HashMap;
use std::time::Instant;

use super::dialog::{self, Dest, Head, Response};
use super::media::Side;
use super::{B2bua, Env, Owner};
use crate::sip::message::ReplyBase;
use crate::sip::txn::TIMEOUT;

/// An UPDATE from a phone: where to answer, what the answer repeats, the answer once known.
pub(crate) struct UpdateEntry {
    dest: Dest,
    base: ReplyBase,
    answer: Option<Vec<u8>>,
    forget_at: Instant,
}

#[derive(Default)]
pub(crate) struct Updates(HashMap<String, UpdateEntry>);

impl Updates {
    pub fn deadline(&self) -> Option<Instant> {
        self.0.values().map(|u| u.forget_at).min()
    }

    pub fn expire(&mut self, now: Instant) {
        self.0.retain(|_, u| u.forget_at > now);
    }
}

impl B2bua {
    /// An UPDATE from `source`; what it became, for metrics.
    pub fn on_update(&mut self, env: &Env<'_>, req: &rsip::Request, bytes: &[u8], dest: Dest) -> u16 {
        let now = env.now.at;
        let Some(head) = Head::parse(bytes) else { return 400 };
        let Some(key) = dialog::server_key(&head).map(|k| format!("{k}|UPDATE")) else { return 400 };
        if let Some(entry) = self.updates.0.get(&key) {
            if let Some(answer) = entry.answer.clone() {
                self.out.push(super::Outgoing { to: entry.dest, bytes: answer });
            }
            return 0;
        }
        let base = ReplyBase::of(req, dest.addr);
        self.updates.0.insert(key.clone(), UpdateEntry { dest, base, answer: None, forget_at: now + TIMEOUT });
        let call_id = head.get("call-id").unwrap_or_default();
        let from = match (self.by_a.get(call_id), self.by_b.get(call_id)) {
            (Some(&id), _) => Some((id, Side::A)),
            (None, Some(&(id, fork))) => {
                self.calls.get(&id).filter(|c| c.answered == Some(fork)).map(|_| (id, Side::B))
            }
            (None, None) => None,
        };
        let Some((id, side)) = from else {
            self.answer_update(&key, 481, "Call/Transaction Does Not Exist", b"", Vec::new());
            return 481;
        };
        let Some(mut call) = self.calls.remove(&id) else { return 481 };
        let body = if head.body.is_empty() { Ok(Vec::new()) } else { self.media.relay(id, side, head.body) };
        let other = if side == Side::A { Side::B } else { Side::A };
        let code = match body {
            Err(_) => {
                self.answer_update(&key, 488, "Not Acceptable Here", b"", Vec::new());
                488
            }
            Ok(body) => match self.dialog_request(&mut call, other, "UPDATE", &body, dialog::end_to_end(&head)) {
                Some(w) => {
                    self.start_client(now, &w.branch, w.dest, w.bytes, Owner::Update { call: id, side: other });
                    self.pending_updates.insert(w.branch, key);
                    0
                }
                None => {
                    self.answer_update(&key, 481, "Call/Transaction Does Not Exist", b"", Vec::new());
                    481
                }
            },
        };
        self.calls.insert(id, call);
        code
    }

    /// The far phone answered our UPDATE (branch `branch`): pass the answer back.
    pub(crate) fn update_response(
        &mut self,
        id: u64,
        from: Side,
        branch: &str,
        code: u16,
        phrase: &str,
        head: Option<&Head<'_>>,
    ) {
        let body = head.map(|h| h.body).unwrap_or_default();
        let extra = head.map(dialog::end_to_end).unwrap_or_default();
        if code < 200 {
            return;
        }
        let Some(key) = self.pending_updates.remove(branch) else { return };
        let body = if body.is_empty() || code >= 300 {
            Vec::new()
        } else {
            self.media.relay(id, from, body).unwrap_or_else(|_| body.to_vec())
        };
        self.answer_update(&key, code, phrase, &body, extra);
    }

    fn answer_update(&mut self, key: &str, code: u16, phrase: &str, body: &[u8], extra: Vec<(&'static str, String)>) {
        let me = self.me;
        let Some(entry) = self.updates.0.get_mut(key) else { return };
        let contact = format!("<sip:{me}>");
        let bytes = Response {
            base: &entry.base,
            code,
            reason: phrase,
            to_tag: "",
            contact: (code < 300).then_some(contact.as_str()),
            extra,
            body,
            content_type: (!body.is_empty()).then_some("application/sdp"),
        }
        .bytes();
        entry.answer = Some(bytes.clone());
        self.out.push(super::Outgoing { to: entry.dest, bytes });
    }
}
