//! Telling a phone's vendor and model from what it sends: DHCP option 60 (vendor class), the
//! MAC's OUI, and the HTTP User-Agent. Used by DHCP (which options to answer), provisioning
//! (which file to build) and the discovered-devices list (what to show the admin).

use crate::site::Vendor;

/// Organisationally unique identifiers of the phone vendors we provision (lowercase, `aa:bb:cc`).
const OUIS: &[(&str, Vendor)] = &[
    ("00:15:65", Vendor::Yealink),
    ("80:5e:c0", Vendor::Yealink),
    ("80:5e:0c", Vendor::Yealink),
    ("24:9a:d8", Vendor::Yealink),
    ("44:db:d2", Vendor::Yealink),
    ("00:04:f2", Vendor::Poly),
    ("64:16:7f", Vendor::Poly),
    ("48:25:67", Vendor::Poly),
    ("00:0b:82", Vendor::Grandstream),
    ("c0:74:ad", Vendor::Grandstream),
    ("ec:74:d7", Vendor::Grandstream),
    ("00:04:13", Vendor::Snom),
    ("00:a8:59", Vendor::Fanvil),
    ("0c:38:3e", Vendor::Fanvil),
    ("7c:2f:80", Vendor::Gigaset),
    ("00:01:e3", Vendor::Gigaset),
    ("00:1e:7a", Vendor::Cisco),
    ("00:23:04", Vendor::Cisco),
    ("ec:1d:8b", Vendor::Cisco),
    ("68:8b:0f", Vendor::Cisco),
];

/// The vendor whose OUI a MAC (`aa:bb:cc:dd:ee:ff`) carries.
pub fn vendor_by_mac(mac: &str) -> Option<Vendor> {
    let oui = mac.get(..8)?.to_ascii_lowercase();
    OUIS.iter().find(|(prefix, _)| *prefix == oui).map(|(_, v)| *v)
}

/// The vendor an option-60 vendor class names, e.g. `yealink`, `Polycom-VVX450`,
/// `Cisco Systems, Inc. IP Phone CP-8841\0`. Trailing NULs and case do not matter.
pub fn vendor_by_class(class: &[u8]) -> Option<Vendor> {
    let text = String::from_utf8_lossy(class).trim_end_matches('\0').trim().to_ascii_lowercase();
    const WORDS: &[(&str, Vendor)] = &[
        ("yealink", Vendor::Yealink),
        ("polycom", Vendor::Poly),
        ("poly", Vendor::Poly),
        ("cisco", Vendor::Cisco),
        ("grandstream", Vendor::Grandstream),
        ("snom", Vendor::Snom),
        ("fanvil", Vendor::Fanvil),
        ("gigaset", Vendor::Gigaset),
    ];
    WORDS.iter().find(|(word, _)| text.contains(word)).map(|(_, v)| *v)
}

/// What a User-Agent says: vendor, model and the MAC many phones append.
/// `Yealink SIP-T54W 96.86.0.100 80:5e:c0:11:22:33` gives (Yealink, "SIP-T54W", mac).
pub fn parse_user_agent(ua: &str) -> (Option<Vendor>, Option<String>, Option<String>) {
    let vendor = vendor_by_class(ua.as_bytes());
    let model = ua
        .split_whitespace()
        .nth(1)
        .map(|m| m.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-').to_owned());
    let mac = ua.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ';' || c == '/').find_map(|word| {
        let hex: String = word.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        let plausible = word.len() == 12 || word.len() == 17;
        (plausible && hex.len() == 12).then(|| crate::site::normalize_mac(word)).flatten()
    });
    (vendor, model.filter(|m| !m.is_empty()), mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_60_strings_of_real_phones() {
        assert_eq!(vendor_by_class(b"yealink"), Some(Vendor::Yealink));
        assert_eq!(vendor_by_class(b"Polycom-VVX450"), Some(Vendor::Poly));
        assert_eq!(vendor_by_class(b"Cisco Systems, Inc. IP Phone CP-8841\0"), Some(Vendor::Cisco));
        assert_eq!(vendor_by_class(b"Grandstream GXP2170 dslforum.org"), Some(Vendor::Grandstream));
        assert_eq!(vendor_by_class(b"MSFT 5.0"), None);
    }

    #[test]
    fn ouis_and_user_agents() {
        assert_eq!(vendor_by_mac("80:5e:c0:11:22:33"), Some(Vendor::Yealink));
        assert_eq!(vendor_by_mac("00:04:F2:aa:bb:cc"), Some(Vendor::Poly));
        assert_eq!(vendor_by_mac("02:00:00:00:00:01"), None);
        let (v, model, mac) = parse_user_agent("Yealink SIP-T54W 96.86.0.100 80:5e:c0:11:22:33");
        assert_eq!(
            (v, model.as_deref(), mac.as_deref()),
            (Some(Vendor::Yealink), Some("SIP-T54W"), Some("80:5e:c0:11:22:33"))
        );
        let (v, _, mac) = parse_user_agent("FileTransport PolycomVVX-VVX_450-UA/6.4.0.0001 Type/Application");
        assert_eq!((v, mac), (Some(Vendor::Poly), None));
        let (_, _, mac) = parse_user_agent("Grandstream Model HW GXP2170 SW 1.0.11.6 DevId 000b82aabbcc");
        assert_eq!(mac.as_deref(), Some("00:0b:82:aa:bb:cc"));
    }
}
