//! Numbers that leave the site: which trunks, in which order, with which number. Trunk states
//! come from the [`Situation`]; the config says the order and the rewriting.

use super::resolve::Resolver;
use super::{matches_pattern, number::shown, Avail, Decision, Situation, TrunkLeg, TrunkPlan};
use crate::site::{OutboundRoute, RouteTrunk, SiteDoc, Tenant, TrunkRole};

/// `number` with `strip` leading characters taken off and `prepend` put in front.
fn rewrite(number: &str, strip: u32, prepend: &str) -> String {
    let rest = number.get(strip as usize..).unwrap_or_default();
    format!("{prepend}{rest}")
}

/// The number as trunk `t` of `route` wants it: the trunk's own rewriting, else the route's.
fn leg_number(route: &OutboundRoute, t: &RouteTrunk, number: &str) -> String {
    match t {
        RouteTrunk::Name(_) => rewrite(number, route.strip, &route.prepend),
        RouteTrunk::Rewrite(r) => {
            rewrite(number, r.strip.unwrap_or(route.strip), r.prepend.as_deref().unwrap_or(&route.prepend))
        }
    }
}

fn state_name(a: Avail) -> &'static str {
    match a {
        Avail::Up => "up",
        Avail::Down => "down",
        Avail::Full => "full",
    }
}

/// An ordinary outside number by `route`: its trunks that exist, are up and have a free
/// channel, in the route's order.
pub(super) fn outbound(r: &Resolver<'_>, route: &OutboundRoute, number: &str, why: String) -> Decision {
    let tenant = r.tenant;
    let mut legs = Vec::new();
    let mut skipped = Vec::new();
    for t in &route.trunks {
        if !tenant.trunks.iter().any(|x| x.name == t.name()) {
            skipped.push(format!("{} (not defined)", t.name()));
            continue;
        }
        match r.sit.avail(&tenant.name, t.name()) {
            Avail::Up => legs.push(TrunkLeg {
                tenant: tenant.name.clone(),
                trunk: t.name().to_owned(),
                number: leg_number(route, t, number),
            }),
            a => skipped.push(format!("{} ({})", t.name(), state_name(a))),
        }
    }
    if legs.is_empty() {
        return Decision::reject(503, format!("no trunk can take {} now: {}", shown(number), skipped.join(", ")));
    }
    let mut why = format!("{why} via {}", legs.iter().map(|l| l.trunk.as_str()).collect::<Vec<_>>().join(", "));
    if !skipped.is_empty() {
        why.push_str(&format!(" (skipped {})", skipped.join(", ")));
    }
    Decision::Trunk(TrunkPlan { number: number.to_owned(), emergency: false, legs, why })
}

/// Whether any cloud trunk of the tenant is up with a free channel.
pub(super) fn cloud_usable(r: &Resolver<'_>) -> bool {
    r.tenant.trunks.iter().any(|t| t.role == TrunkRole::Cloud && r.sit.avail(&r.tenant.name, &t.name) == Avail::Up)
}

/// Another site's extension through the tenant's cloud trunks that are up, number unchanged.
pub(super) fn cloud(r: &Resolver<'_>, number: &str, why: String) -> Decision {
    let legs: Vec<TrunkLeg> = r
        .tenant
        .trunks
        .iter()
        .filter(|t| t.role == TrunkRole::Cloud && r.sit.avail(&r.tenant.name, &t.name) == Avail::Up)
        .map(|t| TrunkLeg { tenant: r.tenant.name.clone(), trunk: t.name.clone(), number: number.to_owned() })
        .collect();
    let why = format!("{why} via {}", legs.iter().map(|l| l.trunk.as_str()).collect::<Vec<_>>().join(", "));
    Decision::Trunk(TrunkPlan { number: number.to_owned(), emergency: false, legs, why })
}

/// An emergency number: every trunk of `own` first, those up first (cloud before fallback, in
/// the order listed), then those down as a last resort; then, rather than fail an emergency
/// call, the trunks of the box's other tenants. Channel limits do not apply. The number is
/// rewritten by the first of the trunk's tenant's outbound routes that matches it and names
/// the trunk. `own` is `None` when the caller's tenant is gone.
pub(super) fn emergency(doc: &SiteDoc, own: Option<&Tenant>, number: &str, sit: &Situation) -> Decision {
    let mut legs: Vec<(u8, TrunkLeg)> = Vec::new();
    let tenants = own.into_iter().chain(doc.tenants.iter().filter(|t| own.is_none_or(|o| o.name != t.name)));
    for tenant in tenants {
        let theirs = own.is_some_and(|o| o.name == tenant.name);
        for t in &tenant.trunks {
            let up = matches!(sit.avail(&tenant.name, &t.name), Avail::Up | Avail::Full);
            let rank = match (theirs || own.is_none(), up, t.role) {
                (true, true, TrunkRole::Cloud) => 0,
                (true, true, TrunkRole::Fallback) => 1,
                (true, false, TrunkRole::Cloud) => 2,
                (true, false, TrunkRole::Fallback) => 3,
                (false, true, _) => 4,
                (false, false, _) => 5,
            };
            let dialled = tenant
                .outbound_routes
                .iter()
                .filter(|r| matches_pattern(&r.pattern, number))
                .find_map(|r| r.trunks.iter().find(|x| x.name() == t.name).map(|x| leg_number(r, x, number)))
                .unwrap_or_else(|| number.to_owned());
            legs.push((rank, TrunkLeg { tenant: tenant.name.clone(), trunk: t.name.clone(), number: dialled }));
        }
    }
    // Stable: within a rank, the order the trunks are listed in.
    legs.sort_by_key(|(rank, _)| *rank);
    if legs.is_empty() {
        return Decision::reject(503, format!("emergency number {} but no trunk is configured", shown(number)));
    }
    let legs: Vec<TrunkLeg> = legs.into_iter().map(|(_, l)| l).collect();
    let via: Vec<String> = legs.iter().map(|l| format!("{}/{}", l.tenant, l.trunk)).collect();
    let why = format!("emergency number {} via {}", shown(number), via.join(", "));
    Decision::Trunk(TrunkPlan { number: number.to_owned(), emergency: true, legs, why })
}
