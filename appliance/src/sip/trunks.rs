//! The drivers of trunks: DNS lookups of trunk hosts (RFC 3263, again every few minutes and
//! whenever the site config changes), and the record of trunk and survivable-mode changes
//! (log, metrics, the `trunk_events` table).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::core::Now;
use super::Shared;
use crate::metrics::Kind;
use crate::store::trunk_events::TrunkEventRow;

/// How often trunk hosts are looked up again (records change; a failover target may appear).
const REFRESH: Duration = Duration::from_secs(300);

/// Logs, counts and stores trunk events, and updates the trunk gauges.
pub async fn record(shared: &Shared, events: Vec<TrunkEventRow>) {
    for e in &events {
        let trunk = e.trunk.as_deref().unwrap_or("-");
        let tenant = e.tenant.as_deref().unwrap_or("-");
        match e.kind.as_str() {
            "down" | "survivable" | "unregistered" => {
                tracing::warn!(tenant, trunk, kind = %e.kind, reason = %e.reason, "trunk change")
            }
            _ => tracing::info!(tenant, trunk, kind = %e.kind, reason = %e.reason, "trunk change"),
        }
        shared.metrics.inc("outpost_trunk_changes_total", &[("tenant", tenant), ("trunk", trunk), ("to", &e.kind)]);
    }
    update_gauges(shared);
    if let Err(e) = shared.store.call(move |s| s.insert_trunk_events(&events)).await {
        tracing::error!(error = %e, "cannot record trunk events");
    }
}

fn update_gauges(shared: &Shared) {
    let (status, survivable) = {
        let core = shared.core();
        (core.trunks.status(), core.trunks.survivable())
    };
    for s in status {
        let up = if s.state == crate::trunk::State::Down { 0.0 } else { 1.0 };
        shared.metrics.set("outpost_trunk_up", &[("tenant", &s.key.tenant), ("trunk", &s.key.name)], up);
    }
    shared.metrics.set("outpost_survivable", &[], if survivable { 1.0 } else { 0.0 });
}

pub fn describe(metrics: &crate::metrics::Metrics) {
    metrics.describe("outpost_trunk_up", Kind::Gauge, "1 while a trunk is up (or not yet probed), 0 while down.");
    metrics.describe("outpost_trunk_changes_total", Kind::Counter, "Trunk and survivable-mode changes, by new state.");
    metrics.describe("outpost_survivable", Kind::Gauge, "1 while the site is in survivable mode.");
}

/// How long the cloud link must stay down before survivable mode hears of it: a broker
/// reconnect is not an outage.
const LINK_GRACE: Duration = Duration::from_secs(15);

/// Tells survivable mode about the cloud-sync link: up at once, down after [`LINK_GRACE`].
pub async fn follow_cloud_link(
    shared: Arc<Shared>,
    mut link: tokio::sync::watch::Receiver<bool>,
    cancel: CancellationToken,
) {
    let mut told: Option<bool> = None;
    loop {
        let up = *link.borrow_and_update();
        if !up && told != Some(false) {
            // Wait out the grace time unless the link changes meanwhile.
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(LINK_GRACE) => {}
                changed = link.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    continue;
                }
            }
        }
        if told != Some(up) {
            told = Some(up);
            tracing::info!(up, "cloud link change for survivable mode");
            let now = Now::system();
            let out = {
                let mut core = shared.core();
                core.trunks.set_cloud_link(now, up);
                core.on_timer(now)
            };
            shared.dispatch(out).await;
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            changed = link.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// Looks trunk hosts up when the site config changes and every [`REFRESH`], and hands the
/// targets to the core; then runs its timers once, so that probes of new trunks start.
pub async fn resolve(shared: Arc<Shared>, nameservers: Vec<std::net::SocketAddr>, cancel: CancellationToken) {
    let nameservers = if nameservers.is_empty() { crate::trunk::resolve::system_nameservers() } else { nameservers };
    let mut last: Option<(Vec<(crate::trunk::TrunkKey, crate::trunk::Lookup)>, tokio::time::Instant)> = None;
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = every.tick() => {}
        }
        let lookups = {
            let mut core = shared.core();
            core.refresh_trunks(Now::system());
            core.trunks.lookups()
        };
        let fresh = last.as_ref().is_some_and(|(l, at)| *l == lookups && at.elapsed() < REFRESH);
        if fresh {
            continue;
        }
        for (key, lookup) in &lookups {
            let result = crate::trunk::resolve::lookup(&lookup.host, lookup.port, lookup.transport, &nameservers).await;
            match &result {
                Ok(targets) => tracing::info!(tenant = %key.tenant, trunk = %key.name, ?targets, "trunk targets"),
                Err(e) => {
                    tracing::warn!(tenant = %key.tenant, trunk = %key.name, host = %lookup.host, error = %e, "trunk lookup failed")
                }
            }
            // A failed lookup keeps the targets a working trunk already has.
            shared.core().trunks.set_lookup_result(key, result);
        }
        last = Some((lookups, tokio::time::Instant::now()));
        let out = shared.core().on_timer(Now::system());
        shared.dispatch(out).await;
        update_gauges(&shared);
    }
}
