//! Requests from the caller's side (and BYE from either side): INVITE (challenged like
//! REGISTER, routed, forked), ACK (a non-2xx one is absorbed by its transaction, a 2xx one is
//! passed to the answering phone), CANCEL and BYE.

use std::net::SocketAddr;

use super::call::{ALeg, Call, Phase};
use super::cdr::Disposition;
use super::dialog::{self, Dest, Head, Request, Response};
use super::fork::reason_header;
use super::media::Side;
use super::{B2bua, Env, ServerEntry};
use crate::routing::{self, CallRequest};
use crate::sip::auth::{authenticate, Check};
use crate::sip::defence::Defence;
use crate::sip::digest::{Algorithm, Nonces};
use crate::sip::directory::Directory;
use crate::sip::message::{ReplyBase, Transport};
use crate::sip::registrar::Event;
use crate::sip::txn::server_invite::Input as ServerInput;
use crate::sip::txn::ServerInvite;
use crate::site::SiteDoc;

/// What became of an INVITE, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteEvent {
    Placed,
    Challenged,
    AuthFailed,
    Refused(u16),
    Retransmission,
    Malformed,
    /// A re-INVITE passed to the other side of a call.
    Reinvite,
}

impl InviteEvent {
    pub fn name(self) -> String {
        match self {
            InviteEvent::Placed => "invite_placed".into(),
            InviteEvent::Challenged => "invite_challenged".into(),
            InviteEvent::AuthFailed => "invite_auth_failed".into(),
            InviteEvent::Refused(code) => format!("invite_{code}"),
            InviteEvent::Retransmission => "retransmission".into(),
            InviteEvent::Malformed => "malformed".into(),
            InviteEvent::Reinvite => "reinvite".into(),
        }
    }
}

/// What an INVITE is decided against, besides the call tables.
pub struct InviteCx<'a> {
    pub env: Env<'a>,
    pub source: SocketAddr,
    pub transport: Transport,
    pub directory: &'a Directory,
    pub site: &'a SiteDoc,
    pub nonces: &'a Nonces,
    pub defence: &'a mut Defence,
    pub algorithms: &'a [Algorithm],
    /// The trunk the INVITE comes from, by its source address: (tenant, trunk). Such calls
    /// are not challenged (the trunk is trusted by address) and go by inbound routes.
    pub from_trunk: Option<(String, String)>,
}

impl B2bua {
    pub fn on_invite(&mut self, cx: InviteCx<'_>, req: &rsip::Request, bytes: &[u8]) -> InviteEvent {
        let now = cx.env.now;
        let Some(head) = Head::parse(bytes) else { return InviteEvent::Malformed };
        let Some(key) = dialog::server_key(&head) else { return InviteEvent::Malformed };
        if let Some(entry) = self.servers.get_mut(&key) {
            let (step, _) = entry.txn.handle(now.at, ServerInput::Retransmission);
            let dest = entry.dest;
            self.send_all(dest, &step);
            return InviteEvent::Retransmission;
        }
        let dest = Dest { transport: cx.transport, addr: cx.source };
        let base = ReplyBase::of(req, cx.source);
        let to_tag = crate::sip::core::tag(&base.call_id);
        let trying = response(&base, 100, "Trying", &to_tag, Vec::new());
        let (txn, step) = ServerInvite::start(cx.transport.reliable(), trying);
        self.send_all(dest, &step);
        let cseq = head.cseq().map(|(n, _)| n.to_string()).unwrap_or_default();
        let call_id = head.get("call-id").unwrap_or_default().to_owned();
        self.servers.insert(key.clone(), ServerEntry { txn, dest, call: None, call_id, cseq });
        let refuse = |me: &mut B2bua, code: u16, phrase: &str, extra: Vec<(&'static str, String)>| {
            let bytes = response(&base, code, phrase, &to_tag, extra);
            if let Some(entry) = me.servers.get_mut(&key) {
                let (step, _) = entry.txn.handle(now.at, ServerInput::Respond { code, bytes });
                me.send_all(dest, &step);
            }
        };
        if head.get("to").and_then(|to| dialog::param(to, "tag")).is_some() {
            // Inside a dialog: a re-INVITE from A, or from the answering B leg.
            let call_id = head.get("call-id").unwrap_or_default();
            let from_side = match (self.by_a.get(call_id), self.by_b.get(call_id)) {
                (Some(&id), _) => Some((id, Side::A)),
                (None, Some(&(id, fork))) => {
                    self.calls.get(&id).filter(|c| c.answered == Some(fork)).map(|_| (id, Side::B))
                }
                (None, None) => None,
            };
            let refusal = match from_side {
                Some((id, side)) => self.on_reinvite(now.at, id, side, &key, base.clone(), &head),
                None => Some((481, "Call/Transaction Does Not Exist")),
            };
            return match refusal {
                Some((code, phrase)) => {
                    refuse(self, code, phrase, Vec::new());
                    InviteEvent::Refused(code)
                }
                None => InviteEvent::Reinvite,
            };
        }
        let from = head.get("from").unwrap_or_default();
        let from_uri = dialog::uri_of(from);
        let request_uri = req.uri.to_string();
        if let Some((tenant, trunk)) = cx.from_trunk.clone() {
            let a = ALeg {
                dest,
                base: base.clone(),
                to_tag: to_tag.clone(),
                server_key: key.clone(),
                remote_target: head.get("contact").map(dialog::uri_of).unwrap_or(from_uri).to_owned(),
                local_cseq: 0,
            };
            return match self.call_from_trunk(&cx, &tenant, &trunk, a, &head, &request_uri) {
                Ok((call, decision)) => {
                    let id = call.id;
                    if let Some(entry) = self.servers.get_mut(&key) {
                        entry.call = Some(id);
                    }
                    self.by_a.insert(call.a.base.call_id.clone(), id);
                    self.start_call(&cx.env, call, decision)
                }
                Err((code, phrase)) => {
                    let text = phrase.split_once(": ").map_or(phrase.as_str(), |(_, t)| t).to_owned();
                    refuse(self, code, &phrase, vec![reason_header(code, &text)]);
                    InviteEvent::Refused(code)
                }
            };
        }
        let host = dialog::host_of(from_uri).or_else(|| dialog::host_of(&request_uri)).unwrap_or_default();
        let Some(tenant) = cx.directory.tenant(host) else {
            refuse(self, 404, "Not Found: domain not served here", Vec::new());
            return InviteEvent::Refused(404);
        };
        let realm = host.to_ascii_lowercase();
        let check = Check {
            now: now.at,
            unix: now.unix,
            source: cx.source,
            nonces: cx.nonces,
            defence: cx.defence,
            algorithms: cx.algorithms,
        };
        let caller = match authenticate(req, "INVITE", &realm, tenant, check) {
            Ok(user) => user,
            Err(r) => {
                refuse(self, r.code, &r.reason, r.headers);
                return if r.event == Event::AuthFailed { InviteEvent::AuthFailed } else { InviteEvent::Challenged };
            }
        };
        if dialog::user_of(from_uri) != Some(caller.as_str()) {
            refuse(self, 403, "Forbidden: these credentials are not for the calling extension", Vec::new());
            return InviteEvent::Refused(403);
        }
        let Some(dialled) = dialog::user_of(&request_uri).map(str::to_owned) else {
            let phrase = "Address Incomplete: no number in the request URI";
            refuse(self, 484, phrase, vec![reason_header(484, "no number in the request URI")]);
            return InviteEvent::Refused(484);
        };
        let decision = routing::route_in(
            cx.site,
            &CallRequest { tenant: &tenant.name, caller: &caller, dialled: &dialled },
            cx.env.sit,
        );
        let id = self.next_call_id();
        // Only a call that will ring a phone or a trunk needs media ports; a refusal is
        // answered as is.
        let local = !matches!(decision, routing::Decision::Reject { .. });
        if local {
            if let Err(e) = self.media.open(id) {
                refuse(self, 503, &format!("Service Unavailable: {e}"), vec![reason_header(503, &e.to_string())]);
                return InviteEvent::Refused(503);
            }
        }
        let offer = if head.body.is_empty() || !local {
            Vec::new()
        } else {
            match self.media.relay(id, Side::A, head.body) {
                Ok(body) => body,
                Err(e) => {
                    self.media.close(id);
                    refuse(self, 488, &format!("Not Acceptable Here: {e}"), vec![reason_header(488, &e.to_string())]);
                    return InviteEvent::Refused(488);
                }
            }
        };
        let remote_target = head.get("contact").map(dialog::uri_of).unwrap_or(from_uri).to_owned();
        let display = from.split('<').next().filter(|_| from.contains('<')).unwrap_or_default().to_owned();
        let call = Call {
            id,
            tenant: tenant.name.clone(),
            caller,
            dialled,
            domain: host.to_owned(),
            a_from_display: display,
            a: ALeg { dest, base, to_tag, server_key: key.clone(), remote_target, local_cseq: 0 },
            forks: Vec::new(),
            plan: None,
            step: 0,
            step_until: None,
            phase: Phase::Ringing,
            answered: None,
            offer,
            content_type: head.get("content-type").map(str::to_owned),
            start_unix: now.unix,
            answer_unix: None,
            why: String::new(),
            forget_at: None,
            a_acked: false,
            reinvite: None,
            transfer: None,
            trunk: None,
            a_trunk: None,
        };
        if let Some(entry) = self.servers.get_mut(&key) {
            entry.call = Some(id);
        }
        self.by_a.insert(call.a.base.call_id.clone(), id);
        self.start_call(&cx.env, call, decision)
    }

    /// Follows the routing decision of a new call, and keeps the call.
    fn start_call(&mut self, env: &Env<'_>, mut call: Call, decision: routing::Decision) -> InviteEvent {
        tracing::info!(call = call.id, caller = %call.caller, dialled = %call.dialled, tenant = %call.tenant, trunk = ?call.a_trunk, "call");
        self.follow(env, &mut call, decision);
        self.calls.insert(call.id, call);
        InviteEvent::Placed
    }

    /// ACK: absorbed by its INVITE transaction (non-2xx), else the 2xx's ACK of a call.
    pub fn on_ack(&mut self, env: &Env<'_>, bytes: &[u8]) {
        let Some(head) = Head::parse(bytes) else { return };
        if let Some(key) = dialog::server_key(&head) {
            if let Some(entry) = self.servers.get_mut(&key) {
                if entry.txn.final_code() >= 300 {
                    let (step, _) = entry.txn.handle(env.now.at, ServerInput::Ack);
                    if step.terminated {
                        self.servers.remove(&key);
                    }
                    return;
                }
            }
        }
        let Some(call_id) = head.get("call-id") else { return };
        let id = match (self.by_a.get(call_id), self.by_b.get(call_id)) {
            (Some(&id), _) => id,
            (None, Some(&(id, _))) => id,
            (None, None) => return,
        };
        let Some(mut call) = self.calls.remove(&id) else { return };
        // The ACK of a re-INVITE's 2xx: its server transaction stops retransmitting.
        let cseq = head.cseq().map(|(n, _)| n.to_string()).unwrap_or_default();
        let reinvite_key = self
            .servers
            .iter()
            .find(|(k, s)| {
                s.call.is_none()
                    && s.txn.final_code() / 100 == 2
                    && k.as_str() != call.a.server_key
                    && s.cseq == cseq
                    && s.call_id == call_id
            })
            .map(|(k, _)| k.clone());
        if let Some(key) = reinvite_key {
            if let Some(entry) = self.servers.get_mut(&key) {
                entry.txn.handle(env.now.at, ServerInput::Ack2xx);
            }
            self.calls.insert(id, call);
            return;
        }
        if call.phase == Phase::Answered && !call.a_acked && self.by_a.contains_key(call_id) {
            call.a_acked = true;
            if let Some(entry) = self.servers.get_mut(&call.a.server_key) {
                entry.txn.handle(env.now.at, ServerInput::Ack2xx);
            }
            let body = if head.body.is_empty() {
                Vec::new()
            } else {
                self.media.relay(id, Side::A, head.body).unwrap_or_else(|_| head.body.to_vec())
            };
            if let Some(i) = call.answered {
                self.ack_b(&mut call, i, &body);
            }
        }
        self.calls.insert(id, call);
    }

    /// CANCEL of A's INVITE: 487 to the INVITE, CANCEL to every fork. Returns the CANCEL's answer.
    pub fn on_cancel(&mut self, env: &Env<'_>, bytes: &[u8]) -> (u16, &'static str) {
        let Some(key) = Head::parse(bytes).as_ref().and_then(dialog::server_key) else {
            return (481, "Call/Transaction Does Not Exist");
        };
        let Some(entry) = self.servers.get(&key) else { return (481, "Call/Transaction Does Not Exist") };
        // After a final response a CANCEL changes nothing (RFC 3261 §9.2), but is still answered.
        let (Some(id), 0) = (entry.call, entry.txn.final_code()) else { return (200, "OK") };
        let Some(mut call) = self.calls.remove(&id) else { return (200, "OK") };
        self.respond_a(
            env.now.at,
            &call,
            487,
            "Request Terminated",
            b"",
            vec![reason_header(487, "the caller hung up")],
        );
        self.end(env.now, &mut call, Disposition::Cancelled, Some(487), "caller");
        self.calls.insert(id, call);
        (200, "OK")
    }

    /// BYE from A or from the answering B leg: passed to the other side. Returns its answer.
    pub fn on_bye(&mut self, env: &Env<'_>, bytes: &[u8]) -> (u16, &'static str) {
        let Some(call_id) = Head::parse(bytes).and_then(|h| h.get("call-id").map(str::to_owned)) else {
            return (400, "Bad Request: no Call-ID");
        };
        if let Some(&id) = self.by_a.get(&call_id) {
            let Some(mut call) = self.calls.remove(&id) else { return (481, "Call/Transaction Does Not Exist") };
            match call.phase {
                Phase::Answered => {
                    if let Some(i) = call.answered {
                        self.bye_b(env.now.at, &mut call, i);
                    }
                    self.end(env.now, &mut call, Disposition::Answered, None, "caller");
                }
                Phase::Ringing => {
                    self.respond_a(env.now.at, &call, 487, "Request Terminated", b"", Vec::new());
                    self.end(env.now, &mut call, Disposition::Cancelled, Some(487), "caller");
                }
                Phase::Ended => {}
            }
            self.calls.insert(id, call);
            return (200, "OK");
        }
        if let Some(&(id, fork)) = self.by_b.get(&call_id) {
            let Some(mut call) = self.calls.remove(&id) else { return (481, "Call/Transaction Does Not Exist") };
            if call.phase == Phase::Answered && call.answered == Some(fork) {
                self.bye_a(env.now.at, &mut call);
                self.end(env.now, &mut call, Disposition::Answered, None, "callee");
            }
            self.calls.insert(id, call);
            return (200, "OK");
        }
        (481, "Call/Transaction Does Not Exist")
    }

    /// A BYE on A's dialog (we are its callee: From is A's To with our tag).
    pub(crate) fn bye_a(&mut self, now: std::time::Instant, call: &mut Call) {
        call.a.local_cseq += 1;
        let branch = format!("z9hG4bK{}", self.unique());
        let from = format!("{};tag={}", call.a.base.to, call.a.to_tag);
        let request = Request {
            method: "BYE",
            uri: &call.a.remote_target,
            via: self.via(call.a.dest, &branch),
            from: &from,
            to: &call.a.base.from,
            call_id: &call.a.base.call_id,
            cseq: call.a.local_cseq,
            contact: None,
            extra: Vec::new(),
            body: b"",
            content_type: None,
        }
        .bytes();
        self.start_client(now, &branch, call.a.dest, request, super::Owner::Fire);
    }
}

fn response(base: &ReplyBase, code: u16, phrase: &str, to_tag: &str, extra: Vec<(&'static str, String)>) -> Vec<u8> {
    Response { base, code, reason: phrase, to_tag, contact: None, extra, body: b"", content_type: None }.bytes()
}
