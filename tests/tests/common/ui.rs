//! What the web UI tests (`web_ui.rs`, `web_ui_admin.rs`) share: logging in in the browser
//! and by curl, typing into a field, and curl with the UI's session cookie.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use super::webdriver::Browser;
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
