//! The box's local web UI end to end in headless Chromium (Debian `chromium` and
//! `chromium-driver`, driven by `common::webdriver`) against a real `outpost` with SIP on
//! loopback, and a sipp phone. Screenshots of each main page go to `target/screenshots/`, and
//! to `docs/screenshots/` with `OUTPOST_UPDATE_SCREENSHOTS=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::phones::Phone;
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

/// Keeps a screenshot as a test artifact, and as the documentation's when asked.
fn screenshot(browser: &Browser, name: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let file = root.join("target/screenshots").join(format!("{name}.png"));
    browser.screenshot(&file);
    if std::env::var("OUTPOST_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let docs: PathBuf = root.join("docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(&file, docs.join(format!("{name}.png"))).unwrap();
    }
}

fn log_in(browser: &Browser, outpost: &Outpost, password: &str) {
    browser.goto(&outpost.url("/ui/login"));
    let field = browser.find("#login input[name=username]");
    field.clear();
    field.send_keys("admin");
    browser.find("#login input[name=password]").send_keys(password);
    browser.find("#login button[type=submit]").click();
}

/// The login page's refusal, once the answer to the form has loaded.
fn login_notice(browser: &Browser) -> String {
    wait_until(BOUND, "the login refusal", || browser.try_text("#login .notice"))
}

fn type_into(browser: &Browser, css: &str, text: &str) {
    let field = browser.find(css);
    field.clear();
    field.send_keys(text);
}

/// `curl` of the UI: (status, headers and body), with an optional cookie and form.
fn curl(outpost: &Outpost, method: &str, path: &str, cookie: Option<&str>, form: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-i", "--max-time", "20", "-w", "\n%{http_code}", "-X", method, "--cacert"])
        .arg(outpost.cert())
        .arg(outpost.url(path));
    if let Some(c) = cookie {
        cmd.args(["-H", &format!("cookie: outpost_session={c}")]);
    }
    if let Some(f) = form {
        cmd.args(["--data", f]);
    }
    let out = cmd.output().expect("curl");
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_owned())
}

/// Fetches the login form (its CSRF cookie into `jar`) and posts it with `password`.
fn login_with_jar(outpost: &Outpost, jar: &Path, password: &str) -> u16 {
    let get = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-c"])
        .arg(jar)
        .arg("--cacert")
        .arg(outpost.cert())
        .arg(outpost.url("/ui/login"))
        .output()
        .unwrap();
    let page = String::from_utf8(get.stdout).unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_owned();
    let form = format!("csrf={}&username=admin&password={password}", csrf);
    let post = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}", "-b"])
        .arg(jar)
        .arg("--cacert")
        .arg(outpost.cert())
        .args(["--data", &form])
        .arg(outpost.url("/ui/login"))
        .output()
        .unwrap();
    String::from_utf8(post.stdout).unwrap().parse().unwrap()
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
    screenshot(&browser, "box-login");
    log_in(&browser, &outpost, "not-the-password");
    assert_eq!(login_notice(&browser), "Wrong user name or password.");

    // The one-time password leads to the setup page, and nowhere else.
    log_in(&browser, &outpost, &outpost.one_time_password);
    wait_until(BOUND, "the setup page", || browser.try_find("#setup"));
    browser.goto(&outpost.url("/ui/extensions"));
    wait_until(BOUND, "still the setup page", || browser.try_find("#setup"));
    screenshot(&browser, "box-setup");

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
    screenshot(&browser, "box-extensions");

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
    screenshot(&browser, "box-dashboard");
    browser.set_window_size(390, 844);
    screenshot(&browser, "box-dashboard-phone");
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
    for path in ["/ui/", "/ui/extensions", "/ui/setup", "/ui/live.json"] {
        let (code, head) = curl(&outpost, "GET", path, None, None);
        assert_eq!(code, 303, "{path}: {head}");
        assert!(head.to_lowercase().contains("location: /ui/login"), "{path}: {head}");
    }
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
