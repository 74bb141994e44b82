//! Ringing a routing plan: each step forks the INVITE to every registered contact of its
//! extensions; a step ends when its `ring_for` runs out (its forks are CANCELled) or every fork
//! failed; after the last step the plan's `on_busy` / `on_no_answer` decision is followed, else
//! the caller gets the best failure (RFC 3261 §16.7: busy wins, then 6xx, then "unavailable").

use std::time::Instant;

use super::call::{Call, Fork, ForkState, Phase};
use super::cdr::Disposition;
use super::dialog::{Dest, Request, Response};
use super::{B2bua, Env, Owner};
use crate::routing::Decision;
use crate::sip::txn::server_invite::Input as ServerInput;

/// Methods the box handles on a call's dialogs.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, REFER, UPDATE, OPTIONS";

/// The `Reason` header (RFC 3326) that says why a call was refused or a fork cancelled.
pub fn reason_header(code: u16, text: &str) -> (&'static str, String) {
    ("Reason", format!("SIP;cause={code};text=\"{}\"", text.replace('"', "'")))
}

impl B2bua {
    /// Follows a routing decision for `call`.
    pub(crate) fn follow(&mut self, env: &Env<'_>, call: &mut Call, decision: Decision) {
        if !call.why.is_empty() {
            call.why.push_str(" → ");
        }
        call.why.push_str(&decision.why());
        match decision {
            Decision::Reject { code, reason } => {
                let phrase = format!("{}: {reason}", default_reason(code));
                let disposition = disposition_of(code);
                self.fail(env.now, call, code, &phrase, disposition);
            }
            Decision::Trunk(plan) => self.follow_trunk(env, call, plan),
            Decision::Local(plan) => {
                call.plan = Some(plan);
                call.step = 0;
                self.start_step(env, call);
            }
        }
    }

    /// Rings the current step, skipping steps whose extensions have no registered contact.
    fn start_step(&mut self, env: &Env<'_>, call: &mut Call) {
        let Some(plan) = &call.plan else { return };
        let Some(step) = plan.steps.get(call.step) else { return };
        let (extensions, ring_for) = (step.extensions.clone(), step.ring_for);
        let mut placed = 0;
        for ext in &extensions {
            let targets: Vec<(String, Dest)> = env
                .location
                .bindings(&call.tenant, ext, env.now.unix)
                .into_iter()
                .filter_map(|b| Some((b.contact.clone(), Dest::parse(&b.source)?)))
                .collect();
            for (uri, dest) in targets {
                self.place_fork(env.now.at, call, ext, uri, dest);
                placed += 1;
            }
        }
        if placed == 0 {
            tracing::info!(call = call.id, ?extensions, "nobody registered in this step");
            self.step_done(env, call, false);
            return;
        }
        call.step_until = ring_for.map(|d| env.now.at + d);
    }

    pub(crate) fn place_fork(&mut self, now: Instant, call: &mut Call, ext: &str, uri: String, dest: Dest) {
        let (call_id, tag, branch) = (self.unique(), self.unique(), format!("z9hG4bK{}", self.unique()));
        let from = format!("{}<sip:{}@{}>;tag={tag}", call.a_from_display, call.caller, call.domain);
        let to = format!("<sip:{ext}@{}>", call.domain);
        let via = self.via(dest, &branch);
        let contact = self.contact(dest);
        let request = Request {
            method: "INVITE",
            uri: &uri,
            via: via.clone(),
            from: &from,
            to: &to,
            call_id: &call_id,
            cseq: 1,
            contact: Some(&contact),
            extra: vec![("Allow", ALLOW.to_owned())],
            body: &call.offer,
            content_type: call.content_type.as_deref(),
        }
        .bytes();
        let index = call.forks.len();
        self.by_b.insert(call_id.clone(), (call.id, index));
        self.start_client(now, &branch, dest, request, Owner::Fork { call: call.id, fork: index });
        call.forks.push(Fork {
            extension: ext.to_owned(),
            dest,
            uri,
            call_id,
            from,
            to,
            to_tagged: None,
            via,
            branch,
            cseq: 1,
            state: ForkState::Calling,
            cancel_wanted: false,
            remote_target: None,
            ack: None,
            step: call.step,
            status: 0,
            trunk: None,
        });
    }

    /// CANCELs a ringing fork (or marks it, if it has not answered provisionally yet).
    pub(crate) fn cancel_fork(&mut self, now: Instant, call: &mut Call, index: usize, why: Option<(u16, &str)>) {
        let Some(f) = call.forks.get_mut(index) else { return };
        match f.state {
            ForkState::Calling => f.cancel_wanted = true,
            ForkState::Early => {
                f.state = ForkState::Done;
                let extra = why.map(|(code, text)| vec![reason_header(code, text)]).unwrap_or_default();
                let request = Request {
                    method: "CANCEL",
                    uri: &f.uri,
                    via: f.via.clone(),
                    from: &f.from,
                    to: &f.to,
                    call_id: &f.call_id,
                    cseq: f.cseq,
                    contact: None,
                    extra,
                    body: b"",
                    content_type: None,
                }
                .bytes();
                let (dest, branch) = (f.dest, f.branch.clone());
                self.start_client(now, &branch, dest, request, Owner::Fire);
            }
            ForkState::Answered | ForkState::Done => {}
        }
    }

    /// Called when every fork of the step failed, or (`rang_out`) its time ran out.
    pub(crate) fn step_done(&mut self, env: &Env<'_>, call: &mut Call, rang_out: bool) {
        if call.phase != Phase::Ringing {
            return;
        }
        if super::trunk::is_trunk_call(call) {
            if rang_out {
                self.trunk_setup_timeout(env, call);
            }
            return;
        }
        call.step_until = None;
        let ringing: Vec<usize> = call.active_forks().collect();
        for i in ringing {
            self.cancel_fork(env.now.at, call, i, None);
        }
        let statuses: Vec<u16> = call.forks.iter().filter(|f| f.step == call.step).map(|f| f.status).collect();
        let steps = call.plan.as_ref().map_or(0, |p| p.steps.len());
        if call.step + 1 < steps {
            call.step += 1;
            self.start_step(env, call);
            return;
        }
        let Some(plan) = call.plan.take() else { return };
        let busy = !rang_out && statuses.iter().any(|s| matches!(s, 486 | 600));
        let next = if busy { plan.on_busy } else { plan.on_no_answer };
        if let Some(next) = next {
            self.follow(env, call, *next);
            return;
        }
        let (code, phrase, disposition) = if busy {
            (486, "Busy Here".to_owned(), Disposition::Busy)
        } else if let Some(&s) = statuses.iter().find(|s| (600..700).contains(*s)) {
            (s, default_reason(s).to_owned(), Disposition::Busy)
        } else if rang_out || statuses.iter().all(|s| matches!(s, 0 | 408 | 480 | 487)) {
            let ext = call.dialled.clone();
            let why = if statuses.is_empty() { "is not registered" } else { "did not answer" };
            (480, format!("Temporarily Unavailable: {ext} {why}"), Disposition::NoAnswer)
        } else {
            let worst = statuses.iter().copied().filter(|s| *s >= 300).min().unwrap_or(480);
            (480, format!("Temporarily Unavailable: the phone refused the call ({worst})"), Disposition::Failed)
        };
        self.fail(env.now, call, code, &phrase, disposition);
    }

    /// Answers A with a failure (Reason header included) and ends the call.
    pub(crate) fn fail(
        &mut self,
        now: crate::sip::core::Now,
        call: &mut Call,
        code: u16,
        phrase: &str,
        d: Disposition,
    ) {
        tracing::info!(call = call.id, code, reason = phrase, "call refused");
        let text = phrase.split_once(": ").map_or(phrase, |(_, t)| t);
        self.respond_a(now.at, call, code, phrase, b"", vec![reason_header(code, text)]);
        self.end(now, call, d, Some(code), "");
    }

    /// A response to A's INVITE, through its server transaction.
    pub(crate) fn respond_a(
        &mut self,
        now: Instant,
        call: &Call,
        code: u16,
        phrase: &str,
        body: &[u8],
        mut extra: Vec<(&'static str, String)>,
    ) {
        let contact = (code > 100 && code < 300).then(|| self.contact(call.a.dest));
        if code < 300 {
            extra.push(("Allow", ALLOW.to_owned()));
        }
        let bytes = Response {
            base: &call.a.base,
            code,
            reason: phrase,
            to_tag: &call.a.to_tag,
            contact: contact.as_deref(),
            extra,
            body,
            content_type: (!body.is_empty()).then_some(call.content_type.as_deref().unwrap_or("application/sdp")),
        }
        .bytes();
        let Some(entry) = self.servers.get_mut(&call.a.server_key) else { return };
        let (step, _) = entry.txn.handle(now, ServerInput::Respond { code, bytes });
        let dest = entry.dest;
        self.send_all(dest, &step);
    }

    /// Ends the call: forks still ringing are CANCELled, media released, the CDR written.
    pub(crate) fn end(
        &mut self,
        now: crate::sip::core::Now,
        call: &mut Call,
        disposition: Disposition,
        status: Option<u16>,
        hangup: &str,
    ) {
        if call.phase == Phase::Ended {
            return;
        }
        let ringing: Vec<usize> = call.active_forks().collect();
        for i in ringing {
            self.cancel_fork(now.at, call, i, None);
        }
        let media = self.media.close(call.id);
        self.records.push(call.record(now.unix, disposition, status, hangup, media));
        tracing::info!(call = call.id, disposition = disposition.as_str(), hangup, "call ended");
        B2bua::forget_later(call, now.at);
    }
}

/// The standard reason phrase of a status code.
pub fn default_reason(code: u16) -> &'static str {
    match code {
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "Failed",
    }
}

fn disposition_of(code: u16) -> Disposition {
    match code {
        486 | 600 => Disposition::Busy,
        480 | 408 => Disposition::NoAnswer,
        487 => Disposition::Cancelled,
        // Routing's 503s all say no trunk could take the number.
        503 => Disposition::NoTrunk,
        _ => Disposition::Failed,
    }
}
