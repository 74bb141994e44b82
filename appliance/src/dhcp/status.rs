//! What the DHCP service is doing, for `GET /api/v1/dhcp/status`.

use std::net::Ipv4Addr;
use std::sync::Mutex;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum DhcpStatus {
    /// Not configured (no `[dhcp] interface`, or no scope for it).
    Off {
        reason: String,
    },
    /// Looking for another DHCP server on the segment before serving.
    Probing {
        interface: String,
    },
    Serving {
        interface: String,
        address: Ipv4Addr,
        scopes: Vec<String>,
    },
    /// Another server answered the probe and no scope is authoritative: serving would hand out
    /// conflicting addresses, so the box stays silent.
    Refused {
        interface: String,
        other_server: Ipv4Addr,
        seen_at: i64,
    },
}

/// Shared between the driver and the API.
#[derive(Debug)]
pub struct DhcpShared {
    status: Mutex<DhcpStatus>,
}

impl DhcpShared {
    pub fn new(status: DhcpStatus) -> DhcpShared {
        DhcpShared { status: Mutex::new(status) }
    }

    pub fn status(&self) -> DhcpStatus {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set(&self, status: DhcpStatus) {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }
}
