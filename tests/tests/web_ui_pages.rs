//! The web UI's trunk, ring group and audit pages, end to end in headless Chromium against a real
//! `outpost` with SIP on loopback: a trunk added in the browser towards a sipp UAS playing the
//! cloud PBX shows up, then down (and the site survivable) once the sipp is killed; bad input
//! is refused with the site's reason and changes nothing; credentials are kept when the
//! password is left blank and never shown back; a trunk a route names cannot be removed.
//! Ring groups are added, changed and removed in the browser, and a sipp call to a group
//! added there reaches its member. The audit page lists the API's audit rows newest first,
//! the browser's change and the API's in words. Every page refuses an extension user's
//! session. Screenshots: `box-trunks`, `box-ring-groups`, `box-audit` (`target/screenshots/`, and
//! `docs/screenshots/` with `OUTPOST_UPDATE_SCREENSHOTS=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::phones::{cdrs, Phone};
use common::trunks::Peer;
use common::ui::{self, curl, log_in, type_into, wait_reloaded};
use common::webdriver::{wait_until, Browser};
use common::{free_udp_port, Options, Outpost};
use serde_json::Value;

const PASSWORD: &str = "ui-pages-password";
/// Bound of every wait on the page: generous, never a timing assertion.
const BOUND: Duration = Duration::from_secs(30);
/// A trunk with the default health goes down after three missed probes, 2 s apart.
const TRUNK_BOUND: Duration = Duration::from_secs(60);
const PORTAL_PASSWORD: &str = "portal-101-pass";

/// acme with 101-104 (the secrets `Phone::new` knows; 104 forwards to ring group 600 when
/// busy), ring group 600, a fallback trunk `pstn` towards a port where nothing answers, named
/// by the route `national`.
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
forward_busy = "600"

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

/// 101's user logged in to the portal: the session cookie and a CSRF token.
fn portal_user(browser: &Browser, outpost: &Outpost, dir: &Path) -> (String, String) {
    ui::portal_user(browser, outpost, dir, ("acme", "101"), PORTAL_PASSWORD)
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
    browser.submit("#new-trunk button[type=submit]");
    let refused = wait_until(BOUND, "the refusal", || browser.try_text("#trunks-page .notice.refused"));
    assert_eq!(refused, "Not added: tenants[0].trunks[2].host: `not a host!` is not a host name or address");
    browser.goto(&outpost.url("/ui/trunks/acme/cloud"));
    type_into(&browser, "#edit-trunk input[name=host]", "bad host");
    browser.submit("#edit-trunk button[type=submit]");
    let refused = wait_until(BOUND, "the refusal", || browser.try_text("#trunk-page .notice.refused"));
    assert!(refused.starts_with("Not saved: ") && refused.contains("is not a host name or address"), "{refused}");
    type_into(&browser, "#edit-trunk input[name=port]", "99999");
    type_into(&browser, "#edit-trunk input[name=host]", &cloud.ip);
    browser.submit("#edit-trunk button[type=submit]");
    let refused = wait_until(BOUND, "the refusal", || browser.try_text("#trunk-page .notice.refused"));
    assert_eq!(refused, "Not saved: port: `99999` is not a port number (1-65535)");
    type_into(&browser, "#edit-trunk input[name=username]", "cloud-user");
    browser.submit("#edit-trunk button[type=submit]");
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
    // The dashboard's tile says it too, and since when.
    browser.goto(&outpost.url("/ui/"));
    let tile = wait_until(BOUND, "the dashboard", || browser.try_text("#dashboard [data-f=mode]"));
    assert!(tile.starts_with("survivable since ") && tile.contains(" UTC: "), "{tile}");

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

fn group(acme: &Value, number: &str) -> Option<Value> {
    acme["ring_groups"].as_array().unwrap().iter().find(|g| g["number"] == number).cloned()
}

#[test]
fn an_admin_adds_a_ring_group_that_rings_its_member_edits_and_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (outpost, token, browser) = start_box(dir.path());
    browser.goto(&outpost.url("/ui/ring-groups"));
    wait_until(BOUND, "the ring groups page", || browser.try_find("#ring-groups-page"));
    assert!(browser.try_find("nav.menu a[href=\"/ui/ring-groups\"].open").is_some(), "linked in the nav");
    let sales = "#ring-groups-page tr[data-group=\"acme/600\"]";
    assert_eq!(browser.find(&format!("{sales} [data-f=name]")).text(), "Sales");
    assert_eq!(browser.find(&format!("{sales} [data-f=strategy]")).text(), "simultaneous");
    assert_eq!(browser.find(&format!("{sales} [data-f=members]")).text(), "102, 103");
    assert_eq!(browser.find(&format!("{sales} [data-f=ring]")).text(), "20 s");

    // Add 650, hunting 103 for 10 s.
    type_into(&browser, "#new-ring-group input[name=number]", "650");
    type_into(&browser, "#new-ring-group input[name=name]", "Support");
    choose(&browser, "#new-ring-group select[name=strategy]", "sequential");
    type_into(&browser, "#new-ring-group input[name=members]", "103");
    type_into(&browser, "#new-ring-group input[name=ring_secs]", "10");
    browser.find("#new-ring-group button[type=submit]").click();
    let done = wait_until(BOUND, "the group added", || browser.try_text("#ring-groups-page .notice.ok"));
    assert_eq!(done, "Ring group 650 added.");
    let support = "#ring-groups-page tr[data-group=\"acme/650\"]";
    assert_eq!(browser.find(&format!("{support} [data-f=members]")).text(), "103");
    assert_eq!(browser.find(&format!("{support} [data-f=ring]")).text(), "10 s each");
    let added = group(&acme(&outpost, &token, false), "650").expect("650 in the site");
    assert_eq!(
        added,
        serde_json::json!({"number": "650", "name": "Support", "strategy": "sequential", "members": ["103"], "member_timeout": 10})
    );
    browser.set_window_size(1280, 1000);
    browser.keep_screenshot("box-ring-groups");
    browser.set_window_size(1280, 800);

    // A sipp call from 101 to 650 reaches 103, once the SIP core has followed the new
    // revision (its housekeeping, once a second, logs each reload).
    wait_reloaded(&outpost, &token);
    let answering = Phone::new(dir.path(), "103").serve(dir.path(), &outpost, "call_uas.xml");
    let caller = Phone::new(dir.path(), "101");
    assert!(caller.call(dir.path(), &outpost, "650", "call_uac.xml"), "{}", outpost.log_lines().join("\n"));
    assert!(answering.finished(), "103 answered the group's call");
    let records = cdrs(&outpost, &token, 1);
    let call = records.iter().find(|c| c["dialled"] == "650" && c["disposition"] == "answered");
    let call = call.unwrap_or_else(|| panic!("an answered call to 650: {records:?}"));
    assert_eq!(call["callee"], "103", "{call}");

    // Bad input is refused with the site's reason, and nothing changes.
    let before = acme(&outpost, &token, true);
    type_into(&browser, "#new-ring-group input[name=number]", "6");
    type_into(&browser, "#new-ring-group input[name=members]", "102");
    browser.find("#new-ring-group button[type=submit]").click();
    let refused = wait_until(BOUND, "the refusal", || browser.try_text("#ring-groups-page .notice.refused"));
    assert_eq!(refused, "Not added: tenants[0].ring_groups[2].number: must be 2 to 8 digits");
    type_into(&browser, "#new-ring-group input[name=number]", "101");
    type_into(&browser, "#new-ring-group input[name=members]", "102");
    browser.find("#new-ring-group button[type=submit]").click();
    wait_until(BOUND, "the refusal", || {
        browser.try_text("#ring-groups-page .notice.refused").filter(|r| r.contains("101"))
    });
    let refused = browser.find("#ring-groups-page .notice.refused").text();
    assert!(refused.contains("number 101 is already used by tenants[0].extensions[0]"), "{refused}");
    browser.goto(&outpost.url("/ui/ring-groups/acme/650"));
    type_into(&browser, "#edit-ring-group input[name=members]", "102, 109");
    type_into(&browser, "#edit-ring-group input[name=ring_secs]", "2");
    browser.find("#edit-ring-group button[type=submit]").click();
    let refused = wait_until(BOUND, "the refusal", || browser.try_text("#ring-group-page .notice.refused"));
    assert!(refused.contains("ring_groups[1].members[1]: no extension 109 in tenant `acme`"), "{refused}");
    assert!(refused.contains("ring_groups[1].member_timeout: must be between 5 and 300 seconds"), "{refused}");
    assert_eq!(acme(&outpost, &token, true), before, "nothing changed");

    // Edit: new members, all at once, a new name and ring time.
    assert_eq!(browser.find("#edit-ring-group input[name=members]").property("value"), "103", "the stored ones");
    type_into(&browser, "#edit-ring-group input[name=name]", "Support desk");
    choose(&browser, "#edit-ring-group select[name=strategy]", "simultaneous");
    type_into(&browser, "#edit-ring-group input[name=members]", "104 102");
    type_into(&browser, "#edit-ring-group input[name=ring_secs]", "15");
    browser.find("#edit-ring-group button[type=submit]").click();
    let done = wait_until(BOUND, "saved", || browser.try_text("#ring-groups-page .notice.ok"));
    assert_eq!(done, "Ring group 650 saved.");
    assert_eq!(browser.find(&format!("{support} [data-f=members]")).text(), "104, 102");
    assert_eq!(browser.find(&format!("{support} [data-f=name]")).text(), "Support desk");
    let saved = group(&acme(&outpost, &token, false), "650").unwrap();
    assert_eq!(
        (&saved["strategy"], &saved["members"], &saved["member_timeout"]),
        (&"simultaneous".into(), &serde_json::json!(["104", "102"]), &15.into())
    );

    // 600 is where 104 forwards when busy: not removed, and the reason says so.
    browser.goto(&outpost.url("/ui/ring-groups/acme/600"));
    browser.find("#remove-ring-group button").click();
    browser.accept_alert();
    let refused = wait_until(BOUND, "the refusal", || browser.try_text("#ring-group-page .notice.refused"));
    assert!(
        refused.contains("extensions[3].forward_busy: no extension or ring group 600 in tenant `acme`"),
        "{refused}"
    );
    assert!(group(&acme(&outpost, &token, false), "600").is_some());

    // 650 is removed: gone from the page and the site.
    browser.goto(&outpost.url("/ui/ring-groups/acme/650"));
    browser.find("#remove-ring-group button").click();
    browser.accept_alert();
    let done = wait_until(BOUND, "removed", || browser.try_text("#ring-groups-page .notice.ok"));
    assert_eq!(done, "Ring group 650 removed.");
    assert!(browser.try_find(support).is_none());
    assert_eq!(group(&acme(&outpost, &token, false), "650"), None);

    // An extension user's session is refused on every page and form, with its own CSRF token.
    let (user, csrf) = portal_user(&browser, &outpost, dir.path());
    for path in ["/ui/ring-groups", "/ui/ring-groups/acme/600"] {
        let (code, page) = curl(&outpost, "GET", path, Some(&user), None);
        assert_eq!(code, 403, "{path}");
        assert!(!page.contains("Sales"), "{path}: nothing of the groups shows");
    }
    let form = format!("csrf={csrf}&tenant=acme&number=660&strategy=simultaneous&members=101");
    assert_eq!(curl(&outpost, "POST", "/ui/ring-groups", Some(&user), Some(&form)).0, 403);
    let form = format!("csrf={csrf}&strategy=simultaneous&members=101");
    assert_eq!(curl(&outpost, "POST", "/ui/ring-groups/acme/600", Some(&user), Some(&form)).0, 403);
    let remove = format!("csrf={csrf}");
    assert_eq!(curl(&outpost, "POST", "/ui/ring-groups/acme/600/remove", Some(&user), Some(&remove)).0, 403);
    let after = acme(&outpost, &token, false);
    assert_eq!(group(&after, "600").unwrap()["members"], serde_json::json!(["102", "103"]));
    assert_eq!(group(&after, "660"), None);
}

/// The ids of the audit table's rows, top to bottom.
fn audit_ids(browser: &Browser) -> Vec<i64> {
    browser.find_all("#audit tbody tr").iter().map(|r| r.attribute("data-id").unwrap().parse().unwrap()).collect()
}

#[test]
fn an_admin_reads_the_audit_log_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let (outpost, token, browser) = start_box(dir.path());

    // A change in the browser (a ring group), then one through the API (an extension).
    browser.goto(&outpost.url("/ui/ring-groups"));
    type_into(&browser, "#new-ring-group input[name=number]", "660");
    type_into(&browser, "#new-ring-group input[name=members]", "101");
    browser.find("#new-ring-group button[type=submit]").click();
    wait_until(BOUND, "the group added", || browser.try_text("#ring-groups-page .notice.ok"));
    let (_, mut doc) = outpost.json("GET", "/api/v1/site", Some(&token), None);
    doc["tenants"][0]["extensions"].as_array_mut().unwrap().push(serde_json::json!({"number": "105"}));
    let (code, applied) = outpost.json("PUT", "/api/v1/site", Some(&token), Some(&doc.to_string()));
    assert_eq!(code, 200, "{applied}");

    // The page's rows are the API's, newest first: who, what, when, the store's detail.
    browser.goto(&outpost.url("/ui/audit"));
    wait_until(BOUND, "the audit page", || browser.try_find("#audit-page"));
    assert!(browser.try_find("nav.menu a[href=\"/ui/audit\"].open").is_some(), "linked in the nav");
    let (code, api) = outpost.json("GET", "/api/v1/audit", Some(&token), None);
    assert_eq!(code, 200, "{api}");
    let api_ids: Vec<i64> = api.as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(audit_ids(&browser), api_ids, "the same entries in the same order");
    assert!(api_ids.windows(2).all(|w| w[0] > w[1]), "newest first: {api_ids:?}");
    let column = |f: &str| -> Vec<String> {
        browser.find_all(&format!("#audit tbody [data-f={f}]")).iter().map(|e| e.text()).collect()
    };
    let (who, what, detail, when) = (column("who"), column("what"), column("detail"), column("when"));
    assert_eq!((who[0].as_str(), what[0].as_str()), ("admin (API)", "site config changed"), "{who:?}");
    assert!(detail[0].contains("5 extensions, 0 devices, 2 ring groups"), "{detail:?}");
    assert_eq!((who[1].as_str(), what[1].as_str()), ("admin (web UI)", "site config changed"), "{who:?}");
    assert!(detail[1].contains("4 extensions, 0 devices, 2 ring groups"), "{detail:?}");
    let rev = |d: &str| d.split_once(": ").unwrap().0.to_owned();
    let (newer, older) = (rev(&detail[0]), rev(&detail[1]));
    assert_eq!(older.rsplit(' ').next(), newer.split(' ').nth(1), "one revision after the other: {older} / {newer}");
    assert!(when.iter().all(|w| w.ends_with(" UTC") && w.len() == "2026-12-04 19:48:12 UTC".len()), "{when:?}");
    let created = what.iter().position(|w| w == "admin account created").expect("the first admin's entry");
    assert_eq!(who[created], "the box", "{who:?}");
    assert!(what.iter().any(|w| w == "admin password set"), "{what:?}");
    browser.set_window_size(1280, 900);
    browser.keep_screenshot("box-audit");
    browser.set_window_size(1280, 800);

    // Fewer rows by the form; a count that is no number is said, and the default shown.
    choose(&browser, "#audit-rows select[name=limit]", "50");
    browser.find("#audit-rows button[type=submit]").click();
    wait_until(BOUND, "the form's answer", || browser.url().contains("limit=50").then_some(()));
    browser.goto(&outpost.url("/ui/audit?limit=2"));
    wait_until(BOUND, "two rows", || (audit_ids(&browser) == api_ids[..2]).then_some(()));
    assert!(browser.try_find("#audit-more").is_some(), "says there is more");
    let cookie = common::ui::session_cookie(&browser);
    let (code, page) = curl(&outpost, "GET", "/ui/audit?limit=all", Some(&cookie), None);
    assert_eq!(code, 422);
    assert!(page.contains("`all` is not a number of rows: showing 100"), "{page}");

    // An extension user's session is refused.
    let (user, _) = portal_user(&browser, &outpost, dir.path());
    let (code, page) = curl(&outpost, "GET", "/ui/audit", Some(&user), None);
    assert_eq!(code, 403);
    assert!(!page.contains("site config changed"), "nothing of the log shows");
}
