//! A device's settings, taken from the site config: what every vendor template is filled with.
//!
//! Phones register to their tenant's SIP domain (the registrar picks the tenant by it) through
//! the box as outbound proxy (`sip_server`), so the domain need not resolve on the LAN.

use super::{Line, PhoneConfig};
use crate::site::{normalize_mac, SiteDoc};

/// Codecs offered, in preference order: wideband first, G.711 for everything else. The media
/// bridge passes codecs through, so this is only what the phones propose.
pub const CODECS: [&str; 4] = ["G722", "PCMU", "PCMA", "opus"];

/// The settings of the device `mac` (any spelling), or `None` when the inventory does not list
/// it. A device without an extension gets a file without lines (it shows the box, not an
/// account), so that an adopted phone can be assigned later.
pub fn phone_config(doc: &SiteDoc, mac: &str, box_host: &str, sip_port: u16) -> Option<PhoneConfig> {
    let mac = normalize_mac(mac)?;
    let (tenant, device) = doc.tenants.iter().find_map(|t| t.devices.iter().find(|d| d.mac == mac).map(|d| (t, d)))?;
    let domain = tenant.domains.first().cloned().unwrap_or_else(|| box_host.to_owned());
    let lines = device
        .extension
        .iter()
        .filter_map(|number| tenant.extensions.iter().find(|x| &x.number == number))
        .map(|x| Line {
            extension: x.number.clone(),
            domain: domain.clone(),
            auth_user: x.number.clone(),
            password: x.secret.clone().unwrap_or_default(),
            display_name: if x.name.is_empty() { x.number.clone() } else { x.name.clone() },
            label: x.number.clone(),
        })
        .collect();
    // The NTP server of a scope serving the box's network, else the box itself.
    let ntp_server = doc.dhcp_scopes.iter().find_map(|s| s.ntp.first().cloned()).unwrap_or_else(|| box_host.to_owned());
    Some(PhoneConfig {
        mac,
        vendor: device.vendor,
        model: device.model.clone(),
        lines,
        sip_server: box_host.to_owned(),
        sip_port,
        sip_transport: "udp".to_owned(),
        codecs: CODECS.iter().map(|c| (*c).to_owned()).collect(),
        ntp_server,
        time_zone: doc.site.time_zone.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::Vendor;

    fn site() -> SiteDoc {
        crate::site::from_toml(include_str!("../../../examples/site.toml")).unwrap()
    }

    #[test]
    fn a_device_gets_its_extension_and_tenant_domain() {
        let p = phone_config(&site(), "80-5E-C0-11-22-33", "192.168.10.2", 5060).unwrap();
        assert_eq!((p.mac.as_str(), p.vendor, p.model.as_str()), ("80:5e:c0:11:22:33", Vendor::Yealink, "T54W"));
        assert_eq!(p.lines.len(), 1);
        let l = &p.lines[0];
        assert_eq!((l.extension.as_str(), l.domain.as_str(), l.auth_user.as_str()), ("101", "acme.pbx.local", "101"));
        assert_eq!((l.password.as_str(), l.display_name.as_str()), ("correct-horse-101", "Alice Reception"));
        assert_eq!((p.sip_server.as_str(), p.sip_port), ("192.168.10.2", 5060));
        assert_eq!((p.ntp_server.as_str(), p.time_zone.as_str()), ("192.168.10.2", "Europe/Berlin"));
    }

    #[test]
    fn the_same_extension_number_in_two_tenants_stays_apart() {
        let p = phone_config(&site(), "0c:38:3e:44:55:66", "10.0.0.1", 5070).unwrap();
        assert_eq!(p.lines[0].domain, "bright.pbx.local");
        assert_eq!(p.lines[0].password, "bright-dana-1010");
    }

    #[test]
    fn unknown_and_unassigned_devices() {
        let mut doc = site();
        assert!(phone_config(&doc, "02:00:00:00:00:01", "h", 5060).is_none());
        assert!(phone_config(&doc, "not a mac", "h", 5060).is_none());
        doc.tenants[0].devices[0].extension = None;
        assert!(phone_config(&doc, "80:5e:c0:11:22:33", "h", 5060).unwrap().lines.is_empty());
    }
}
