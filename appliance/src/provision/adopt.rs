//! Adopting a discovered device: which device an adoption adds to the site config, and where.
//! Pure, and shared by the REST API (`POST /api/v1/devices/discovered/:mac/adopt`) and the web
//! UI's phones page, so both take the same checks before `Store::apply_site` validates the
//! whole document (an extension that does not exist is refused there).

use crate::site::{self, Device, SiteDoc, Vendor};
use crate::store::discovered::Discovered;

/// Why an adoption was refused before the site config was even tried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdoptError {
    #[error("`{0}` is not a MAC address")]
    NotAMac(String),
    #[error("no discovered device {0}")]
    NotDiscovered(String),
    #[error("the vendor of {0} is not known: give one (\"vendor\": \"yealink\", …)")]
    UnknownVendor(String),
    #[error("no tenant `{0}`")]
    NoTenant(String),
}

/// The MAC in its stored spelling (`aa:bb:cc:dd:ee:ff`).
pub fn mac(text: &str) -> Result<String, AdoptError> {
    site::normalize_mac(text).ok_or_else(|| AdoptError::NotAMac(text.to_owned()))
}

/// The device that adopting `mac` from `discovered` makes: the given vendor and model, or
/// else the discovery's guesses; the extension on its first line.
pub fn device(
    discovered: &[Discovered],
    mac: &str,
    extension: String,
    vendor: Option<Vendor>,
    model: Option<String>,
) -> Result<Device, AdoptError> {
    let found = discovered.iter().find(|d| d.mac == mac).ok_or_else(|| AdoptError::NotDiscovered(mac.to_owned()))?;
    let vendor = match vendor {
        Some(v) => v,
        None => Vendor::ALL
            .into_iter()
            .find(|v| v.as_str() == found.vendor_guess)
            .ok_or_else(|| AdoptError::UnknownVendor(mac.to_owned()))?,
    };
    let model = model.unwrap_or_else(|| found.model_guess.clone());
    Ok(Device { mac: mac.to_owned(), vendor, model, extension: Some(extension) })
}

/// Adds `device` to `tenant`'s devices in `doc`.
pub fn add(doc: &mut SiteDoc, tenant: &str, device: Device) -> Result<(), AdoptError> {
    let t = doc.tenants.iter_mut().find(|t| t.name == tenant).ok_or_else(|| AdoptError::NoTenant(tenant.to_owned()))?;
    t.devices.push(device);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn seen(vendor: &str, model: &str) -> Vec<Discovered> {
        vec![Discovered {
            mac: "80:5e:c0:11:22:33".into(),
            vendor_guess: vendor.into(),
            model_guess: model.into(),
            seen_by: "https".into(),
            first_seen: 1,
            last_seen: 2,
        }]
    }

    #[test]
    fn guesses_fill_in_what_the_admin_did_not_give() {
        let mac = mac("80-5E-C0-11-22-33").unwrap();
        let d = device(&seen("yealink", "SIP-T54W"), &mac, "201".into(), None, None).unwrap();
        assert_eq!((d.vendor, d.model.as_str(), d.extension.as_deref()), (Vendor::Yealink, "SIP-T54W", Some("201")));
        let d = device(&seen("", ""), &mac, "201".into(), Some(Vendor::Snom), Some("D785".into())).unwrap();
        assert_eq!((d.vendor, d.model.as_str()), (Vendor::Snom, "D785"));
    }

    #[test]
    fn refusals_name_what_is_missing() {
        assert_eq!(mac("nope"), Err(AdoptError::NotAMac("nope".into())));
        let other = "00:0b:82:aa:bb:cc";
        assert_eq!(
            device(&seen("yealink", ""), other, "1".into(), None, None),
            Err(AdoptError::NotDiscovered(other.into()))
        );
        let mac = "80:5e:c0:11:22:33";
        assert_eq!(device(&seen("", ""), mac, "1".into(), None, None), Err(AdoptError::UnknownVendor(mac.into())));
        let mut doc: SiteDoc = serde_json::from_value(serde_json::json!({"schema": 1, "tenants": []})).unwrap();
        let d = device(&seen("yealink", ""), mac, "1".into(), None, None).unwrap();
        assert_eq!(add(&mut doc, "acme", d), Err(AdoptError::NoTenant("acme".into())));
    }
}
