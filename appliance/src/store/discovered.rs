//! Devices seen on the network (by DHCP, TFTP or HTTPS) that the site config does not list yet:
//! the admin's list of phones waiting for adoption; and the last fetch of each listed phone's
//! device file, which tells the admin that a phone really took its configuration.

use rusqlite::params;
use serde::Serialize;

use super::{unix_now, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discovered {
    pub mac: String,
    pub vendor_guess: String,
    pub model_guess: String,
    /// Which service saw it last: `dhcp`, `tftp` or `https`.
    pub seen_by: String,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// The last time a phone fetched its device file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fetch {
    pub mac: String,
    /// Unix seconds.
    pub at: i64,
    /// `tftp` or `https`.
    pub via: String,
    /// The address it came from.
    pub client: String,
}

impl Store {
    /// Records a sighting of `mac` (normalised `aa:bb:cc:dd:ee:ff`). Guesses only fill in what
    /// is still unknown, so a later, vaguer sighting does not erase a better one.
    pub fn record_seen(&self, mac: &str, vendor: &str, model: &str, seen_by: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO discovered_devices (mac, vendor_guess, model_guess, seen_by, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (mac) DO UPDATE SET
               vendor_guess = CASE WHEN excluded.vendor_guess = '' THEN vendor_guess ELSE excluded.vendor_guess END,
               model_guess = CASE WHEN excluded.model_guess = '' THEN model_guess ELSE excluded.model_guess END,
               seen_by = excluded.seen_by, last_seen = excluded.last_seen",
            params![mac, vendor, model, seen_by, unix_now()],
        )?;
        Ok(())
    }

    /// Devices seen and not in the site config, most recent first.
    pub fn discovered(&self) -> Result<Vec<Discovered>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT mac, vendor_guess, model_guess, seen_by, first_seen, last_seen FROM discovered_devices
             WHERE mac NOT IN (SELECT mac FROM devices) ORDER BY last_seen DESC, mac",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Discovered {
                mac: r.get(0)?,
                vendor_guess: r.get(1)?,
                model_guess: r.get(2)?,
                seen_by: r.get(3)?,
                first_seen: r.get(4)?,
                last_seen: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records that `mac` fetched its device file now (one row per phone: the latest).
    pub fn record_fetch(&self, mac: &str, via: &str, client: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO device_fetches (mac, at, via, client) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (mac) DO UPDATE SET at = excluded.at, via = excluded.via, client = excluded.client",
            params![mac, unix_now(), via, client],
        )?;
        Ok(())
    }

    /// The last device-file fetch of every phone that made one.
    pub fn fetches(&self) -> Result<Vec<Fetch>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT mac, at, via, client FROM device_fetches ORDER BY mac")?;
        let rows =
            stmt.query_map([], |r| Ok(Fetch { mac: r.get(0)?, at: r.get(1)?, via: r.get(2)?, client: r.get(3)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{SecretBox, Store};

    #[test]
    fn sightings_merge_and_adopted_devices_leave_the_list() {
        let s = Store::open_in_memory(SecretBox::from_key(&[1; 32])).unwrap();
        s.record_seen("80:5e:c0:11:22:33", "yealink", "", "dhcp").unwrap();
        s.record_seen("80:5e:c0:11:22:33", "", "SIP-T54W", "https").unwrap();
        s.record_seen("00:0b:82:aa:bb:cc", "grandstream", "", "tftp").unwrap();
        let list = s.discovered().unwrap();
        let yealink = list.iter().find(|d| d.mac == "80:5e:c0:11:22:33").unwrap();
        assert_eq!(
            (yealink.vendor_guess.as_str(), yealink.model_guess.as_str(), yealink.seen_by.as_str()),
            ("yealink", "SIP-T54W", "https")
        );
        s.apply_site(crate::site::from_toml(include_str!("../../../examples/site.toml")).unwrap(), "t").unwrap();
        let macs: Vec<String> = s.discovered().unwrap().into_iter().map(|d| d.mac).collect();
        assert_eq!(macs, vec!["00:0b:82:aa:bb:cc"], "80:5e:c0:11:22:33 is in the example site, so adopted");
    }

    #[test]
    fn a_phone_keeps_only_its_latest_fetch() {
        let s = Store::open_in_memory(SecretBox::from_key(&[1; 32])).unwrap();
        s.record_fetch("80:5e:c0:11:22:33", "tftp", "192.0.2.10").unwrap();
        s.record_fetch("80:5e:c0:11:22:33", "https", "192.0.2.11").unwrap();
        let list = s.fetches().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!((list[0].via.as_str(), list[0].client.as_str()), ("https", "192.0.2.11"));
    }
}
