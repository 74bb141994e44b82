//! Local numbers of one tenant: extensions with their forwarding, ring groups, DIDs. The rules
//! and their order are written down in the module doc of `routing`.

use std::time::Duration;

use super::clock::open;
use super::outside;
use super::{matches_pattern, number::shown, Decision, Plan, Situation, Step, MAX_FORWARDS};
use crate::site::{Blocked, Extension, OutboundRoute, RemoteSite, RingGroup, RingStrategy, SiteDoc, Tenant};

/// What a number means within a tenant, in the order routing asks.
enum Target<'a> {
    Emergency,
    Extension(&'a Extension),
    Group(&'a RingGroup),
    Did(&'a str),
    Blocked(&'a Blocked),
    Remote(&'a RemoteSite),
    Outside(&'a OutboundRoute),
    Unknown,
}

/// Routing state for one call: the tenant searched (never another), the caller and the
/// situation (clock, trunk states, mode).
pub(super) struct Resolver<'a> {
    doc: &'a SiteDoc,
    pub(super) tenant: &'a Tenant,
    caller: &'a str,
    pub(super) sit: &'a Situation,
}

impl<'a> Resolver<'a> {
    pub(super) fn new(doc: &'a SiteDoc, tenant: &'a Tenant, caller: &'a str, sit: &'a Situation) -> Self {
        Resolver { doc, tenant, caller, sit }
    }

    /// The decision for a dialled number that passed the checks in `route`.
    pub(super) fn dialled(&self, number: &'a str) -> Decision {
        self.place(number, &[], 0)
    }

    /// The decision for a call from a trunk to `did`: only its inbound routes.
    pub(super) fn inbound(&self, did: &'a str) -> Decision {
        self.did(did, &[], 0)
    }

    /// The first inbound route for `did` that is open now, to its destination.
    fn did(&self, did: &str, trail: &[&'a str], hops: usize) -> Decision {
        let t = self.tenant;
        let caller_ok = |p: &Option<String>| p.as_deref().is_none_or(|p| matches_pattern(p, self.caller));
        let Some(route) = t
            .inbound_routes
            .iter()
            .find(|r| r.did == did && caller_ok(&r.caller) && open(r, self.sit.clock, &t.holidays))
        else {
            return Decision::reject(404, format!("no inbound route for {} is open now", shown(did)));
        };
        let destination = route.destination.as_str();
        let d = match self.classify(destination) {
            Target::Extension(x) => self.extension(x, trail, hops),
            Target::Group(g) => self.group(g, trail),
            Target::Did(_) | Target::Unknown => Decision::reject(404, self.unknown(destination)),
            // An outside destination: the call is forwarded out again.
            _ => self.place(destination, trail, hops + 1),
        };
        prefixed(d, &format!("inbound route {did} to {}", shown(destination)))
    }

    fn classify(&self, number: &str) -> Target<'a> {
        let t = self.tenant;
        if t.emergency_numbers.iter().any(|n| n == number) {
            Target::Emergency
        } else if let Some(x) = t.extensions.iter().find(|x| x.number == number) {
            Target::Extension(x)
        } else if let Some(g) = t.ring_groups.iter().find(|g| g.number == number) {
            Target::Group(g)
        } else if let Some(r) = t.inbound_routes.iter().find(|r| r.did == number) {
            Target::Did(&r.did)
        } else if let Some(b) = t.blocked.iter().find(|b| matches_pattern(&b.pattern, number)) {
            Target::Blocked(b)
        } else if let Some(r) = t.remote_sites.iter().find(|r| matches_pattern(&r.pattern, number)) {
            Target::Remote(r)
        } else if let Some(r) = t.outbound_routes.iter().find(|r| matches_pattern(&r.pattern, number)) {
            Target::Outside(r)
        } else {
            Target::Unknown
        }
    }

    /// Where a number goes. `trail`: extensions this decision already passed through (they are
    /// not rung or forwarded to again); `hops`: forwards followed to get here.
    fn place(&self, number: &str, trail: &[&'a str], hops: usize) -> Decision {
        match self.classify(number) {
            Target::Emergency => outside::emergency(self.doc, Some(self.tenant), number, self.sit),
            Target::Extension(x) => self.extension(x, trail, hops),
            Target::Group(g) => self.group(g, trail),
            Target::Did(did) if hops > MAX_FORWARDS => {
                Decision::reject(483, format!("more than {MAX_FORWARDS} forwards reaching DID {did}"))
            }
            Target::Did(did) => self.did(did, trail, hops),
            Target::Blocked(b) => {
                let why = if b.reason.is_empty() {
                    format!("calls to {} are blocked", shown(number))
                } else {
                    b.reason.clone()
                };
                Decision::reject(403, why)
            }
            Target::Remote(site) => self.remote(site, number),
            Target::Outside(route) => outside::outbound(self, route, number, format!("outbound route {}", route.name)),
            Target::Unknown => Decision::reject(404, self.unknown(number)),
        }
    }

    /// Another site's extension: through the cloud while it is there, else the public network.
    fn remote(&self, site: &RemoteSite, number: &str) -> Decision {
        let cloud_up = !self.sit.survivable && outside::cloud_usable(self);
        if cloud_up {
            return outside::cloud(self, number, format!("site {} through the cloud", site.name));
        }
        let Some(prefix) = &site.pstn_prefix else {
            return Decision::reject(
                486,
                format!("site {} is reachable only through the cloud, which is down (survivable mode)", site.name),
            );
        };
        let rest = number.get(site.strip as usize..).unwrap_or_default();
        let pstn = format!("{prefix}{rest}");
        match self.tenant.outbound_routes.iter().find(|r| matches_pattern(&r.pattern, &pstn)) {
            Some(route) => outside::outbound(
                self,
                route,
                &pstn,
                format!(
                    "site {} over the public network as {pstn} (survivable mode), outbound route {}",
                    site.name, route.name
                ),
            ),
            None => {
                Decision::reject(404, format!("site {}: no outbound route for its public number {pstn}", site.name))
            }
        }
    }

    pub(super) fn unknown(&self, number: &str) -> String {
        format!("no extension or ring group {} in tenant {}", shown(number), self.tenant.name)
    }

    /// An extension: follow its forward-always chain, then ring the one at the end.
    fn extension(&self, first: &'a Extension, trail: &[&'a str], hops: usize) -> Decision {
        // Reached through a DID or a forward rather than dialled: the caller and extensions
        // already on the way are not rung again.
        if first.number == self.caller {
            return Decision::reject(486, format!("extension {} is the caller", first.number));
        }
        if trail.contains(&first.number.as_str()) {
            return Decision::reject(482, format!("forwarding loop: {} → {}", trail.join(" → "), first.number));
        }
        let mut chain: Vec<&'a str> = vec![&first.number];
        let mut whys: Vec<String> = Vec::new();
        let mut cur = first;
        while let Some(target) = cur.forward_always.as_deref() {
            if target == self.caller {
                whys.push(format!("{} forwards always to {target}, the caller: not followed", cur.number));
                break;
            }
            let path = || format!("{} → {}", chain.join(" → "), shown(target));
            if chain.contains(&target) || trail.contains(&target) {
                return Decision::reject(482, format!("forwarding loop: {}", path()));
            }
            if hops + chain.len() > MAX_FORWARDS {
                return Decision::reject(483, format!("more than {MAX_FORWARDS} forwards: {}", path()));
            }
            whys.push(format!("{} forwards always to {}", cur.number, shown(target)));
            match self.classify(target) {
                Target::Extension(next) => {
                    chain.push(&next.number);
                    cur = next;
                }
                _ => {
                    let onward: Vec<&'a str> = trail.iter().copied().chain(chain.iter().copied()).collect();
                    let d = self.place(target, &onward, hops + chain.len());
                    return prefixed(d, &whys.join(", "));
                }
            }
        }

        let here: Vec<&'a str> = trail.iter().copied().chain(chain.iter().copied()).collect();
        let hops_here = hops + chain.len() - 1;
        let mut notes = Vec::new();
        let mut conditional = |kind: &str, target: Option<&str>| {
            let target = target?;
            match self.conditional(target, &here, hops_here) {
                Ok(d) => Some(Box::new(d)),
                Err(why) => {
                    notes.push(format!("{kind} forward to {} not followed: {why}", shown(target)));
                    None
                }
            }
        };
        let on_busy = conditional("busy", cur.forward_busy.as_deref());
        let on_no_answer = conditional("no-answer", cur.forward_no_answer.as_deref());
        // Ring for `no_answer_secs` only when there is somewhere to go afterwards.
        let ring_for = on_no_answer.as_ref().map(|_| Duration::from_secs(cur.no_answer_secs.into()));
        let mut why = if whys.is_empty() { format!("extension {}", cur.number) } else { whys.join(", ") };
        for note in notes {
            why.push_str("; ");
            why.push_str(&note);
        }
        Decision::Local(Plan {
            steps: vec![Step { extensions: vec![cur.number.clone()], ring_for }],
            on_busy,
            on_no_answer,
            why,
        })
    }

    /// A busy or no-answer forward. `Err` says why it is not followed: the call then simply
    /// ends busy or unanswered, which beats ringing someone twice or rejecting oddly.
    fn conditional(&self, target: &str, trail: &[&'a str], hops: usize) -> Result<Decision, String> {
        if target == self.caller {
            return Err(format!("{} is the caller", shown(target)));
        }
        if trail.contains(&target) {
            return Err(format!("{} is already on the way", shown(target)));
        }
        if hops + 1 > MAX_FORWARDS {
            return Err(format!("more than {MAX_FORWARDS} forwards"));
        }
        match self.place(target, trail, hops + 1) {
            Decision::Reject { reason, .. } => Err(reason),
            d => Ok(d),
        }
    }

    /// A ring group: members ring their phones directly, without their own forwarding.
    fn group(&self, g: &'a RingGroup, trail: &[&'a str]) -> Decision {
        let mut members: Vec<String> = Vec::new();
        for m in &g.members {
            let known = self.tenant.extensions.iter().any(|x| &x.number == m);
            if known && m != self.caller && !trail.contains(&m.as_str()) && !members.contains(m) {
                members.push(m.clone());
            }
        }
        if members.is_empty() {
            return Decision::reject(480, format!("ring group {} has no member to ring but the caller", g.number));
        }
        let ring_for = Some(Duration::from_secs(g.member_timeout.into()));
        let steps = match g.strategy {
            RingStrategy::Simultaneous => vec![Step { extensions: members, ring_for }],
            RingStrategy::Sequential => members.into_iter().map(|m| Step { extensions: vec![m], ring_for }).collect(),
        };
        Decision::Local(Plan {
            steps,
            on_busy: None,
            on_no_answer: None,
            why: format!("ring group {} ({})", g.number, g.strategy.as_str()),
        })
    }
}

/// Puts how we got here in front of a decision's account.
fn prefixed(d: Decision, prefix: &str) -> Decision {
    match d {
        Decision::Local(mut plan) => {
            plan.why = format!("{prefix}, {}", plan.why);
            Decision::Local(plan)
        }
        Decision::Reject { code, reason } => Decision::Reject { code, reason: format!("{prefix}: {reason}") },
        outside => outside,
    }
}
