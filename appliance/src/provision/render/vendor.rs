//! What differs per vendor besides the template text: the file's format and content type,
//! how a transport and a codec are spelled, and how a time zone is written.
//!
//! Time zones: phones do not know IANA names, and each vendor has its own scheme (an offset
//! plus a rule, a name from its own list, a POSIX string, an index). `ZONES` is a table of
//! common zones with what each scheme needs; a zone not in it is written as UTC (offset 0,
//! no daylight saving) — the phone then shows UTC, which is wrong but plainly so, and the NTP
//! time underneath is right. Add a row to support another zone.

use super::template::Escape;
use crate::provision::FileKind;
use crate::site::Vendor;

/// The format of a vendor's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    pub escape: Escape,
    pub content_type: &'static str,
}

pub fn format(vendor: Vendor) -> Format {
    match vendor {
        Vendor::Yealink | Vendor::Fanvil => Format { escape: Escape::Line, content_type: "text/plain; charset=utf-8" },
        Vendor::Poly | Vendor::Cisco | Vendor::Grandstream | Vendor::Snom | Vendor::Gigaset => {
            Format { escape: Escape::Xml, content_type: "application/xml; charset=utf-8" }
        }
    }
}

/// The built-in template of each vendor and kind, shipped in the binary.
pub fn template(vendor: Vendor, kind: FileKind) -> &'static str {
    match (vendor, kind) {
        (Vendor::Yealink, FileKind::Common) => include_str!("../templates/yealink-common.cfg"),
        (Vendor::Yealink, FileKind::Device) => include_str!("../templates/yealink-device.cfg"),
        (Vendor::Poly, FileKind::Common) => include_str!("../templates/poly-common.cfg"),
        (Vendor::Poly, FileKind::Device) => include_str!("../templates/poly-device.cfg"),
        (Vendor::Cisco, FileKind::Common) => include_str!("../templates/cisco-common.xml"),
        (Vendor::Cisco, FileKind::Device) => include_str!("../templates/cisco-device.xml"),
        (Vendor::Grandstream, FileKind::Common) => include_str!("../templates/grandstream-common.xml"),
        (Vendor::Grandstream, FileKind::Device) => include_str!("../templates/grandstream-device.xml"),
        (Vendor::Fanvil, FileKind::Common) => include_str!("../templates/fanvil-common.cfg"),
        (Vendor::Fanvil, FileKind::Device) => include_str!("../templates/fanvil-device.cfg"),
        (Vendor::Snom, FileKind::Common) => include_str!("../templates/snom-common.xml"),
        (Vendor::Snom, FileKind::Device) => include_str!("../templates/snom-device.xml"),
        (Vendor::Gigaset, FileKind::Common) => include_str!("../templates/gigaset-common.xml"),
        (Vendor::Gigaset, FileKind::Device) => include_str!("../templates/gigaset-device.xml"),
    }
}

/// `udp`, `tcp` or `tls` as the vendor writes it (anything else is taken as UDP).
pub fn transport(vendor: Vendor, transport: &str) -> &'static str {
    let t = match transport.to_ascii_lowercase().as_str() {
        "tcp" => 1,
        "tls" => 2,
        _ => 0,
    };
    let names: [&'static str; 3] = match vendor {
        // account.N.sip_server.1.transport_type: 0 UDP, 1 TCP, 2 TLS.
        Vendor::Yealink => ["0", "1", "2"],
        // reg.N.server.1.transport.
        Vendor::Poly => ["UDPOnly", "TCPOnly", "TLS"],
        // SIP_Transport_N_.
        Vendor::Cisco => ["UDP", "TCP", "TLS"],
        // P130: 0 UDP, 1 TCP, 2 TLS/TCP.
        Vendor::Grandstream => ["0", "1", "2"],
        // SIPn Transport: 0 UDP, 1 TCP, 3 TLS.
        Vendor::Fanvil => ["0", "1", "3"],
        // user_outboundN: `;transport=…`.
        Vendor::Snom => ["udp", "tcp", "tls"],
        // Gigaset's provider frame takes no transport here: the phone's default (UDP).
        Vendor::Gigaset => ["udp", "tcp", "tls"],
    };
    names[t]
}

/// A codec of `PhoneConfig::codecs` as the vendor names it, or `None` when the vendor's
/// files cannot name it (it is then left out of the list).
pub fn codec(vendor: Vendor, codec: &str) -> Option<&'static str> {
    let c = match codec.to_ascii_uppercase().as_str() {
        "G722" => 0,
        "PCMU" | "G711U" => 1,
        "PCMA" | "G711A" => 2,
        "OPUS" => 3,
        _ => return None,
    };
    let names: [Option<&'static str>; 4] = match vendor {
        // account.N.codec.<name>.enable / .priority.
        Vendor::Yealink => [Some("g722"), Some("pcmu"), Some("pcma"), Some("opus")],
        // voice.codecPref.<name> = priority.
        Vendor::Poly => [Some("G722"), Some("G711_Mu"), Some("G711_A"), Some("OPUS")],
        // Preferred_Codec_N_ and the second and third.
        Vendor::Cisco => [Some("G722"), Some("G711u"), Some("G711a"), Some("OPUS")],
        // P57, P58, … take RTP payload numbers (Opus is 123 in Grandstream's list).
        Vendor::Grandstream => [Some("9"), Some("0"), Some("8"), Some("123")],
        // SIPn VoiceCodecMap.
        Vendor::Fanvil => [Some("G722"), Some("PCMU"), Some("PCMA"), Some("OPUS")],
        // codec_priority_listN.
        Vendor::Snom => [Some("g722"), Some("pcmu"), Some("pcma"), Some("opus")],
        // BS_IP_Data1.ucI_SIP_PREFERRED_VOCODER codes; Gigaset DECT has no Opus.
        Vendor::Gigaset => [Some("0x05"), Some("0x00"), Some("0x01"), None],
    };
    names[c]
}

/// Where the codec in `position` (0-based) goes, for vendors with numbered slots; `None`
/// when the vendor has no more slots (the codec is left out).
pub fn codec_slot(vendor: Vendor, position: usize) -> Option<&'static str> {
    match vendor {
        Vendor::Cisco => ["Preferred_Codec", "Second_Preferred_Codec", "Third_Preferred_Codec"].get(position).copied(),
        Vendor::Grandstream => ["57", "58", "59", "60", "61", "62", "46", "98"].get(position).copied(),
        _ => Some(""),
    }
}

/// When daylight saving time applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dst {
    None,
    /// Last Sunday of March to last Sunday of October, at 01:00 UTC.
    Eu,
    /// Second Sunday of March to first Sunday of November, at 02:00 local time.
    Us,
    /// First Sunday of October to first Sunday of April, 02:00 to 03:00 local time.
    AuSouth,
}

/// A time zone in every scheme the templates need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone {
    pub iana: &'static str,
    /// Standard time, minutes east of UTC.
    pub offset: i32,
    pub dst: Dst,
    /// POSIX TZ string (Grandstream's self-defined zone).
    pub posix: &'static str,
    /// Yealink's `local_time.time_zone_name` (its list names a zone and its rule).
    pub yealink: &'static str,
    /// Snom's `timezone` code.
    pub snom: &'static str,
}

const fn zone(
    iana: &'static str,
    offset: i32,
    dst: Dst,
    posix: &'static str,
    yealink: &'static str,
    snom: &'static str,
) -> Zone {
    Zone { iana, offset, dst, posix, yealink, snom }
}

/// Common zones. Unknown ones fall back to `UTC`.
pub const ZONES: &[Zone] = &[
    zone("UTC", 0, Dst::None, "UTC0", "", "GMT-0"),
    zone("Europe/London", 0, Dst::Eu, "GMT0BST,M3.5.0/1,M10.5.0", "United Kingdom(London)", "GBR-0"),
    zone("Europe/Dublin", 0, Dst::Eu, "IST-1GMT0,M10.5.0,M3.5.0/1", "Ireland(Dublin)", "IRL-0"),
    zone("Europe/Lisbon", 0, Dst::Eu, "WET0WEST,M3.5.0/1,M10.5.0", "Portugal(Lisboa)", "PRT-0"),
    zone("Europe/Berlin", 60, Dst::Eu, "CET-1CEST,M3.5.0,M10.5.0/3", "Germany(Berlin)", "GER+1"),
    zone("Europe/Paris", 60, Dst::Eu, "CET-1CEST,M3.5.0,M10.5.0/3", "France(Paris)", "FRA+1"),
    zone("Europe/Amsterdam", 60, Dst::Eu, "CET-1CEST,M3.5.0,M10.5.0/3", "Netherlands(Amsterdam)", "NLD+1"),
    zone("Europe/Brussels", 60, Dst::Eu, "CET-1CEST,M3.5.0,M10.5.0/3", "Belgium(Brussels)", "BEL+1"),
    zone("Europe/Vienna", 60, Dst::Eu, "CET-1CEST,M3.5.0,M10.5.0/3", "Austria(Vienna)", "AUT+1"),
    zone("Europe/Zurich", 60, Dst::Eu, "CET-1CEST,M3.5.0,M10.5.0/3", "Switzerland(Bern)", "CHE+1"),
    zone("Europe/Madrid", 60, Dst::Eu, "CET-1CEST,M3.5.0,M10.5.0/3", "Spain(Madrid)", "ESP+1"),
    zone("Europe/Rome", 60, Dst::Eu, "CET-1CEST,M3.5.0,M10.5.0/3", "Italy(Rome)", "ITA+1"),
    zone("Europe/Stockholm", 60, Dst::Eu, "CET-1CEST,M3.5.0,M10.5.0/3", "Sweden(Stockholm)", "SWE+1"),
    zone("Europe/Copenhagen", 60, Dst::Eu, "CET-1CEST,M3.5.0,M10.5.0/3", "Denmark(Copenhagen)", "DNK+1"),
    zone("Europe/Oslo", 60, Dst::Eu, "CET-1CEST,M3.5.0,M10.5.0/3", "Norway(Oslo)", "NOR+1"),
    zone("Europe/Warsaw", 60, Dst::Eu, "CET-1CEST,M3.5.0,M10.5.0/3", "Poland(Warsaw)", "POL+1"),
    zone("Europe/Helsinki", 120, Dst::Eu, "EET-2EEST,M3.5.0/3,M10.5.0/4", "Finland(Helsinki)", "FIN+2"),
    zone("Europe/Athens", 120, Dst::Eu, "EET-2EEST,M3.5.0/3,M10.5.0/4", "Greece(Athens)", "GRC+2"),
    zone("America/New_York", -300, Dst::Us, "EST5EDT,M3.2.0,M11.1.0", "United States-Eastern Time", "USA-5"),
    zone("America/Toronto", -300, Dst::Us, "EST5EDT,M3.2.0,M11.1.0", "Canada(Montreal,Ottawa,Quebec)", "CAN-5"),
    zone("America/Chicago", -360, Dst::Us, "CST6CDT,M3.2.0,M11.1.0", "United States-Central Time", "USA-6"),
    zone("America/Denver", -420, Dst::Us, "MST7MDT,M3.2.0,M11.1.0", "United States-Mountain Time", "USA-7"),
    zone("America/Phoenix", -420, Dst::None, "MST7", "United States-Arizona", "USA2-7"),
    zone("America/Los_Angeles", -480, Dst::Us, "PST8PDT,M3.2.0,M11.1.0", "United States-Pacific Time", "USA-8"),
    zone("Asia/Dubai", 240, Dst::None, "<+04>-4", "United Arab Emirates(Abu Dhabi)", "ARE+4"),
    zone("Asia/Kolkata", 330, Dst::None, "IST-5:30", "India(Calcutta)", "IND+5.5"),
    zone("Asia/Singapore", 480, Dst::None, "<+08>-8", "Singapore(Singapore)", "SGP+8"),
    zone("Asia/Shanghai", 480, Dst::None, "CST-8", "China(Beijing)", "CHN+8"),
    zone("Asia/Tokyo", 540, Dst::None, "JST-9", "Japan(Tokyo)", "JPN+9"),
    zone("Australia/Sydney", 600, Dst::AuSouth, "AEST-10AEDT,M10.1.0,M4.1.0/3", "Australia(Sydney)", "AUS+10"),
];

/// The zone of an IANA name (`Etc/UTC`, `GMT` and unknown names are UTC).
pub fn zone_of(iana: &str) -> &'static Zone {
    ZONES.iter().find(|z| z.iana == iana).unwrap_or(&ZONES[0])
}

/// `+1`, `-5`, `+5:30`: Yealink's `local_time.time_zone`.
pub fn hours(offset: i32) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    match (offset.abs() / 60, offset.abs() % 60) {
        (h, 0) => format!("{sign}{h}"),
        (h, m) => format!("{sign}{h}:{m:02}"),
    }
}

/// `GMT+01:00`: Cisco's `Time_Zone`; `UTC+1`: Fanvil's zone name.
pub fn gmt(offset: i32) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    format!("GMT{sign}{:02}:{:02}", offset.abs() / 60, offset.abs() % 60)
}

pub fn utc_name(offset: i32) -> String {
    format!("UTC{}", if offset % 60 == 0 { hours(offset) } else { gmt(offset).replace("GMT", "") })
}

/// Gigaset's `uiI_TIME_TIMEZONE` index for whole-hour offsets it lists; UTC otherwise.
pub fn gigaset_zone(offset: i32) -> &'static str {
    match offset {
        -720 => "0x00",
        -660 => "0x01",
        -600 => "0x02",
        -540 => "0x03",
        -480 => "0x04",
        -420 => "0x07",
        -360 => "0x09",
        -300 => "0x0d",
        -240 => "0x0f",
        -180 => "0x15",
        -120 => "0x16",
        -60 => "0x18",
        60 => "0x1b",
        120 => "0x20",
        180 => "0x28",
        240 => "0x2b",
        300 => "0x2e",
        360 => "0x33",
        420 => "0x37",
        480 => "0x3a",
        540 => "0x3d",
        600 => "0x43",
        _ => "0x1a",
    }
}

/// When daylight saving time starts and stops, in local time: month, a week (1..4, or -1 for
/// the last), weekday Sunday, the hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub month: u8,
    /// 1..=4, or -1 for the last Sunday of the month.
    pub week: i8,
    pub hour: u8,
}

pub fn dst_changes(zone: &Zone) -> Option<(Change, Change)> {
    let local = |utc: i32| u8::try_from((utc + zone.offset / 60).rem_euclid(24)).unwrap_or(0);
    match zone.dst {
        Dst::None => None,
        Dst::Eu => {
            Some((Change { month: 3, week: -1, hour: local(1) }, Change { month: 10, week: -1, hour: local(2) }))
        }
        Dst::Us => Some((Change { month: 3, week: 2, hour: 2 }, Change { month: 11, week: 1, hour: 2 })),
        Dst::AuSouth => Some((Change { month: 10, week: 1, hour: 2 }, Change { month: 4, week: 1, hour: 3 })),
    }
}

/// Cisco's `Daylight_Saving_Time_Rule`: `start=3/-1/7/2;end=10/-1/7/3;save=1` (month, day of
/// month or -1 for the last, weekday 7 = Sunday, hour).
pub fn cisco_dst_rule(start: Change, stop: Change) -> String {
    // A week n > 0 is "the first Sunday on or after day 7(n-1)+1".
    let day = |c: Change| if c.week < 0 { "-1".to_owned() } else { (7 * (i32::from(c.week) - 1) + 1).to_string() };
    format!(
        "start={}/{}/7/{};end={}/{}/7/{};save=1",
        start.month,
        day(start),
        start.hour,
        stop.month,
        day(stop),
        stop.hour
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_and_their_spellings() {
        let berlin = zone_of("Europe/Berlin");
        assert_eq!((berlin.offset, hours(berlin.offset), gmt(berlin.offset)), (60, "+1".into(), "GMT+01:00".into()));
        assert_eq!(zone_of("Mars/Olympus_Mons").iana, "UTC", "unknown zones are UTC");
        assert_eq!(
            (hours(-300), hours(330), gmt(330), utc_name(-300), utc_name(330)),
            ("-5".into(), "+5:30".into(), "GMT+05:30".into(), "UTC-5".into(), "UTC+05:30".into())
        );
        let (start, stop) = dst_changes(berlin).unwrap();
        assert_eq!(cisco_dst_rule(start, stop), "start=3/-1/7/2;end=10/-1/7/3;save=1");
        let (start, stop) = dst_changes(zone_of("America/New_York")).unwrap();
        assert_eq!(cisco_dst_rule(start, stop), "start=3/8/7/2;end=11/1/7/2;save=1");
        assert_eq!(dst_changes(zone_of("Asia/Tokyo")), None);
    }

    #[test]
    fn every_zone_is_listed_once_and_spelled_for_every_vendor() {
        for (i, z) in ZONES.iter().enumerate() {
            assert!(ZONES[..i].iter().all(|other| other.iana != z.iana), "{} twice", z.iana);
            assert!(!z.posix.is_empty() && !z.snom.is_empty(), "{}", z.iana);
            assert_eq!(z.dst == Dst::None, !z.posix.contains(','), "{}: the POSIX rule and the DST kind agree", z.iana);
        }
    }

    #[test]
    fn transports_and_codecs() {
        assert_eq!(transport(Vendor::Poly, "TLS"), "TLS");
        assert_eq!(transport(Vendor::Yealink, "carrier pigeon"), "0");
        assert_eq!(codec(Vendor::Grandstream, "opus"), Some("123"));
        assert_eq!(codec(Vendor::Gigaset, "opus"), None);
        assert_eq!(codec(Vendor::Cisco, "G729"), None);
        assert_eq!(codec_slot(Vendor::Cisco, 3), None);
    }
}
