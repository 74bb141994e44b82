//! The web UI's admin page for call records, end to end in headless Chromium
//! against a real `outpost` with SIP on loopback: sipp calls listed on `/ui/calls`, filtered,
//! and downloaded as CSV with the session cookie; the page refuses an extension user's
//! session. Screenshots: `box-calls` (`target/screenshots/`,
//! and `docs/screenshots/` with `OUTPOST_UPDATE_SCREENSHOTS=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::phones::{cdrs, Phone};
use common::ui::{csrf_in, curl, form_login, jar_session, log_in, session_cookie, type_into};
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

/// The session cookie and a CSRF token of 201's user, logged in to the portal by curl.
fn portal_user(outpost: &Outpost, dir: &Path) -> (String, String) {
    let jar = dir.join("portal-cookies");
    let code = form_login(outpost, &jar, "/ui/me/login", &format!("tenant=acme&number=201&password={PORTAL_PASSWORD}"));
    assert_eq!(code, 303, "the portal login");
    let cookie = jar_session(&jar);
    let (code, page) = curl(outpost, "GET", "/ui/me", Some(&cookie), None);
    assert_eq!(code, 200, "{page}");
    (cookie, csrf_in(&page))
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

    // An extension user's session is refused on the page and the CSV.
    browser.goto(&outpost.url("/ui/extensions/acme/201"));
    type_into(&browser, "#portal-password input[name=password]", PORTAL_PASSWORD);
    browser.find("#portal-password button[type=submit]").click();
    wait_until(BOUND, "the portal password set", || browser.try_text("#extension-page .notice.ok"));
    let (user, _csrf) = portal_user(&outpost, dir.path());
    for path in ["/ui/calls", "/ui/calls.csv", "/ui/calls.csv?number=201"] {
        let (code, page) = curl(&outpost, "GET", path, Some(&user), None);
        assert_eq!(code, 403, "{path}");
        assert!(!page.contains(&answered_call), "{path}: nothing of the calls shows");
    }
}
