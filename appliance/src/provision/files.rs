//! Which vendor, file kind and MAC a requested path names, with each vendor's own file names.
//!
//! | vendor      | common (no secrets)  | device                  | MAC in the name |
//! |-------------|----------------------|-------------------------|-----------------|
//! | Yealink     | `y000000000000.cfg`  | `<mac>.cfg`             | lower case      |
//! | Poly        | `000000000000.cfg`   | `<mac>-outpost.cfg`     | lower case      |
//! | Cisco MPP   | `spa.xml`            | `spa<mac>.xml`          | lower case      |
//! | Grandstream | `cfg.xml`            | `cfg<mac>.xml`          | lower case      |
//! | Fanvil      | `fanvil.cfg`         | `<mac>.cfg`             | lower case      |
//! | Snom        | `snom.xml`           | `<MAC>.xml`             | upper case      |
//! | Gigaset     | `gigaset.xml`        | `<MAC>.xml`             | upper case      |
//!
//! Poly's `<mac>.cfg` is the per-phone *master* file: the same as `000000000000.cfg` (it lists
//! `[PHONE_MAC_ADDRESS]-outpost.cfg`), so it is a common file. Names several vendors share
//! (`<mac>.cfg`, `<MAC>.xml`) are read with a hint (the User-Agent's vendor, else the OUI of
//! the MAC); the inventory's vendor has the last word (`decide`). MACs are read in either case.

use super::identify::vendor_by_mac;
use super::{FileKind, FileRequest};
use crate::site::{normalize_mac, Vendor};

/// The vendor's common file, the one DHCP option 67 and the TFTP bootstrap name.
pub fn common_file_name(vendor: Vendor) -> &'static str {
    match vendor {
        Vendor::Yealink => "y000000000000.cfg",
        Vendor::Poly => "000000000000.cfg",
        Vendor::Cisco => "spa.xml",
        Vendor::Grandstream => "cfg.xml",
        Vendor::Fanvil => "fanvil.cfg",
        Vendor::Snom => "snom.xml",
        Vendor::Gigaset => "gigaset.xml",
    }
}

/// The device file of `mac` (normalised `aa:bb:cc:dd:ee:ff`) as the vendor asks for it.
pub fn device_file_name(vendor: Vendor, mac: &str) -> String {
    let hex: String = mac.chars().filter(char::is_ascii_hexdigit).collect();
    match vendor {
        Vendor::Yealink | Vendor::Fanvil => format!("{}.cfg", hex.to_ascii_lowercase()),
        Vendor::Poly => format!("{}-outpost.cfg", hex.to_ascii_lowercase()),
        Vendor::Cisco => format!("spa{}.xml", hex.to_ascii_lowercase()),
        Vendor::Grandstream => format!("cfg{}.xml", hex.to_ascii_lowercase()),
        Vendor::Snom | Vendor::Gigaset => format!("{}.xml", hex.to_ascii_uppercase()),
    }
}

/// Reads a requested file name. `hint` is the vendor the User-Agent names, if any. `None`:
/// no file of ours has that name (including anything with a directory part).
pub fn parse_path(path: &str, hint: Option<Vendor>) -> Option<FileRequest> {
    if path.is_empty() || path.len() > 64 || !path.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return None;
    }
    if let Some(vendor) = Vendor::ALL.into_iter().find(|v| common_file_name(*v) == path) {
        return Some(FileRequest { vendor, kind: FileKind::Common, mac: None });
    }
    let lower = path.to_ascii_lowercase();
    let device = |vendor, mac| Some(FileRequest { vendor, kind: FileKind::Device, mac: Some(mac) });
    if let Some(mac) = strip(&lower, "spa", ".xml") {
        return device(Vendor::Cisco, mac);
    }
    if let Some(mac) = strip(&lower, "cfg", ".xml") {
        return device(Vendor::Grandstream, mac);
    }
    if let Some(mac) = strip(&lower, "", "-outpost.cfg") {
        return device(Vendor::Poly, mac);
    }
    if let Some(mac) = strip(&lower, "", ".cfg") {
        return match hint.or_else(|| vendor_by_mac(&mac)) {
            Some(Vendor::Poly) => Some(FileRequest { vendor: Vendor::Poly, kind: FileKind::Common, mac: Some(mac) }),
            Some(Vendor::Fanvil) => device(Vendor::Fanvil, mac),
            _ => device(Vendor::Yealink, mac),
        };
    }
    if let Some(mac) = strip(&lower, "", ".xml") {
        return match hint.or_else(|| vendor_by_mac(&mac)) {
            Some(Vendor::Gigaset) => device(Vendor::Gigaset, mac),
            _ => device(Vendor::Snom, mac),
        };
    }
    None
}

/// The normalised MAC between `prefix` and `suffix`, when that is exactly 12 hex digits.
fn strip(name: &str, prefix: &str, suffix: &str) -> Option<String> {
    let hex = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if hex.len() != 12 || hex == "000000000000" {
        return None;
    }
    normalize_mac(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: &str = "80:5e:c0:11:22:33";

    #[test]
    fn every_vendor_reads_back_its_own_names() {
        for vendor in Vendor::ALL {
            let common = parse_path(common_file_name(vendor), None).unwrap();
            assert_eq!((common.vendor, common.kind, common.mac), (vendor, FileKind::Common, None));
            let name = device_file_name(vendor, MAC);
            let device = parse_path(&name, Some(vendor)).unwrap();
            assert_eq!((device.vendor, device.kind), (vendor, FileKind::Device), "{name}");
            assert_eq!(device.mac.as_deref(), Some(MAC), "{name}");
        }
    }

    #[test]
    fn names_are_spelled_as_each_vendor_asks() {
        assert_eq!(device_file_name(Vendor::Yealink, MAC), "805ec0112233.cfg");
        assert_eq!(device_file_name(Vendor::Snom, MAC), "805EC0112233.xml");
        assert_eq!(device_file_name(Vendor::Cisco, MAC), "spa805ec0112233.xml");
        assert_eq!(device_file_name(Vendor::Grandstream, MAC), "cfg805ec0112233.xml");
        assert_eq!(device_file_name(Vendor::Poly, MAC), "805ec0112233-outpost.cfg");
    }

    #[test]
    fn shared_names_follow_the_hint_then_the_oui() {
        let poly = parse_path("0004f2aabbcc.cfg", None).unwrap();
        assert_eq!((poly.vendor, poly.kind), (Vendor::Poly, FileKind::Common), "Poly's per-phone master");
        let yealink = parse_path("0004F2AABBCC.cfg", Some(Vendor::Yealink)).unwrap();
        assert_eq!((yealink.vendor, yealink.kind), (Vendor::Yealink, FileKind::Device));
        assert_eq!(parse_path("805EC0112233.cfg", None).unwrap().mac.as_deref(), Some(MAC));
        assert_eq!(parse_path("805ec0112233.xml", Some(Vendor::Gigaset)).unwrap().vendor, Vendor::Gigaset);
    }

    #[test]
    fn anything_else_names_nothing() {
        for path in ["", "../805ec0112233.cfg", "/805ec0112233.cfg", "a/805ec0112233.cfg", "805ec011223.cfg"] {
            assert_eq!(parse_path(path, None), None, "{path}");
        }
        for path in ["805ec011223g.cfg", "box.key", "outpost.db", "spa.cfg", "cfg000000000000.xml", "%2e%2e"] {
            assert_eq!(parse_path(path, None), None, "{path}");
        }
    }
}
