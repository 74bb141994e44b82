//! Validation of call forwarding on extensions. A target must be something routing can place
//! (an extension, ring group or DID of the same tenant, or a number one of its outbound routes
//! takes), so that a forward accepted here never turns into a 404 at call time. Forward-always
//! loops and chains longer than routing follows are refused here too: routing would cut them,
//! but an admin should hear about it when saving, not when a caller gets a 482.

use std::collections::HashMap;

use super::doc::Tenant;
use super::validate::Errors;
use crate::routing::{check_number, matches_pattern, MAX_FORWARDS};

/// The range an admin may pick for `no_answer_secs`: under 5 s a phone barely rings once; over
/// two minutes the caller has hung up long before.
pub const NO_ANSWER_SECS: std::ops::RangeInclusive<u32> = 5..=120;

/// Checks the forwarding fields of every extension of `tenant`; `at` is the tenant's path.
pub(super) fn check(tenant: &Tenant, at: &str, e: &mut Errors) {
    for (i, ext) in tenant.extensions.iter().enumerate() {
        let f = format!("{at}.extensions[{i}]");
        let fields = [
            ("forward_always", &ext.forward_always),
            ("forward_busy", &ext.forward_busy),
            ("forward_no_answer", &ext.forward_no_answer),
        ];
        for (name, target) in fields {
            if let Some(target) = target {
                if let Err(why) = check_target(tenant, &ext.number, target) {
                    e.push(format!("{f}.{name}"), why);
                }
            }
        }
        if !NO_ANSWER_SECS.contains(&ext.no_answer_secs) {
            e.push(format!("{f}.no_answer_secs"), "must be between 5 and 120 seconds");
        }
    }
    check_chains(tenant, at, e);
}

fn check_target(tenant: &Tenant, own: &str, target: &str) -> Result<(), String> {
    check_number(target).map_err(|why| format!("`{}` is not a number: {why}", target.escape_debug()))?;
    if target == own {
        return Err(format!("extension {own} forwards to itself"));
    }
    if tenant.inbound_routes.iter().any(|r| r.did == target && r.destination == own) {
        return Err(format!("extension {own} forwards to itself (DID {target} leads to it)"));
    }
    if tenant.emergency_numbers.iter().any(|n| n == target) {
        return Err(format!("{target} is an emergency number: emergency calls are dialled, never forwarded to"));
    }
    let local = tenant.extensions.iter().any(|x| x.number == target)
        || tenant.ring_groups.iter().any(|g| g.number == target)
        || tenant.inbound_routes.iter().any(|r| r.did == target);
    let outside = tenant.outbound_routes.iter().any(|r| matches_pattern(&r.pattern, target));
    if local || outside {
        Ok(())
    } else {
        Err(format!("no extension or ring group {target} in tenant `{}`, and no outbound route takes it", tenant.name))
    }
}

/// Forward-always chains between extensions: a loop is reported once (on its member that comes
/// first in the document), a chain of more than `MAX_FORWARDS` forwards on the extension it
/// starts from.
fn check_chains(tenant: &Tenant, at: &str, e: &mut Errors) {
    let index: HashMap<&str, usize> =
        tenant.extensions.iter().enumerate().map(|(i, x)| (x.number.as_str(), i)).collect();
    // Only forwards to another extension (directly or through a DID) continue a chain; a ring
    // group or outside number ends it.
    let always: HashMap<&str, &str> = tenant
        .extensions
        .iter()
        .filter_map(|x| {
            let t = x.forward_always.as_deref()?;
            let t = tenant.inbound_routes.iter().find(|r| r.did == t).map_or(t, |r| r.destination.as_str());
            (t != x.number && index.contains_key(t)).then_some((x.number.as_str(), t))
        })
        .collect();
    let is_target = |n: &str| always.values().any(|t| *t == n);
    for (i, ext) in tenant.extensions.iter().enumerate() {
        let start = ext.number.as_str();
        let mut chain = vec![start];
        let mut cur = start;
        while let Some(&next) = always.get(cur) {
            if next == start {
                let first = chain.iter().filter_map(|n| index.get(n)).min().copied();
                if first == Some(i) {
                    e.push(
                        format!("{at}.extensions[{i}].forward_always"),
                        format!("forwarding loop: {} → {next}", chain.join(" → ")),
                    );
                }
                break;
            }
            if chain.contains(&next) {
                break; // runs into a loop that its own members report
            }
            chain.push(next);
            if chain.len() - 1 > MAX_FORWARDS {
                if !is_target(start) {
                    e.push(
                        format!("{at}.extensions[{i}].forward_always"),
                        format!("more than {MAX_FORWARDS} forwards: {}", chain.join(" → ")),
                    );
                }
                break;
            }
            cur = next;
        }
    }
}
