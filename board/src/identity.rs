//! The box's identity: a serial number (what the fleet and the installer see on the label) and
//! the base MAC (phones' provisioning and the box's default hostname derive from it).
//!
//! Parsing is pure (`parse_mac`, `pick_base_mac`); `read` reads the layout's sysfs files.

use std::path::Path;

use crate::Layout;

/// Serial number and base MAC of a box.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// From DMI `product_serial`, else `product_uuid`, else derived from the MAC: mini-PCs often
    /// ship "To Be Filled By O.E.M.", which identifies nothing.
    pub serial: String,
    /// The MAC of the first wired interface (lowest name), as six bytes.
    pub base_mac: [u8; 6],
}

impl Identity {
    /// The MAC as `aa:bb:cc:dd:ee:ff`.
    pub fn mac_string(&self) -> String {
        let m = self.base_mac;
        format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

/// Why the identity could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("no wired network interface with a MAC address under {0}")]
    NoMac(String),
    #[error("cannot list {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// Serials that firmware vendors leave in DMI when nobody filled it in.
const PLACEHOLDER_SERIALS: [&str; 6] =
    ["", "to be filled by o.e.m.", "default string", "system serial number", "not specified", "0"];

/// Parses `aa:bb:cc:dd:ee:ff` (what sysfs `address` holds).
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = text.trim().split(':');
    for byte in &mut out {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// Picks the base MAC among `(interface name, address)` pairs: wired-looking names only
/// (not `lo`, bridges, tunnels, wireless or virtual ones), lowest name first, never all-zero.
pub fn pick_base_mac(interfaces: &[(String, String)]) -> Option<[u8; 6]> {
    const SKIP: [&str; 9] = ["lo", "br", "docker", "veth", "virbr", "tun", "tap", "wl", "wg"];
    let mut wired: Vec<_> = interfaces
        .iter()
        .filter(|(name, _)| !SKIP.iter().any(|p| name.starts_with(p)))
        .filter_map(|(name, addr)| Some((name, parse_mac(addr)?)))
        .filter(|(_, mac)| *mac != [0; 6])
        .collect();
    wired.sort();
    wired.first().map(|(_, mac)| *mac)
}

/// Picks the serial: the DMI serial unless it is a placeholder, then the product UUID, then
/// one derived from the MAC.
pub fn pick_serial(dmi_serial: Option<&str>, dmi_uuid: Option<&str>, mac: [u8; 6]) -> String {
    let usable = |s: &&str| !PLACEHOLDER_SERIALS.contains(&s.trim().to_ascii_lowercase().as_str());
    if let Some(s) = dmi_serial.filter(usable) {
        return s.trim().to_owned();
    }
    if let Some(u) = dmi_uuid.filter(usable) {
        return u.trim().to_ascii_lowercase();
    }
    format!("OP-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5])
}

/// Reads the identity from the layout's DMI and network directories.
pub fn read(layout: &Layout) -> Result<Identity, IdentityError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| IdentityError::Io { path, source }
    };
    let mut interfaces = Vec::new();
    for entry in std::fs::read_dir(&layout.net).map_err(io(&layout.net))? {
        let entry = entry.map_err(io(&layout.net))?;
        if let Ok(addr) = std::fs::read_to_string(entry.path().join("address")) {
            interfaces.push((entry.file_name().to_string_lossy().into_owned(), addr));
        }
    }
    let mac = pick_base_mac(&interfaces).ok_or_else(|| IdentityError::NoMac(layout.net.display().to_string()))?;
    // DMI files are root-only on some kernels: unreadable counts as absent.
    let serial = std::fs::read_to_string(layout.dmi.join("product_serial")).ok();
    let uuid = std::fs::read_to_string(layout.dmi.join("product_uuid")).ok();
    Ok(Identity { serial: pick_serial(serial.as_deref(), uuid.as_deref(), mac), base_mac: mac })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ifs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn macs_parse_strictly() {
        assert_eq!(parse_mac("52:54:00:12:34:56\n"), Some([0x52, 0x54, 0, 0x12, 0x34, 0x56]));
        assert_eq!(parse_mac("52:54:00:12:34"), None);
        assert_eq!(parse_mac("52:54:00:12:34:56:78"), None);
        assert_eq!(parse_mac("zz:54:00:12:34:56"), None);
    }

    #[test]
    fn base_mac_is_the_lowest_wired_interface() {
        let list = ifs(&[
            ("lo", "00:00:00:00:00:00"),
            ("wlan0", "02:00:00:00:00:01"),
            ("enp2s0", "52:54:00:00:00:02"),
            ("enp1s0", "52:54:00:00:00:01"),
            ("docker0", "02:42:00:00:00:01"),
        ]);
        assert_eq!(pick_base_mac(&list), Some([0x52, 0x54, 0, 0, 0, 1]));
        assert_eq!(pick_base_mac(&ifs(&[("lo", "00:00:00:00:00:00")])), None);
    }

    #[test]
    fn placeholder_serials_fall_back() {
        let mac = [0x52, 0x54, 0, 0xab, 0xcd, 0xef];
        assert_eq!(pick_serial(Some("ABC123\n"), None, mac), "ABC123");
        assert_eq!(pick_serial(Some("To Be Filled By O.E.M."), Some("1234-ABCD"), mac), "1234-abcd");
        assert_eq!(pick_serial(Some("Default string"), None, mac), "OP-525400ABCDEF");
    }
}
