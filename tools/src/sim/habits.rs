//! What each vendor's phone says and asks for on a cold boot: its DHCP vendor class (option
//! 60), its HTTP User-Agent, and the names of the files it fetches. Written from the vendors'
//! habits, not from the box's code, so that a naming mistake on the box shows up in tests.

use appliance::site::Vendor;

/// A simulated phone's identity.
#[derive(Debug, Clone)]
pub struct Identity {
    pub vendor: Vendor,
    /// `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
}

impl Identity {
    fn hex(&self) -> String {
        self.mac.chars().filter(char::is_ascii_hexdigit).collect::<String>().to_ascii_lowercase()
    }

    /// Option 60 as the vendor's firmware sends it (Cisco's ends in a NUL).
    pub fn vendor_class(&self) -> Vec<u8> {
        let class: &[u8] = match self.vendor {
            Vendor::Yealink => b"yealink",
            Vendor::Poly => b"Polycom-VVX450",
            Vendor::Cisco => b"Cisco Systems, Inc. IP Phone CP-8841\0",
            Vendor::Grandstream => b"Grandstream GXP2170 dslforum.org",
            Vendor::Fanvil => b"Fanvil X4U",
            Vendor::Snom => b"snom D785",
            Vendor::Gigaset => b"Gigaset N670 IP PRO",
        };
        class.to_vec()
    }

    /// The User-Agent of its provisioning requests; most vendors append the MAC.
    pub fn user_agent(&self) -> String {
        let (hex, mac) = (self.hex(), &self.mac);
        match self.vendor {
            Vendor::Yealink => format!("Yealink SIP-T54W 96.86.0.100 {mac}"),
            Vendor::Poly => "FileTransport PolycomVVX-VVX_450-UA/6.4.0.0001 Type/Application".to_owned(),
            Vendor::Cisco => format!("Cisco-CP8841-3PCC/11.3.1 ({hex})"),
            Vendor::Grandstream => format!("Grandstream Model HW GXP2170 SW 1.0.11.6 DevId {hex}"),
            Vendor::Fanvil => format!("Fanvil X4U 2.12.1.2 {mac}"),
            Vendor::Snom => format!("Mozilla/4.0 (compatible; snom D785 10.1.54.13 {})", hex.to_ascii_uppercase()),
            Vendor::Gigaset => "Gigaset N670 IP PRO/2.52.0".to_owned(),
        }
    }

    /// The file asked for first (over TFTP, the bootstrap), then the device's own file.
    pub fn files(&self) -> (&'static str, String) {
        let hex = self.hex();
        match self.vendor {
            Vendor::Yealink => ("y000000000000.cfg", format!("{hex}.cfg")),
            Vendor::Poly => ("000000000000.cfg", format!("{hex}-outpost.cfg")),
            Vendor::Cisco => ("spa.xml", format!("spa{hex}.xml")),
            Vendor::Grandstream => ("cfg.xml", format!("cfg{hex}.xml")),
            Vendor::Fanvil => ("fanvil.cfg", format!("{hex}.cfg")),
            Vendor::Snom => ("snom.xml", format!("{}.xml", hex.to_ascii_uppercase())),
            Vendor::Gigaset => ("gigaset.xml", format!("{}.xml", hex.to_ascii_uppercase())),
        }
    }
}

/// The `n`th MAC of a vendor's OUI, for simulated phones (`n` below 2^24).
pub fn mac_of(vendor: Vendor, n: u32) -> String {
    let oui = match vendor {
        Vendor::Yealink => "80:5e:c0",
        Vendor::Poly => "00:04:f2",
        Vendor::Cisco => "00:1e:7a",
        Vendor::Grandstream => "00:0b:82",
        Vendor::Fanvil => "0c:38:3e",
        Vendor::Snom => "00:04:13",
        Vendor::Gigaset => "7c:2f:80",
    };
    let [_, a, b, c] = n.to_be_bytes();
    format!("{oui}:{a:02x}:{b:02x}:{c:02x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_box_tells_each_simulated_phone_by_its_user_agent_and_class() {
        for vendor in Vendor::ALL {
            let phone = Identity { vendor, mac: mac_of(vendor, 0x123456) };
            let (v, _, mac) = appliance::provision::identify::parse_user_agent(&phone.user_agent());
            assert_eq!(v, Some(vendor), "{}", phone.user_agent());
            assert!(mac.is_none() || mac.as_deref() == Some(phone.mac.as_str()), "{}", phone.user_agent());
            assert_eq!(appliance::provision::identify::vendor_by_class(&phone.vendor_class()), Some(vendor));
            assert_eq!(appliance::provision::identify::vendor_by_mac(&phone.mac), Some(vendor));
        }
        assert_eq!(mac_of(Vendor::Yealink, 0x010203), "80:5e:c0:01:02:03");
    }
}
