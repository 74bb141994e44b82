//! Where a call goes: a pure function of the site config and the call. No I/O, no clock, no
//! registrations: the B2BUA in `sip` asks [`route`], then rings what the [`Decision`] says and
//! falls back to `on_busy` / `on_no_answer` itself, because only it sees the phones answer.
//!
//! # The order of the rules (each one is a step in [`route`])
//! 1. The dialled string must be a number: digits, `*`, `#`, a leading `+`, at most
//!    [`MAX_NUMBER_LEN`] characters. Anything else is a 484.
//! 2. One of the tenant's emergency numbers is `Outside { emergency: true }`, before anything
//!    else and never rejected, even when the tenant is unknown (then `112` and `911` are).
//! 3. The tenant must exist (404). Calls never cross tenants: only the caller's tenant is
//!    searched, so another tenant's `101` is simply not there.
//! 4. Dialling your own extension is a 486 (also when a DID leads to it).
//! 5. An extension of the tenant: its `forward_always` chain is followed (at most
//!    [`MAX_FORWARDS`] forwards; a loop is a 482, a longer chain a 483; a forward to the caller
//!    is not followed, the extension rings itself). The extension at the end rings in one step,
//!    for `no_answer_secs` when it forwards on no answer, else until answered or refused; its
//!    `forward_busy` / `forward_no_answer` become `on_busy` / `on_no_answer`, resolved the same
//!    way. A conditional forward that would come back to an extension already on the way, to
//!    the caller, or past [`MAX_FORWARDS`] is not followed (`None`), and `why` says so.
//! 6. A ring group: simultaneous is one step with every member for `member_timeout`,
//!    sequential one step per member, each for `member_timeout`. Members ring their phones
//!    directly (their own forwarding is for calls to them, not to the group); the caller and
//!    extensions already on the way are left out. A group left with nobody is a 480.
//! 7. A DID of the tenant's inbound routes reaches its destination locally (an inside caller
//!    dialling the office's public number never goes out and back in). Of several routes for
//!    one DID the first that is open wins: its caller pattern matches, and its days and hours
//!    hold in the site's time zone on a day that is not a holiday. None open is a 404.
//! 8. A blocked number (premium rate, ...) is a 403 with the tenant's reason.
//! 9. Another site's extension goes through the cloud trunk; in survivable mode (or with every
//!    cloud trunk down) through the public network by its `pstn_prefix`, else a 486.
//! 10. A number matching one of the tenant's outbound route patterns (the first that matches)
//!     is a [`TrunkPlan`]: the route's trunks that are up and not full, in order, each with
//!     the number rewritten for it. None left is a 503 naming each trunk's state.
//! 11. Anything else is a 404 naming the number and the tenant.
//!
//! Emergency plans hold every trunk of the tenant: those up first (cloud first), then those
//! down or full, as a last resort; channel limits do not apply to them.
//!
//! Calls from a trunk are routed by [`route_inbound`]: only the DID's inbound routes, never
//! an extension dialled directly from outside.
//!
//! The same rules resolve forwarding targets, so a target accepted by `site::validate` is one
//! that routing can place. `docs/calls.md` lists every rejection and its reason.
//!
//! # Layout
//! `number.rs` (what may be dialled), `pattern.rs` (outbound dial patterns), `resolve.rs`
//! (extensions, ring groups, forwarding chains), `outside.rs` (trunks, blocked numbers, other
//! sites), `clock.rs` (days, hours, holidays), `tests.rs` (table tests and properties).

mod clock;
mod number;
mod outside;
mod pattern;
mod resolve;

use std::time::Duration;

use crate::site::{SiteDoc, DEFAULT_EMERGENCY_NUMBERS};

pub use clock::{date, hours, weekday, Clock};
pub use number::{check_number, NumberError, MAX_NUMBER_LEN};
pub use pattern::matches_pattern;

/// Forwards followed along one path of a decision (always, busy and no answer together).
/// Five is more than any sane office needs and keeps a decision tree small.
pub const MAX_FORWARDS: usize = 5;

/// One call to place, as the B2BUA knows it after authenticating the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRequest<'a> {
    /// The caller's tenant (from the domain the caller registered to).
    pub tenant: &'a str,
    /// The caller's extension number, or the outside caller's number for trunk calls.
    pub caller: &'a str,
    /// The number dialled, as it arrives in the request URI's user part.
    pub dialled: &'a str,
}

/// What to do with a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Ring extensions of the tenant, step by step.
    Local(Plan),
    /// A number outside the site, over trunks.
    Trunk(TrunkPlan),
    /// Refuse the call with this SIP status; `reason` says why, for the reason phrase and logs.
    Reject { code: u16, reason: String },
}

/// The extensions to ring for a local call and where the call goes when they do not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Tried in order; the call moves on when a step's `ring_for` runs out or all its phones
    /// refuse.
    pub steps: Vec<Step>,
    /// Where the call goes when the extension is busy (forward busy, resolved).
    pub on_busy: Option<Box<Decision>>,
    /// Where the call goes when the last step rang out (forward no answer, resolved).
    pub on_no_answer: Option<Box<Decision>>,
    /// Why this plan, for logs and CDRs: "extension 101", "ring group 600 (sequential)",
    /// "101 forwards always to 102".
    pub why: String,
}

/// The trunks to try for an outside number, in order: the B2BUA moves to the next when one
/// fails during setup (5xx, no answer), and tells trunk health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkPlan {
    /// The number as the caller dialled it.
    pub number: String,
    /// One of the tenant's emergency numbers: logged, never limited.
    pub emergency: bool,
    pub legs: Vec<TrunkLeg>,
    pub why: String,
}

/// One trunk of a plan, with the number as that trunk wants it (strip and prepend applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkLeg {
    pub tenant: String,
    pub trunk: String,
    pub number: String,
}

/// What a trunk can take right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Avail {
    Up,
    Down,
    /// Up, but at its `max_channels`.
    Full,
}

/// What routing needs besides the config: the clock, trunk states and the site's mode. The
/// default knows no time, has every trunk up and is not survivable.
#[derive(Debug, Clone, Default)]
pub struct Situation {
    pub clock: Option<Clock>,
    pub survivable: bool,
    /// Trunks that are not simply up: (tenant, trunk, state). Absent means up.
    pub trunks: Vec<(String, String, Avail)>,
}

impl Situation {
    pub fn avail(&self, tenant: &str, trunk: &str) -> Avail {
        self.trunks.iter().find(|(t, n, _)| t == tenant && n == trunk).map_or(Avail::Up, |(_, _, a)| *a)
    }
}

/// Extensions rung together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub extensions: Vec<String>,
    /// How long this step rings; `None` = until answered or refused.
    pub ring_for: Option<Duration>,
}

impl Decision {
    fn reject(code: u16, reason: impl Into<String>) -> Decision {
        Decision::Reject { code, reason: reason.into() }
    }

    /// A one-line account of the decision, for logs.
    pub fn why(&self) -> String {
        match self {
            Decision::Local(plan) => plan.why.clone(),
            Decision::Trunk(plan) => plan.why.clone(),
            Decision::Reject { code, reason } => format!("rejected ({code}): {reason}"),
        }
    }
}

impl Plan {
    /// Every extension this plan rings (not those of its forwards), in order.
    pub fn extensions(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().flat_map(|s| s.extensions.iter().map(String::as_str))
    }
}

/// Decides where `call` goes under `doc`, with every trunk up and no clock (tests, tools).
pub fn route(doc: &SiteDoc, call: &CallRequest<'_>) -> Decision {
    route_in(doc, call, &Situation::default())
}

/// Decides where `call` from a phone goes under `doc` in situation `sit`. Total: every input
/// yields a decision. See the module doc for the rules and their order.
pub fn route_in(doc: &SiteDoc, call: &CallRequest<'_>, sit: &Situation) -> Decision {
    let dialled = call.dialled;
    if let Err(e) = check_number(dialled) {
        return Decision::reject(484, format!("`{}` cannot be dialled: {e}", number::shown(dialled)));
    }
    let tenant = doc.tenants.iter().find(|t| t.name == call.tenant);
    let Some(tenant) = tenant else {
        // The tenant may have just been removed: an emergency call must still go out.
        if DEFAULT_EMERGENCY_NUMBERS.contains(&dialled) {
            return outside::emergency(doc, None, dialled, sit);
        }
        return Decision::reject(404, format!("no tenant `{}` on this box", number::shown(call.tenant)));
    };
    if tenant.emergency_numbers.iter().any(|n| n == dialled) {
        return outside::emergency(doc, Some(tenant), dialled, sit);
    }
    if dialled == call.caller && tenant.extensions.iter().any(|x| x.number == dialled) {
        return Decision::reject(486, format!("extension {dialled} called itself"));
    }
    resolve::Resolver::new(doc, tenant, call.caller, sit).dialled(dialled)
}

/// Decides where a call from trunk `trunk` of tenant `tenant` goes: by the DID it was sent
/// to and the inbound routes open now. `caller` is the outside caller's number.
pub fn route_inbound(doc: &SiteDoc, tenant: &str, caller: &str, did: &str, sit: &Situation) -> Decision {
    let Some(tenant) = doc.tenants.iter().find(|t| t.name == tenant) else {
        return Decision::reject(404, format!("no tenant `{}` on this box", number::shown(tenant)));
    };
    if check_number(did).is_err() || !tenant.inbound_routes.iter().any(|r| r.did == did) {
        return Decision::reject(404, format!("no inbound route for {} in tenant {}", number::shown(did), tenant.name));
    }
    resolve::Resolver::new(doc, tenant, caller, sit).inbound(did)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod trunk_tests;
