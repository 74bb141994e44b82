//! The dashboard's alerts: what needs the admin's attention, each with a severity, a sentence
//! and the page to act on it. [`alerts`] is a pure function of a [`Snapshot`] (gathered by the
//! dashboard with the rest of `/ui/live.json`), so that the rules are tested here without a box.

use std::path::Path;

use serde::Serialize;

/// Below this share of the data disk free (in per cent), or below [`LOW_DISK_BYTES`], the
/// disk alert shows.
pub const LOW_DISK_PERCENT: u64 = 10;
pub const LOW_DISK_BYTES: u64 = 200 * 1024 * 1024;
/// A last backup older than this is an alert.
pub const BACKUP_AGE_SECS: i64 = 24 * 3600;

/// Space on the data disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disk {
    /// Bytes an unprivileged writer may still use.
    pub free: u64,
    pub total: u64,
}

/// The data disk's space (statvfs of `dir`); `None` if it cannot be read.
pub fn disk(dir: &Path) -> Option<Disk> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(Disk { free: st.f_bavail.saturating_mul(st.f_frsize), total: st.f_blocks.saturating_mul(st.f_frsize) })
}

/// The box's backups as far as the alerts care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backups {
    /// Not set up (no daemon): nothing to say.
    Off,
    None,
    /// Unix time of the newest one.
    Last(i64),
}

/// What the alerts are decided from.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub now: i64,
    pub sip_bans: usize,
    pub provisioning_bans: usize,
    /// Unknown devices (not in the site config) seen asking in the last 24 h.
    pub unknown_devices: usize,
    /// Provisioning requests refused since the start: wrong credentials or a MAC mismatch.
    pub provisioning_refused: u64,
    pub disk: Option<Disk>,
    /// The reason, when the site is in survivable mode.
    pub survivable: Option<String>,
    pub backups: Backups,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Bad,
    Warn,
}

impl Severity {
    /// The class of the alert's list item (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Bad => "bad",
            Severity::Warn => "warn",
        }
    }
}

/// One alert as the page and `/ui/live.json` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// Stable name (`data-alert`): bans, unknown-devices, provisioning-refused, disk,
    /// survivable, backup.
    pub key: &'static str,
    pub severity: Severity,
    pub text: String,
    pub link: &'static str,
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `150 MB`, `3.2 GB`.
pub fn size(bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    if bytes >= 1024 * MB {
        format!("{}.{} GB", bytes / (1024 * MB), bytes % (1024 * MB) * 10 / (1024 * MB))
    } else {
        format!("{} MB", bytes / MB)
    }
}

/// The alerts, the worst first.
pub fn alerts(s: &Snapshot) -> Vec<Alert> {
    let mut out = Vec::new();
    if let Some(d) = s.disk {
        let low_share = d.total > 0 && d.free.saturating_mul(100) < d.total.saturating_mul(LOW_DISK_PERCENT);
        if low_share || d.free < LOW_DISK_BYTES {
            out.push(Alert {
                key: "disk",
                severity: Severity::Bad,
                text: format!("The data disk is nearly full: {} free of {}.", size(d.free), size(d.total)),
                link: "/ui/backups",
            });
        }
    }
    if let Some(reason) = &s.survivable {
        out.push(Alert {
            key: "survivable",
            severity: Severity::Warn,
            text: format!("Survivable mode: {reason}."),
            link: "/ui/trunks",
        });
    }
    let bans = s.sip_bans + s.provisioning_bans;
    if bans > 0 {
        out.push(Alert {
            key: "bans",
            severity: Severity::Warn,
            text: format!(
                "{} banned (SIP {}, provisioning {}).",
                plural(bans as u64, "address", "addresses"),
                s.sip_bans,
                s.provisioning_bans
            ),
            link: "/ui/security",
        });
    }
    if s.provisioning_refused > 0 {
        out.push(Alert {
            key: "provisioning-refused",
            severity: Severity::Warn,
            text: format!(
                "{} refused since the box started (wrong credentials or MAC).",
                plural(s.provisioning_refused, "provisioning request", "provisioning requests")
            ),
            link: "/ui/phones",
        });
    }
    if s.unknown_devices > 0 {
        out.push(Alert {
            key: "unknown-devices",
            severity: Severity::Warn,
            text: format!(
                "{} asked for a configuration in the last 24 h and {} waiting for adoption.",
                plural(s.unknown_devices as u64, "unknown device", "unknown devices"),
                if s.unknown_devices == 1 { "is" } else { "are" }
            ),
            link: "/ui/phones",
        });
    }
    match s.backups {
        Backups::Off => {}
        Backups::None => out.push(Alert {
            key: "backup",
            severity: Severity::Warn,
            text: "No backup yet.".to_owned(),
            link: "/ui/backups",
        }),
        Backups::Last(at) if s.now.saturating_sub(at) > BACKUP_AGE_SECS => out.push(Alert {
            key: "backup",
            severity: Severity::Warn,
            text: format!("The last backup is more than a day old ({}).", super::dashboard::utc(at)),
            link: "/ui/backups",
        }),
        Backups::Last(_) => {}
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const GB: u64 = 1024 * 1024 * 1024;

    fn calm() -> Snapshot {
        Snapshot {
            now: 1_700_000_000,
            sip_bans: 0,
            provisioning_bans: 0,
            unknown_devices: 0,
            provisioning_refused: 0,
            disk: Some(Disk { free: 3 * GB, total: 4 * GB }),
            survivable: None,
            backups: Backups::Last(1_700_000_000 - 3600),
        }
    }

    fn keys(s: &Snapshot) -> Vec<&'static str> {
        alerts(s).iter().map(|a| a.key).collect()
    }

    #[test]
    fn a_calm_box_has_no_alerts() {
        assert_eq!(alerts(&calm()), []);
        assert_eq!(alerts(&Snapshot { disk: None, backups: Backups::Off, ..calm() }), []);
    }

    #[test]
    fn the_disk_alerts_under_ten_per_cent_or_200_mb_free() {
        let with = |free, total| keys(&Snapshot { disk: Some(Disk { free, total }), ..calm() });
        assert_eq!(with(GB / 2, 4 * GB), Vec::<&str>::new(), "12.5 % free");
        assert_eq!(with(3 * GB / 10, 4 * GB), ["disk"], "7.5 % free");
        assert_eq!(with(150 * 1024 * 1024, GB), ["disk"], "15 % but 150 MB");
        let a = &alerts(&Snapshot { disk: Some(Disk { free: 150 * 1024 * 1024, total: 4 * GB }), ..calm() })[0];
        assert_eq!(a.text, "The data disk is nearly full: 150 MB free of 4.0 GB.");
        assert_eq!(a.severity, Severity::Bad);
    }

    #[test]
    fn bans_are_counted_by_service_and_link_to_the_security_page() {
        let a = alerts(&Snapshot { sip_bans: 1, provisioning_bans: 1, ..calm() });
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].text, "2 addresses banned (SIP 1, provisioning 1).");
        assert_eq!(a[0].link, "/ui/security");
        assert_eq!(alerts(&Snapshot { sip_bans: 1, ..calm() })[0].text, "1 address banned (SIP 1, provisioning 0).");
    }

    #[test]
    fn backups_missing_or_older_than_a_day_alert() {
        let none = alerts(&Snapshot { backups: Backups::None, ..calm() });
        assert_eq!((none[0].key, none[0].text.as_str()), ("backup", "No backup yet."));
        let old = alerts(&Snapshot { backups: Backups::Last(1_700_000_000 - 25 * 3600), ..calm() });
        assert_eq!(old[0].text, "The last backup is more than a day old (2023-11-13 21:13 UTC).");
        assert_eq!(keys(&Snapshot { backups: Backups::Last(1_700_000_000 - 23 * 3600), ..calm() }), Vec::<&str>::new());
    }

    #[test]
    fn every_rule_together_worst_first() {
        let s = Snapshot {
            sip_bans: 2,
            unknown_devices: 1,
            provisioning_refused: 3,
            disk: Some(Disk { free: 0, total: GB }),
            survivable: Some("cloud trunk down".into()),
            backups: Backups::None,
            ..calm()
        };
        assert_eq!(keys(&s), ["disk", "survivable", "bans", "provisioning-refused", "unknown-devices", "backup"]);
        let a = alerts(&s);
        assert_eq!(a[1].text, "Survivable mode: cloud trunk down.");
        assert_eq!(a[3].text, "3 provisioning requests refused since the box started (wrong credentials or MAC).");
        assert_eq!(
            a[4].text,
            "1 unknown device asked for a configuration in the last 24 h and is waiting for adoption."
        );
    }

    #[test]
    fn the_disk_of_this_machine_reads() {
        let d = disk(Path::new(".")).unwrap();
        assert!(d.total > 0 && d.free <= d.total);
    }
}
