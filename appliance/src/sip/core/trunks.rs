//! The core's side of trunks: before a call is routed, the situation routing sees (trunk
//! states and channel use, survivable mode, the site's clock) and where each trunk is reached;
//! after the B2BUA ran, what calls taught trunk health (a leg failed during setup, calls up on
//! fallback trunks) and the changes to record.

use super::{Now, Output, SipCore};
use crate::routing::{Avail, Clock, Situation};
use crate::store::trunk_events::TrunkEventRow;
use crate::trunk::{EventKind, TrunkEvent, TrunkKey};

/// The zone an IANA name stands for; UTC when the name is unknown here (a box without
/// tzdata), with a warning, so that routing still works.
pub(super) fn zone(name: &str) -> jiff::tz::TimeZone {
    if name == "UTC" {
        return jiff::tz::TimeZone::UTC;
    }
    jiff::tz::TimeZone::get(name).unwrap_or_else(|e| {
        tracing::warn!(zone = name, error = %e, "unknown time zone: inbound routes read the time in UTC");
        jiff::tz::TimeZone::UTC
    })
}

impl SipCore {
    /// Brings trunk health up to the site config, when it changed.
    pub fn refresh_trunks(&mut self, now: Now) {
        if !self.trunks_synced.as_ref().is_some_and(|s| std::sync::Arc::ptr_eq(s, &self.site)) {
            self.trunks.set_me(self.b2bua.me);
            self.trunks.sync(now, &self.site);
            self.trunks_synced = Some(self.site.clone());
        }
    }

    /// Rebuilds the situation routing sees and where trunks are reached.
    pub(super) fn refresh(&mut self, now: Now) {
        self.refresh_trunks(now);
        let channels = self.b2bua.trunk_channels();
        let mut trunks = Vec::new();
        let mut targets = Vec::new();
        for tenant in &self.site.tenants {
            for t in &tenant.trunks {
                let key = TrunkKey { tenant: tenant.name.clone(), name: t.name.clone() };
                let used =
                    channels.iter().find(|((tn, n), _)| *tn == key.tenant && *n == key.name).map_or(0, |(_, c)| *c);
                let avail = if !self.trunks.usable(&key) {
                    Avail::Down
                } else if used >= t.max_channels as usize {
                    Avail::Full
                } else {
                    Avail::Up
                };
                if let Some(dest) = self.trunks.target(&key) {
                    targets.push((key.tenant.clone(), key.name.clone(), dest));
                }
                if avail != Avail::Up {
                    trunks.push((key.tenant, key.name, avail));
                }
            }
        }
        self.trunk_view.targets = targets;
        self.situation =
            Situation { clock: Clock::at(now.unix, &self.tz), survivable: self.trunks.survivable(), trunks };
    }

    /// What the B2BUA's calls taught trunk health, and the changes to record.
    pub(super) fn after_calls(&mut self, now: Now, out: &mut Output) {
        for (tenant, name, why) in self.b2bua.take_trunk_failures() {
            self.trunks.call_failed(now, &TrunkKey { tenant, name }, &why);
        }
        if self.site.site.survivable.fail_back_when_idle {
            let fallback = self
                .b2bua
                .trunk_channels()
                .into_iter()
                .filter(|((tenant, name), _)| {
                    let t = self.site.tenants.iter().find(|t| t.name == *tenant);
                    t.and_then(|t| t.trunks.iter().find(|x| x.name == *name))
                        .is_some_and(|x| x.role == crate::site::TrunkRole::Fallback)
                })
                .map(|(_, n)| n)
                .sum();
            self.trunks.set_fallback_calls(now, fallback);
        }
        out.trunk_events.extend(self.trunks.events().into_iter().map(row));
    }
}

/// A trunk event as the `trunk_events` table keeps it.
fn row(e: TrunkEvent) -> TrunkEventRow {
    let kind = match e.kind {
        EventKind::TrunkUp => "up",
        EventKind::TrunkDown => "down",
        EventKind::Registered => "registered",
        EventKind::RegistrationFailed => "unregistered",
        EventKind::SurvivableEnter => "survivable",
        EventKind::SurvivableLeave => "normal",
    };
    TrunkEventRow {
        at: e.unix,
        tenant: e.key.as_ref().map(|k| k.tenant.clone()),
        trunk: e.key.map(|k| k.name),
        kind: kind.to_owned(),
        reason: e.reason,
    }
}
