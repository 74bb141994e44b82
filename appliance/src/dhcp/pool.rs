//! The lease table of one scope and its allocator. In memory, loaded from the store at start
//! and changed only together with the `LeaseChange`s that the driver persists before replying.
//!
//! The one invariant: an address is held by at most one MAC. Every address handed out passes
//! `free_for`, which is the only place that answers "may this MAC have this address now".

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::scope::Scope;
use super::{Lease, LeaseChange, LeaseState};

/// How long an OFFER keeps its address for the client (not persisted: an offer lost in a
/// restart costs the client one more DISCOVER).
pub const OFFER_HOLD: i64 = 60;
/// How long a declined address stays out of use.
pub const DECLINE_HOLD: i64 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Offered,
    Bound,
    Declined,
}

#[derive(Debug, Clone)]
struct Entry {
    mac: String,
    state: State,
    expires_at: i64,
    hostname: String,
    vendor: String,
}

#[derive(Debug)]
pub struct Pool {
    pub scope: Scope,
    by_ip: HashMap<Ipv4Addr, Entry>,
    /// The address each MAC had last (live or expired).
    by_mac: HashMap<String, Ipv4Addr>,
    /// Where the search for a never-used address goes on.
    cursor: u32,
}

impl Pool {
    pub fn new(scope: Scope) -> Pool {
        let cursor = u32::from(scope.range_start);
        Pool { scope, by_ip: HashMap::new(), by_mac: HashMap::new(), cursor }
    }

    /// Takes in a stored lease. One that would break the invariant (two rows, one address:
    /// impossible with the store's primary key, but cheap to refuse) is skipped.
    pub fn load(&mut self, lease: &Lease) {
        let state = match lease.state {
            LeaseState::Bound => State::Bound,
            LeaseState::Declined => State::Declined,
        };
        self.by_ip.insert(
            lease.ip,
            Entry {
                mac: lease.mac.clone(),
                state,
                expires_at: lease.expires_at,
                hostname: lease.hostname.clone(),
                vendor: lease.vendor.clone(),
            },
        );
        if state == State::Bound {
            self.by_mac.insert(lease.mac.clone(), lease.ip);
        }
    }

    fn reserved_for_other(&self, ip: Ipv4Addr, mac: &str) -> bool {
        self.scope.reservations.iter().any(|(m, r)| *r == ip && m != mac)
    }

    /// Whether `mac` may have `ip` at `now`: on the subnet and in the range or reserved for it,
    /// not the network or broadcast address, not reserved for someone else, not held (offered,
    /// bound, declined) by someone else.
    pub fn free_for(&self, ip: Ipv4Addr, mac: &str, now: i64) -> bool {
        let reserved = self.scope.reservations.get(mac) == Some(&ip);
        if !self.scope.contains(ip) || !(reserved || self.scope.in_range(ip)) {
            return false;
        }
        let host = u32::from(ip) & !u32::from(self.scope.mask);
        if host == 0 || host == !u32::from(self.scope.mask) || self.reserved_for_other(ip, mac) {
            return false;
        }
        match self.by_ip.get(&ip) {
            None => true,
            Some(e) if e.state == State::Declined => e.expires_at <= now,
            Some(e) => e.mac == mac || e.expires_at <= now,
        }
    }

    /// The address to offer `mac`, by preference: its reservation, the address it had, the one
    /// it asks for, a never-used one, the one expired longest ago. `None`: the pool is full.
    pub fn choose(&mut self, mac: &str, requested: Option<Ipv4Addr>, now: i64) -> Option<Ipv4Addr> {
        let reservation = self.scope.reservations.get(mac).copied();
        let previous = self.by_mac.get(mac).copied();
        for candidate in [reservation, previous, requested].into_iter().flatten() {
            if self.free_for(candidate, mac, now) {
                return Some(candidate);
            }
        }
        let (start, end) = (u32::from(self.scope.range_start), u32::from(self.scope.range_end));
        let size = end - start + 1;
        for step in 0..size {
            let ip = Ipv4Addr::from(start + (self.cursor.saturating_sub(start) + step) % size);
            if !self.by_ip.contains_key(&ip) && self.free_for(ip, mac, now) {
                self.cursor = u32::from(ip).saturating_add(1);
                return Some(ip);
            }
        }
        self.by_ip
            .iter()
            .filter(|(ip, _)| self.free_for(**ip, mac, now))
            .min_by_key(|(ip, e)| (e.expires_at, **ip))
            .map(|(ip, _)| *ip)
    }

    /// Holds `ip` for `mac` for a short while after an OFFER. A bound lease of the same MAC stays
    /// bound (an OFFER must not shorten what an ACK gave).
    pub fn offer(&mut self, ip: Ipv4Addr, mac: &str, vendor: &str, now: i64) {
        if let Some(e) = self.by_ip.get(&ip) {
            if e.mac == mac && e.state == State::Bound && e.expires_at > now {
                return;
            }
        }
        let entry = Entry {
            mac: mac.to_owned(),
            state: State::Offered,
            expires_at: now + OFFER_HOLD,
            hostname: String::new(),
            vendor: vendor.to_owned(),
        };
        self.by_ip.insert(ip, entry);
    }

    /// Drops an unaccepted offer (the client chose another server).
    pub fn forget_offer(&mut self, mac: &str) {
        self.by_ip.retain(|_, e| !(e.state == State::Offered && e.mac == mac));
    }

    /// Binds `ip` to `mac` until `expires_at`. The caller checked `free_for`. Returns what to
    /// persist: the new lease, and the removal of the MAC's other address in this scope.
    pub fn bind(&mut self, ip: Ipv4Addr, mac: &str, expires_at: i64, hostname: &str, vendor: &str) -> Vec<LeaseChange> {
        let mut changes = Vec::new();
        if let Some(old) = self.by_mac.get(mac).copied() {
            if old != ip && self.by_ip.get(&old).is_some_and(|e| e.mac == mac && e.state != State::Declined) {
                self.by_ip.remove(&old);
                changes.push(LeaseChange::Remove(old));
            }
        }
        let entry = Entry {
            mac: mac.to_owned(),
            state: State::Bound,
            expires_at,
            hostname: hostname.to_owned(),
            vendor: vendor.to_owned(),
        };
        self.by_ip.insert(ip, entry);
        self.by_mac.insert(mac.to_owned(), ip);
        changes.push(LeaseChange::Upsert(self.lease(ip, mac, LeaseState::Bound, expires_at, hostname, vendor)));
        changes
    }

    /// Ends `mac`'s lease on `ip` now (DHCPRELEASE), keeping the record so that the client gets
    /// the same address back. `None` when `ip` is not `mac`'s.
    pub fn release(&mut self, ip: Ipv4Addr, mac: &str, now: i64) -> Option<LeaseChange> {
        let e = self.by_ip.get_mut(&ip).filter(|e| e.mac == mac && e.state == State::Bound)?;
        e.expires_at = now;
        let (hostname, vendor) = (e.hostname.clone(), e.vendor.clone());
        Some(LeaseChange::Upsert(self.lease(ip, mac, LeaseState::Bound, now, &hostname, &vendor)))
    }

    /// Takes `ip` out of use after `mac` found it taken (DHCPDECLINE). Only the holder of the
    /// offer or lease may decline it, so that a forged DECLINE cannot empty the pool.
    pub fn decline(&mut self, ip: Ipv4Addr, mac: &str, now: i64) -> Option<LeaseChange> {
        let e = self.by_ip.get_mut(&ip).filter(|e| e.mac == mac && e.state != State::Declined)?;
        e.state = State::Declined;
        e.expires_at = now + DECLINE_HOLD;
        self.by_mac.remove(mac);
        Some(LeaseChange::Upsert(self.lease(ip, mac, LeaseState::Declined, now + DECLINE_HOLD, "", "")))
    }

    /// The address bound to `mac` and live at `now`.
    pub fn bound(&self, mac: &str, now: i64) -> Option<Ipv4Addr> {
        let ip = self.by_mac.get(mac)?;
        self.by_ip.get(ip).filter(|e| e.mac == mac && e.state == State::Bound && e.expires_at > now).map(|_| *ip)
    }

    /// Live bound leases, for the gauge.
    pub fn live(&self, now: i64) -> usize {
        self.by_ip.values().filter(|e| e.state == State::Bound && e.expires_at > now).count()
    }

    /// Every address held at `now` (offered, bound or declined) and by whom: for tests.
    pub fn holders(&self, now: i64) -> Vec<(Ipv4Addr, String)> {
        self.by_ip.iter().filter(|(_, e)| e.expires_at > now).map(|(ip, e)| (*ip, e.mac.clone())).collect()
    }

    fn lease(
        &self,
        ip: Ipv4Addr,
        mac: &str,
        state: LeaseState,
        expires_at: i64,
        hostname: &str,
        vendor: &str,
    ) -> Lease {
        Lease {
            ip,
            mac: mac.to_owned(),
            scope: self.scope.name.clone(),
            state,
            expires_at,
            hostname: hostname.to_owned(),
            vendor: vendor.to_owned(),
        }
    }
}
