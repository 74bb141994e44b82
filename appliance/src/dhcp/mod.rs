//! The site's DHCP server (RFC 2131) on dhcproto: leases from the site config's scopes, and
//! per vendor the options (66, 67, 150, 160, 43) that point phones at the box.
//!
//! Layout: the pure core is `parse` (bytes to a checked `Request`), `scope` (a site scope in
//! its validated form), `pool` (the lease table and the allocator), `options` (which options a
//! reply carries, per vendor), `limit` (floods), `decide` (the steps of each message type, told
//! `now`, returning the reply and the lease changes to persist first). The drivers are `driver`
//! (the socket, the group-committed write-through, the probe for a rival server) and `status`
//! (what the API shows).

pub mod decide;
pub mod driver;
pub mod limit;
pub mod options;
pub mod parse;
pub mod pool;
pub mod scope;
pub mod status;

#[cfg(test)]
mod tests;

use std::net::Ipv4Addr;

use serde::Serialize;

pub use decide::{Context, Handled, Reply, Server};
pub use status::{DhcpShared, DhcpStatus};

/// A lease as stored: the address, who holds it, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub ip: Ipv4Addr,
    /// Normalised `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// The name of the site scope the address belongs to.
    pub scope: String,
    pub state: LeaseState,
    /// Unix seconds. A bound lease past this is expired but kept, so that the same client gets
    /// the same address back while nobody else needs it.
    pub expires_at: i64,
    pub hostname: String,
    pub vendor: String,
}

/// What a stored lease row means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseState {
    /// Given to `mac` by an ACK.
    Bound,
    /// A client said the address is in use by someone else (DHCPDECLINE): nobody gets it until
    /// `expires_at`.
    Declined,
}

impl LeaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseState::Bound => "bound",
            LeaseState::Declined => "declined",
        }
    }

    pub fn parse(s: &str) -> Option<LeaseState> {
        match s {
            "bound" => Some(LeaseState::Bound),
            "declined" => Some(LeaseState::Declined),
            _ => None,
        }
    }
}

/// A change the driver writes to the store before it sends the reply that announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseChange {
    Upsert(Lease),
    Remove(Ipv4Addr),
}

#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    #[error("scope `{scope}`: {reason}")]
    Scope { scope: String, reason: String },
    #[error("interface {interface}: {reason}")]
    Interface { interface: String, reason: String },
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}
