//! The dashboard's alerts panel, end to end in headless Chromium against a real `outpost` with
//! SIP on loopback: a box without a backup says so; a sipp phone guessing passwords is banned
//! and the alert shows on the open dashboard without a reload (`ui.js` polling
//! `/ui/live.json`), linking to the security page; a backup taken makes its alert go. The 24 h
//! chart: two sipp calls counted in the current hour's bar, with the registered extension.
//! The first-boot page lists the box's network interfaces and the DHCP server's state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::phones::{cdrs, Phone};
use common::ui::log_in;
use common::webdriver::{wait_until, Browser};
use common::{Extra, Options, Outpost};

const PASSWORD: &str = "admin-dash-password";
/// Bound of every wait on the page: generous, never a timing assertion.
const BOUND: Duration = Duration::from_secs(30);

const SITE: &str = r#"
schema = 1
[site]
name = "dashboard"

[[tenants]]
name = "acme"
domains = ["acme.pbx.local"]

[[tenants.extensions]]
number = "201"
name = "Ada"
secret = "ada-201-sip-secret"

[[tenants.extensions]]
number = "202"
name = "Reception"
secret = "reception-202-secret"
"#;

/// A box with `SITE`, SIP with `sip_config`, its admin password set; and a browser logged in
/// on the dashboard.
fn start_box(dir: &Path, sip_config: &str) -> (Outpost, String, Browser) {
    let site = dir.join("site.toml");
    std::fs::write(&site, SITE).unwrap();
    // Debian's sipp answers only MD5.
    let sip_config = format!("digest_algorithms = [\"MD5\"]\n{sip_config}");
    let options = Options { sip: true, sip_config, site: Some(site) };
    let outpost = Outpost::start_extra(tempfile::tempdir().unwrap(), &options, &Extra::default());
    let token = outpost.admin_token(PASSWORD);
    let browser = Browser::start();
    log_in(&browser, &outpost, PASSWORD);
    wait_until(BOUND, "the dashboard", || browser.try_find("#dashboard"));
    (outpost, token, browser)
}

/// The keys (`data-alert`) of the alerts listed on the page, top to bottom.
fn alert_keys(browser: &Browser) -> Vec<String> {
    // Read in one script: the page's polling may redraw the list between a find and a read
    // of each element (a stale element read as nothing made this flaky under load).
    let keys = browser.execute(
        "return Array.from(document.querySelectorAll('#alert-list li.alert'), li => li.dataset.alert)",
        vec![],
    );
    keys.as_array().into_iter().flatten().filter_map(|k| k.as_str().map(str::to_owned)).collect()
}

#[test]
fn the_alerts_show_no_backup_and_a_ban_without_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    // Loopback is not trusted here, so the phone's guesses count.
    let (outpost, token, browser) = start_box(dir.path(), "ban_after_failures = 3\nban_secs = 600\n");

    // A new box: no backup yet, and nothing else to say.
    assert_eq!(alert_keys(&browser), ["backup"]);
    let backup = browser.find("#alert-list [data-alert=backup] a");
    assert_eq!(backup.text(), "No backup yet.");
    assert_eq!(backup.attribute("href").as_deref(), Some("/ui/backups"));
    assert_eq!(browser.find("#alert-list li.alert.warn").text(), "No backup yet.");

    // Mark this page: a reload would lose the mark.
    browser.execute("window.outpostMark = 'kept'; return null", vec![]);
    let guessing = Phone::of(dir.path(), "201", "acme.pbx.local", "not-the-secret");
    for _ in 0..3 {
        let out = guessing.sipp(dir.path(), &outpost, "register.xml").output().unwrap();
        assert!(!out.status.success(), "a wrong password registers nothing");
    }
    let text = wait_until(BOUND, "the ban alert", || browser.try_text("#alert-list [data-alert=bans] a"));
    assert_eq!(text, "1 address banned (SIP 1, provisioning 0).");
    assert_eq!(browser.execute("return window.outpostMark", vec![]), "kept", "no reload");
    assert_eq!(alert_keys(&browser), ["bans", "backup"]);

    // The alert leads to the page that lifts the ban.
    browser.find("#alert-list [data-alert=bans] a").click();
    wait_until(BOUND, "the security page", || browser.try_find("#bans tr[data-service=sip]"));

    // A backup taken: its alert goes, on the open dashboard.
    browser.goto(&outpost.url("/ui/"));
    wait_until(BOUND, "the dashboard", || browser.try_find("#alert-list [data-alert=backup]"));
    let (code, taken) = outpost.json("POST", "/api/v1/backups", Some(&token), None);
    assert_eq!(code, 201, "{taken}");
    wait_until(BOUND, "the backup alert gone", || (alert_keys(&browser) == ["bans"]).then_some(()));
}

/// The chart's hours, oldest first: (`data-hour`, `data-calls`, `data-registered`).
fn chart(browser: &Browser) -> Vec<(String, String, String)> {
    browser
        .find_all("#chart-svg g.hour")
        .iter()
        .map(|g| {
            let a = |name| g.attribute(name).unwrap_or_default();
            (a("data-hour"), a("data-calls"), a("data-registered"))
        })
        .collect()
}

#[test]
fn calls_placed_show_in_the_current_hour_of_the_chart() {
    let dir = tempfile::tempdir().unwrap();
    let (outpost, token, browser) = start_box(dir.path(), "allowlist = [\"127.0.0.0/8\"]\n");

    // A new box: 24 hours, no calls, nothing registered in the current hour.
    let hours = chart(&browser);
    assert_eq!(hours.len(), 24);
    assert!(hours.iter().all(|(_, calls, _)| calls == "0"), "{hours:?}");
    assert_eq!(hours[23].2, "0", "the current hour counts the moment");

    // 202 registers and answers two calls from 201.
    let reception = Phone::of(dir.path(), "202", "acme.pbx.local", "reception-202-secret");
    reception.register(dir.path(), &outpost);
    let ada = Phone::of(dir.path(), "201", "acme.pbx.local", "ada-201-sip-secret");
    for _ in 0..2 {
        let answering = reception.serve(dir.path(), &outpost, "call_uas.xml");
        assert!(ada.call(dir.path(), &outpost, "202", "call_uac.xml"), "{}", outpost.log_lines().join("\n"));
        assert!(answering.finished(), "202 answered");
    }
    assert_eq!(cdrs(&outpost, &token, 2).len(), 2);

    // The chart is drawn at each load: the two calls are in the last bar (or, if the hour
    // turned between the calls and the load, in the one before).
    browser.goto(&outpost.url("/ui/"));
    wait_until(BOUND, "the dashboard", || browser.try_find("#chart-svg"));
    let hours = chart(&browser);
    let total: u32 = hours.iter().map(|(_, c, _)| c.parse::<u32>().unwrap()).sum();
    assert_eq!(total, 2, "{hours:?}");
    let turned = hours[23].1 == "0";
    let bar = &hours[if turned { 22 } else { 23 }];
    assert_eq!(bar.1, "2", "{hours:?}");
    let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let now_hour = format!("{:02}", unix / 3600 % 24);
    assert_eq!(hours[23].0, now_hour);
    assert_eq!(hours[23].2, "1", "202 registered now");
    let title = browser.find("#chart-svg g.hour:last-of-type title").property("textContent");
    if !turned {
        assert_eq!(title, format!("{now_hour}:00 UTC: 2 calls, 1 registered").as_str());
    }
    assert!(browser.find("#chart-svg g.hour:last-of-type rect.calls").attribute("height").is_some());
}

#[test]
fn the_setup_page_shows_the_interfaces_and_the_dhcp_check() {
    let outpost = Outpost::start_extra(tempfile::tempdir().unwrap(), &Options::default(), &Extra::default());
    let browser = Browser::start();
    log_in(&browser, &outpost, &outpost.one_time_password);
    wait_until(BOUND, "the setup page", || browser.try_find("#setup-network"));

    // Every interface of this machine but the loopback, by name.
    let mut expected: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "lo")
        .collect();
    expected.sort();
    let shown: Vec<String> =
        browser.find_all("#interfaces tbody tr").iter().filter_map(|tr| tr.attribute("data-iface")).collect();
    assert_eq!(shown, expected);
    if let Some(first) = expected.first() {
        let state = std::fs::read_to_string(format!("/sys/class/net/{first}/operstate")).unwrap();
        let row = format!("#interfaces tr[data-iface=\"{first}\"] [data-f=state]");
        assert_eq!(browser.find(&row).text(), state.trim());
    }

    // DHCP is off on this box (no [dhcp] table): said so, the check not run, and how to turn it on.
    let dhcp = browser.find("#setup-network [data-f=dhcp-state]");
    assert_eq!(dhcp.attribute("data-state").as_deref(), Some("off"));
    assert!(dhcp.text().starts_with("Off: "), "{}", dhcp.text());
    assert_eq!(
        browser.find("#setup-network [data-f=rival]").text(),
        "Another DHCP server on the segment: Not run: the DHCP server is off."
    );
    assert!(browser.find("#dhcp-how").text().contains("[dhcp] interface"));
}

/// The cells of the calls-in-progress table, row by row.
fn calls_now(browser: &Browser) -> Vec<Vec<String>> {
    let rows = browser.execute(
        "return [...document.querySelectorAll('#calls-now tbody tr')].map(r => [...r.cells].map(c => c.textContent));",
        vec![],
    );
    serde_json::from_value(rows).unwrap_or_default()
}

#[test]
fn a_call_in_progress_shows_who_talks_for_how_long_and_how_it_sounds() {
    let dir = tempfile::tempdir().unwrap();
    let (outpost, _token, browser) = start_box(dir.path(), "allowlist = [\"127.0.0.0/8\"]\n");
    assert!(calls_now(&browser).is_empty());
    assert!(browser.find("#no-calls").text().contains("No call"));
    assert_eq!(browser.find(".tiles [data-f=cloud]").text(), "not set up", "no cloud on this box");

    // 201 calls 202, RTP both ways for 15 s (the tone looped by the caller, echoed by 202).
    let reception = Phone::of(dir.path(), "202", "acme.pbx.local", "reception-202-secret");
    let answering = reception.serve(dir.path(), &outpost, "call_uas.xml");
    common::trunks::write_tone(dir.path());
    let ada = Phone::of(dir.path(), "201", "acme.pbx.local", "ada-201-sip-secret");
    let mut cmd = ada.sipp(dir.path(), &outpost, "trunk_long_call_uac.xml");
    cmd.args(["-s", "202", "-d", "15000"]);
    let mut call = common::trunks::Background::spawn(cmd, "201", dir.path());

    // The dashboard follows without a reload: 201 → 202, talking, a clock, good media.
    let row = wait_until(BOUND, "the call with media on the dashboard", || {
        calls_now(&browser).into_iter().find(|r| r.len() == 6 && r[3] == "talking" && r[5].starts_with("good"))
    });
    assert_eq!((row[0].as_str(), row[1].as_str(), row[2].as_str()), ("201", "202", "202"), "{row:?}");
    assert!(row[4].starts_with("0:"), "talking time m:ss: {row:?}");
    assert!(row[5].contains("% lost") && row[5].contains("ms jitter"), "{row:?}");
    assert_eq!(browser.find(".tiles [data-f=calls]").text(), "1");
    browser.set_window_size(1280, 1200);
    browser.keep_screenshot("box-dashboard-call");

    // Over: the table empties by itself.
    assert!(call.finished(), "the call ended normally");
    assert!(answering.finished(), "202 answered");
    wait_until(BOUND, "the table empty", || calls_now(&browser).is_empty().then_some(()));
    assert!(!browser.find("#no-calls").property("hidden").as_bool().unwrap_or(true));
}
