//! Defences against scanners and password guessing, sans I/O and told the time.
//!
//! - A token bucket per source address bounds its request rate.
//! - Failed digest checks are counted per source address and per extension within a window.
//!   A source with too many failures is banned for a while. An extension under attack from many
//!   addresses (too many failures in total) gets every further failing source banned at once,
//!   while its own phone, which knows the password, keeps registering: no lock-out of the user.
//! - Banned and over-rate sources are dropped without an answer (no amplification, nothing
//!   learned). Trusted networks (the allowlist) are never limited or banned.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

#[derive(Debug, Clone, PartialEq)]
pub struct DefenceConfig {
    pub max_failures: u32,
    pub max_failures_per_user: u32,
    pub window: Duration,
    pub ban: Duration,
    pub rate_per_second: f64,
    pub burst: f64,
    pub allowlist: Vec<Cidr>,
}

impl Default for DefenceConfig {
    fn default() -> Self {
        DefenceConfig {
            max_failures: 5,
            max_failures_per_user: 20,
            window: Duration::from_secs(300),
            ban: Duration::from_secs(900),
            rate_per_second: 50.0,
            burst: 200.0,
            allowlist: Vec::new(),
        }
    }
}

/// An address range such as `192.168.10.0/24` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let bad = || format!("`{s}` is not an address range like 192.168.10.0/24");
        let (ip, prefix) = s.split_once('/').unwrap_or((s, if s.contains(':') { "128" } else { "32" }));
        let net: IpAddr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { net, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Yes,
    Banned,
    OverRate,
}

/// A ban as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Ban {
    pub address: IpAddr,
    pub seconds_left: u64,
    pub reason: String,
}

struct Source {
    tokens: f64,
    refilled: Instant,
    failures: u32,
    window_start: Instant,
    banned_until: Option<Instant>,
    reason: String,
}

struct UserFailures {
    count: u32,
    window_start: Instant,
}

pub struct Defence {
    config: DefenceConfig,
    /// Trusted networks added on the box (the store's), beside the configured allowlist.
    added: Vec<Cidr>,
    sources: HashMap<IpAddr, Source>,
    users: HashMap<(String, String), UserFailures>,
}

impl Defence {
    pub fn new(config: DefenceConfig) -> Defence {
        Defence { config, added: Vec::new(), sources: HashMap::new(), users: HashMap::new() }
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.config.allowlist.iter().chain(&self.added).any(|c| c.contains(ip))
    }

    /// Trusts `added` besides the configured allowlist, from now on: what an address inside
    /// them counted or was banned for is forgotten.
    pub fn set_added(&mut self, added: Vec<Cidr>) {
        self.sources.retain(|ip, _| !added.iter().any(|c| c.contains(*ip)));
        self.added = added;
    }

    /// The trusted networks, never limited or banned (the web UI's security page shows them).
    pub fn allowlist(&self) -> &[Cidr] {
        &self.config.allowlist
    }

    fn source(&mut self, ip: IpAddr, now: Instant) -> &mut Source {
        let burst = self.config.burst;
        self.sources.entry(ip).or_insert_with(|| Source {
            tokens: burst,
            refilled: now,
            failures: 0,
            window_start: now,
            banned_until: None,
            reason: String::new(),
        })
    }

    /// May a request from `ip` be handled at all?
    pub fn admit(&mut self, now: Instant, ip: IpAddr) -> Admit {
        if self.trusted(ip) {
            return Admit::Yes;
        }
        let (rate, burst) = (self.config.rate_per_second, self.config.burst);
        let s = self.source(ip, now);
        if let Some(until) = s.banned_until {
            if now < until {
                return Admit::Banned;
            }
            s.banned_until = None;
            s.failures = 0;
            tracing::info!(address = %ip, "SIP ban lifted");
        }
        let elapsed = now.saturating_duration_since(s.refilled).as_secs_f64();
        s.tokens = (s.tokens + elapsed * rate).min(burst);
        s.refilled = now;
        if s.tokens < 1.0 {
            return Admit::OverRate;
        }
        s.tokens -= 1.0;
        Admit::Yes
    }

    /// Counts a failed digest check. Returns true when it banned the source.
    pub fn auth_failed(&mut self, now: Instant, ip: IpAddr, tenant: &str, user: &str) -> bool {
        let (window, max_user) = (self.config.window, self.config.max_failures_per_user);
        let user_entry = self
            .users
            .entry((tenant.to_owned(), user.to_owned()))
            .or_insert(UserFailures { count: 0, window_start: now });
        if now.saturating_duration_since(user_entry.window_start) >= window {
            *user_entry = UserFailures { count: 0, window_start: now };
        }
        user_entry.count += 1;
        let user_under_attack = user_entry.count > max_user;
        if self.trusted(ip) {
            return false;
        }
        let (max, ban) = (self.config.max_failures, self.config.ban);
        let s = self.source(ip, now);
        if now.saturating_duration_since(s.window_start) >= window {
            s.failures = 0;
            s.window_start = now;
        }
        s.failures += 1;
        let reason = if s.failures >= max {
            format!("{} failed authentications", s.failures)
        } else if user_under_attack {
            format!("failed authentication for extension {user} of {tenant}, under attack")
        } else {
            return false;
        };
        tracing::warn!(address = %ip, %reason, ban_seconds = ban.as_secs(), "SIP source banned");
        s.banned_until = Some(now + ban);
        s.reason = reason;
        true
    }

    /// A good password clears the source's failures (a phone that was misconfigured, then fixed).
    pub fn auth_succeeded(&mut self, ip: IpAddr) {
        if let Some(s) = self.sources.get_mut(&ip) {
            s.failures = 0;
        }
    }

    pub fn bans(&self, now: Instant) -> Vec<Ban> {
        let mut bans: Vec<Ban> = self
            .sources
            .iter()
            .filter_map(|(ip, s)| {
                let until = s.banned_until.filter(|u| *u > now)?;
                Some(Ban {
                    address: *ip,
                    seconds_left: until.duration_since(now).as_secs().max(1),
                    reason: s.reason.clone(),
                })
            })
            .collect();
        bans.sort_by_key(|b| b.address);
        bans
    }

    /// Lifts a ban by hand (the admin knows the address). True if there was one.
    pub fn lift(&mut self, ip: IpAddr) -> bool {
        match self.sources.get_mut(&ip) {
            Some(s) if s.banned_until.is_some() => {
                s.banned_until = None;
                s.failures = 0;
                true
            }
            _ => false,
        }
    }

    /// Forgets idle sources and old per-user counts so the tables stay small under a scan.
    pub fn tidy(&mut self, now: Instant) {
        let (window, burst) = (self.config.window, self.config.burst);
        self.sources.retain(|_, s| {
            s.banned_until.is_some_and(|u| u > now)
                || now.saturating_duration_since(s.window_start) < window && s.failures > 0
                || s.tokens < burst && now.saturating_duration_since(s.refilled) < Duration::from_secs(60)
        });
        self.users.retain(|_, u| now.saturating_duration_since(u.window_start) < window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        [203, 0, 113, last].into()
    }

    #[test]
    fn a_source_is_banned_after_n_failures_and_freed_after_the_ban() {
        let mut d = Defence::new(DefenceConfig::default());
        let t0 = Instant::now();
        for i in 1..5 {
            assert!(!d.auth_failed(t0, ip(1), "acme", &format!("{i}")));
        }
        assert!(d.auth_failed(t0, ip(1), "acme", "5"));
        assert_eq!(d.admit(t0, ip(1)), Admit::Banned);
        assert_eq!(d.admit(t0, ip(2)), Admit::Yes);
        assert_eq!(d.bans(t0)[0].address, ip(1));
        let later = t0 + Duration::from_secs(900);
        assert_eq!(d.admit(later, ip(1)), Admit::Yes);
        assert!(d.bans(later).is_empty());
    }

    #[test]
    fn failures_spread_out_over_time_do_not_ban() {
        let mut d = Defence::new(DefenceConfig::default());
        let t0 = Instant::now();
        for i in 0..20 {
            assert!(!d.auth_failed(t0 + Duration::from_secs(100 * i), ip(1), "acme", "101"));
            d.auth_succeeded(ip(1));
        }
    }

    #[test]
    fn a_distributed_attack_on_one_extension_bans_each_new_source() {
        let mut d = Defence::new(DefenceConfig { max_failures_per_user: 3, ..DefenceConfig::default() });
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(!d.auth_failed(t0, ip(10 + i), "acme", "101"));
        }
        assert!(d.auth_failed(t0, ip(50), "acme", "101"), "the 4th attacker is banned on its first failure");
        assert_eq!(d.admit(t0, ip(60)), Admit::Yes, "the phone itself is not locked out");
    }

    #[test]
    fn the_rate_limit_refills_over_time() {
        let mut d = Defence::new(DefenceConfig { rate_per_second: 10.0, burst: 5.0, ..DefenceConfig::default() });
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(d.admit(t0, ip(1)), Admit::Yes);
        }
        assert_eq!(d.admit(t0, ip(1)), Admit::OverRate);
        assert_eq!(d.admit(t0 + Duration::from_millis(100), ip(1)), Admit::Yes);
    }

    #[test]
    fn a_network_trusted_later_forgets_its_bans_and_is_never_banned_again() {
        let mut d = Defence::new(DefenceConfig { max_failures: 1, ..DefenceConfig::default() });
        let t0 = Instant::now();
        assert!(d.auth_failed(t0, ip(7), "acme", "101"), "banned at the first failure");
        assert_eq!(d.bans(t0).len(), 1);
        d.set_added(vec!["203.0.113.0/24".parse().unwrap()]);
        assert!(d.bans(t0).is_empty(), "the ban inside the network is gone");
        assert!(!d.auth_failed(t0, ip(7), "acme", "101"), "and no new one");
        d.set_added(Vec::new());
        assert!(d.auth_failed(t0, ip(7), "acme", "101"), "counted again once no longer trusted");
    }

    #[test]
    fn trusted_networks_are_never_limited_or_banned() {
        let allow = vec!["203.0.113.0/28".parse().unwrap()];
        let mut d =
            Defence::new(DefenceConfig { allowlist: allow, burst: 1.0, max_failures: 1, ..DefenceConfig::default() });
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(!d.auth_failed(t0, ip(1), "acme", "101"));
            assert_eq!(d.admit(t0, ip(1)), Admit::Yes);
        }
        assert!(d.auth_failed(t0, ip(99), "acme", "101"), "outside the allowlist");
    }

    #[test]
    fn cidr_parsing_and_matching() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("10.0.0.1".parse::<Cidr>().unwrap().contains("10.0.0.1".parse().unwrap()));
        assert_eq!("10.0.0.1".parse::<Cidr>().unwrap().to_string(), "10.0.0.1/32");
        assert_eq!(v6.to_string(), "fd00::/8");
    }
}
