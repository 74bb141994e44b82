//! Whole-document validation. Every problem is collected (not just the first), each named by
//! the path of the field it is about, so that an admin fixes a document in one pass.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::Ipv4Addr;

use super::doc::{DhcpScope, SiteDoc, Tenant, SCHEMA};

/// One problem in a document: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

pub(super) struct Errors(Vec<FieldError>);

impl Errors {
    pub(super) fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), reason: reason.into() });
    }
}

/// Largest template an admin may set: vendor files are a few KiB.
const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

/// A tenant's own templates: one per vendor, of bounded size, and each must render for a
/// sample phone (an unknown name or a broken section is named with its line).
fn validate_templates(tenant: &Tenant, at: &str, e: &mut Errors) {
    let mut vendors = HashSet::new();
    for (i, t) in tenant.templates.iter().enumerate() {
        let field = format!("{at}.templates[{i}]");
        if !vendors.insert(t.vendor) {
            e.push(format!("{field}.vendor"), format!("a second template for {}", t.vendor.as_str()));
        }
        if t.body.len() > MAX_TEMPLATE_BYTES {
            e.push(format!("{field}.body"), format!("longer than {MAX_TEMPLATE_BYTES} bytes"));
        } else if let Err(reason) = crate::provision::render::check(t.vendor, &t.body) {
            e.push(format!("{field}.body"), reason.to_string());
        }
    }
}

/// Checks a document and normalises it in place (MAC spelling). Returns every error found.
pub fn validate(doc: &mut SiteDoc) -> Result<(), Vec<FieldError>> {
    let mut e = Errors(Vec::new());
    if doc.schema != SCHEMA {
        e.push("schema", format!("this box reads schema {SCHEMA}, the document is schema {}", doc.schema));
    }
    if doc.site.name.trim().is_empty() {
        e.push("site.name", "must not be empty");
    }
    if doc.site.time_zone != "UTC" && jiff::tz::TimeZone::get(&doc.site.time_zone).is_err() {
        e.push(
            "site.time_zone",
            format!("`{}` is not a time zone this box knows (like Europe/Berlin)", doc.site.time_zone),
        );
    }

    let mut tenant_names = HashSet::new();
    let mut domain_owner: HashMap<String, String> = HashMap::new();
    let mut macs = HashSet::new();
    for (ti, tenant) in doc.tenants.iter_mut().enumerate() {
        let at = format!("tenants[{ti}]");
        if !is_slug(&tenant.name) {
            e.push(format!("{at}.name"), "must be 1-32 lowercase letters, digits or dashes");
        } else if !tenant_names.insert(tenant.name.clone()) {
            e.push(format!("{at}.name"), format!("tenant `{}` is defined twice", tenant.name));
        }
        if tenant.domains.is_empty() {
            e.push(format!("{at}.domains"), "a tenant needs at least one SIP domain");
        }
        for (di, domain) in tenant.domains.iter_mut().enumerate() {
            *domain = domain.trim().to_ascii_lowercase();
            if !is_hostname(domain) {
                e.push(format!("{at}.domains[{di}]"), format!("`{domain}` is not a host name or address"));
            } else if let Some(owner) = domain_owner.insert(domain.clone(), tenant.name.clone()) {
                e.push(
                    format!("{at}.domains[{di}]"),
                    format!("domain `{domain}` is already used by tenant `{owner}`: tenants must not share a domain"),
                );
            }
        }
        for (ni, n) in tenant.emergency_numbers.iter().enumerate() {
            if !is_dialstring(n) {
                e.push(format!("{at}.emergency_numbers[{ni}]"), "must be digits");
            }
        }
        validate_tenant(tenant, &at, &mut macs, &mut e);
        validate_templates(tenant, &at, &mut e);
    }

    let mut scope_names = HashSet::new();
    let mut ranges: Vec<(usize, u32, u32)> = Vec::new();
    for (si, scope) in doc.dhcp_scopes.iter_mut().enumerate() {
        let at = format!("dhcp_scopes[{si}]");
        if !is_slug(&scope.name) {
            e.push(format!("{at}.name"), "must be 1-32 lowercase letters, digits or dashes");
        } else if !scope_names.insert(scope.name.clone()) {
            e.push(format!("{at}.name"), format!("scope `{}` is defined twice", scope.name));
        }
        if let Some((start, end)) = validate_scope(scope, &at, &mut e) {
            for (other, s, t) in &ranges {
                if start <= *t && *s <= end {
                    e.push(format!("{at}.range_start"), format!("range overlaps dhcp_scopes[{other}]"));
                }
            }
            ranges.push((si, start, end));
        }
    }

    if e.0.is_empty() {
        Ok(())
    } else {
        Err(e.0)
    }
}

fn validate_tenant(tenant: &mut Tenant, at: &str, macs: &mut HashSet<String>, e: &mut Errors) {
    // Extensions and ring groups share one number space: a dialled number means one thing.
    let mut numbers: HashMap<String, String> = HashMap::new();
    for (i, ext) in tenant.extensions.iter().enumerate() {
        let f = format!("{at}.extensions[{i}]");
        if !is_extension_number(&ext.number) {
            e.push(format!("{f}.number"), "must be 2 to 8 digits");
        } else if let Some(prev) = numbers.insert(ext.number.clone(), f.clone()) {
            e.push(format!("{f}.number"), format!("number {} is already used by {prev}", ext.number));
        }
        if let Some(secret) = &ext.secret {
            if secret.chars().count() < 8 {
                e.push(format!("{f}.secret"), "must be at least 8 characters");
            }
        }
    }
    let extensions: HashSet<&str> = tenant.extensions.iter().map(|x| x.number.as_str()).collect();

    for (i, group) in tenant.ring_groups.iter().enumerate() {
        let f = format!("{at}.ring_groups[{i}]");
        if !is_extension_number(&group.number) {
            e.push(format!("{f}.number"), "must be 2 to 8 digits");
        } else if let Some(prev) = numbers.insert(group.number.clone(), f.clone()) {
            e.push(format!("{f}.number"), format!("number {} is already used by {prev}", group.number));
        }
        if group.members.is_empty() {
            e.push(format!("{f}.members"), "a ring group needs at least one member");
        }
        for (mi, m) in group.members.iter().enumerate() {
            if !extensions.contains(m.as_str()) {
                e.push(format!("{f}.members[{mi}]"), format!("no extension {m} in tenant `{}`", tenant.name));
            }
        }
        if !(5..=300).contains(&group.member_timeout) {
            e.push(format!("{f}.member_timeout"), "must be between 5 and 300 seconds");
        }
    }

    super::forwarding::check(tenant, at, e);

    for (i, dev) in tenant.devices.iter_mut().enumerate() {
        let f = format!("{at}.devices[{i}]");
        match normalize_mac(&dev.mac) {
            Some(mac) => {
                if !macs.insert(mac.clone()) {
                    e.push(format!("{f}.mac"), format!("device {mac} is listed twice"));
                }
                dev.mac = mac;
            }
            None => e.push(format!("{f}.mac"), format!("`{}` is not a MAC address", dev.mac)),
        }
        if let Some(x) = &dev.extension {
            if !extensions.contains(x.as_str()) {
                e.push(format!("{f}.extension"), format!("no extension {x} in tenant `{}`", tenant.name));
            }
        }
    }

    let mut trunk_names = HashSet::new();
    for (i, trunk) in tenant.trunks.iter().enumerate() {
        let f = format!("{at}.trunks[{i}]");
        if !is_slug(&trunk.name) {
            e.push(format!("{f}.name"), "must be 1-32 lowercase letters, digits or dashes");
        } else if !trunk_names.insert(trunk.name.as_str()) {
            e.push(format!("{f}.name"), format!("trunk `{}` is defined twice", trunk.name));
        }
        if !is_hostname(&trunk.host) {
            e.push(format!("{f}.host"), format!("`{}` is not a host name or address", trunk.host));
        }
        if trunk.port == Some(0) {
            e.push(format!("{f}.port"), "must be 1-65535");
        }
        // A username without a secret keeps the stored secret (checked at apply).
        if trunk.secret.is_some() && trunk.username.is_none() {
            e.push(format!("{f}.username"), "a secret needs a username (leave both out for IP auth)");
        }
        if trunk.max_channels == 0 {
            e.push(format!("{f}.max_channels"), "must be at least 1");
        }
        if trunk.register == Some(true) && trunk.username.is_none() {
            e.push(format!("{f}.register"), "registering needs a username and secret");
        }
        if let Some(d) = &trunk.domain {
            if !is_hostname(d) {
                e.push(format!("{f}.domain"), format!("`{d}` is not a host name or address"));
            }
        }
        if let Some(c) = &trunk.caller_id {
            if !is_dialstring(c) {
                e.push(format!("{f}.caller_id"), "must be digits, optionally with a leading +");
            }
        }
        for (ci, c) in trunk.codecs.iter().enumerate() {
            if c.is_empty() || c.len() > 32 || !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-') {
                e.push(format!("{f}.codecs[{ci}]"), format!("`{c}` is not a codec name like PCMA or G722"));
            }
        }
        let h = &trunk.health;
        if !(1..=300).contains(&h.probe_interval) {
            e.push(format!("{f}.health.probe_interval"), "must be 1-300 seconds");
        }
        if !(1..=60).contains(&h.probe_timeout) {
            e.push(format!("{f}.health.probe_timeout"), "must be 1-60 seconds");
        }
        if !(1..=20).contains(&h.down_after) {
            e.push(format!("{f}.health.down_after"), "must be 1-20 probes");
        }
        if !(1..=20).contains(&h.up_after) {
            e.push(format!("{f}.health.up_after"), "must be 1-20 probes");
        }
        if h.hold_down > 3600 {
            e.push(format!("{f}.health.hold_down"), "must be at most 3600 seconds");
        }
    }
    for (i, x) in tenant.extensions.iter().enumerate() {
        if x.caller_id.as_deref().is_some_and(|c| !is_dialstring(c)) {
            e.push(format!("{at}.extensions[{i}].caller_id"), "must be digits, optionally with a leading +");
        }
    }

    for (i, route) in tenant.inbound_routes.iter().enumerate() {
        let f = format!("{at}.inbound_routes[{i}]");
        if !is_dialstring(&route.did) {
            e.push(format!("{f}.did"), "must be digits, optionally with a leading +");
        }
        if !numbers.contains_key(&route.destination) && !is_dialstring(&route.destination) {
            e.push(
                format!("{f}.destination"),
                format!(
                    "`{}` is neither an extension or ring group of tenant `{}` nor an outside number",
                    route.destination, tenant.name
                ),
            );
        }
        if let Some(p) = &route.caller {
            if let Err(why) = check_pattern(p) {
                e.push(format!("{f}.caller"), why);
            }
        }
        for (di, d) in route.days.iter().enumerate() {
            if crate::routing::weekday(d).is_none() {
                e.push(format!("{f}.days[{di}]"), format!("`{d}` is not a day (mon, tue, wed, thu, fri, sat, sun)"));
            }
        }
        if let Some(h) = &route.hours {
            if crate::routing::hours(h).is_none() {
                e.push(format!("{f}.hours"), format!("`{h}` is not a time span like 08:00-18:00"));
            }
        }
        // A route after an unconditional one for the same DID (and caller) would never match.
        let shadowed = tenant.inbound_routes[..i]
            .iter()
            .any(|r| r.did == route.did && !r.timed() && (r.caller.is_none() || r.caller == route.caller));
        if shadowed {
            e.push(format!("{f}.did"), format!("an earlier route for DID {} always matches first", route.did));
        }
    }
    for (i, d) in tenant.holidays.iter().enumerate() {
        if crate::routing::date(d).is_none() {
            e.push(format!("{at}.holidays[{i}]"), format!("`{d}` is not a date like 2026-12-25"));
        }
    }
    for (i, b) in tenant.blocked.iter().enumerate() {
        if let Err(why) = check_pattern(&b.pattern) {
            e.push(format!("{at}.blocked[{i}].pattern"), why);
        }
        if let Some(n) = tenant.emergency_numbers.iter().find(|n| crate::routing::matches_pattern(&b.pattern, n)) {
            e.push(
                format!("{at}.blocked[{i}].pattern"),
                format!("would block the emergency number {n}: emergency numbers are never blocked"),
            );
        }
    }
    let mut site_names = HashSet::new();
    for (i, r) in tenant.remote_sites.iter().enumerate() {
        let f = format!("{at}.remote_sites[{i}]");
        if !is_slug(&r.name) {
            e.push(format!("{f}.name"), "must be 1-32 lowercase letters, digits or dashes");
        } else if !site_names.insert(r.name.as_str()) {
            e.push(format!("{f}.name"), format!("remote site `{}` is defined twice", r.name));
        }
        if let Err(why) = check_pattern(&r.pattern) {
            e.push(format!("{f}.pattern"), why);
        }
        if let Some(p) = &r.pstn_prefix {
            if !is_dialstring(p) {
                e.push(format!("{f}.pstn_prefix"), "must be digits, optionally with a leading +");
            }
        }
    }
    if !tenant.remote_sites.is_empty() && !tenant.trunks.iter().any(|t| t.role == super::doc::TrunkRole::Cloud) {
        e.push(format!("{at}.remote_sites"), "other sites are reached through a cloud trunk: the tenant has none");
    }

    let mut route_names = HashSet::new();
    for (i, route) in tenant.outbound_routes.iter().enumerate() {
        let f = format!("{at}.outbound_routes[{i}]");
        if !is_slug(&route.name) {
            e.push(format!("{f}.name"), "must be 1-32 lowercase letters, digits or dashes");
        } else if !route_names.insert(route.name.as_str()) {
            e.push(format!("{f}.name"), format!("route `{}` is defined twice", route.name));
        }
        if let Err(why) = check_pattern(&route.pattern) {
            e.push(format!("{f}.pattern"), why);
        }
        if route.trunks.is_empty() {
            e.push(format!("{f}.trunks"), "an outbound route needs at least one trunk");
        }
        for (ti, t) in route.trunks.iter().enumerate() {
            if !trunk_names.contains(t.name()) {
                e.push(format!("{f}.trunks[{ti}]"), format!("no trunk `{}` in tenant `{}`", t.name(), tenant.name));
            }
            if let super::doc::RouteTrunk::Rewrite(r) = t {
                if r.prepend.as_deref().is_some_and(|p| !p.chars().all(|c| c.is_ascii_digit() || c == '+')) {
                    e.push(format!("{f}.trunks[{ti}].prepend"), "must be digits, optionally with a leading +");
                }
            }
        }
        if !route.prepend.chars().all(|c| c.is_ascii_digit() || c == '+') {
            e.push(format!("{f}.prepend"), "must be digits, optionally with a leading +");
        }
    }
}

/// Returns the address range as numbers when the scope is sound enough to compare with others.
fn validate_scope(scope: &mut DhcpScope, at: &str, e: &mut Errors) -> Option<(u32, u32)> {
    let Some((net, prefix)) = parse_cidr(&scope.network) else {
        e.push(format!("{at}.network"), format!("`{}` is not an IPv4 network like 192.168.1.0/24", scope.network));
        return None;
    };
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    let inside = |ip: Ipv4Addr| u32::from(ip) & mask == net;
    let mut addr = |field: &str, value: &str| -> Option<u32> {
        match value.parse::<Ipv4Addr>() {
            Ok(ip) if inside(ip) => Some(u32::from(ip)),
            Ok(_) => {
                e.push(format!("{at}.{field}"), format!("{value} is outside {}", scope.network));
                None
            }
            Err(_) => {
                e.push(format!("{at}.{field}"), format!("`{value}` is not an IPv4 address"));
                None
            }
        }
    };
    let start = addr("range_start", &scope.range_start);
    let end = addr("range_end", &scope.range_end);
    if let Some(router) = scope.router.clone() {
        addr("router", &router);
    }
    for (i, r) in scope.reservations.clone().iter().enumerate() {
        addr(&format!("reservations[{i}].ip"), &r.ip);
    }
    for (list, name) in [(&scope.dns, "dns"), (&scope.ntp, "ntp")] {
        for (i, v) in list.iter().enumerate() {
            if v.parse::<Ipv4Addr>().is_err() {
                e.push(format!("{at}.{name}[{i}]"), format!("`{v}` is not an IPv4 address"));
            }
        }
    }
    if !(60..=31_536_000).contains(&scope.lease_time) {
        e.push(format!("{at}.lease_time"), "must be between 60 seconds and one year");
    }
    let mut seen_mac = HashSet::new();
    let mut seen_ip = HashSet::new();
    for (i, r) in scope.reservations.iter_mut().enumerate() {
        match normalize_mac(&r.mac) {
            Some(mac) => {
                if !seen_mac.insert(mac.clone()) {
                    e.push(format!("{at}.reservations[{i}].mac"), format!("{mac} is reserved twice"));
                }
                r.mac = mac;
            }
            None => e.push(format!("{at}.reservations[{i}].mac"), format!("`{}` is not a MAC address", r.mac)),
        }
        if !seen_ip.insert(r.ip.clone()) {
            e.push(format!("{at}.reservations[{i}].ip"), format!("{} is reserved twice", r.ip));
        }
    }
    let (start, end) = (start?, end?);
    if start > end {
        e.push(format!("{at}.range_end"), "must not be below range_start");
        return None;
    }
    Some((start, end))
}

fn parse_cidr(s: &str) -> Option<(u32, u32)> {
    let (ip, prefix) = s.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let prefix: u32 = prefix.parse().ok()?;
    if !(8..=30).contains(&prefix) {
        return None;
    }
    let mask = u32::MAX << (32 - prefix);
    let net = u32::from(ip);
    (net & mask == net).then_some((net, prefix))
}

/// `aa:bb:cc:dd:ee:ff` from any of the usual spellings (colons, dashes, dots, none; any case).
pub fn normalize_mac(s: &str) -> Option<String> {
    let hex: String = s.chars().filter(|c| !matches!(c, ':' | '-' | '.')).collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    let pairs: Vec<&str> = (0..6).map(|i| &hex[i * 2..i * 2 + 2]).collect();
    Some(pairs.join(":"))
}

fn is_slug(s: &str) -> bool {
    (1..=32).contains(&s.len()) && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_extension_number(s: &str) -> bool {
    (2..=8).contains(&s.len()) && s.chars().all(|c| c.is_ascii_digit())
}

fn is_dialstring(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    (1..=32).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit())
}

fn is_hostname(s: &str) -> bool {
    (1..=253).contains(&s.len())
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
        })
}

/// Checks a dial pattern's syntax (the matching itself belongs to `routing`).
fn check_pattern(p: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err("must not be empty".into());
    }
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '0'..='9' | 'X' | 'Z' | 'N' | '*' | '#' | '+' => {}
            '.' if chars.peek().is_none() => {}
            '.' => return Err("`.` may only end a pattern".into()),
            '[' => {
                let mut body = String::new();
                loop {
                    match chars.next() {
                        Some(']') => break,
                        Some(d) if d.is_ascii_digit() || d == '-' => body.push(d),
                        _ => return Err("a `[` set holds digits and ranges like 1-5 and ends with `]`".into()),
                    }
                }
                if body.is_empty() {
                    return Err("an empty `[]` set matches nothing".into());
                }
            }
            other => return Err(format!("`{other}` is not allowed (digits, X, Z, N, [..], trailing .)")),
        }
    }
    Ok(())
}
