//! The callee's side: responses to our INVITEs (relayed to A with the B2BUA's own dialog
//! identifiers; the first 2xx wins, later ones are ACKed and hung up), ACK and BYE on B
//! dialogs, the timers of every transaction and call, and media timeouts.

use std::time::Instant;

use super::call::{Call, ForkState, Phase};
use super::cdr::Disposition;
use super::dialog::{self, Head, Request};
use super::media::Side;
use super::{B2bua, Env, Owner};
use crate::sip::txn::client::Input as ClientInput;
use crate::sip::txn::server_invite::Input as ServerInput;

impl B2bua {
    /// A response from the network.
    pub fn on_response(&mut self, env: &Env<'_>, bytes: &[u8]) {
        let Some(head) = Head::parse(bytes) else { return };
        let (Some(code), Some(branch), Some((_, method))) = (head.status(), head.top_branch(), head.cseq()) else {
            return;
        };
        let key = super::client_key(branch, method);
        let Some(entry) = self.clients.get(&key) else {
            self.stray_response(&head, code, method);
            return;
        };
        let (owner, dest) = (entry.owner, entry.dest);
        let ack = match owner {
            Owner::Fork { call, fork } if method == "INVITE" && code >= 300 => {
                self.calls.get(&call).and_then(|c| c.forks.get(fork)).map(|f| {
                    let to = head.get("to").unwrap_or(&f.to);
                    Request {
                        method: "ACK",
                        uri: &f.uri,
                        via: f.via.clone(),
                        from: &f.from,
                        to,
                        call_id: &f.call_id,
                        cseq: f.cseq,
                        contact: None,
                        extra: Vec::new(),
                        body: b"",
                        content_type: None,
                    }
                    .bytes()
                })
            }
            _ => None,
        };
        let Some(entry) = self.clients.get_mut(&key) else { return };
        let (step, _) = entry.txn.handle(env.now.at, ClientInput::Response { code, ack });
        if step.terminated {
            self.clients.remove(&key);
        }
        self.send_all(dest, &step);
        let phrase = head.start.get(12..).unwrap_or_default().to_owned();
        match (step.deliver, owner) {
            (true, Owner::Fork { call, fork }) => self.fork_response(env, call, fork, code, &phrase, Some(&head)),
            (true, Owner::Reinvite { call }) => self.reinvite_response(env, call, code, &phrase, Some(&head)),
            (true, Owner::Update { call, side }) => {
                self.update_response(call, side, branch, code, &phrase, Some(&head))
            }
            _ => {}
        }
    }

    /// A response no transaction waits for: a retransmitted 2xx of a B leg gets our ACK again.
    fn stray_response(&mut self, head: &Head<'_>, code: u16, method: &str) {
        if method != "INVITE" || !(200..300).contains(&code) {
            return;
        }
        let Some(&(id, fork)) = head.get("call-id").and_then(|c| self.by_b.get(c)) else { return };
        let Some(f) = self.calls.get(&id).and_then(|c| c.forks.get(fork)) else { return };
        if let Some(ack) = f.ack.clone() {
            let dest = f.dest;
            self.out.push(super::Outgoing { to: dest, bytes: ack });
        }
    }

    fn fork_response(
        &mut self,
        env: &Env<'_>,
        id: u64,
        index: usize,
        code: u16,
        phrase: &str,
        head: Option<&Head<'_>>,
    ) {
        let Some(mut call) = self.calls.remove(&id) else { return };
        self.fork_response_in(env, &mut call, index, code, phrase, head);
        self.calls.insert(id, call);
    }

    fn fork_response_in(
        &mut self,
        env: &Env<'_>,
        call: &mut Call,
        index: usize,
        code: u16,
        phrase: &str,
        head: Option<&Head<'_>>,
    ) {
        let now = env.now;
        let trunk_call = super::trunk::is_trunk_call(call);
        let Some(f) = call.forks.get_mut(index) else { return };
        let before = f.state;
        if let Some(to) = head.and_then(|h| h.get("to")).filter(|to| dialog::param(to, "tag").is_some()) {
            f.to_tagged = Some(to.to_owned());
        }
        let body = head.map(|h| h.body).unwrap_or_default();
        let ringing = matches!(before, ForkState::Calling | ForkState::Early);
        if ringing && call.transfer.as_ref().is_some_and(|t| index >= t.first) {
            if code < 200 {
                f.state = ForkState::Early;
                if f.cancel_wanted {
                    self.cancel_fork(now.at, call, index, None);
                }
                return;
            }
            f.state = ForkState::Done;
            f.status = code;
            if code < 300 {
                let contact = head.and_then(|h| h.get("contact")).map(|c| dialog::uri_of(c).to_owned());
                f.remote_target = Some(contact.unwrap_or_else(|| f.uri.clone()));
            }
            self.transfer_response(env, call, index, code, body);
            return;
        }
        if code < 200 && ringing && trunk_call {
            // The trunk is alive: no failover timer while it works on the call.
            call.step_until = None;
        }
        if code < 200 {
            if code == 100 || before != ForkState::Calling && before != ForkState::Early {
                return;
            }
            f.state = ForkState::Early;
            if f.cancel_wanted || call.phase != Phase::Ringing {
                self.cancel_fork(now.at, call, index, None);
                return;
            }
            let body = self.relay_b(call.id, body);
            self.respond_a(now.at, call, code, phrase, &body, Vec::new());
            return;
        }
        if code < 300 {
            let contact = head.and_then(|h| h.get("contact")).map(|c| dialog::uri_of(c).to_owned());
            f.remote_target = Some(contact.unwrap_or_else(|| f.uri.clone()));
            let wanted = call.phase == Phase::Ringing && before != ForkState::Done && !f.cancel_wanted;
            if !wanted {
                // Lost the race (another fork answered, or the caller cancelled): ACK, then BYE.
                f.state = ForkState::Done;
                self.ack_b(call, index, b"");
                self.bye_b(now.at, call, index);
                return;
            }
            f.state = ForkState::Answered;
            call.answered = Some(index);
            call.phase = Phase::Answered;
            call.answer_unix = Some(now.unix);
            call.step_until = None;
            let others: Vec<usize> = call.active_forks().collect();
            for i in others {
                self.cancel_fork(now.at, call, i, Some((200, "Call completed elsewhere")));
            }
            let body = self.relay_b(call.id, body);
            tracing::info!(call = call.id, callee = %call.forks[index].extension, "call answered");
            self.respond_a(now.at, call, 200, "OK", &body, Vec::new());
            return;
        }
        f.state = ForkState::Done;
        f.status = code;
        let step = f.step;
        let was_ringing = matches!(before, ForkState::Calling | ForkState::Early);
        if f.trunk.is_some() {
            let current = super::trunk::current_trunk_fork(call) == Some(index);
            if was_ringing && current && call.phase == Phase::Ringing {
                call.step_until = None;
                self.trunk_fork_failed(env, call, index, code, phrase, head);
            }
            return;
        }
        if was_ringing && call.phase == Phase::Ringing && step == call.step {
            let left = call.active_forks().filter(|&i| call.forks[i].step == step).count();
            if left == 0 {
                self.step_done(env, call, false);
            }
        }
    }

    fn relay_b(&mut self, id: u64, body: &[u8]) -> Vec<u8> {
        if body.is_empty() {
            return Vec::new();
        }
        match self.media.relay(id, Side::B, body) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(call = id, error = %e, "callee SDP not anchored: passed as is");
                body.to_vec()
            }
        }
    }

    /// The ACK of a fork's 2xx (a request of its own, end to end: new branch).
    pub(crate) fn ack_b(&mut self, call: &mut Call, index: usize, body: &[u8]) {
        let branch = format!("z9hG4bK{}", self.unique());
        let content_type = call.content_type.clone();
        let Some(f) = call.forks.get_mut(index) else { return };
        let ack = Request {
            body,
            content_type: content_type.as_deref().or(Some("application/sdp")),
            ..f.in_dialog("ACK", self.me, &branch)
        }
        .bytes();
        f.ack = Some(ack.clone());
        self.out.push(super::Outgoing { to: f.dest, bytes: ack });
    }

    /// A BYE on a fork's dialog.
    pub(crate) fn bye_b(&mut self, now: Instant, call: &mut Call, index: usize) {
        let branch = format!("z9hG4bK{}", self.unique());
        let Some(f) = call.forks.get_mut(index) else { return };
        f.state = ForkState::Done;
        f.cseq += 1;
        let request = f.in_dialog("BYE", self.me, &branch).bytes();
        let dest = f.dest;
        self.start_client(now, &branch, dest, request, Owner::Fire);
    }

    /// Fires what is due: retransmissions, transaction timeouts, ring-out of a step, forgetting.
    pub fn on_timer(&mut self, env: &Env<'_>) {
        let now = env.now.at;
        self.updates.expire(now);
        let due: Vec<String> = self
            .clients
            .iter()
            .filter(|(_, c)| c.txn.deadline().is_some_and(|d| d <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for branch in due {
            let Some(entry) = self.clients.get_mut(&branch) else { continue };
            let (step, _) = entry.txn.handle(now, ClientInput::Timer);
            let (dest, owner) = (entry.dest, entry.owner);
            if step.terminated {
                self.clients.remove(&branch);
            }
            self.send_all(dest, &step);
            match (step.timed_out, owner) {
                (true, Owner::Fork { call, fork }) => self.fork_response(env, call, fork, 408, "Request Timeout", None),
                (true, Owner::Reinvite { call }) => self.reinvite_response(env, call, 408, "Request Timeout", None),
                (true, Owner::Update { call, side }) => {
                    let branch = branch.split('|').next().unwrap_or_default().to_owned();
                    self.update_response(call, side, &branch, 408, "Request Timeout", None);
                }
                _ => {}
            }
        }
        let due: Vec<String> = self
            .servers
            .iter()
            .filter(|(_, s)| s.txn.deadline().is_some_and(|d| d <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            let Some(entry) = self.servers.get_mut(&key) else { continue };
            let (step, _) = entry.txn.handle(now, ServerInput::Timer);
            let (dest, call, code) = (entry.dest, entry.call, entry.txn.final_code());
            if step.terminated {
                self.servers.remove(&key);
            }
            self.send_all(dest, &step);
            if let (true, Some(id), 200..=299) = (step.timed_out, call, code) {
                // The caller never ACKed our 2xx: hang up both sides (RFC 3261 §13.3.1.4).
                self.hang_up(env, id, Disposition::Answered, "box");
            }
        }
        let calls: Vec<(u64, bool, bool)> = self
            .calls
            .values()
            .map(|c| (c.id, c.step_until.is_some_and(|t| t <= now), c.forget_at.is_some_and(|t| t <= now)))
            .filter(|(_, ring_out, forget)| *ring_out || *forget)
            .collect();
        for (id, ring_out, forget) in calls {
            if forget {
                self.forget(id);
            } else if ring_out {
                let Some(mut call) = self.calls.remove(&id) else { continue };
                self.step_done(env, &mut call, true);
                self.calls.insert(id, call);
            }
        }
    }

    /// The media of `call` stopped: BYE both sides and mark the CDR.
    pub fn on_media_timeout(&mut self, env: &Env<'_>, id: u64) {
        tracing::info!(call = id, "media stopped: hanging up");
        self.hang_up(env, id, Disposition::MediaTimeout, "box");
    }

    /// The box ends an answered call: BYE to both sides.
    fn hang_up(&mut self, env: &Env<'_>, id: u64, disposition: Disposition, side: &str) {
        let Some(mut call) = self.calls.remove(&id) else { return };
        if call.phase == Phase::Answered {
            self.bye_a(env.now.at, &mut call);
            if let Some(i) = call.answered {
                self.bye_b(env.now.at, &mut call, i);
            }
            self.end(env.now, &mut call, disposition, None, side);
        }
        self.calls.insert(id, call);
    }
}
