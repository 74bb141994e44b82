//! `telemetry`: what a box reports periodically (QoS 0, not retained: a lost sample is replaced
//! by the next one, and a box under load drops telemetry rather than block).

use serde::{Deserialize, Serialize};

use crate::SCHEMA;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Telemetry {
    pub schema: u32,
    pub at: u64,
    pub version: String,
    pub uptime_secs: u64,
    pub boot_seq: u64,
    /// The site config revision.
    pub revision: u64,
    /// Figures of services that do not run on this box are left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registrations: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_calls: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub survivable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp_leases: Option<u64>,
    /// Each trunk by name: up or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trunks: Option<std::collections::BTreeMap<String, bool>>,
}

impl Telemetry {
    pub fn new(at: u64, version: &str, uptime_secs: u64, boot_seq: u64, revision: u64) -> Telemetry {
        Telemetry {
            schema: SCHEMA,
            at,
            version: version.to_owned(),
            uptime_secs,
            boot_seq,
            revision,
            registrations: None,
            active_calls: None,
            survivable: None,
            dhcp_leases: None,
            trunks: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, encode};

    #[test]
    fn telemetry_round_trips_and_leaves_out_what_is_not_measured() {
        let t = Telemetry { active_calls: Some(2), ..Telemetry::new(5, "0.1.0", 60, 1, 3) };
        let bytes = encode(&t);
        assert!(!String::from_utf8_lossy(&bytes).contains("registrations"));
        assert_eq!(decode::<Telemetry>(&bytes).unwrap(), t);
    }
}
