//! The box's local web UI end to end in headless Chromium (Debian `chromium` and
//! `chromium-driver`, driven by `common::webdriver`) against a real `outpost` with SIP on
//! loopback, and a sipp phone; phones made discovered, and provisioned, by curl over `/prov/`;
//! the route tester against a site with a trunk and an outbound route; the user portal
//! (portal password set by the admin, forwarding followed by a sipp call, history, roles,
//! CSRF). Screenshots of each main page go to `target/screenshots/`, and to
//! `docs/screenshots/` with `OUTPOST_UPDATE_SCREENSHOTS=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::phones::Phone;
use common::ui::{curl, form_login, jar_session, log_in, type_into};
use common::webdriver::{wait_until, Browser};
use common::{Options, Outpost};
use serde_json::json;

/// The admin password chosen on the setup page.
const PASSWORD: &str = "a-good-long-password";
/// Bound of every wait on the page: generous, never a timing assertion.
const BOUND: Duration = Duration::from_secs(30);

const SITE: &str = r#"
schema = 1
[site]
name = "first"

[[tenants]]
name = "acme"
domains = ["acme.pbx.local"]

[[tenants.extensions]]
number = "201"
secret = "first-phone-201-secret"
"#;

fn start_box(dir: &Path) -> Outpost {
    let site = dir.join("site.toml");
    std::fs::write(&site, SITE).unwrap();
    // Debian's sipp answers only MD5.
    let sip_config = "digest_algorithms = [\"MD5\"]\nallowlist = [\"127.0.0.0/8\"]\n".to_owned();
    Outpost::start_with(tempfile::tempdir().unwrap(), &Options { sip: true, sip_config, site: Some(site) })
}

/// The login page's refusal, once the answer to the form has loaded.
fn login_notice(browser: &Browser) -> String {
    wait_until(BOUND, "the login refusal", || browser.try_text("#login .notice"))
}

/// Fetches the login form (its CSRF cookie into `jar`) and posts it with `password` (the
/// session cookie, if one is set, into `jar` too).
fn login_with_jar(outpost: &Outpost, jar: &Path, password: &str) -> u16 {
    form_login(outpost, jar, "/ui/login", &format!("username=admin&password={password}"))
}

fn row_state(browser: &Browser, table: &str, ext: &str) -> Option<String> {
    browser.try_text(&format!("{table} tr[data-ext=\"{ext}\"] [data-f=state]"))
}

#[test]
fn an_admin_sets_up_the_box_in_the_browser_and_sees_a_new_phone_register() {
    let dir = tempfile::tempdir().unwrap();
    let outpost = start_box(dir.path());
    let browser = Browser::start();

    // A visitor lands on the login page, from `/` and from any page.
    browser.goto(&outpost.url("/"));
    wait_until(BOUND, "the login page", || browser.try_find("#login"));
    assert!(browser.url().ends_with("/ui/login"), "{}", browser.url());
    browser.keep_screenshot("box-login");
    log_in(&browser, &outpost, "not-the-password");
    assert_eq!(login_notice(&browser), "Wrong user name or password.");

    // The one-time password leads to the setup page, and nowhere else.
    log_in(&browser, &outpost, &outpost.one_time_password);
    wait_until(BOUND, "the setup page", || browser.try_find("#setup"));
    browser.goto(&outpost.url("/ui/extensions"));
    wait_until(BOUND, "still the setup page", || browser.try_find("#setup"));
    browser.keep_screenshot("box-setup");

    // A bad time zone is refused with the site config's reason, and nothing changes.
    type_into(&browser, "#setup input[name=password]", PASSWORD);
    type_into(&browser, "#setup input[name=confirm]", PASSWORD);
    type_into(&browser, "#setup input[name=site_name]", "Head office");
    type_into(&browser, "#setup input[name=time_zone]", "Mars/Olympus");
    browser.find("#setup button[type=submit]").click();
    let refused = wait_until(BOUND, "the refusal", || browser.try_text("#setup .notice"));
    assert!(refused.contains("time_zone"), "{refused}");
    type_into(&browser, "#setup input[name=password]", PASSWORD);
    type_into(&browser, "#setup input[name=confirm]", PASSWORD);
    type_into(&browser, "#setup input[name=time_zone]", "Europe/Berlin");
    browser.find("#setup button[type=submit]").click();
    wait_until(BOUND, "the dashboard", || browser.try_find("#dashboard"));

    // The session cookie as the server set it.
    let cookies = browser.cookies();
    let session = cookies.iter().find(|c| c["name"] == "outpost_session").expect("a session cookie");
    assert_eq!(
        (&session["httpOnly"], &session["secure"], &session["sameSite"]),
        (&json!(true), &json!(true), &json!("Strict"))
    );
    let cookie = session["value"].as_str().unwrap().to_owned();

    // The site took the setup page's values, through the API's document.
    let token = {
        let (code, body) = outpost.json(
            "POST",
            "/api/v1/login",
            None,
            Some(&format!(r#"{{"username":"admin","password":"{PASSWORD}"}}"#)),
        );
        assert_eq!(code, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    };
    let (_, site) = outpost.json("GET", "/api/v1/site", Some(&token), None);
    assert_eq!((&site["site"]["name"], &site["site"]["time_zone"]), (&json!("Head office"), &json!("Europe/Berlin")));

    // The one-time password no longer opens anything.
    browser.find("form.logout button").click();
    wait_until(BOUND, "the login page", || browser.try_find("#login"));
    log_in(&browser, &outpost, &outpost.one_time_password);
    assert_eq!(login_notice(&browser), "Wrong user name or password.");
    log_in(&browser, &outpost, PASSWORD);
    wait_until(BOUND, "the dashboard", || browser.try_find("#dashboard"));
    let cookie_after = browser.cookies().iter().find(|c| c["name"] == "outpost_session").unwrap()["value"].clone();
    assert_ne!(cookie_after.as_str(), Some(cookie.as_str()), "a new session");
    let cookie = cookie_after.as_str().unwrap().to_owned();
    assert_eq!(row_state(&browser, "#phones", "acme/201").as_deref(), Some("unregistered"));

    // Add an extension in the browser, with the secret the phone will use.
    browser.goto(&outpost.url("/ui/extensions"));
    type_into(&browser, "#new-extension input[name=number]", "202");
    type_into(&browser, "#new-extension input[name=name]", "Reception <b>desk</b>");
    type_into(&browser, "#new-extension input[name=secret]", "reception-202-secret");
    browser.find("#new-extension button[type=submit]").click();
    let secret = wait_until(BOUND, "the secret shown once", || browser.try_text("#secret"));
    assert_eq!(secret, "reception-202-secret");
    let row = browser.find("#extensions tr[data-ext=\"acme/202\"]").text();
    assert!(row.contains("Reception <b>desk</b>"), "the name is shown as typed, not as markup: {row}");
    assert_eq!(row_state(&browser, "#extensions", "acme/202").as_deref(), Some("unregistered"));
    // A number taken is refused with the reason.
    type_into(&browser, "#new-extension input[name=number]", "202");
    browser.find("#new-extension button[type=submit]").click();
    let refused = wait_until(BOUND, "the refusal", || browser.try_text("#extensions-page .notice.refused"));
    assert!(refused.contains("already exists"), "{refused}");
    browser.keep_screenshot("box-extensions");

    // A sipp phone registers as 202: the extensions page turns it green without a reload.
    browser.execute("document.body.setAttribute('data-marker', 'same-page')", vec![]);
    // The SIP directory picks up a site change within a second (its housekeeping tick): like
    // a real phone, retry the REGISTER until it is accepted.
    let phone = Phone::of(dir.path(), "202", "acme.pbx.local", "reception-202-secret");
    wait_until(BOUND, "202 accepted by the registrar", || {
        let out = phone.sipp(dir.path(), &outpost, "register.xml").output().expect("sipp must be installed");
        out.status.success().then_some(()).or_else(|| {
            std::thread::sleep(Duration::from_millis(300));
            None
        })
    });
    wait_until(BOUND, "202 registered on the extensions page", || {
        row_state(&browser, "#extensions", "acme/202").filter(|s| s == "registered")
    });
    assert_eq!(browser.execute("return document.body.getAttribute('data-marker')", vec![]), json!("same-page"));

    // The dashboard shows it too, and the counts.
    browser.goto(&outpost.url("/ui/"));
    wait_until(BOUND, "202 registered on the dashboard", || {
        row_state(&browser, "#phones", "acme/202").filter(|s| s == "registered")
    });
    assert_eq!(browser.find("#dashboard [data-f=registered]").text(), "1");
    assert_eq!(browser.find("#dashboard [data-f=unregistered]").text(), "1");
    assert_eq!(browser.find("#dashboard [data-f=mode]").text(), "normal");
    browser.keep_screenshot("box-dashboard");
    browser.set_window_size(390, 844);
    browser.keep_screenshot("box-dashboard-phone");
    browser.set_window_size(1280, 800);

    // Rename it, then give it a new secret: the old one no longer registers.
    browser.goto(&outpost.url("/ui/extensions/acme/202"));
    type_into(&browser, "#edit-extension input[name=name]", "Front desk");
    browser.find("#edit-extension button[type=submit]").click();
    wait_until(BOUND, "saved", || browser.try_text("#extensions-page .notice.ok"));
    assert!(browser.find("#extensions tr[data-ext=\"acme/202\"]").text().contains("Front desk"));
    browser.goto(&outpost.url("/ui/extensions/acme/202"));
    browser.find("#reset-secret button").click();
    browser.accept_alert();
    let fresh = wait_until(BOUND, "the new secret", || browser.try_text("#secret"));
    assert!(fresh.len() >= 16 && fresh != "reception-202-secret", "{fresh}");
    let (_, exts) = outpost.json("GET", "/api/v1/tenants/acme/extensions/202", Some(&token), None);
    assert_eq!(exts["name"], "Front desk", "{exts}");

    // CSRF: the session cookie alone does not post a form; with the page's token it does.
    let csrf = browser.find("#new-extension input[name=csrf]").attribute("value").unwrap();
    let form = "tenant=acme&number=203&name=x&secret=";
    assert_eq!(curl(&outpost, "POST", "/ui/extensions", Some(&cookie), Some(form)).0, 403, "no token");
    let forged = format!("{form}&csrf=forged");
    assert_eq!(curl(&outpost, "POST", "/ui/extensions", Some(&cookie), Some(&forged)).0, 403, "a wrong token");
    let (_, exts) = outpost.json("GET", "/api/v1/tenants/acme/extensions", Some(&token), None);
    assert_eq!(exts.as_array().unwrap().len(), 2, "nothing added: {exts}");
    let good = format!("{form}&csrf={csrf}");
    assert_eq!(curl(&outpost, "POST", "/ui/extensions", Some(&cookie), Some(&good)).0, 200, "the page's token");
    assert_eq!(curl(&outpost, "POST", "/ui/extensions", Some("made-up"), Some(&good)).0, 303, "to the login");
}

#[test]
fn pages_need_a_login_and_carry_a_strict_content_security_policy() {
    let dir = tempfile::tempdir().unwrap();
    let outpost = start_box(dir.path());
    let pages = ["/ui/", "/ui/extensions", "/ui/setup", "/ui/live.json", "/ui/phones", "/ui/routes", "/ui/calls"];
    let more =
        ["/ui/calls.csv", "/ui/security", "/ui/trunks", "/ui/ring-groups", "/ui/audit", "/ui/backups", "/ui/dhcp"];
    for path in pages.into_iter().chain(more) {
        let (code, head) = curl(&outpost, "GET", path, None, None);
        assert_eq!(code, 303, "{path}: {head}");
        assert!(head.to_lowercase().contains("location: /ui/login"), "{path}: {head}");
    }
    let (code, head) = curl(&outpost, "GET", "/ui/me", None, None);
    assert_eq!(code, 303, "{head}");
    assert!(head.to_lowercase().contains("location: /ui/me/login"), "the portal's own login: {head}");
    let (code, head) = curl(&outpost, "GET", "/", None, None);
    assert_eq!(code, 303);
    assert!(head.to_lowercase().contains("location: /ui/"), "{head}");
    let (code, page) = curl(&outpost, "GET", "/ui/login", None, None);
    assert_eq!(code, 200);
    let lower = page.to_lowercase();
    assert!(
        lower.contains(
            "content-security-policy: default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        ),
        "{page}"
    );
    assert!(!lower.contains("<script>") && !lower.contains(" style="), "no inline code: {page}");
    // The login form itself needs its CSRF cookie.
    let form = format!("csrf=x&username=admin&password={}", outpost.one_time_password);
    let (code, _) = curl(&outpost, "POST", "/ui/login", None, Some(&form));
    assert_eq!(code, 403);
    // Past five failed logins the address is refused, even with the right password, and the
    // API's login shares the count.
    let jar = dir.path().join("cookies");
    let mut last = 0;
    for pw in ["guess-1", "guess-2", "guess-3", "guess-4", "guess-5", outpost.one_time_password.as_str()] {
        last = login_with_jar(&outpost, &jar, pw);
    }
    assert_eq!(last, 429, "blocked");
    let body = format!(r#"{{"username":"admin","password":"{}"}}"#, outpost.one_time_password);
    assert_eq!(outpost.curl("POST", "/api/v1/login", None, Some(&body)).0, 429, "the API shares the limit");
    // The API is unchanged beside the UI.
    assert_eq!(outpost.curl("GET", "/api/v1/health", None, None).0, 200);
}

/// A site with a trunk and an outbound route, for the phones and routes pages. The trunk is
/// probed rarely, so it stays usable ("unknown") for the length of a test.
const ROUTED_SITE: &str = r#"
schema = 1
[site]
name = "routed"

[[tenants]]
name = "acme"
domains = ["acme.pbx.local"]

[[tenants.extensions]]
number = "201"
name = "Front desk"
secret = "front-desk-201-secret"

[[tenants.extensions]]
number = "202"
name = "Workshop"
secret = "workshop-202-secret"

[[tenants.trunks]]
name = "pstn"
role = "fallback"
host = "127.0.0.1"
port = 9
transport = "udp"
[tenants.trunks.health]
probe_interval = 300

[[tenants.outbound_routes]]
name = "national"
pattern = "0Z."
trunks = ["pstn"]
strip = 1
prepend = "+49"
"#;

/// A box with `ROUTED_SITE`, its admin password set through the API, and a browser logged in.
fn routed_box(dir: &Path) -> (Outpost, Browser) {
    let site = dir.join("site.toml");
    std::fs::write(&site, ROUTED_SITE).unwrap();
    let options = Options { sip: true, sip_config: "allowlist = [\"127.0.0.0/8\"]\n".to_owned(), site: Some(site) };
    let outpost = Outpost::start_with(tempfile::tempdir().unwrap(), &options);
    outpost.admin_token(PASSWORD);
    let browser = Browser::start();
    log_in(&browser, &outpost, PASSWORD);
    wait_until(BOUND, "the dashboard", || browser.try_find("#dashboard"));
    (outpost, browser)
}

/// A phone's fetch of `file` over the box's provisioning URL: (status, body).
fn provisioning_fetch(outpost: &Outpost, file: &str, user_agent: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-w", "\n%{http_code}", "-A", user_agent, "--cacert"])
        .arg(outpost.cert())
        .arg(outpost.url(&format!("/prov/{file}")))
        .output()
        .expect("curl");
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_owned())
}

#[test]
fn an_admin_adopts_a_discovered_phone_in_the_browser_and_its_file_carries_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let (outpost, browser) = routed_box(dir.path());
    // Two phones the site does not list ask for their files: both are recorded as discovered.
    let (mac, file, ua) = ("80:5e:c0:aa:bb:01", "805ec0aabb01.cfg", "Yealink SIP-T54W 96.86.0.100 80:5e:c0:aa:bb:01");
    assert_eq!(provisioning_fetch(&outpost, file, ua).0, 404, "unknown until adopted");
    let other = "00:0b:82:aa:bb:02";
    assert_eq!(provisioning_fetch(&outpost, "cfg000b82aabb02.xml", "curl").0, 404);

    browser.goto(&outpost.url("/ui/phones"));
    let row = format!("#discovered tr[data-mac=\"{mac}\"]");
    let seen = wait_until(BOUND, "the phone waiting for adoption", || browser.try_text(&row));
    assert!(seen.contains("yealink") && seen.contains("SIP-T54W"), "the vendor and model guessed: {seen}");
    assert!(browser.try_find(&format!("#discovered tr[data-mac=\"{other}\"]")).is_some());
    assert!(browser.try_find(&format!("#site-phones tr[data-mac=\"{mac}\"]")).is_none());

    // Adopt it onto 202 in one click (the vendor preselected from the guess).
    browser.find(&format!("{row} select[name=line] option[value=\"acme/202\"]")).click();
    browser.find(&format!("{row} button[type=submit]")).click();
    let done = wait_until(BOUND, "the adoption", || browser.try_text("#phones-page .notice.ok"));
    assert!(done.contains("adopted onto extension 202"), "{done}");
    let phone = format!("#site-phones tr[data-mac=\"{mac}\"]");
    assert_eq!(browser.find(&format!("{phone} [data-f=extension]")).text(), "202");
    assert_eq!(browser.find(&format!("{phone} [data-f=last-fetch]")).text(), "never");
    assert!(browser.try_find(&row).is_none(), "no longer waiting");

    // The phone's next fetch gets its account: the extension and its secret.
    let (code, body) = provisioning_fetch(&outpost, file, ua);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("account.1.user_name = 202"), "{body}");
    assert!(body.contains("workshop-202-secret"), "{body}");
    browser.goto(&outpost.url("/ui/phones"));
    let fetched = wait_until(BOUND, "the last fetch", || {
        browser.try_text(&format!("{phone} [data-f=last-fetch]")).filter(|t| t != "never")
    });
    assert!(fetched.contains("over https from 127.0.0.1"), "{fetched}");
    browser.keep_screenshot("box-phones");
    // 202's own page names its phone and that fetch.
    browser.goto(&outpost.url("/ui/extensions/acme/202"));
    let on_202 =
        wait_until(BOUND, "202's phone", || browser.try_text(&format!("#extension-phone [data-mac=\"{mac}\"]")));
    assert!(on_202.contains("yealink") && on_202.contains(&fetched), "{on_202}");
    browser.goto(&outpost.url("/ui/phones"));
    wait_until(BOUND, "the phones page", || browser.try_find(&phone));

    // Re-provision: the phone is not registered, so there is nobody to tell, and the page says so.
    browser.find(&format!("{phone} form.reprovision button")).click();
    browser.accept_alert();
    let refused = wait_until(BOUND, "the re-provision answer", || browser.try_text("#phones-page .notice.refused"));
    assert!(refused.contains("registered over UDP"), "{refused}");

    // CSRF: the session cookie alone adopts nothing.
    let cookie = browser.cookies().iter().find(|c| c["name"] == "outpost_session").unwrap()["value"].clone();
    let path = format!("/ui/phones/{other}/adopt");
    let (code, _) = curl(&outpost, "POST", &path, cookie.as_str(), Some("line=acme%2F201"));
    assert_eq!(code, 403);
    let login = format!(r#"{{"username":"admin","password":"{PASSWORD}"}}"#);
    let (_, session) = outpost.json("POST", "/api/v1/login", None, Some(&login));
    let token = session["token"].as_str().unwrap().to_owned();
    let (_, found) = outpost.json("GET", "/api/v1/devices/discovered", Some(&token), None);
    assert!(found.as_array().unwrap().iter().any(|d| d["mac"] == other), "still waiting: {found}");
}

#[test]
fn the_route_tester_shows_the_route_and_trunk_of_a_number_and_no_route_for_another() {
    let dir = tempfile::tempdir().unwrap();
    let (outpost, browser) = routed_box(dir.path());
    browser.goto(&outpost.url("/ui/routes"));
    let tables = wait_until(BOUND, "the routes", || browser.try_text("[data-tenant=acme] table.outbound"));
    assert!(tables.contains("national") && tables.contains("0Z.") && tables.contains("pstn"), "{tables}");

    browser.find("#route-test select[name=from] option[value=\"acme/201\"]").click();
    type_into(&browser, "#route-test input[name=number]", "0301234567");
    browser.find("#route-test button[type=submit]").click();
    let headline = wait_until(BOUND, "the decision", || browser.try_text("#route-result [data-f=headline]"));
    assert_eq!(headline, "Out over a trunk");
    assert_eq!(browser.find("#route-trunks [data-f=trunk]").text(), "pstn");
    assert!(browser.find("#route-trunks").text().contains("+49301234567"), "strip and prepend applied");
    let why = browser.find("#route-result [data-f=why]").text();
    assert!(why.contains("outbound route national"), "{why}");
    browser.keep_screenshot("box-routes");

    type_into(&browser, "#route-test input[name=number]", "555");
    browser.find("#route-test button[type=submit]").click();
    wait_until(BOUND, "no route", || {
        browser.try_text("#route-result [data-f=headline]").filter(|h| h == "No route (404)")
    });
    assert!(browser.find("#route-result [data-f=why]").text().contains("555"));
    assert!(browser.try_find("#route-trunks").is_none());
}

/// A site for the portal: 201 (the user), 202 (where 201 forwards), 203 (a caller).
const PORTAL_SITE: &str = r#"
schema = 1
[site]
name = "portal"

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

const PORTAL_PASSWORD: &str = "ada-portal-pass";

fn portal_log_in(browser: &Browser, outpost: &Outpost, tenant: &str, number: &str, password: &str) {
    browser.goto(&outpost.url("/ui/me/login"));
    type_into(browser, "#portal-login input[name=tenant]", tenant);
    type_into(browser, "#portal-login input[name=number]", number);
    browser.find("#portal-login input[name=password]").send_keys(password);
    browser.find("#portal-login button[type=submit]").click();
}

/// The session cookie of an admin logged in by curl (through the login form).
fn admin_cookie(outpost: &Outpost, dir: &Path) -> String {
    let jar = dir.join("admin-cookies");
    assert_eq!(login_with_jar(outpost, &jar, PASSWORD), 303);
    jar_session(&jar)
}

#[test]
fn an_extension_user_forwards_their_calls_in_the_portal_and_sees_them_in_their_history() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.toml");
    std::fs::write(&site, PORTAL_SITE).unwrap();
    let sip_config = "digest_algorithms = [\"MD5\"]\nallowlist = [\"127.0.0.0/8\"]\n".to_owned();
    let outpost =
        Outpost::start_with(tempfile::tempdir().unwrap(), &Options { sip: true, sip_config, site: Some(site) });
    let token = outpost.admin_token(PASSWORD);
    let browser = Browser::start();

    // The admin sets 201's portal password on the extension's page.
    log_in(&browser, &outpost, PASSWORD);
    wait_until(BOUND, "the dashboard", || browser.try_find("#dashboard"));
    browser.goto(&outpost.url("/ui/extensions/acme/201"));
    let state = browser.find("#portal-access [data-f=portal]").text();
    assert!(state.contains("No portal password"), "{state}");
    type_into(&browser, "#portal-password input[name=password]", "short");
    browser.find("#portal-password button[type=submit]").click();
    let refused = wait_until(BOUND, "the refusal", || browser.try_text("#extension-page .notice.refused"));
    assert!(refused.contains("at least 10 characters"), "{refused}");
    browser.goto(&outpost.url("/ui/extensions/acme/201"));
    type_into(&browser, "#portal-password input[name=password]", PORTAL_PASSWORD);
    browser.find("#portal-password button[type=submit]").click();
    let done = wait_until(BOUND, "the password set", || browser.try_text("#extension-page .notice.ok"));
    assert_eq!(done, "Portal password of 201 set.");
    browser.goto(&outpost.url("/ui/extensions/acme/201"));
    assert!(browser.find("#portal-access [data-f=portal]").text().contains("the password was set"));
    browser.find("form.logout button").click();
    wait_until(BOUND, "the login page", || browser.try_find("#login"));

    // The admin login does not take the portal account, and the portal's refusal is the same
    // for an unknown extension and a wrong password.
    type_into(&browser, "#login input[name=username]", "201@acme");
    browser.find("#login input[name=password]").send_keys(PORTAL_PASSWORD);
    browser.find("#login button[type=submit]").click();
    assert_eq!(login_notice(&browser), "Wrong user name or password.");
    let portal_notice = || wait_until(BOUND, "the portal refusal", || browser.try_text("#portal-login .notice"));
    portal_log_in(&browser, &outpost, "acme", "299", PORTAL_PASSWORD);
    assert_eq!(portal_notice(), "Wrong tenant, extension or password.");
    portal_log_in(&browser, &outpost, "acme", "201", "not-the-portal-pass");
    assert_eq!(portal_notice(), "Wrong tenant, extension or password.");
    portal_log_in(&browser, &outpost, "acme", "201", PORTAL_PASSWORD);
    wait_until(BOUND, "the portal", || browser.try_find("#portal"));
    assert!(browser.url().ends_with("/ui/me"), "{}", browser.url());
    assert_eq!(browser.find("#my-phone [data-f=state]").text(), "unregistered");
    assert!(browser.try_find("nav.menu a[href=\"/ui/extensions\"]").is_none(), "no admin menu");

    // 201's phone registers: the portal shows it.
    Phone::of(dir.path(), "201", "acme.pbx.local", "ada-201-sip-secret").register(dir.path(), &outpost);
    browser.goto(&outpost.url("/ui/me"));
    assert_eq!(browser.find("#my-phone [data-f=state]").text(), "registered");

    // A forward the site cannot place is refused with the field and the reason; then 201
    // forwards every call to 202.
    type_into(&browser, "#forwarding input[name=forward_busy]", "201");
    browser.find("#forwarding button[type=submit]").click();
    let refused = wait_until(BOUND, "the refusal", || browser.try_text("#portal .notice.refused"));
    assert_eq!(refused, "Not saved: Forward when busy: extension 201 forwards to itself");
    let _ = outpost.log_lines(); // the reload after the next save is the one to wait for
    type_into(&browser, "#forwarding input[name=forward_busy]", "");
    type_into(&browser, "#forwarding input[name=forward_always]", "202");
    browser.find("#forwarding button[type=submit]").click();
    assert_eq!(wait_until(BOUND, "saved", || browser.try_text("#portal .notice.ok")), "Forwarding saved.");
    assert_eq!(browser.find("#forwarding input[name=forward_always]").property("value"), json!("202"));
    let fwd = outpost.json("GET", "/api/v1/tenants/acme/extensions/201/forwarding", Some(&token), None).1;
    assert_eq!(
        fwd,
        json!({"forward_always": "202", "forward_busy": null, "forward_no_answer": null, "no_answer_secs": 20}),
        "the API reads what the portal wrote"
    );
    wait_until(BOUND, "the SIP core took the change", || {
        outpost.log_lines().iter().any(|l| l.contains("SIP directory reloaded")).then_some(())
    });

    // 203 calls 201; the box follows the forward to 202's phone, which answers.
    let reception = Phone::of(dir.path(), "202", "acme.pbx.local", "reception-202-secret");
    let answering = reception.serve(dir.path(), &outpost, "call_uas.xml");
    let caller = Phone::of(dir.path(), "203", "acme.pbx.local", "caller-203-secret");
    assert!(caller.call(dir.path(), &outpost, "201", "call_uac.xml"), "{}", outpost.log_lines().join("\n"));
    assert!(answering.finished(), "202 answered the call to 201");
    let cdr = &common::phones::cdrs(&outpost, &token, 1)[0];
    assert_eq!((cdr["dialled"].as_str(), cdr["callee"].as_str()), (Some("201"), Some("202")), "{cdr}");
    assert_eq!(cdr["disposition"], "answered", "{cdr}");

    // The call is in 201's history.
    browser.goto(&outpost.url("/ui/me"));
    let row = "#my-calls tbody tr";
    assert_eq!(browser.find(&format!("{row} [data-f=direction]")).text(), "in");
    assert_eq!(browser.find(&format!("{row} [data-f=other]")).text(), "203");
    assert_eq!(browser.find(&format!("{row} [data-f=outcome]")).text(), "answered (forwarded to 202)");
    browser.set_window_size(1280, 1000);
    browser.keep_screenshot("box-portal");
    browser.set_window_size(1280, 800);

    // The user's session reaches no admin page and posts no admin form, even with its token.
    let cookie = browser.cookies().iter().find(|c| c["name"] == "outpost_session").unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let csrf = browser.find("#forwarding input[name=csrf]").attribute("value").unwrap();
    for path in ["/ui/", "/ui/extensions", "/ui/extensions/acme/201", "/ui/phones", "/ui/routes", "/ui/live.json"] {
        assert_eq!(curl(&outpost, "GET", path, Some(&cookie), None).0, 403, "{path}");
    }
    let add = format!("tenant=acme&number=204&name=x&secret=&csrf={csrf}");
    assert_eq!(curl(&outpost, "POST", "/ui/extensions", Some(&cookie), Some(&add)).0, 403);
    let reset = format!("password=taken-over-pass&csrf={csrf}");
    assert_eq!(curl(&outpost, "POST", "/ui/extensions/acme/202/portal", Some(&cookie), Some(&reset)).0, 403);
    let (_, exts) = outpost.json("GET", "/api/v1/tenants/acme/extensions", Some(&token), None);
    assert_eq!(exts.as_array().unwrap().len(), 3, "nothing added: {exts}");
    // The same session as a bearer token is a user's in the API too: no admin route.
    assert_eq!(outpost.curl("GET", "/api/v1/site", Some(&cookie), None).0, 403);

    // A portal form without the session's token changes nothing; with it, it does.
    let change = "forward_always=203&forward_busy=&forward_no_answer=&no_answer_secs=20";
    assert_eq!(curl(&outpost, "POST", "/ui/me/forwarding", Some(&cookie), Some(change)).0, 403, "no token");
    let forged = format!("{change}&csrf=forged");
    assert_eq!(curl(&outpost, "POST", "/ui/me/forwarding", Some(&cookie), Some(&forged)).0, 403, "a wrong token");
    let fwd = |t: &str| outpost.json("GET", "/api/v1/tenants/acme/extensions/201/forwarding", Some(t), None).1;
    assert_eq!(fwd(&token)["forward_always"], "202", "unchanged");
    let good = format!("{change}&csrf={csrf}");
    assert_eq!(curl(&outpost, "POST", "/ui/me/forwarding", Some(&cookie), Some(&good)).0, 200);
    assert_eq!(fwd(&token)["forward_always"], "203");

    // An admin is no extension user: the portal refuses an admin's session.
    let admin = admin_cookie(&outpost, dir.path());
    assert_eq!(curl(&outpost, "GET", "/ui/extensions", Some(&admin), None).0, 200);
    // The admin's page of 201 shows what the user set and the phone's registration.
    let (code, page) = curl(&outpost, "GET", "/ui/extensions/acme/201", Some(&admin), None);
    assert_eq!(code, 200);
    assert!(page.contains(r#"data-f="forwarding">every call to 203</p>"#), "{page}");
    assert!(page.contains(r#"<span class="badge up" data-f="state">registered</span>"#), "{page}");
    assert!(page.contains(r#"data-f="binding"><code>sip:201@"#), "{page}");
    assert!(page.contains("no-phone"), "no device of the site on 201: {page}");
    assert_eq!(curl(&outpost, "GET", "/ui/me", Some(&admin), None).0, 403);
    assert_eq!(curl(&outpost, "POST", "/ui/me/forwarding", Some(&admin), Some(&good)).0, 403);

    // The user logs out, back to the portal's login.
    browser.find("form.logout button").click();
    wait_until(BOUND, "the portal login", || browser.try_find("#portal-login"));
    assert_eq!(curl(&outpost, "GET", "/ui/me", Some(&cookie), None).0, 303, "the session ended");
}
