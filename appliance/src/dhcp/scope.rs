//! A site DHCP scope in the form the core trusts: numbers instead of strings, reservations by
//! MAC. Built from `site::DhcpScope`, which `site::validate` has already checked.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::DhcpError;
use crate::site::DhcpScope;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub name: String,
    pub interface: Option<String>,
    pub network: Ipv4Addr,
    pub mask: Ipv4Addr,
    pub range_start: Ipv4Addr,
    pub range_end: Ipv4Addr,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub ntp: Vec<Ipv4Addr>,
    pub lease_time: u32,
    pub authoritative: bool,
    /// Normalised MAC to address.
    pub reservations: HashMap<String, Ipv4Addr>,
}

impl Scope {
    /// Whether `ip` is on this scope's subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & u32::from(self.mask) == u32::from(self.network)
    }

    /// Whether `ip` is in the dynamic range.
    pub fn in_range(&self, ip: Ipv4Addr) -> bool {
        (u32::from(self.range_start)..=u32::from(self.range_end)).contains(&u32::from(ip))
    }
}

impl TryFrom<&DhcpScope> for Scope {
    type Error = DhcpError;

    fn try_from(s: &DhcpScope) -> Result<Scope, DhcpError> {
        let bad = |reason: String| DhcpError::Scope { scope: s.name.clone(), reason };
        let ip = |v: &str| v.parse::<Ipv4Addr>().map_err(|_| bad(format!("`{v}` is not an IPv4 address")));
        let (net, prefix) =
            s.network.split_once('/').ok_or_else(|| bad(format!("`{}` is not a network", s.network)))?;
        let prefix: u32 = prefix.parse().map_err(|_| bad(format!("`{}` has no prefix length", s.network)))?;
        if !(1..=30).contains(&prefix) {
            return Err(bad(format!("prefix /{prefix} is not served")));
        }
        let mask = Ipv4Addr::from(u32::MAX << (32 - prefix));
        let network = Ipv4Addr::from(u32::from(ip(net)?) & u32::from(mask));
        let mut reservations = HashMap::new();
        for r in &s.reservations {
            let mac =
                crate::site::validate::normalize_mac(&r.mac).ok_or_else(|| bad(format!("`{}` is not a MAC", r.mac)))?;
            reservations.insert(mac, ip(&r.ip)?);
        }
        let (range_start, range_end) = (ip(&s.range_start)?, ip(&s.range_end)?);
        if range_start > range_end {
            return Err(bad("range_end is below range_start".into()));
        }
        Ok(Scope {
            name: s.name.clone(),
            interface: s.interface.clone(),
            network,
            mask,
            range_start,
            range_end,
            router: s.router.as_deref().map(ip).transpose()?,
            dns: s.dns.iter().map(|v| ip(v)).collect::<Result<_, _>>()?,
            ntp: s.ntp.iter().map(|v| ip(v)).collect::<Result<_, _>>()?,
            lease_time: s.lease_time,
            authoritative: s.authoritative,
            reservations,
        })
    }
}
