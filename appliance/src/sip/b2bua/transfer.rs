//! Blind transfer (RFC 3515 REFER, RFC 3892 Referred-By) by the phone that answered: the
//! callee refers the caller to another number of the tenant. The caller's leg and the media
//! bridge stay as they are: the target is rung with the caller's offer as the bridge's B leg
//! rewrote it, and when it answers, leg B's media simply moves to it (no re-INVITE towards the
//! caller is needed, the caller keeps talking to the same box port). The referrer hears how it
//! went by NOTIFY with a `message/sipfrag` body (100 Trying, then the final status), and is
//! hung up once the target answered.
//!
//! A REFER from the caller's side is refused (501): its transferee would be the callee, whose
//! leg is the box's UAC side; that needs the legs' roles swapped, which is not built yet.

use super::call::{Call, ForkState, Phase};
use super::dialog::{self, Dest, Head};
use super::media::Side;
use super::{B2bua, Env, Owner};
use crate::routing::{self, CallRequest, Decision};

/// A transfer in progress.
#[derive(Debug)]
pub struct Transfer {
    /// The fork that referred (the call's B leg until the target answers).
    pub referrer: usize,
    /// Forks from this index on ring the transfer target.
    pub first: usize,
    pub target: String,
}

impl B2bua {
    /// REFER on a call's dialog. Returns its answer (202 when the transfer started).
    pub fn on_refer(&mut self, env: &Env<'_>, bytes: &[u8]) -> (u16, &'static str) {
        let Some(head) = Head::parse(bytes) else { return (400, "Bad Request") };
        let call_id = head.get("call-id").unwrap_or_default();
        if self.by_a.contains_key(call_id) {
            return (501, "Not Implemented: transfer by the caller is not supported yet");
        }
        let Some(&(id, fork)) = self.by_b.get(call_id) else { return (481, "Call/Transaction Does Not Exist") };
        let Some(refer_to) = head.get("refer-to").map(dialog::uri_of) else {
            return (400, "Bad Request: REFER without Refer-To");
        };
        let Some(number) = dialog::user_of(refer_to).map(str::to_owned) else {
            return (400, "Bad Request: Refer-To has no number");
        };
        let Some(mut call) = self.calls.remove(&id) else { return (481, "Call/Transaction Does Not Exist") };
        let answer = self.refer_in(env, &mut call, fork, number);
        self.calls.insert(id, call);
        answer
    }

    fn refer_in(&mut self, env: &Env<'_>, call: &mut Call, fork: usize, number: String) -> (u16, &'static str) {
        if call.phase != Phase::Answered || call.answered != Some(fork) {
            return (481, "Call/Transaction Does Not Exist");
        }
        if call.transfer.is_some() || call.reinvite.is_some() {
            return (491, "Request Pending");
        }
        let request = CallRequest { tenant: &call.tenant, caller: &call.caller, dialled: &number };
        let plan = match routing::route(env.site, &request) {
            Decision::Local(plan) => plan,
            Decision::Trunk(_) => {
                return (503, "Service Unavailable: transfers to outside numbers are not supported yet")
            }
            Decision::Reject { code, .. } => return (code.clamp(400, 699), "Transfer target refused by routing"),
        };
        let targets: Vec<(String, String, Dest)> = plan
            .steps
            .first()
            .map(|s| s.extensions.clone())
            .unwrap_or_default()
            .iter()
            .flat_map(|ext| {
                env.location
                    .bindings(&call.tenant, ext, env.now.unix)
                    .into_iter()
                    .filter_map(|b| Some((ext.clone(), b.contact.clone(), Dest::parse(&b.source)?)))
                    .collect::<Vec<_>>()
            })
            .collect();
        if targets.is_empty() {
            return (480, "Temporarily Unavailable: the transfer target is not registered");
        }
        tracing::info!(call = call.id, target = %number, "blind transfer");
        call.why.push_str(&format!(" → transferred to {number}"));
        call.transfer = Some(Transfer { referrer: fork, first: call.forks.len(), target: number });
        for (ext, uri, dest) in targets {
            self.place_fork(env.now.at, call, &ext, uri, dest);
        }
        self.notify_referrer(env.now.at, call, fork, "SIP/2.0 100 Trying", false);
        (202, "Accepted")
    }

    /// A response of a fork ringing a transfer target.
    pub(crate) fn transfer_response(&mut self, env: &Env<'_>, call: &mut Call, index: usize, code: u16, body: &[u8]) {
        let Some(t) = &call.transfer else { return };
        let (referrer, first) = (t.referrer, t.first);
        if code < 200 {
            return;
        }
        if code < 300 {
            let others: Vec<usize> = call.active_forks().filter(|&i| i >= first && i != index).collect();
            for i in others {
                self.cancel_fork(env.now.at, call, i, Some((200, "Call completed elsewhere")));
            }
            if let Some(f) = call.forks.get_mut(index) {
                f.state = ForkState::Answered;
            }
            if !body.is_empty() {
                // Leg B's media now comes from the target: the bridge expects it there.
                let _ = self.media.relay(call.id, Side::B, body);
            }
            self.ack_b(call, index, b"");
            call.answered = Some(index);
            call.transfer = None;
            self.notify_referrer(env.now.at, call, referrer, "SIP/2.0 200 OK", true);
            self.bye_b(env.now.at, call, referrer);
            return;
        }
        if call.active_forks().any(|i| i >= first) {
            return;
        }
        call.transfer = None;
        let frag = format!("SIP/2.0 {code} {}", super::fork::default_reason(code));
        self.notify_referrer(env.now.at, call, referrer, &frag, true);
    }

    /// NOTIFY of the implicit `refer` subscription, with the target's status as sipfrag.
    fn notify_referrer(&mut self, now: std::time::Instant, call: &mut Call, fork: usize, frag: &str, last: bool) {
        let Some(f) = call.forks.get_mut(fork) else { return };
        f.cseq += 1;
        let branch = format!("z9hG4bK{}", self.unique());
        let state = if last { "terminated;reason=noresource" } else { "active;expires=60" };
        let contact = format!("<sip:{}>", self.me);
        let body = format!("{frag}\r\n");
        let request = super::dialog::Request {
            contact: Some(&contact),
            extra: vec![("Event", "refer".to_owned()), ("Subscription-State", state.to_owned())],
            body: body.as_bytes(),
            content_type: Some("message/sipfrag;version=2.0"),
            ..f.in_dialog("NOTIFY", self.me, &branch)
        }
        .bytes();
        let dest = f.dest;
        self.start_client(now, &branch, dest, request, Owner::Fire);
    }
}
