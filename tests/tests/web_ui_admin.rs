//! The web UI's admin pages for call records and security, end to end in headless Chromium
//! against a real `outpost` with SIP on loopback: sipp calls listed on `/ui/calls`, filtered,
//! and downloaded as CSV with the session cookie; a sipp phone guessing passwords banned, seen
//! on `/ui/security`, unbanned in the browser and registering again. Both pages refuse an
//! extension user's session. Screenshots: `box-calls`, `box-security` (`target/screenshots/`,
//! and `docs/screenshots/` with `OUTPOST_UPDATE_SCREENSHOTS=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::UdpSocket;
use std::path::Path;
use std::time::Duration;

use common::phones::{cdrs, Phone};
use common::ui::{self, curl, log_in, session_cookie, type_into};
use common::webdriver::{wait_until, Browser};
use common::{Extra, Options, Outpost};

const PASSWORD: &str = "admin-pages-password";
/// Bound of every wait on the page: generous, never a timing assertion.
const BOUND: Duration = Duration::from_secs(30);
const PORTAL_PASSWORD: &str = "ada-portal-pass";

const SITE: &str = r#"
schema = 1
[site]
name = "admin pages"

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

[[tenants.extensions]]
number = "203"
secret = "caller-203-secret"
"#;

/// A box with `SITE`, SIP with `sip_config`, its admin password set; and a browser logged in.
fn start_box(dir: &Path, sip_config: &str, extra: &Extra) -> (Outpost, String, Browser) {
    let site = dir.join("site.toml");
    std::fs::write(&site, SITE).unwrap();
    // Debian's sipp answers only MD5.
    let sip_config = format!("digest_algorithms = [\"MD5\"]\n{sip_config}");
    let options = Options { sip: true, sip_config, site: Some(site) };
    let outpost = Outpost::start_extra(tempfile::tempdir().unwrap(), &options, extra);
    let token = outpost.admin_token(PASSWORD);
    let browser = Browser::start();
    log_in(&browser, &outpost, PASSWORD);
    wait_until(BOUND, "the dashboard", || browser.try_find("#dashboard"));
    (outpost, token, browser)
}

/// The texts of one column (`data-f`) of the calls table, top to bottom, read in one script
/// (`None` while a page is loading).
fn try_column(browser: &Browser, field: &str) -> Option<Vec<String>> {
    let script = "return Array.from(document.querySelectorAll(arguments[0])).map((e) => e.textContent)";
    let css = format!("#calls tbody [data-f={field}]");
    let v =
        browser.try_cmd("POST", "/execute/sync", Some(serde_json::json!({"script": script, "args": [css]}))).ok()?;
    v.as_array().map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
}

fn column(browser: &Browser, field: &str) -> Vec<String> {
    try_column(browser, field).expect("the calls table")
}

/// Submits the call filter and waits until the table's callers are `callers`.
fn filter_until(browser: &Browser, callers: &[&str]) {
    browser.find("#call-filter button[type=submit]").click();
    wait_until(BOUND, &format!("the calls of {callers:?}"), || {
        try_column(browser, "caller").filter(|c| c == callers).map(|_| ())
    });
}

#[test]
fn an_admin_sees_the_calls_filters_them_and_downloads_them_as_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (outpost, token, browser) = start_box(dir.path(), "allowlist = [\"127.0.0.0/8\"]\n", &Extra::default());
    browser.goto(&outpost.url("/ui/calls"));
    assert_eq!(wait_until(BOUND, "the empty list", || browser.try_text("#no-calls")), "No calls yet.");

    // Two real calls: 201 calls 202, who answers; then 203 calls 202, who is busy.
    let reception = Phone::of(dir.path(), "202", "acme.pbx.local", "reception-202-secret");
    let ada = Phone::of(dir.path(), "201", "acme.pbx.local", "ada-201-sip-secret");
    let caller = Phone::of(dir.path(), "203", "acme.pbx.local", "caller-203-secret");
    let answering = reception.serve(dir.path(), &outpost, "call_uas.xml");
    assert!(ada.call(dir.path(), &outpost, "202", "call_uac.xml"), "{}", outpost.log_lines().join("\n"));
    assert!(answering.finished(), "202 answered");
    let busy = reception.serve(dir.path(), &outpost, "call_uas_busy.xml");
    assert!(caller.call(dir.path(), &outpost, "202", "call_uac_busy.xml"), "203 heard busy");
    assert!(busy.finished());
    let records = cdrs(&outpost, &token, 2);
    assert_eq!(records.len(), 2, "{records:?}");
    let answered_call = records[1]["call"].as_str().unwrap().to_owned();
    let busy_call = records[0]["call"].as_str().unwrap().to_owned();

    // Newest first, with the outcome and the time talked.
    browser.goto(&outpost.url("/ui/calls"));
    wait_until(BOUND, "both calls", || try_column(&browser, "caller").filter(|c| c.len() == 2));
    assert_eq!(column(&browser, "caller"), ["203", "201"]);
    assert_eq!(column(&browser, "dialled"), ["202", "202"]);
    assert_eq!(column(&browser, "callee"), ["—", "202"], "the busy call was answered by nobody");
    let outcomes = column(&browser, "outcome");
    assert_eq!(outcomes[0], "busy (486)");
    assert!(outcomes[1].starts_with("answered, "), "{outcomes:?}");
    let talked = column(&browser, "talked");
    assert_eq!(talked[0], "0:00");
    assert!(talked[1].starts_with("0:0") && talked[1] != "0:00", "the answered call lasted seconds: {talked:?}");
    let row = |call: &str| format!("#calls tr[data-call=\"{call}\"]");
    assert!(browser.try_find(&row(&answered_call)).is_some() && browser.try_find(&row(&busy_call)).is_some());
    browser.set_window_size(1280, 900);
    browser.keep_screenshot("box-calls");
    browser.set_window_size(1280, 800);

    // The filters: by extension, by outcome, by dates (UTC, both days included).
    type_into(&browser, "#call-filter input[name=number]", "201");
    filter_until(&browser, &["201"]);
    assert!(browser.url().contains("number=201"), "a GET form, bookmarkable: {}", browser.url());
    type_into(&browser, "#call-filter input[name=number]", "");
    browser.find("#call-filter select[name=outcome] option[value=busy]").click();
    filter_until(&browser, &["203"]);
    browser.find("#call-filter select[name=outcome] option[value=\"\"]").click();
    let today = records[0]["start"].as_i64().unwrap();
    let day = |unix: i64| {
        let out = std::process::Command::new("date").args(["-u", "-d", &format!("@{unix}"), "+%Y-%m-%d"]).output();
        String::from_utf8(out.unwrap().stdout).unwrap().trim().to_owned()
    };
    // A date field takes what is typed in the browser's order; set the values instead.
    let set = |name: &str, value: &str| {
        let js = format!("document.querySelector('#call-filter input[name={name}]').value = arguments[0]");
        browser.execute(&js, vec![serde_json::json!(value)]);
    };
    set("from", &day(today));
    set("to", &day(today));
    filter_until(&browser, &["203", "201"]);
    set("from", &day(today + 86_400));
    set("to", "");
    browser.find("#call-filter button[type=submit]").click();
    let none = wait_until(BOUND, "no call matches", || browser.try_text("#no-calls"));
    assert_eq!(none, "No call matches these filters.");
    set("from", "");
    type_into(&browser, "#call-filter input[name=number]", "201");
    filter_until(&browser, &["201"]);

    // "Download CSV" carries the filters: with the session cookie, the API's CSV of 201's call.
    let href = browser.find("#calls-csv").attribute("href").unwrap();
    assert!(href.starts_with("/ui/calls.csv?") && href.contains("number=201"), "{href}");
    let cookie = session_cookie(&browser);
    let (code, csv) = curl(&outpost, "GET", &href, Some(&cookie), None);
    assert_eq!(code, 200, "{csv}");
    let lower = csv.to_lowercase();
    assert!(lower.contains("content-type: text/csv") && lower.contains("attachment; filename=\"calls.csv\""), "{csv}");
    let (_, body) = csv.split_once("\r\n\r\n").unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert!(lines[0].starts_with("call,tenant,caller,callee,dialled,start"), "{body}");
    assert_eq!(lines.len(), 2, "the header and 201's call: {body}");
    assert!(lines[1].starts_with(&format!("{answered_call},acme,201,202,202,")), "{body}");
    assert!(lines[1].contains(",answered,"), "{body}");
    let (_, api) = outpost.curl("GET", "/api/v1/cdrs.csv?extension=201", Some(&token), None);
    assert_eq!(body.trim_end(), api.trim_end(), "the same rows as the API's export");
    let (code, all) = curl(&outpost, "GET", "/ui/calls.csv", Some(&cookie), None);
    assert_eq!(code, 200);
    assert!(all.contains(&busy_call) && all.contains(&answered_call), "{all}");
    let (code, head) = curl(&outpost, "GET", "/ui/calls.csv", None, None);
    assert_eq!(code, 303, "no CSV without a login: {head}");
    let (code, refused) = curl(&outpost, "GET", "/ui/calls?from=04.12.2026", Some(&cookie), None);
    assert_eq!(code, 422);
    assert!(refused.contains("is not a date like 2026-12-04"), "{refused}");

    // The nav links both pages.
    assert!(browser.try_find("nav.menu a[href=\"/ui/calls\"].open").is_some());
    assert!(browser.try_find("nav.menu a[href=\"/ui/security\"]").is_some());

    // An extension user's session is refused on both pages and the CSV, even with its own
    // CSRF token.
    let (user, csrf) = ui::portal_user(&browser, &outpost, dir.path(), ("acme", "201"), PORTAL_PASSWORD);
    for path in ["/ui/calls", "/ui/calls.csv", "/ui/calls.csv?number=201", "/ui/security"] {
        let (code, page) = curl(&outpost, "GET", path, Some(&user), None);
        assert_eq!(code, 403, "{path}");
        assert!(!page.contains(&answered_call), "{path}: nothing of the calls shows");
    }
    let form = format!("service=sip&address=127.0.0.1&csrf={csrf}");
    assert_eq!(curl(&outpost, "POST", "/ui/security/unban", Some(&user), Some(&form)).0, 403);
}

/// Three REGISTERs of `phone` with its (wrong) password, each refused.
fn guess_three_times(phone: &Phone, dir: &Path, outpost: &Outpost) {
    for _ in 0..3 {
        let out = phone.sipp(dir, outpost, "register.xml").output().unwrap();
        assert!(!out.status.success(), "a wrong password registers nothing");
    }
}

/// Sends a REGISTER without credentials from `socket`; the box's answer, if any.
fn probe(socket: &UdpSocket, port: u16, n: u32) -> Option<String> {
    let me = socket.local_addr().unwrap().port();
    let register = format!(
        "REGISTER sip:acme.pbx.local SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-probe{n}\r\n\
         From: <sip:201@acme.pbx.local>;tag=p{n}\r\nTo: <sip:201@acme.pbx.local>\r\nCall-ID: probe-{n}\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:201@127.0.0.1:{me}>\r\nContent-Length: 0\r\n\r\n"
    );
    socket.send_to(register.as_bytes(), ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 4096];
    socket.recv(&mut buf).ok().map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn an_admin_sees_a_ban_lifts_it_in_the_browser_and_the_phone_registers_again() {
    let dir = tempfile::tempdir().unwrap();
    // Loopback is not trusted here, so the phone's guesses count; provisioning bans after
    // two unknown phones.
    let sip = "ban_after_failures = 3\nban_secs = 600\nallowlist = [\"192.0.2.0/24\", \"fd00::/8\"]\n";
    let extra = Extra { provision_config: "scan_limit = 2\nban_secs = 600\n".to_owned(), ..Extra::default() };
    let (outpost, token, browser) = start_box(dir.path(), sip, &extra);
    browser.goto(&outpost.url("/ui/security"));
    assert_eq!(wait_until(BOUND, "no bans", || browser.try_text("#no-bans")), "No address is banned.");
    assert_eq!(browser.find("#sip-allowlist").text(), "192.0.2.0/24\nfd00::/8");
    assert!(browser.find("#provisioning-allowlist").text().starts_with("None"));
    assert_eq!(browser.find("#security-counts [data-f=sip-auth-failed]").text(), "0");

    // A phone with the wrong password tries three times: banned, the box no longer answers it.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    assert!(probe(&socket, outpost.sip_port, 1).unwrap().starts_with("SIP/2.0 401 "), "answered before");
    let guessing = Phone::of(dir.path(), "201", "acme.pbx.local", "not-the-secret");
    for _ in 0..3 {
        let out = guessing.sipp(dir.path(), &outpost, "register.xml").output().unwrap();
        assert!(!out.status.success(), "a wrong password registers nothing");
    }
    assert_eq!(probe(&socket, outpost.sip_port, 2), None, "banned: no answer at all");
    // A failed API login counts too (one, far from its own limit).
    let wrong = r#"{"username":"admin","password":"not-the-password"}"#;
    assert_eq!(outpost.curl("POST", "/api/v1/login", None, Some(wrong)).0, 401);
    // Three unknown phones' files from one address: the provisioning guard bans it.
    for mac in ["805ec0aabb01", "805ec0aabb02", "805ec0aabb03"] {
        outpost.curl("GET", &format!("/prov/{mac}.cfg"), None, None);
    }

    // The page lists both bans, why and until when, and the counts.
    let sip_row = "#bans tr[data-service=sip][data-address=\"127.0.0.1\"]";
    let prov_row = "#bans tr[data-service=provisioning][data-address=\"127.0.0.1\"]";
    wait_until(BOUND, "both bans listed", || {
        browser.goto(&outpost.url("/ui/security"));
        (browser.try_find(sip_row).is_some() && browser.try_find(prov_row).is_some()).then_some(())
    });
    assert_eq!(browser.find(&format!("{sip_row} [data-f=why]")).text(), "3 failed authentications");
    let until = browser.find(&format!("{sip_row} [data-f=until]")).text();
    assert!(until.contains(" UTC (") && until.ends_with(" min left)"), "{until}");
    assert!(browser.find(&format!("{prov_row} [data-f=why]")).text().contains("MAC scan"));
    assert_eq!(browser.find("#security-counts [data-f=banned]").text(), "2");
    assert_eq!(browser.find("#security-counts [data-f=sip-auth-failed]").text(), "3");
    assert!(browser.find("#security-counts [data-f=sip-dropped]").text() != "0", "the probe was dropped");
    assert_eq!(browser.find("#security-counts [data-f=logins-failed]").text(), "1");
    assert_eq!(browser.find("#security-counts [data-f=provisioning-bans]").text(), "1");
    browser.set_window_size(1280, 1000);
    browser.keep_screenshot("box-security");
    browser.set_window_size(1280, 800);

    // CSRF: the session cookie alone lifts nothing.
    let cookie = session_cookie(&browser);
    let form = "service=sip&address=127.0.0.1";
    assert_eq!(curl(&outpost, "POST", "/ui/security/unban", Some(&cookie), Some(form)).0, 403);
    let (_, bans) = outpost.json("GET", "/api/v1/sip/bans", Some(&token), None);
    assert_eq!(bans.as_array().unwrap().len(), 1, "still banned: {bans}");

    // Unban in the browser: the row goes, the API agrees, and the right password registers.
    browser.find(&format!("{sip_row} button[type=submit]")).click();
    let done = wait_until(BOUND, "the unban", || browser.try_text("#security-page .notice.ok"));
    assert_eq!(done, "127.0.0.1 unbanned (SIP).");
    assert!(browser.try_find(sip_row).is_none(), "no longer listed");
    assert!(browser.try_find(prov_row).is_some(), "the other ban stays");
    let (_, bans) = outpost.json("GET", "/api/v1/sip/bans", Some(&token), None);
    assert_eq!(bans, serde_json::json!([]));
    assert!(probe(&socket, outpost.sip_port, 3).unwrap().starts_with("SIP/2.0 401 "), "answered again");
    Phone::of(dir.path(), "201", "acme.pbx.local", "ada-201-sip-secret").register(dir.path(), &outpost);
    browser.goto(&outpost.url("/ui/"));
    wait_until(BOUND, "201 registered", || {
        browser.try_text("#phones tr[data-ext=\"acme/201\"] [data-f=state]").filter(|s| s == "registered")
    });

    // The provisioning ban lifts the same way; lifting it twice says it is gone.
    browser.goto(&outpost.url("/ui/security"));
    browser.find(&format!("{prov_row} button[type=submit]")).click();
    let done = wait_until(BOUND, "the unban", || browser.try_text("#security-page .notice.ok"));
    assert_eq!(done, "127.0.0.1 unbanned (Provisioning).");
    assert_eq!(browser.find("#no-bans").text(), "No address is banned.");
    let csrf = browser.find("form.logout input[name=csrf]").attribute("value").unwrap();
    let again = format!("service=provisioning&address=127.0.0.1&csrf={csrf}");
    let (code, page) = curl(&outpost, "POST", "/ui/security/unban", Some(&cookie), Some(&again));
    assert_eq!(code, 200);
    assert!(page.contains("was not banned"), "{page}");
    let bad = format!("service=sip&address=not-an-address&csrf={csrf}");
    assert_eq!(curl(&outpost, "POST", "/ui/security/unban", Some(&cookie), Some(&bad)).0, 422);
}

#[test]
fn an_admin_trusts_a_network_on_the_box_and_its_phones_are_banned_no_more() {
    let dir = tempfile::tempdir().unwrap();
    let sip = "ban_after_failures = 3\nban_secs = 600\nallowlist = [\"192.0.2.0/24\"]\n";
    let (mut outpost, token, browser) = start_box(dir.path(), sip, &Extra::default());
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    let guessing = Phone::of(dir.path(), "201", "acme.pbx.local", "not-the-secret");
    guess_three_times(&guessing, dir.path(), &outpost);
    assert_eq!(probe(&socket, outpost.sip_port, 1), None, "loopback banned");

    // A network that is no network is refused; loopback trusted in the browser: the ban ends.
    browser.goto(&outpost.url("/ui/security"));
    wait_until(BOUND, "the security page", || browser.try_find("#add-trusted"));
    assert!(browser.try_find("#no-trusted").is_some());
    type_into(&browser, "#add-trusted [name=cidr]", "127.0.0.0/99");
    browser.find("#add-trusted button[type=submit]").click();
    let said = wait_until(BOUND, "the refusal", || browser.try_text("#security-page > .notice.refused"));
    assert!(said.contains("is not a network"), "{said}");
    type_into(&browser, "#add-trusted [name=cidr]", "127.0.0.0/8");
    type_into(&browser, "#add-trusted [name=note]", "the test bench");
    browser.find("#add-trusted button[type=submit]").click();
    let said = wait_until(BOUND, "trusted", || browser.try_text("#security-page > .notice.ok"));
    assert_eq!(said, "127.0.0.0/8 is trusted: never rate-limited or banned.");
    assert!(browser.try_find("#bans tr[data-address=\"127.0.0.1\"]").is_none(), "the ban is lifted");
    assert_eq!(browser.find("#trusted tr[data-cidr=\"127.0.0.0/8\"] [data-f=note]").text(), "the test bench");
    assert!(probe(&socket, outpost.sip_port, 2).unwrap().starts_with("SIP/2.0 401 "), "answered again");

    // Three more wrong guesses: still answered. The API lists the network; the audit has it.
    guess_three_times(&guessing, dir.path(), &outpost);
    assert!(probe(&socket, outpost.sip_port, 3).is_some(), "a trusted address is not banned");
    let (_, listed) = outpost.json("GET", "/api/v1/trusted", Some(&token), None);
    assert_eq!(listed[0]["cidr"], "127.0.0.0/8", "{listed}");
    let (_, log) = outpost.json("GET", "/api/v1/audit", Some(&token), None);
    assert!(log.as_array().unwrap().iter().any(|e| e["action"] == "trusted.add" && e["actor"] == "ui:admin"), "{log}");

    // It holds across a restart of the box (the store keeps it).
    outpost.terminate(Duration::from_secs(10)).expect("the box stops");
    let data = std::mem::replace(&mut outpost.data, tempfile::tempdir().unwrap());
    let config = format!("digest_algorithms = [\"MD5\"]\n{sip}");
    let site = dir.path().join("site.toml");
    drop(outpost);
    let outpost =
        Outpost::start_extra(data, &Options { sip: true, sip_config: config, site: Some(site) }, &Extra::default());
    guess_three_times(&guessing, dir.path(), &outpost);
    assert!(probe(&socket, outpost.sip_port, 4).is_some(), "still trusted after the restart");

    // Removed in the browser (its session is in the store too): loopback can be banned again.
    browser.goto(&outpost.url("/ui/security"));
    wait_until(BOUND, "the security page", || browser.try_find("#trusted"));
    browser.find("#trusted tr[data-cidr=\"127.0.0.0/8\"] form.remove-trusted button").click();
    browser.accept_alert();
    let said = wait_until(BOUND, "removed", || browser.try_text("#security-page > .notice.ok"));
    assert_eq!(said, "127.0.0.0/8 is no longer trusted.");
    guess_three_times(&guessing, dir.path(), &outpost);
    assert_eq!(probe(&socket, outpost.sip_port, 5), None, "banned again");
}
