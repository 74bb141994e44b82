//! What the box tells the fleet every 30 s besides its revision: read off the box's own
//! metrics (the same numbers `/metrics` shows), so telemetry and monitoring never disagree.

use std::collections::BTreeMap;

use cloud_sync::Telemetry;

use crate::metrics::Metrics;

/// `base` with the live figures filled in; a figure whose service is not running stays out.
pub fn sample(metrics: &Metrics, base: Telemetry) -> Telemetry {
    let count = |name| metrics.total(name).map(|v| v.max(0.0) as u64);
    let trunks: BTreeMap<String, bool> =
        metrics.by_label("outpost_trunk_up", "trunk").into_iter().map(|(name, up)| (name, up > 0.0)).collect();
    Telemetry {
        registrations: count("outpost_sip_bindings"),
        active_calls: count("outpost_calls_active"),
        survivable: metrics.total("outpost_survivable").map(|v| v > 0.0),
        dhcp_leases: count("outpost_dhcp_leases"),
        trunks: (!trunks.is_empty()).then_some(trunks),
        ..base
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Kind;

    #[test]
    fn telemetry_carries_the_metrics_and_leaves_out_services_that_do_not_run() {
        let m = Metrics::new();
        m.describe("outpost_sip_bindings", Kind::Gauge, "bindings");
        m.set("outpost_sip_bindings", &[], 3.0);
        m.set("outpost_calls_active", &[], 1.0);
        m.set("outpost_trunk_up", &[("trunk", "cloud")], 0.0);
        m.set("outpost_trunk_up", &[("trunk", "pstn")], 1.0);
        let t = sample(&m, Telemetry::new(1, "0.1.0", 5, 1, 2));
        assert_eq!((t.registrations, t.active_calls, t.dhcp_leases), (Some(3), Some(1), None));
        let trunks = t.trunks.unwrap();
        assert_eq!((trunks["cloud"], trunks["pstn"]), (false, true));
        assert_eq!(t.survivable, None);
    }
}
