//! What the web UI tests (`web_ui*.rs`) share: logging in in the browser
//! and by curl, typing into a field, curl with the UI's session cookie, a portal user.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use super::webdriver::{wait_until, Browser};
use super::Outpost;

/// Logs in as admin on the login page (the answer is for the caller to wait for).
pub fn log_in(browser: &Browser, outpost: &Outpost, password: &str) {
    browser.goto(&outpost.url("/ui/login"));
    let field = browser.find("#login input[name=username]");
    field.clear();
    field.send_keys("admin");
    browser.find("#login input[name=password]").send_keys(password);
    browser.find("#login button[type=submit]").click();
}

pub fn type_into(browser: &Browser, css: &str, text: &str) {
    let field = browser.find(css);
    field.clear();
    field.send_keys(text);
}

/// The browser's session cookie.
pub fn session_cookie(browser: &Browser) -> String {
    let cookies = browser.cookies();
    let session = cookies.iter().find(|c| c["name"] == "outpost_session").expect("a session cookie");
    session["value"].as_str().unwrap().to_owned()
}

/// `curl` of the UI: (status, headers and body), with an optional cookie and form.
pub fn curl(outpost: &Outpost, method: &str, path: &str, cookie: Option<&str>, form: Option<&str>) -> (u16, String) {
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

/// Fetches the login form at `path` (its CSRF cookie into `jar`) and posts it with `fields`
/// (`username=…&password=…`, or the portal's `tenant=…&number=…&password=…`); the session
/// cookie, if one is set, goes into `jar` too. Returns the post's status.
pub fn form_login(outpost: &Outpost, jar: &Path, path: &str, fields: &str) -> u16 {
    let get = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-c"])
        .arg(jar)
        .arg("--cacert")
        .arg(outpost.cert())
        .arg(outpost.url(path))
        .output()
        .unwrap();
    let page = String::from_utf8(get.stdout).unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_owned();
    let form = format!("csrf={csrf}&{fields}");
    let post = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}", "-b"])
        .arg(jar)
        .arg("-c")
        .arg(jar)
        .arg("--cacert")
        .arg(outpost.cert())
        .args(["--data", &form])
        .arg(outpost.url(path))
        .output()
        .unwrap();
    String::from_utf8(post.stdout).unwrap().parse().unwrap()
}

/// The session cookie a `form_login` left in `jar`.
pub fn jar_session(jar: &Path) -> String {
    let jar = std::fs::read_to_string(jar).unwrap();
    let line = jar.lines().find(|l| l.contains("outpost_session")).expect("a session cookie");
    line.rsplit('\t').next().unwrap().to_owned()
}

/// The value of the first `name="csrf"` field of a page.
pub fn csrf_in(page: &str) -> String {
    page.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_owned()
}

/// Gives extension `tenant/number` the portal `password` on its admin page (in `browser`, an
/// admin's), then logs its user in by curl: the portal session cookie and a CSRF token.
pub fn portal_user(
    browser: &Browser,
    outpost: &Outpost,
    dir: &Path,
    (tenant, number): (&str, &str),
    password: &str,
) -> (String, String) {
    use super::webdriver::wait_until;
    browser.goto(&outpost.url(&format!("/ui/extensions/{tenant}/{number}")));
    type_into(browser, "#portal-password input[name=password]", password);
    browser.find("#portal-password button[type=submit]").click();
    wait_until(std::time::Duration::from_secs(30), "the portal password set", || {
        browser.try_text("#extension-page .notice.ok")
    });
    let jar = dir.join("portal-cookies");
    let code =
        form_login(outpost, &jar, "/ui/me/login", &format!("tenant={tenant}&number={number}&password={password}"));
    assert_eq!(code, 303, "the portal login");
    let cookie = jar_session(&jar);
    let (code, page) = curl(outpost, "GET", "/ui/me", Some(&cookie), None);
    assert_eq!(code, 200, "{page}");
    (cookie, csrf_in(&page))
}

/// Waits until the box's log says the SIP core loaded the site's current revision (a reload
/// of an earlier change can come first: the core looks once a second).
pub fn wait_reloaded(outpost: &Outpost, token: &str) {
    let (_, health) = outpost.json("GET", "/api/v1/health", Some(token), None);
    let want = format!("revision={}", health["site_revision"]);
    wait_until(std::time::Duration::from_secs(30), "the SIP core on the current revision", || {
        outpost
            .log_lines()
            .iter()
            .map(|l| {
                l.chars()
                    .filter(|c| !c.is_control())
                    .collect::<String>()
                    .replace("[3m", "")
                    .replace("[0m", "")
                    .replace("[2m", "")
            })
            .any(|l| l.contains("SIP directory reloaded") && l.contains(&want))
            .then_some(())
    });
}
