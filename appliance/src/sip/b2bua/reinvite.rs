//! re-INVITE pass-through (RFC 3261 §14): hold, resume and codec changes from either phone of
//! an answered call go to the other phone on its own dialog, with the SDP rewritten so the
//! media stays on the bridge (a new address in the offer moves where the bridge expects that
//! phone). The answer comes back the same way. The box ACKs the far side's 2xx itself; the
//! originator's ACK ends the originator's transaction. One re-INVITE at a time per call: a
//! second one gets 491 Request Pending (RFC 3261 §14.2).

use std::time::Instant;

use super::call::{Call, Phase};
use super::dialog::{Dest, Head, Request, Response};
use super::media::Side;
use super::{B2bua, Env, Owner};
use crate::sip::message::ReplyBase;
use crate::sip::txn::server_invite::Input as ServerInput;

/// A re-INVITE in progress.
#[derive(Debug)]
pub struct Reinvite {
    pub from: Side,
    /// The originator's server transaction, and what its responses repeat.
    pub server_key: String,
    pub base: ReplyBase,
}

/// A request on one side's dialog, written: (branch, destination, bytes).
pub(crate) struct Written {
    pub branch: String,
    pub dest: Dest,
    pub bytes: Vec<u8>,
}

impl B2bua {
    /// A request on the dialog of `side` of an answered call (B: the answering fork).
    pub(crate) fn dialog_request(
        &mut self,
        call: &mut Call,
        side: Side,
        method: &str,
        body: &[u8],
        extra: Vec<(&'static str, String)>,
    ) -> Option<Written> {
        let branch = format!("z9hG4bK{}", self.unique());
        let content_type = call.content_type.clone().unwrap_or_else(|| "application/sdp".to_owned());
        let (dest, bytes) = match side {
            Side::A => {
                if method != "ACK" {
                    call.a.local_cseq += 1;
                }
                let dest = call.a.dest;
                let from = format!("{};tag={}", call.a.base.to, call.a.to_tag);
                let contact = self.contact(dest);
                let bytes = Request {
                    method,
                    uri: &call.a.remote_target,
                    via: self.via(dest, &branch),
                    from: &from,
                    to: &call.a.base.from,
                    call_id: &call.a.base.call_id,
                    cseq: call.a.local_cseq,
                    contact: (method == "INVITE").then_some(contact.as_str()),
                    extra: extra.clone(),
                    body,
                    content_type: Some(&content_type),
                }
                .bytes();
                (dest, bytes)
            }
            Side::B => {
                let f = call.forks.get_mut(call.answered?)?;
                if method != "ACK" {
                    f.cseq += 1;
                }
                let contact = match f.dest.transport {
                    crate::sip::message::Transport::Udp => format!("<sip:{}>", self.me),
                    t => format!("<sip:{};transport={}>", self.me, t.name()),
                };
                let bytes = Request {
                    contact: (method == "INVITE").then_some(contact.as_str()),
                    extra: extra.clone(),
                    body,
                    content_type: Some(&content_type),
                    ..f.in_dialog(method, self.me, &branch)
                }
                .bytes();
                (f.dest, bytes)
            }
        };
        Some(Written { branch, dest, bytes })
    }

    /// A re-INVITE from `from` of call `id`; its server transaction (`key`) already sent 100.
    /// Returns the failure to answer it with, if it cannot be passed on.
    pub(crate) fn on_reinvite(
        &mut self,
        now: Instant,
        id: u64,
        from: Side,
        key: &str,
        base: ReplyBase,
        head: &Head<'_>,
    ) -> Option<(u16, &'static str)> {
        let Some(mut call) = self.calls.remove(&id) else { return Some((481, "Call/Transaction Does Not Exist")) };
        let refusal = self.reinvite_in(now, &mut call, from, key, base, head);
        self.calls.insert(id, call);
        refusal
    }

    fn reinvite_in(
        &mut self,
        now: Instant,
        call: &mut Call,
        from: Side,
        key: &str,
        base: ReplyBase,
        head: &Head<'_>,
    ) -> Option<(u16, &'static str)> {
        let (body, extra) = (head.body, super::dialog::end_to_end(head));
        if call.phase != Phase::Answered {
            return Some((481, "Call/Transaction Does Not Exist"));
        }
        if call.reinvite.is_some() {
            return Some((491, "Request Pending"));
        }
        let body = if body.is_empty() {
            Vec::new()
        } else {
            match self.media.relay(call.id, from, body) {
                Ok(b) => b,
                Err(_) => return Some((488, "Not Acceptable Here")),
            }
        };
        let other = if from == Side::A { Side::B } else { Side::A };
        let written = self.dialog_request(call, other, "INVITE", &body, extra)?;
        call.reinvite = Some(Reinvite { from, server_key: key.to_owned(), base });
        self.start_client(now, &written.branch, written.dest, written.bytes, Owner::Reinvite { call: call.id });
        None
    }

    /// The other side answered our re-INVITE: relay the answer to the originator.
    pub(crate) fn reinvite_response(
        &mut self,
        env: &Env<'_>,
        id: u64,
        code: u16,
        phrase: &str,
        head: Option<&Head<'_>>,
    ) {
        if code < 200 {
            return;
        }
        let Some(mut call) = self.calls.remove(&id) else { return };
        if let Some(r) = call.reinvite.take() {
            let other = if r.from == Side::A { Side::B } else { Side::A };
            let body = head.map(|h| h.body).unwrap_or_default();
            let body = if body.is_empty() || code >= 300 {
                Vec::new()
            } else {
                self.media.relay(call.id, other, body).unwrap_or_else(|_| body.to_vec())
            };
            if code < 300 {
                // The far side's 2xx is ours to ACK; the originator ACKs our 2xx.
                if let Some(ack) = self.dialog_request(&mut call, other, "ACK", b"", Vec::new()) {
                    self.out.push(super::Outgoing { to: ack.dest, bytes: ack.bytes });
                }
            }
            let dest =
                if r.from == Side::A { call.a.dest } else { call.answered.map_or(call.a.dest, |i| call.forks[i].dest) };
            let contact = self.contact(dest);
            let bytes = Response {
                base: &r.base,
                code,
                reason: phrase,
                to_tag: "",
                contact: (code < 300).then_some(contact.as_str()),
                extra: head.map(super::dialog::end_to_end).unwrap_or_default(),
                body: &body,
                content_type: (!body.is_empty()).then_some("application/sdp"),
            }
            .bytes();
            if let Some(entry) = self.servers.get_mut(&r.server_key) {
                let (step, _) = entry.txn.handle(env.now.at, ServerInput::Respond { code, bytes });
                let dest = entry.dest;
                self.send_all(dest, &step);
            }
        }
        self.calls.insert(id, call);
    }
}
