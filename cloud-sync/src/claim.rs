//! Claiming a box into a tenant (HTTP, not MQTT: the box has no broker credentials yet). The
//! fleet operator makes a one-time code; the installer gives it to the box; the box sends it to
//! the fleet's `POST /api/v1/claim` and gets its identity and broker credentials. A code made
//! as the replacement of a dead box also gives the dead box's escrowed backup key and the id
//! of its latest backup, so the new box restores it and carries on as the old one.

use serde::{Deserialize, Serialize};

use crate::SCHEMA;

/// `POST /api/v1/claim`, box → fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    pub schema: u32,
    pub code: String,
}

impl ClaimRequest {
    pub fn new(code: &str) -> ClaimRequest {
        ClaimRequest { schema: SCHEMA, code: code.to_owned() }
    }
}

/// The fleet's answer to a good code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimAnswer {
    pub schema: u32,
    pub box_id: String,
    pub tenant: String,
    /// The broker the box connects to, `mqtts://host:port` (or `mqtt://` on loopback).
    pub broker: String,
    /// Broker username and password (fresh at every claim: a replaced box's stop working).
    pub username: String,
    pub password: String,
    /// Set when this box replaces `replaces` (its own id is then the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// The replaced box's backup key (32 bytes, hex), if it was escrowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_key: Option<String>,
    /// The replaced box's newest complete backup, if the fleet has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_backup: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, encode};

    #[test]
    fn a_claim_answer_reads_back_and_unknown_fields_are_refused() {
        let a = ClaimAnswer {
            schema: SCHEMA,
            box_id: "acme-1".into(),
            tenant: "acme".into(),
            broker: "mqtts://fleet.example:8883".into(),
            username: "acme-1".into(),
            password: "pw".into(),
            replaces: Some("acme-1".into()),
            backup_key: None,
            latest_backup: Some("acme-1-100".into()),
        };
        assert_eq!(decode::<ClaimAnswer>(&encode(&a)).unwrap(), a);
        assert!(decode::<ClaimRequest>(br#"{"schema":1,"code":"X","extra":1}"#).is_err());
    }
}
