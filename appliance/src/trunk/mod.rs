//! Trunks: health probing (SIP OPTIONS), the box's outbound registrations, DNS targets
//! (RFC 3263) and the site's survivable mode.
//!
//! `Trunks` is the pure core the SIP core owns, under its mutex: every method is cheap (a
//! few trunks, no I/O, no clock reads). A thin driver does the rest: it resolves `lookups()`
//! with `resolve::lookup` (after every `sync`, and every few minutes) and hands each result
//! to `set_lookup_result`; it sends what `on_timer` and `on_response` return, and calls
//! `on_timer` at `deadline()` (which any other call may have moved).
//!
//! # Layout
//! - `health`: per trunk `Unknown`/`Up`/`Down` from probe results and failed calls.
//! - `survivable`: the site mode, from the cloud trunks, the cloud link and fallback calls.
//! - `probe`: one OPTIONS probe in flight (build, retransmit, match by branch).
//! - `register`: the outbound REGISTER client (digest via `sip::digest::client`).
//! - `dns`: the DNS message codec; `resolve`: RFC 3263 target selection and the lookup driver.
//!
//! # Interface
//! ```text
//! Trunks::new(me: SocketAddr, seed: u64) -> Trunks
//! fn set_me(&mut self, me: SocketAddr)
//! fn sync(&mut self, now: Now, doc: &SiteDoc)
//! fn lookups(&self) -> Vec<(TrunkKey, Lookup)>
//! fn set_targets(&mut self, key: &TrunkKey, targets: Vec<SocketAddr>)
//! fn set_lookup_result(&mut self, key: &TrunkKey, result: Result<Vec<SocketAddr>, ResolveError>)
//! fn on_timer(&mut self, now: Now) -> Vec<Outgoing>
//! fn deadline(&self) -> Option<Instant>
//! fn on_response(&mut self, now: Now, bytes: &[u8]) -> (bool, Vec<Outgoing>)
//! fn call_failed(&mut self, now: Now, key: &TrunkKey, why: &str)
//! fn set_fallback_calls(&mut self, now: Now, n: usize)
//! fn set_cloud_link(&mut self, now: Now, up: bool)
//! fn usable(&self, key: &TrunkKey) -> bool
//! fn target(&self, key: &TrunkKey) -> Option<Dest>
//! fn targets(&self, key: &TrunkKey) -> Vec<Dest>        (current first, for per-call failover)
//! fn from_source(&self, source: SocketAddr) -> Option<TrunkKey>
//! fn survivable(&self) -> bool
//! fn events(&mut self) -> Vec<TrunkEvent>
//! fn status(&self) -> Vec<TrunkStatus>
//! fn mode(&self) -> ModeStatus
//! resolve::lookup(host: &str, port: Option<u16>, transport: Transport, nameservers: &[SocketAddr])
//!     -> Result<Vec<SocketAddr>, ResolveError>   (async)
//! resolve::system_nameservers() -> Vec<SocketAddr>
//! ```
//!
//! Targets: an IP-literal host is its own target from `sync` on; a DNS name has none until
//! the driver calls `set_targets` (no probes meanwhile, the trunk stays `Unknown` and has no
//! `target`). An empty list means DNS said "no such host": each due probe is a miss. After a
//! missed probe the next one goes to the next target (RFC 3263 failover); a target that
//! answers becomes the current one, where calls and REGISTERs go.

pub mod dns;
pub mod health;
pub mod probe;
pub mod register;
pub mod resolve;
pub mod survivable;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

use self::health::{Change, Health};
use self::probe::{Ids, Probe};
use self::register::{RegConfig, Registration};
use self::survivable::{CloudTrunk, Survival};
use crate::sip::b2bua::dialog::{Dest, Head};
use crate::sip::b2bua::Outgoing;
use crate::sip::core::Now;
use crate::sip::message::Transport;
use crate::site::{SiteDoc, Trunk, TrunkRole};

pub use self::health::State;
pub use self::register::RegState;
pub use self::resolve::{lookup, system_nameservers, Lookup, ResolveError};
pub use self::survivable::ModeStatus;

/// Every probe and REGISTER of ours has a top Via branch starting with this, so a response
/// without it is not ours (`on_response` checks it first, and so may a caller).
pub const BRANCH_PREFIX: &str = "z9hG4bKtk";

/// A trunk: its tenant and its name within the tenant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TrunkKey {
    pub tenant: String,
    pub name: String,
}

impl TrunkKey {
    pub fn new(tenant: &str, name: &str) -> TrunkKey {
        TrunkKey { tenant: tenant.to_owned(), name: name.to_owned() }
    }
}

impl fmt::Display for TrunkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tenant, self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    TrunkUp,
    TrunkDown,
    Registered,
    RegistrationFailed,
    SurvivableEnter,
    SurvivableLeave,
}

/// Something an admin wants in the log and the fleet status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrunkEvent {
    pub unix: i64,
    /// None for the site mode.
    pub key: Option<TrunkKey>,
    pub kind: EventKind,
    pub reason: String,
}

/// One trunk for the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrunkStatus {
    pub key: TrunkKey,
    pub role: TrunkRole,
    pub state: State,
    pub since_unix: i64,
    /// Consecutive probes missed.
    pub misses: u32,
    pub last_rtt_ms: Option<u64>,
    /// In order; `None`: not resolved yet.
    pub targets: Option<Vec<SocketAddr>>,
    /// Where calls go now.
    pub current: Option<SocketAddr>,
    pub registration: RegState,
    /// Why the trunk is in its state.
    pub reason: String,
}

fn transport(t: crate::site::Transport) -> Transport {
    match t {
        crate::site::Transport::Udp => Transport::Udp,
        crate::site::Transport::Tcp => Transport::Tcp,
        crate::site::Transport::Tls => Transport::Tls,
    }
}

/// Identifiers unique within this start (counter) and across starts (seed).
struct IdGen {
    seed: u64,
    next: u64,
}

impl IdGen {
    fn one(&mut self) -> String {
        self.next += 1;
        format!("{:016x}{:x}", self.seed, self.next)
    }

    fn ids(&mut self) -> Ids {
        let u = self.one();
        Ids { branch: format!("{BRANCH_PREFIX}{u}"), call_id: format!("tk{u}"), tag: format!("t{u}") }
    }
}

struct Entry {
    cfg: Trunk,
    transport: Transport,
    /// None until resolved.
    targets: Option<Vec<SocketAddr>>,
    current: usize,
    health: Health,
    probe: Option<Probe>,
    next_probe: Instant,
    last_rtt_ms: Option<u64>,
    reg: Option<Registration>,
    /// The last registration failure told as an event (retries failing the same way are
    /// not told again).
    reg_failed: Option<String>,
}

impl Entry {
    fn new(now: Now, cfg: &Trunk, ids: &mut IdGen) -> Entry {
        let transport = transport(cfg.transport);
        Entry {
            targets: resolve::literal(&cfg.host, cfg.port, transport).map(|a| vec![a]),
            transport,
            current: 0,
            health: Health::new(now, cfg.health.clone()),
            probe: None,
            next_probe: now.at,
            last_rtt_ms: None,
            reg: registration(now, cfg, ids),
            reg_failed: None,
            cfg: cfg.clone(),
        }
    }

    fn target(&self) -> Option<Dest> {
        let targets = self.targets.as_ref()?;
        let addr = *targets.get(self.current).or_else(|| targets.first())?;
        Some(Dest { transport: self.transport, addr })
    }

    /// The next target, after a miss (RFC 3263 §4.3: try the next one).
    fn fail_over(&mut self) {
        if let Some(t) = &self.targets {
            if t.len() > 1 {
                self.current = (self.current + 1) % t.len();
            }
        }
    }

    /// The probe's retransmission or timeout, and the next probe when it is due.
    fn probe_timer(&mut self, now: Now, me: SocketAddr, ids: &mut IdGen, out: &mut Vec<Outgoing>) -> Vec<Change> {
        let mut changes = Vec::new();
        if let Some(p) = &mut self.probe {
            if p.timed_out(now.at) {
                let why = format!("no answer from {}", p.dest.addr);
                self.probe = None;
                changes.extend(self.health.missed(now, &why));
                self.fail_over();
            } else {
                out.extend(p.retransmit(now.at));
            }
        }
        if self.probe.is_some() || now.at < self.next_probe || self.targets.is_none() {
            return changes;
        }
        self.next_probe = now.at + self.interval();
        match self.target() {
            Some(dest) => {
                let timeout = Duration::from_secs(self.health.config().probe_timeout.max(1).into());
                let (p, o) = Probe::start(now.at, me, dest, self.cfg.domain(), &ids.ids(), timeout);
                self.probe = Some(p);
                out.push(o);
            }
            None => {
                let why = format!("no address for {}", self.cfg.host);
                changes.extend(self.health.missed(now, &why));
            }
        }
        changes
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(self.health.config().probe_interval.max(1).into())
    }

    fn deadline(&self) -> Option<Instant> {
        // Nothing to do before the driver resolved the host.
        self.targets.as_ref()?;
        let probe = Some(self.probe.as_ref().map_or(self.next_probe, Probe::deadline));
        let reg = self.reg.as_ref().and_then(Registration::deadline);
        probe.into_iter().chain(reg).min()
    }
}

fn registration(now: Now, cfg: &Trunk, ids: &mut IdGen) -> Option<Registration> {
    if !cfg.registers() {
        return None;
    }
    let rc = RegConfig {
        username: cfg.username.clone().unwrap_or_default(),
        password: cfg.secret.clone().unwrap_or_default(),
        domain: cfg.domain().to_owned(),
    };
    let u = ids.one();
    Some(Registration::new(now.at, rc, format!("reg{u}"), format!("r{u}")))
}

pub struct Trunks {
    me: SocketAddr,
    ids: IdGen,
    trunks: BTreeMap<TrunkKey, Entry>,
    survival: Survival,
    events: Vec<TrunkEvent>,
}

impl Trunks {
    pub fn new(me: SocketAddr, seed: u64) -> Trunks {
        Trunks {
            me,
            ids: IdGen { seed, next: 0 },
            trunks: BTreeMap::new(),
            survival: Survival::default(),
            events: Vec::new(),
        }
    }

    /// The box's SIP address (Via, From of probes, Contact of REGISTERs); registrations
    /// carry the new one from their next refresh.
    pub fn set_me(&mut self, me: SocketAddr) {
        self.me = me;
    }

    /// Matches the site config: adds, changes and removes trunks. A trunk whose entry is
    /// unchanged keeps its health, targets and registration; a new address starts it over
    /// (`Unknown`, to be resolved); new credentials or domain start a new registration; new
    /// probe settings apply from the next probe.
    pub fn sync(&mut self, now: Now, doc: &SiteDoc) {
        self.survival.set_fail_back_when_idle(doc.site.survivable.fail_back_when_idle);
        let mut seen = BTreeSet::new();
        for tenant in &doc.tenants {
            for t in &tenant.trunks {
                let key = TrunkKey::new(&tenant.name, &t.name);
                seen.insert(key.clone());
                match self.trunks.get_mut(&key) {
                    None => {
                        tracing::info!(trunk = %key, host = %t.host, "trunk added");
                        self.trunks.insert(key, Entry::new(now, t, &mut self.ids));
                    }
                    Some(e) if e.cfg == *t => {}
                    Some(e) => {
                        let old = &e.cfg;
                        let address = old.host != t.host || old.port != t.port || old.transport != t.transport;
                        let account = address
                            || old.username != t.username
                            || old.secret != t.secret
                            || old.register != t.register
                            || old.domain() != t.domain();
                        if address {
                            *e = Entry::new(now, t, &mut self.ids);
                        } else {
                            e.health.set_config(t.health.clone());
                            if account {
                                e.reg = registration(now, t, &mut self.ids);
                                e.reg_failed = None;
                            }
                            e.cfg = t.clone();
                        }
                        tracing::info!(trunk = %key, address, account, "trunk changed");
                    }
                }
            }
        }
        self.trunks.retain(|key, _| {
            let keep = seen.contains(key);
            if !keep {
                tracing::info!(trunk = %key, "trunk removed");
            }
            keep
        });
        self.evaluate(now);
    }

    /// What the driver must resolve by DNS (every trunk whose host is a name).
    pub fn lookups(&self) -> Vec<(TrunkKey, Lookup)> {
        self.trunks
            .iter()
            .filter(|(_, e)| resolve::literal(&e.cfg.host, e.cfg.port, e.transport).is_none())
            .map(|(k, e)| (k.clone(), Lookup { host: e.cfg.host.clone(), port: e.cfg.port, transport: e.transport }))
            .collect()
    }

    /// Targets in priority order; empty = unresolvable (the trunk counts misses as usual).
    /// The current target stays current if it is still among them.
    pub fn set_targets(&mut self, key: &TrunkKey, targets: Vec<SocketAddr>) {
        let Some(e) = self.trunks.get_mut(key) else { return };
        if e.targets.as_ref() == Some(&targets) {
            return;
        }
        let current = e.target().map(|d| d.addr);
        e.current = current.and_then(|c| targets.iter().position(|t| *t == c)).unwrap_or(0);
        tracing::info!(trunk = %key, ?targets, "trunk targets");
        e.targets = Some(targets);
    }

    /// `set_targets` from what `resolve::lookup` returned: DNS saying "no such host"
    /// (`NotFound`) makes the trunk unresolvable, but DNS not answering (timeout, socket or
    /// server errors) keeps the targets it had, so that a resolver hiccup does not take a
    /// working trunk down. A trunk never resolved counts as unresolvable either way.
    pub fn set_lookup_result(&mut self, key: &TrunkKey, result: Result<Vec<SocketAddr>, ResolveError>) {
        match result {
            Ok(targets) => self.set_targets(key, targets),
            Err(ResolveError::NotFound(_)) => self.set_targets(key, Vec::new()),
            Err(e) => {
                let known = self.trunks.get(key).is_some_and(|t| t.targets.is_some());
                tracing::debug!(trunk = %key, error = %e, known, "trunk lookup failed");
                if !known {
                    self.set_targets(key, Vec::new());
                }
            }
        }
    }

    /// Probes, registrations and retransmissions due now; misses of probes timed out.
    pub fn on_timer(&mut self, now: Now) -> Vec<Outgoing> {
        let mut out = Vec::new();
        let mut changes = Vec::new();
        let mut regs = Vec::new();
        for (key, e) in &mut self.trunks {
            changes.extend(e.probe_timer(now, self.me, &mut self.ids, &mut out).into_iter().map(|c| (key.clone(), c)));
            if e.targets.is_some() {
                let dest = e.target();
                if let Some(r) = &mut e.reg {
                    let before = r.state().clone();
                    out.extend(r.on_timer(now, self.me, dest, || self.ids.ids()));
                    regs.push((key.clone(), before));
                }
            }
        }
        for (key, c) in changes {
            self.health_event(now, key, c);
        }
        for (key, before) in regs {
            self.reg_event(now, &key, &before);
        }
        self.evaluate(now);
        out
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.trunks.values().filter_map(Entry::deadline).min()
    }

    /// A SIP response: true when it answered one of our probes or REGISTERs (then it is
    /// consumed), with what to send next (a REGISTER answering a challenge).
    pub fn on_response(&mut self, now: Now, bytes: &[u8]) -> (bool, Vec<Outgoing>) {
        let Some(head) = Head::parse(bytes) else { return (false, Vec::new()) };
        let Some(code) = head.status() else { return (false, Vec::new()) };
        if !head.top_branch().is_some_and(|b| b.starts_with(BRANCH_PREFIX)) {
            return (false, Vec::new());
        }
        let hit = self.trunks.iter_mut().find(|(_, e)| {
            e.probe.as_ref().is_some_and(|p| p.matches(&head)) || e.reg.as_ref().is_some_and(|r| r.matches(&head))
        });
        let Some((key, e)) = hit else { return (false, Vec::new()) };
        let key = key.clone();
        if let Some(p) = e.probe.as_ref().filter(|p| p.matches(&head)) {
            if code < 200 {
                return (true, Vec::new());
            }
            let rtt = now.at.saturating_duration_since(p.sent_at);
            let addr = p.dest.addr;
            e.probe = None;
            e.last_rtt_ms = Some(u64::try_from(rtt.as_millis()).unwrap_or(u64::MAX));
            if health::alive(code) {
                if let Some(i) = e.targets.as_ref().and_then(|t| t.iter().position(|a| *a == addr)) {
                    e.current = i;
                }
            } else {
                e.fail_over();
            }
            if let Some(c) = e.health.response(now, code) {
                self.health_event(now, key, c);
                self.evaluate(now);
            }
            return (true, Vec::new());
        }
        let mut out = Vec::new();
        if let Some(r) = &mut e.reg {
            let before = r.state().clone();
            out = r.on_response(now, self.me, &head, bytes, || self.ids.ids());
            self.reg_event(now, &key, &before);
        }
        (true, out)
    }

    /// A call on the trunk got 5xx or no answer during setup: down at once, and the next
    /// target (if any) becomes current.
    pub fn call_failed(&mut self, now: Now, key: &TrunkKey, why: &str) {
        let Some(e) = self.trunks.get_mut(key) else { return };
        e.fail_over();
        if let Some(c) = e.health.call_failed(now, why) {
            self.health_event(now, key.clone(), c);
            self.evaluate(now);
        }
    }

    /// Calls up on fallback trunks right now (for `fail_back_when_idle`).
    pub fn set_fallback_calls(&mut self, now: Now, n: usize) {
        self.survival.set_fallback_calls(n);
        self.evaluate(now);
    }

    /// The cloud-sync agent's view of the cloud link: down makes the site survivable.
    pub fn set_cloud_link(&mut self, now: Now, up: bool) {
        self.survival.set_link(up);
        self.evaluate(now);
    }

    /// Whether calls may go to the trunk: `Up` or `Unknown`, and with an address to go to.
    pub fn usable(&self, key: &TrunkKey) -> bool {
        self.trunks.get(key).is_some_and(|e| e.health.usable() && e.target().is_some())
    }

    /// Where calls to the trunk go now.
    pub fn target(&self, key: &TrunkKey) -> Option<Dest> {
        self.trunks.get(key)?.target()
    }

    /// Every target of the trunk, the current one first, then the others in DNS order: where
    /// a call goes next when one target fails it (RFC 3263 §4.3).
    pub fn targets(&self, key: &TrunkKey) -> Vec<Dest> {
        let Some(e) = self.trunks.get(key) else { return Vec::new() };
        let Some(t) = e.targets.as_ref().filter(|t| !t.is_empty()) else { return Vec::new() };
        let n = t.len();
        (0..n).map(|i| Dest { transport: e.transport, addr: t[(e.current + i) % n] }).collect()
    }

    /// The trunk an INVITE from `source` comes from: one whose targets include the address,
    /// else one whose targets include its IP (peers often send from another port).
    /// By the exact address first; by the address's IP alone only for trunks configured
    /// without a port (found by DNS: providers send from other ports than they listen on). A
    /// trunk with its port named is that address only, so that a phone on the same host (a
    /// gateway with a softphone, a NAT) is not taken for the trunk.
    pub fn from_source(&self, source: SocketAddr) -> Option<TrunkKey> {
        let has = |f: &dyn Fn(&Entry, &SocketAddr) -> bool| {
            self.trunks
                .iter()
                .find(|(_, e)| e.targets.as_ref().is_some_and(|t| t.iter().any(|a| f(e, a))))
                .map(|(k, _)| k.clone())
        };
        has(&|_, a| *a == source).or_else(|| has(&|e, a| e.cfg.port.is_none() && a.ip() == source.ip()))
    }

    pub fn survivable(&self) -> bool {
        self.survival.survivable()
    }

    /// Events since the last call: trunks up and down, registrations, the site mode.
    pub fn events(&mut self) -> Vec<TrunkEvent> {
        std::mem::take(&mut self.events)
    }

    pub fn status(&self) -> Vec<TrunkStatus> {
        self.trunks
            .iter()
            .map(|(key, e)| TrunkStatus {
                key: key.clone(),
                role: e.cfg.role,
                state: e.health.state(),
                since_unix: e.health.since_unix(),
                misses: e.health.misses(),
                last_rtt_ms: e.last_rtt_ms,
                targets: e.targets.clone(),
                current: e.target().map(|d| d.addr),
                registration: e.reg.as_ref().map_or(RegState::NotNeeded, |r| r.state().clone()),
                reason: e.health.reason().to_owned(),
            })
            .collect()
    }

    pub fn mode(&self) -> ModeStatus {
        self.survival.status()
    }

    fn push(&mut self, now: Now, key: Option<TrunkKey>, kind: EventKind, reason: String) {
        match kind {
            EventKind::TrunkUp | EventKind::Registered | EventKind::SurvivableLeave => {
                tracing::info!(trunk = ?key.as_ref().map(ToString::to_string), ?kind, %reason, "trunk event");
            }
            _ => tracing::warn!(trunk = ?key.as_ref().map(ToString::to_string), ?kind, %reason, "trunk event"),
        }
        self.events.push(TrunkEvent { unix: now.unix, key, kind, reason });
    }

    fn health_event(&mut self, now: Now, key: TrunkKey, c: Change) {
        let kind = if c.to == State::Up { EventKind::TrunkUp } else { EventKind::TrunkDown };
        self.push(now, Some(key), kind, c.reason);
    }

    /// An event when a registration became registered, or failed in a new way.
    fn reg_event(&mut self, now: Now, key: &TrunkKey, before: &RegState) {
        let Some(e) = self.trunks.get_mut(key) else { return };
        let Some(after) = e.reg.as_ref().map(|r| r.state().clone()) else { return };
        let event = match after {
            RegState::Registered { .. } if matches!(before, RegState::Registered { .. }) => None,
            RegState::Registered { until_unix } => {
                e.reg_failed = None;
                Some((EventKind::Registered, format!("registered for {} s", until_unix - now.unix)))
            }
            RegState::Failed { reason, .. } if e.reg_failed.as_ref() != Some(&reason) => {
                e.reg_failed = Some(reason.clone());
                Some((EventKind::RegistrationFailed, reason))
            }
            _ => None,
        };
        if let Some((kind, reason)) = event {
            self.push(now, Some(key.clone()), kind, reason);
        }
    }

    /// The site mode after any change.
    fn evaluate(&mut self, now: Now) {
        let cloud: Vec<CloudTrunk> = self
            .trunks
            .iter()
            .filter(|(_, e)| e.cfg.role == TrunkRole::Cloud)
            .map(|(k, e)| CloudTrunk { name: k.to_string(), state: e.health.state(), reason: e.health.reason().into() })
            .collect();
        if let Some(c) = self.survival.update(now, &cloud) {
            let kind = if c.survivable { EventKind::SurvivableEnter } else { EventKind::SurvivableLeave };
            self.push(now, None, kind, c.reason);
        }
    }
}

#[cfg(test)]
mod tests;
