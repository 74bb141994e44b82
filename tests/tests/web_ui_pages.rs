//! The web UI's trunk and ring group pages, end to end in headless Chromium against a real
//! `outpost` with SIP on loopback: a trunk added in the browser towards a sipp UAS playing the
//! cloud PBX shows up, then down (and the site survivable) once the sipp is killed; bad input
//! is refused with the site's reason and changes nothing; credentials are kept when the
//! password is left blank and never shown back; a trunk a route names cannot be removed.
//! Ring groups are added, changed and removed in the browser, and a sipp call to a group
//! added there reaches its member. Every page refuses an extension user's session.
//! Screenshots: `box-trunks`, `box-ring-groups` (`target/screenshots/`, and
//! `docs/screenshots/` with `OUTPOST_UPDATE_SCREENSHOTS=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::trunks::Peer;
use common::ui::{csrf_in, curl, form_login, jar_session, log_in, type_into};
use common::webdriver::{wait_until, Browser};
use common::{free_udp_port, Options, Outpost};
use serde_json::Value;

const PASSWORD: &str = "ui-pages-password";
/// Bound of every wait on the page: generous, never a timing assertion.
const BOUND: Duration = Duration::from_secs(30);
/// A trunk with the default health goes down after three missed probes, 2 s apart.
const TRUNK_BOUND: Duration = Duration::from_secs(60);
const PORTAL_PASSWORD: &str = "portal-101-pass";

/// acme with 101-104 (the secrets `Phone::new` knows), a fallback trunk `pstn` towards a port
/// where nothing answers, named by the route `national`; ring group 600.
fn site(pstn_port: u16) -> String {
    format!(
        r#"
schema = 1
[site]
name = "ui pages"

[[tenants]]
name = "acme"
domains = ["acme.pbx.local"]

[[tenants.extensions]]
number = "101"
secret = "correct-horse-101"

[[tenants.extensions]]
number = "102"
secret = "battery-staple-102"

[[tenants.extensions]]
number = "103"
secret = "tr0ub4dor-and-3"

[[tenants.extensions]]
number = "104"
secret = "hunter2-but-longer-104"

[[tenants.ring_groups]]
number = "600"
name = "Sales"
strategy = "simultaneous"
members = ["102", "103"]

[[tenants.trunks]]
name = "pstn"
role = "fallback"
host = "127.0.0.1"
port = {pstn_port}
transport = "udp"

[[tenants.outbound_routes]]
name = "national"
pattern = "0Z."
trunks = ["pstn"]
"#
    )
}

/// A box with `site`, SIP on loopback (MD5 for sipp, loopback trusted), its admin password
/// set; and a browser logged in.
fn start_box(dir: &Path) -> (Outpost, String, Browser) {
    let path = dir.join("site.toml");
    std::fs::write(&path, site(free_udp_port())).unwrap();
    let sip_config = "digest_algorithms = [\"MD5\"]\nallowlist = [\"127.0.0.0/8\"]\n".to_owned();
    let options = Options { sip: true, sip_config, site: Some(path) };
    let outpost = Outpost::start_with(tempfile::tempdir().unwrap(), &options);
    let token = outpost.admin_token(PASSWORD);
    let browser = Browser::start();
    log_in(&browser, &outpost, PASSWORD);
    wait_until(BOUND, "the dashboard", || browser.try_find("#dashboard"));
    (outpost, token, browser)
}

/// `GET /api/v1/site` (with the secrets when `secrets`), acme's part.
fn acme(outpost: &Outpost, token: &str, secrets: bool) -> Value {
    let path = if secrets { "/api/v1/site?secrets=true" } else { "/api/v1/site" };
    let (code, doc) = outpost.json("GET", path, Some(token), None);
    assert_eq!(code, 200, "{doc}");
    doc["tenants"].as_array().unwrap().iter().find(|t| t["name"] == "acme").cloned().unwrap()
}

fn trunk_names(acme: &Value) -> Vec<String> {
    acme["trunks"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
}

/// Sets the `<select>` `css` to the option `value`.
fn choose(browser: &Browser, css: &str, value: &str) {
    browser.find(&format!("{css} option[value=\"{value}\"]")).click();
}

/// Reloads `/ui/trunks` until trunk `name`'s state reads `state`.
fn wait_trunk_state(browser: &Browser, outpost: &Outpost, name: &str, state: &str) {
    let css = format!("#trunks-page tr[data-trunk=\"acme/{name}\"] [data-f=state]");
    wait_until(TRUNK_BOUND, &format!("trunk {name} {state} on the page"), || {
        browser.goto(&outpost.url("/ui/trunks"));
        browser.try_text(&css).filter(|s| s == state)
    });
}

/// Sets 101's portal password on its extension page; then logs its user in by curl: the
/// session cookie and a CSRF token of the portal.
fn portal_user(browser: &Browser, outpost: &Outpost, dir: &Path) -> (String, String) {
    browser.goto(&outpost.url("/ui/extensions/acme/101"));
    type_into(browser, "#portal-password input[name=password]", PORTAL_PASSWORD);
    browser.find("#portal-password button[type=submit]").click();
    wait_until(BOUND, "the portal password set", || browser.try_text("#extension-page .notice.ok"));
    let jar = dir.join("portal-cookies");
    let code = form_login(outpost, &jar, "/ui/me/login", &format!("tenant=acme&number=101&password={PORTAL_PASSWORD}"));
    assert_eq!(code, 303, "the portal login");
    let cookie = jar_session(&jar);
    let (code, page) = curl(outpost, "GET", "/ui/me", Some(&cookie), None);
    assert_eq!(code, 200, "{page}");
    (cookie, csrf_in(&page))
}

#[test]
fn an_admin_adds_a_trunk_sees_it_up_then_down_edits_and_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (outpost, token, browser) = start_box(dir.path());
    browser.goto(&outpost.url("/ui/trunks"));
    wait_until(BOUND, "the trunks page", || browser.try_find("#trunks-page"));
    assert!(browser.try_find("nav.menu a[href=\"/ui/trunks\"].open").is_some(), "linked in the nav");
    let pstn = "#trunks-page tr[data-trunk=\"acme/pstn\"]";
    assert_eq!(browser.find(&format!("{pstn} [data-f=role]")).text(), "fallback");
    assert_eq!(browser.find(&format!("{pstn} [data-f=credentials]")).text(), "none (by address)");
    assert_eq!(browser.find("#mode [data-f=mode]").text(), "normal");

    // The cloud PBX: a sipp UAS answering the box's OPTIONS probes.
    let mut cloud = Peer::new(dir.path(), "cloud");
    cloud.start();
    type_into(&browser, "#new-trunk input[name=name]", "cloud");
    choose(&browser, "#new-trunk select[name=role]", "cloud");
    type_into(&browser, "#new-trunk input[name=host]", &cloud.ip);
    type_into(&browser, "#new-trunk input[name=port]", &cloud.port.to_string());
    choose(&browser, "#new-trunk select[name=transport]", "udp");
    browser.find("#new-trunk button[type=submit]").click();
    let done = wait_until(BOUND, "the trunk added", || browser.try_text("#trunks-page .notice.ok"));
    assert_eq!(done, "Trunk cloud added.");
    let added = acme(&outpost, &token, false);
    let row = added["trunks"].as_array().unwrap().iter().find(|t| t["name"] == "cloud").cloned().unwrap();
    assert_eq!((row["role"].as_str(), row["host"].as_str()), (Some("cloud"), Some(cloud.ip.as_str())));
    assert_eq!((row["port"].as_u64(), row["transport"].as_str()), (Some(u64::from(cloud.port)), Some("udp")));

    // Its probes are answered: up, since when, and the peer it is at.
    wait_trunk_state(&browser, &outpost, "cloud", "up");
    let row = "#trunks-page tr[data-trunk=\"acme/cloud\"]";
    assert_eq!(browser.find(&format!("{row} [data-f=why]")).text(), "first probe answered");
    assert!(browser.find(&format!("{row} [data-f=since]")).text().ends_with(" UTC"));
    assert_eq!(browser.find(&format!("{row} [data-f=peer]")).text(), format!("{}:{} (udp)", cloud.ip, cloud.port));
    assert_eq!(browser.find("#mode [data-f=mode]").text(), "normal");
    let api = common::trunks::trunk(&outpost, &token, "cloud");
    assert_eq!(api["state"], "up", "the page says what the API says: {api}");
    browser.set_window_size(1280, 1000);
    browser.keep_screenshot("box-trunks");
    browser.set_window_size(1280, 800);

    // A bad host is refused with the site's reason, and nothing changes.
    let before = acme(&outpost, &token, true);
    type_into(&browser, "#new-trunk input[name=name]", "second");
    type_into(&browser, "#new-trunk input[name=host]", "not a host!");
    type_into(&browser, "#new-trunk input[name=port]", "");
    browser.find("#new-trunk button[type=submit]").click();
    let refused = wait_until(BOUND, "the refusal", || browser.try_text("#trunks-page .notice.refused"));
    assert_eq!(refused, "Not added: tenants[0].trunks[2].host: `not a host!` is not a host name or address");
    browser.goto(&outpost.url("/ui/trunks/acme/cloud"));
    type_into(&browser, "#edit-trunk input[name=host]", "bad host");
    browser.find("#edit-trunk button[type=submit]").click();
    let refused = wait_until(BOUND, "the refusal", || browser.try_text("#trunk-page .notice.refused"));
    assert!(refused.starts_with("Not saved: ") && refused.contains("is not a host name or address"), "{refused}");
    type_into(&browser, "#edit-trunk input[name=port]", "99999");
    type_into(&browser, "#edit-trunk input[name=host]", &cloud.ip);
    browser.find("#edit-trunk button[type=submit]").click();
    let refused = wait_until(BOUND, "the refusal", || browser.try_text("#trunk-page .notice.refused"));
    assert_eq!(refused, "Not saved: port: `99999` is not a port number (1-65535)");
    type_into(&browser, "#edit-trunk input[name=username]", "cloud-user");
    browser.find("#edit-trunk button[type=submit]").click();
    let refused = wait_until(BOUND, "the refusal", || browser.try_text("#trunk-page .notice.refused"));
    assert_eq!(refused, "Not saved: tenants[0].trunks[1].secret: a trunk with a username needs a secret");
    assert_eq!(acme(&outpost, &token, true), before, "nothing changed");

    // Credentials on pstn: the password is stored, never shown back, and kept when left blank.
    browser.goto(&outpost.url("/ui/trunks/acme/pstn"));
    type_into(&browser, "#edit-trunk input[name=username]", "acme-box");
    type_into(&browser, "#edit-trunk input[name=password]", "pstn-password-1");
    choose(&browser, "#edit-trunk select[name=transport]", "tcp");
    browser.find("#edit-trunk button[type=submit]").click();
    let done = wait_until(BOUND, "saved", || browser.try_text("#trunks-page .notice.ok"));
    assert_eq!(done, "Trunk pstn saved.");
    assert_eq!(browser.find(&format!("{pstn} [data-f=credentials]")).text(), "acme-box");
    let stored = |outpost: &Outpost| {
        let a = acme(outpost, &token, true);
        let t = a["trunks"].as_array().unwrap().iter().find(|t| t["name"] == "pstn").cloned().unwrap();
        (t["username"].clone(), t["secret"].clone(), t["transport"].clone())
    };
    assert_eq!(stored(&outpost), ("acme-box".into(), "pstn-password-1".into(), "tcp".into()));
    browser.goto(&outpost.url("/ui/trunks/acme/pstn"));
    wait_until(BOUND, "the trunk page", || browser.try_find("#edit-trunk"));
    assert_eq!(browser.find("#edit-trunk input[name=password]").property("value"), "");
    assert!(!browser.source().contains("pstn-password-1"), "the secret is never on the page");
    choose(&browser, "#edit-trunk select[name=transport]", "udp");
    browser.find("#edit-trunk button[type=submit]").click();
    wait_until(BOUND, "saved", || browser.try_text("#trunks-page .notice.ok"));
    assert_eq!(stored(&outpost), ("acme-box".into(), "pstn-password-1".into(), "udp".into()), "kept");

    // A trunk a route names is not removed; the reason says which route.
    browser.goto(&outpost.url("/ui/trunks/acme/pstn"));
    browser.find("#remove-trunk button").click();
    browser.accept_alert();
    let refused = wait_until(BOUND, "the refusal", || browser.try_text("#trunk-page .notice.refused"));
    assert!(refused.contains("outbound_routes[0].trunks[0]: no trunk `pstn` in tenant `acme`"), "{refused}");
    assert!(trunk_names(&acme(&outpost, &token, false)).contains(&"pstn".to_owned()));

    // The cloud PBX dies: its trunk goes down and the site survivable, and the page says so.
    cloud.stop();
    wait_trunk_state(&browser, &outpost, "cloud", "down");
    let why = browser.find(&format!("{row} [data-f=why]")).text();
    assert!(why.starts_with("3 probes missed"), "{why}");
    wait_until(BOUND, "survivable on the page", || {
        browser.goto(&outpost.url("/ui/trunks"));
        browser.try_text("#mode [data-f=mode]").filter(|m| m == "survivable")
    });
    let changed = browser.find("#mode [data-f=mode-changed]").text();
    assert!(changed.ends_with(" UTC (survivable mode entered)"), "{changed}");
    assert!(browser.find_all("#trunk-events [data-f=what]").iter().any(|e| e.text() == "down"));

    // Removed: gone from the page and the site.
    browser.goto(&outpost.url("/ui/trunks/acme/cloud"));
    browser.find("#remove-trunk button").click();
    browser.accept_alert();
    let done = wait_until(BOUND, "removed", || browser.try_text("#trunks-page .notice.ok"));
    assert_eq!(done, "Trunk cloud removed.");
    assert!(browser.try_find(row).is_none());
    assert_eq!(trunk_names(&acme(&outpost, &token, false)), ["pstn"]);

    // An extension user's session is refused on every page and form, with its own CSRF token.
    let (user, csrf) = portal_user(&browser, &outpost, dir.path());
    for path in ["/ui/trunks", "/ui/trunks/acme/pstn"] {
        let (code, page) = curl(&outpost, "GET", path, Some(&user), None);
        assert_eq!(code, 403, "{path}");
        assert!(!page.contains("acme-box"), "{path}: nothing of the trunks shows");
    }
    let form = format!("csrf={csrf}&tenant=acme&name=x&role=fallback&host=127.0.0.1&transport=udp");
    assert_eq!(curl(&outpost, "POST", "/ui/trunks", Some(&user), Some(&form)).0, 403);
    let form = format!("csrf={csrf}&host=127.0.0.9&transport=udp");
    assert_eq!(curl(&outpost, "POST", "/ui/trunks/acme/pstn", Some(&user), Some(&form)).0, 403);
    assert_eq!(
        curl(&outpost, "POST", "/ui/trunks/acme/pstn/remove", Some(&user), Some(&format!("csrf={csrf}"))).0,
        403
    );
    assert_eq!(trunk_names(&acme(&outpost, &token, false)), ["pstn"]);
}
