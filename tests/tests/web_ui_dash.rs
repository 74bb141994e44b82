//! The dashboard's alerts panel, end to end in headless Chromium against a real `outpost` with
//! SIP on loopback: a box without a backup says so; a sipp phone guessing passwords is banned
//! and the alert shows on the open dashboard without a reload (`ui.js` polling
//! `/ui/live.json`), linking to the security page; a backup taken makes its alert go.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::phones::Phone;
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
    browser.find_all("#alert-list li.alert").iter().filter_map(|li| li.attribute("data-alert")).collect()
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
