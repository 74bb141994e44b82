//! Outside numbers: trunk order and failover candidates, emergency numbers, blocked numbers,
//! other sites in and out of survivable mode, and inbound routes by caller, day and hour.

use super::*;
use crate::site::{self, SiteDoc};

const DOC: &str = r#"
schema = 1
[site]
name = "trunk tests"
time_zone = "Europe/Berlin"

[[tenants]]
name = "acme"
domains = ["acme.test"]
emergency_numbers = ["112", "911"]
holidays = ["2026-12-25"]
extensions = [{ number = "101", caller_id = "+4940123451" }, { number = "102" }, { number = "103" }]
ring_groups = [{ number = "600", strategy = "simultaneous", members = ["101", "102"] }]
trunks = [
    { name = "cloud", role = "cloud", host = "pbx.example.net", transport = "udp" },
    { name = "sip2", role = "fallback", host = "sip.provider.test", transport = "udp" },
    { name = "gw", role = "fallback", host = "192.168.10.2", port = 5060, transport = "udp" },
]
outbound_routes = [
    { name = "national", pattern = "0Z.", trunks = ["cloud", { name = "sip2", strip = 1, prepend = "+49" }, "gw"] },
    { name = "public", pattern = "+.", trunks = ["cloud", "sip2"] },
]
blocked = [{ pattern = "0900.", reason = "premium rate numbers are blocked" }, { pattern = "0137." }]
remote_sites = [
    { name = "berlin", pattern = "2XXX", pstn_prefix = "+4930555" },
    { name = "paris", pattern = "3XXX" },
]
inbound_routes = [
    { did = "+4940123450", destination = "600", days = ["mon", "tue", "wed", "thu", "fri"], hours = "08:00-18:00" },
    { did = "+4940123450", destination = "0171555666" },
    { did = "+4940123452", destination = "103", caller = "+4930." },
    { did = "+4940123452", destination = "102" },
    { did = "+4940123451", destination = "101" },
]
"#;

fn doc() -> SiteDoc {
    site::from_toml(DOC).expect("the test document is valid")
}

fn out(d: &Decision) -> String {
    match d {
        Decision::Trunk(p) => {
            let legs: Vec<String> = p.legs.iter().map(|l| format!("{}:{}", l.trunk, l.number)).collect();
            format!("{}{}", if p.emergency { "emergency " } else { "" }, legs.join(" "))
        }
        Decision::Reject { code, reason } => format!("{code} {reason}"),
        Decision::Local(plan) => format!("local {}", plan.extensions().collect::<Vec<_>>().join("+")),
    }
}

fn sit(down: &[&str], full: &[&str], survivable: bool) -> Situation {
    let mut trunks: Vec<(String, String, Avail)> =
        down.iter().map(|t| ("acme".to_owned(), (*t).to_owned(), Avail::Down)).collect();
    trunks.extend(full.iter().map(|t| ("acme".to_owned(), (*t).to_owned(), Avail::Full)));
    Situation { clock: None, survivable, trunks }
}

fn dial(s: &Situation, number: &str) -> String {
    out(&route_in(&doc(), &CallRequest { tenant: "acme", caller: "101", dialled: number }, s))
}

#[test]
fn outbound_routes_list_the_usable_trunks_in_order_with_their_own_rewriting() {
    assert_eq!(dial(&sit(&[], &[], false), "0301234"), "cloud:0301234 sip2:+49301234 gw:0301234");
    // The cloud down or full: it is skipped, the others keep their order.
    assert_eq!(dial(&sit(&["cloud"], &[], true), "0301234"), "sip2:+49301234 gw:0301234");
    assert_eq!(dial(&sit(&[], &["cloud", "sip2"], false), "0301234"), "gw:0301234");
    let none = dial(&sit(&["cloud", "sip2"], &["gw"], true), "0301234");
    assert_eq!(none, "503 no trunk can take 0301234 now: cloud (down), sip2 (down), gw (full)");
}

#[test]
fn emergency_numbers_try_every_trunk_up_ones_first_and_are_never_blocked_or_capped() {
    // Every trunk but one down: the one up comes first, the others stay as a last resort.
    assert_eq!(dial(&sit(&["cloud", "sip2"], &[], true), "112"), "emergency gw:112 cloud:112 sip2:112");
    // Full trunks still take emergency calls, in the usual order.
    assert_eq!(dial(&sit(&[], &["cloud", "sip2", "gw"], false), "911"), "emergency cloud:911 sip2:911 gw:911");
    let mut d = doc();
    d.tenants[0].blocked.push(site::Blocked { pattern: "1XX".into(), reason: String::new() });
    let refused = site::validate(&mut d).expect_err("a block over 112 is refused");
    assert!(refused.iter().any(|e| e.reason.contains("emergency number 112")), "{refused:?}");
}

#[test]
fn blocked_numbers_are_refused_with_the_tenants_reason() {
    assert_eq!(dial(&sit(&[], &[], false), "09001234"), "403 premium rate numbers are blocked");
    assert_eq!(dial(&sit(&[], &[], false), "013712"), "403 calls to 013712 are blocked");
}

#[test]
fn other_sites_go_through_the_cloud_and_over_the_public_network_in_survivable_mode() {
    assert_eq!(dial(&sit(&[], &[], false), "2001"), "cloud:2001");
    assert_eq!(dial(&sit(&["cloud"], &[], true), "2001"), "sip2:+49305552001");
    let paris = dial(&sit(&["cloud"], &[], true), "3001");
    assert_eq!(paris, "486 site paris is reachable only through the cloud, which is down (survivable mode)");
}

fn inbound(clock: Option<Clock>, caller: &str, did: &str) -> String {
    let s = Situation { clock, ..Situation::default() };
    out(&route_inbound(&doc(), "acme", caller, did, &s))
}

/// 2026-12-02 is a Wednesday, 2026-12-25 a Friday.
fn at(weekday: u8, hh: u16, mm: u16, day: u8) -> Option<Clock> {
    Some(Clock { weekday, minute: hh * 60 + mm, date: (2026, 12, day) })
}

#[test]
fn inbound_routes_follow_days_hours_holidays_and_the_caller() {
    assert_eq!(inbound(at(2, 9, 30, 2), "+49301", "+4940123450"), "local 101+102");
    assert_eq!(inbound(at(2, 18, 0, 2), "+49301", "+4940123450"), "cloud:0171555666 sip2:+49171555666 gw:0171555666");
    assert_eq!(inbound(at(5, 9, 30, 5), "+49301", "+4940123450"), "cloud:0171555666 sip2:+49171555666 gw:0171555666");
    assert_eq!(inbound(at(4, 10, 0, 25), "+49301", "+4940123450"), "cloud:0171555666 sip2:+49171555666 gw:0171555666");
    // Without a clock timed routes are closed.
    assert_eq!(inbound(None, "+49301", "+4940123450"), "cloud:0171555666 sip2:+49171555666 gw:0171555666");
    assert_eq!(inbound(None, "+4930999", "+4940123452"), "local 103");
    assert_eq!(inbound(None, "+4940999", "+4940123452"), "local 102");
}

#[test]
fn a_trunk_cannot_dial_extensions_or_unknown_dids() {
    assert_eq!(inbound(None, "+49301", "101"), "404 no inbound route for 101 in tenant acme");
    assert!(inbound(None, "+49301", "+4999").starts_with("404"));
    assert_eq!(inbound(None, "+49301", "+4940123451"), "local 101");
}

#[test]
fn the_clock_is_read_in_the_sites_zone() {
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").expect("tzdata is installed");
    // 2026-12-02 08:30 UTC is 09:30 in Berlin (CET), a Wednesday.
    let unix = 1_796_200_200;
    assert_eq!(Clock::at(unix, &berlin), Some(Clock { weekday: 2, minute: 9 * 60 + 30, date: (2026, 12, 2) }));
    assert_eq!(hours("22:00-06:00"), Some((1320, 360)));
    assert_eq!(hours("08:00-08:00"), None);
    assert_eq!(date("2027-02-29"), None);
    assert_eq!(weekday("Sat"), Some(5));
}
