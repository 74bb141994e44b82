//! The MAC-scan guard of provisioning, sans I/O and told the time.
//!
//! A device file over HTTPS holds the phone's SIP credentials, and a MAC is easy to guess
//! (the vendor's OUI plus 24 bits): walking MACs is how credentials get stolen. A real phone
//! asks for its own MAC again and again; a scanner asks for many. So the guard counts the
//! *distinct* unknown MACs each source address asked for within a window (a MAC that names
//! another device than the User-Agent says, and a wrong digest password, count the same), and
//! bans a source that passes the limit: for the ban's duration nothing is served to it, not
//! even files of known devices. Trusted networks (the allowlist) are never banned.
//!
//! An IPv6 host picks any address of its /64 at will, so IPv6 sources are counted and banned
//! by their /64.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::sip::defence::Cidr;

#[derive(Debug, Clone, PartialEq)]
pub struct GuardConfig {
    /// Distinct unknown MACs (or other strikes) one source may ask for within `window`.
    pub max_unknown: u32,
    pub window: Duration,
    pub ban: Duration,
    /// Networks never banned, e.g. a remote office whose phones all come from one NAT address.
    pub allowlist: Vec<Cidr>,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            max_unknown: 10,
            window: Duration::from_secs(600),
            ban: Duration::from_secs(3600),
            allowlist: Vec::new(),
        }
    }
}

/// Sources tracked at most; past this the quietest are forgotten first (bans are kept).
const MAX_SOURCES: usize = 10_000;
/// Distinct MACs remembered per source (more than any sane limit).
const MAX_MACS_PER_SOURCE: usize = 1_000;

struct Source {
    window_start: Instant,
    strikes: HashSet<String>,
    banned_until: Option<Instant>,
    last_seen: Instant,
}

/// A ban as the log and the API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ban {
    pub address: IpAddr,
    pub seconds_left: u64,
}

pub struct ScanGuard {
    config: GuardConfig,
    /// Trusted networks added on the box (the store's), beside the configured allowlist.
    added: Vec<Cidr>,
    sources: HashMap<IpAddr, Source>,
}

impl ScanGuard {
    pub fn new(config: GuardConfig) -> ScanGuard {
        ScanGuard { config, added: Vec::new(), sources: HashMap::new() }
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.config.allowlist.iter().chain(&self.added).any(|c| c.contains(ip))
    }

    /// Trusts `added` besides the configured allowlist, from now on: bans and counts of
    /// addresses inside them are forgotten.
    pub fn set_added(&mut self, added: Vec<Cidr>) {
        self.sources.retain(|ip, _| !added.iter().any(|c| c.contains(*ip)));
        self.added = added;
    }

    /// The trusted networks, never banned.
    pub fn allowlist(&self) -> &[Cidr] {
        &self.config.allowlist
    }

    /// `Some(time left)` while `ip` is banned.
    pub fn banned(&self, now: Instant, ip: IpAddr) -> Option<Duration> {
        let until = self.sources.get(&source_key(ip))?.banned_until?;
        (until > now).then(|| until - now)
    }

    /// Counts a strike by `ip` about `what` (a MAC, or a tag like `auth:aa:bb…`). Returns true
    /// when this strike got the source banned.
    pub fn strike(&mut self, now: Instant, ip: IpAddr, what: &str) -> bool {
        if self.trusted(ip) || self.banned(now, ip).is_some() {
            return false;
        }
        let ip = source_key(ip);
        if self.sources.len() >= MAX_SOURCES && !self.sources.contains_key(&ip) {
            self.tidy(now);
            self.forget_quietest();
        }
        let config = &self.config;
        let source = self.sources.entry(ip).or_insert_with(|| Source {
            window_start: now,
            strikes: HashSet::new(),
            banned_until: None,
            last_seen: now,
        });
        source.last_seen = now;
        if now.saturating_duration_since(source.window_start) > config.window {
            source.window_start = now;
            source.strikes.clear();
        }
        if source.strikes.len() < MAX_MACS_PER_SOURCE {
            source.strikes.insert(what.to_owned());
        }
        if source.strikes.len() as u64 > u64::from(config.max_unknown) {
            source.banned_until = Some(now + config.ban);
            source.strikes.clear();
            source.window_start = now;
            return true;
        }
        false
    }

    /// Bans in force.
    pub fn bans(&self, now: Instant) -> Vec<Ban> {
        let mut bans: Vec<Ban> = self
            .sources
            .iter()
            .filter_map(|(ip, s)| {
                let until = s.banned_until.filter(|u| *u > now)?;
                Some(Ban { address: *ip, seconds_left: (until - now).as_secs() })
            })
            .collect();
        bans.sort_by_key(|b| b.address);
        bans
    }

    /// Lifts a ban by hand; true when there was one.
    pub fn lift(&mut self, ip: IpAddr) -> bool {
        self.sources.remove(&source_key(ip)).is_some_and(|s| s.banned_until.is_some())
    }

    /// Forgets sources whose window and ban are over.
    pub fn tidy(&mut self, now: Instant) {
        let window = self.config.window;
        self.sources.retain(|_, s| {
            let banned = s.banned_until.is_some_and(|u| u > now);
            banned || now.saturating_duration_since(s.window_start) <= window
        });
    }

    fn forget_quietest(&mut self) {
        let quietest = self
            .sources
            .iter()
            .filter(|(_, s)| s.banned_until.is_none())
            .min_by_key(|(_, s)| s.last_seen)
            .map(|(ip, _)| *ip);
        if let Some(ip) = quietest {
            self.sources.remove(&ip);
        }
    }
}

/// What a source is counted by: its address, or for IPv6 its /64 (an IPv4-mapped address
/// counts as the IPv4 one).
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn guard(max: u32) -> ScanGuard {
        ScanGuard::new(GuardConfig { max_unknown: max, ..GuardConfig::default() })
    }

    #[test]
    fn a_phone_asking_for_itself_again_and_again_is_not_a_scan() {
        let mut g = guard(3);
        let t = Instant::now();
        for i in 0..100 {
            assert!(!g.strike(t + Duration::from_secs(i), ip("10.0.0.5"), "80:5e:c0:00:00:01"));
        }
        assert_eq!(g.banned(t + Duration::from_secs(100), ip("10.0.0.5")), None);
    }

    #[test]
    fn many_distinct_macs_get_the_source_banned_and_only_that_source() {
        let mut g = guard(3);
        let t = Instant::now();
        let scanner = ip("10.0.0.66");
        for i in 0..3 {
            assert!(!g.strike(t, scanner, &format!("80:5e:c0:00:00:0{i}")));
        }
        assert!(g.strike(t, scanner, "80:5e:c0:00:00:09"), "the fourth distinct MAC bans");
        assert!(g.banned(t, scanner).is_some());
        assert_eq!(g.banned(t, ip("10.0.0.5")), None);
        assert_eq!(g.bans(t).len(), 1);
        assert!(g.lift(scanner) && g.banned(t, scanner).is_none() && !g.lift(scanner));
        for i in 0..4 {
            g.strike(t, scanner, &format!("80:5e:c0:00:00:0{i}"));
        }
        // The ban ends.
        let later = t + GuardConfig::default().ban + Duration::from_secs(1);
        assert_eq!(g.banned(later, scanner), None);
        g.tidy(later);
        assert!(g.bans(later).is_empty());
    }

    #[test]
    fn the_window_forgets_old_strikes() {
        let mut g = guard(3);
        let t = Instant::now();
        let a = ip("10.0.0.7");
        for i in 0..3 {
            g.strike(t, a, &format!("m{i}"));
        }
        let later = t + GuardConfig::default().window + Duration::from_secs(1);
        assert!(!g.strike(later, a, "m9"), "a new window starts from zero");
    }

    #[test]
    fn ipv6_sources_count_by_their_slash_64() {
        let mut g = guard(3);
        let t = Instant::now();
        for i in 0..4 {
            g.strike(t, ip(&format!("2001:db8:1:2::{i:x}")), &format!("m{i}"));
        }
        assert!(g.banned(t, ip("2001:db8:1:2:ffff::1")).is_some(), "the whole /64 is banned");
        assert!(g.banned(t, ip("2001:db8:1:3::1")).is_none());
        assert_eq!(g.bans(t)[0].address, ip("2001:db8:1:2::"));
        assert!(g.lift(ip("2001:db8:1:2::99")));
    }

    #[test]
    fn trusted_networks_are_never_banned() {
        let mut g = ScanGuard::new(GuardConfig {
            max_unknown: 1,
            allowlist: vec!["192.168.10.0/24".parse().unwrap()],
            ..GuardConfig::default()
        });
        let t = Instant::now();
        for i in 0..10 {
            assert!(!g.strike(t, ip("192.168.10.9"), &format!("m{i}")));
        }
    }

    #[test]
    fn memory_is_bounded() {
        let mut g = guard(1000);
        let t = Instant::now();
        for i in 0..(MAX_SOURCES as u32 + 50) {
            g.strike(t, IpAddr::from(i.to_be_bytes()), "m");
        }
        assert!(g.sources.len() <= MAX_SOURCES);
    }
}
