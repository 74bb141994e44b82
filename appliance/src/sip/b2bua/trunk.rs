//! Outside calls over trunks: the INVITE towards a trunk (its domain, the caller ID it wants,
//! its digest challenge answered), and failover: a leg that answers 5xx, times out or says
//! nothing within the trunk's probe timeout hands the call to the next leg of the plan, and
//! trunk health hears of the failure. Any other final answer (busy, not found) is the far
//! end's, and goes back to the caller.

use std::time::Duration;

use super::call::{Call, Fork, ForkState, TrunkCall};
use super::cdr::Disposition;
use super::dialog::{Dest, Head, Request};
use super::fork::ALLOW;
use super::{B2bua, Env, Owner};
use crate::routing::{TrunkLeg, TrunkPlan};
use crate::site::{SiteDoc, Trunk};

/// Where trunks are reached right now (DNS targets and health live outside the B2BUA).
pub trait TrunkTargets {
    fn target(&self, tenant: &str, trunk: &str) -> Option<Dest>;
}

/// No trunk reachable: for tests and for a box without trunks.
pub struct NoTrunks;

impl TrunkTargets for NoTrunks {
    fn target(&self, _: &str, _: &str) -> Option<Dest> {
        None
    }
}

/// A leg that failed during setup, for trunk health: (tenant, trunk, why).
pub type TrunkFailure = (String, String, String);

fn trunk_of<'d>(site: &'d SiteDoc, leg: &TrunkLeg) -> Option<&'d Trunk> {
    site.tenants.iter().find(|t| t.name == leg.tenant)?.trunks.iter().find(|t| t.name == leg.trunk)
}

/// How long a trunk may stay silent after our INVITE before the next one is tried: its probe
/// timeout, the same measure of "alive" its health uses.
fn setup_timeout(trunk: &Trunk) -> Duration {
    Duration::from_secs(trunk.health.probe_timeout.max(1).into())
}

impl B2bua {
    /// Places `call` on the first leg of `plan` that can be reached.
    pub(crate) fn follow_trunk(&mut self, env: &Env<'_>, call: &mut Call, plan: TrunkPlan) {
        if plan.emergency {
            tracing::warn!(call = call.id, caller = %call.caller, number = %plan.number, "emergency call");
        }
        call.trunk = Some(TrunkCall { plan, leg: 0, failures: Vec::new() });
        self.try_leg(env, call);
    }

    /// Tries the current leg, skipping those without a target; none left fails the call.
    fn try_leg(&mut self, env: &Env<'_>, call: &mut Call) {
        loop {
            let Some(tc) = call.trunk.as_mut() else { return };
            let Some(leg) = tc.plan.legs.get(tc.leg).cloned() else { break };
            let reach = trunk_of(env.site, &leg).zip(env.trunks.target(&leg.tenant, &leg.trunk));
            let Some((trunk, dest)) = reach else {
                tc.failures.push(format!("{}: no address", leg.trunk));
                tc.leg += 1;
                continue;
            };
            let trunk = trunk.clone();
            self.place_trunk_fork(env, call, &trunk, leg, dest, None);
            return;
        }
        let Some(tc) = call.trunk.as_ref() else { return };
        let emergency = tc.plan.emergency;
        let text = format!("no trunk could take {}: {}", tc.plan.number, tc.failures.join("; "));
        if emergency {
            tracing::error!(call = call.id, number = %tc.plan.number, failures = %tc.failures.join("; "), "emergency call failed on every trunk");
        }
        self.fail(env.now, call, 503, &format!("Service Unavailable: {text}"), Disposition::NoTrunk);
    }

    /// An INVITE to a trunk. `again`: the fork answering a challenge (same Call-ID and From,
    /// next CSeq, the credentials header).
    fn place_trunk_fork(
        &mut self,
        env: &Env<'_>,
        call: &mut Call,
        trunk: &Trunk,
        leg: TrunkLeg,
        dest: Dest,
        again: Option<(usize, (&'static str, String))>,
    ) {
        let domain = trunk.domain().to_owned();
        let uri = match trunk.port {
            Some(port) => format!("sip:{}@{domain}:{port}", leg.number),
            None => format!("sip:{}@{domain}", leg.number),
        };
        let (call_id, from, cseq, auth) = match again.and_then(|(i, h)| call.forks.get(i).map(|f| (f, h))) {
            Some((f, h)) => (f.call_id.clone(), f.from.clone(), f.cseq + 1, Some(h)),
            None => {
                let presented = self.caller_id(env.site, call, trunk);
                let tag = self.unique();
                (self.unique(), format!("<sip:{presented}@{domain}>;tag={tag}"), 1, None)
            }
        };
        let branch = format!("z9hG4bK{}", self.unique());
        let to = format!("<sip:{}@{domain}>", leg.number);
        let via = self.via(dest, &branch);
        let contact = match trunk.username.as_deref().filter(|_| trunk.registers()) {
            Some(user) => format!("<sip:{user}@{}>", self.me),
            None => self.contact(dest),
        };
        let mut extra = vec![("Allow", ALLOW.to_owned())];
        extra.extend(auth);
        let offer = crate::media::codecs::keep_codecs(&call.offer, &trunk.codecs);
        let request = Request {
            method: "INVITE",
            uri: &uri,
            via: via.clone(),
            from: &from,
            to: &to,
            call_id: &call_id,
            cseq,
            contact: Some(&contact),
            extra,
            body: &offer,
            content_type: call.content_type.as_deref(),
        }
        .bytes();
        let index = call.forks.len();
        self.by_b.insert(call_id.clone(), (call.id, index));
        self.start_client(env.now.at, &branch, dest, request, Owner::Fork { call: call.id, fork: index });
        tracing::info!(call = call.id, trunk = %leg.trunk, number = %leg.number, "placing the call on a trunk");
        call.why.push_str(&format!(" → trying trunk {}", leg.trunk));
        call.forks.push(Fork {
            extension: leg.number.clone(),
            dest,
            uri,
            call_id,
            from,
            to,
            to_tagged: None,
            via,
            branch,
            cseq,
            state: ForkState::Calling,
            cancel_wanted: false,
            remote_target: None,
            ack: None,
            step: call.step,
            status: 0,
            trunk: Some(leg),
        });
        call.step_until = Some(env.now.at + setup_timeout(trunk));
    }

    /// The number a trunk call presents: the extension's own, else the trunk's, else the
    /// caller as it is (an outside caller forwarded out again keeps their number).
    fn caller_id(&self, site: &SiteDoc, call: &Call, trunk: &Trunk) -> String {
        let own = site
            .tenants
            .iter()
            .find(|t| t.name == call.tenant)
            .and_then(|t| t.extensions.iter().find(|x| x.number == call.caller))
            .and_then(|x| x.caller_id.clone());
        match (own, &trunk.caller_id, &call.a_trunk) {
            (Some(own), _, _) => own,
            (None, _, Some(_)) => call.caller.clone(),
            (None, Some(t), None) => t.clone(),
            (None, None, None) => call.caller.clone(),
        }
    }

    /// A trunk fork's final failure. Returns after deciding: answer the challenge, move to the
    /// next leg, or give the caller the far end's answer.
    pub(crate) fn trunk_fork_failed(
        &mut self,
        env: &Env<'_>,
        call: &mut Call,
        index: usize,
        code: u16,
        phrase: &str,
        head: Option<&Head<'_>>,
    ) {
        let Some(leg) = call.forks.get(index).and_then(|f| f.trunk.clone()) else { return };
        let Some(trunk) = trunk_of(env.site, &leg).cloned() else { return };
        if matches!(code, 401 | 407) {
            if let Some(header) = self.answer_challenge(call, index, &trunk, code, head) {
                let Some(dest) = call.forks.get(index).map(|f| f.dest) else { return };
                self.place_trunk_fork(env, call, &trunk, leg, dest, Some((index, header)));
                return;
            }
        }
        let failed_over = code >= 500 || code == 408 || code == 0;
        if !failed_over {
            // The far end's answer: busy, not found, declined, or our credentials refused.
            let disposition = match code {
                486 | 600 => Disposition::Busy,
                480 => Disposition::NoAnswer,
                _ => Disposition::Failed,
            };
            let phrase = if phrase.is_empty() { super::fork::default_reason(code) } else { phrase };
            self.fail(env.now, call, code, phrase, disposition);
            return;
        }
        let why = if code == 0 { "no answer to the INVITE".to_owned() } else { format!("{code} {phrase}") };
        self.trunk_failures.push((leg.tenant.clone(), leg.trunk.clone(), why.clone()));
        tracing::warn!(call = call.id, trunk = %leg.trunk, %why, "trunk failed during setup: trying the next");
        if let Some(tc) = call.trunk.as_mut() {
            tc.failures.push(format!("{}: {why}", leg.trunk));
            tc.leg += 1;
        }
        self.try_leg(env, call);
    }

    /// The trunk said nothing within its setup timeout: abandon the fork (a late answer is
    /// cancelled or hung up by the usual race handling) and fail over.
    pub(crate) fn trunk_setup_timeout(&mut self, env: &Env<'_>, call: &mut Call) {
        call.step_until = None;
        let Some(index) = current_trunk_fork(call) else { return };
        if call.forks[index].state != ForkState::Calling {
            return;
        }
        // Abandoned: its INVITE is not retransmitted any more, so that a trunk coming back
        // a moment later is not offered a call another trunk carries.
        let branch = call.forks[index].branch.clone();
        self.clients.remove(&super::client_key(&branch, "INVITE"));
        call.forks[index].state = ForkState::Done;
        self.trunk_fork_failed(env, call, index, 0, "", None);
    }

    /// The credentials header answering a trunk's challenge, once per fork chain: a second
    /// challenge for the same leg means the credentials are wrong.
    fn answer_challenge(
        &mut self,
        call: &Call,
        index: usize,
        trunk: &Trunk,
        code: u16,
        head: Option<&Head<'_>>,
    ) -> Option<(&'static str, String)> {
        let f = call.forks.get(index)?;
        if f.cseq > 1 {
            return None;
        }
        let (user, password) = (trunk.username.as_deref()?, trunk.secret.as_deref()?);
        let (ask, answer) = if code == 407 {
            ("proxy-authenticate", "Proxy-Authorization")
        } else {
            ("www-authenticate", "Authorization")
        };
        let challenge = head?.get(ask)?;
        let cnonce = self.unique();
        match crate::sip::digest::client::authorize(challenge, "INVITE", &f.uri, user, password, &cnonce, 1) {
            Ok(value) => Some((answer, value)),
            Err(e) => {
                tracing::warn!(trunk = %trunk.name, error = %e, "cannot answer the trunk's challenge");
                None
            }
        }
    }

    /// Calls up or being set up per trunk, (tenant, trunk) → count: for channel limits and
    /// for failing back only when the fallback path is idle.
    pub fn trunk_channels(&self) -> Vec<((String, String), usize)> {
        let mut out: Vec<((String, String), usize)> = Vec::new();
        let mut add = |tenant: &str, trunk: &str| match out.iter_mut().find(|((t, n), _)| t == tenant && n == trunk) {
            Some((_, c)) => *c += 1,
            None => out.push(((tenant.to_owned(), trunk.to_owned()), 1)),
        };
        for call in self.calls.values().filter(|c| c.phase != super::call::Phase::Ended) {
            if let Some(t) = &call.a_trunk {
                add(&call.tenant, t);
            }
            let live = call.forks.iter().filter(|f| f.state != ForkState::Done);
            for leg in live.filter_map(|f| f.trunk.as_ref()) {
                add(&leg.tenant, &leg.trunk);
            }
        }
        out
    }

    /// Trunk failures seen since the last call, for trunk health.
    pub fn take_trunk_failures(&mut self) -> Vec<TrunkFailure> {
        std::mem::take(&mut self.trunk_failures)
    }
}

/// A call placed over trunks (its `step_until` is the current leg's setup timeout).
pub(crate) fn is_trunk_call(call: &Call) -> bool {
    call.trunk.is_some() && call.plan.is_none()
}

/// The fork of the leg being tried now: only its failure moves the call on (an abandoned
/// leg's late 408 must not).
pub(crate) fn current_trunk_fork(call: &Call) -> Option<usize> {
    call.forks.iter().rposition(|f| f.trunk.is_some())
}
