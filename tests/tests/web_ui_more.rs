//! The web UI's backups and DHCP pages and the portal's password, end to end in headless Chromium against a real `outpost`: a
//! backup taken in the browser is listed as `GET /api/v1/backups` lists it, its download
//! behind the session cookie is the same bytes as the API's; an extension added afterwards
//! through the API is undone by a restore confirmed in the browser, once the box starts
//! again (the restore is staged: until then the page says so and the box runs unchanged).
//! The DHCP page says DHCP is off as the API does; with the box in a network namespace serving
//! a scope on a veth (root only), a lease busybox udhcpc got on the other end shows with its
//! MAC, address and vendor, as `GET /api/v1/dhcp/leases` has it. An extension's user changes
//! their own portal password in the portal (the current one required): the new one then logs
//! in, the old one no longer does. Every admin page and form refuses an extension user's
//! session. Screenshots: `box-backups`, `box-dhcp`
//! (`target/screenshots/`, and `docs/screenshots/` with `OUTPOST_UPDATE_SCREENSHOTS=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::lan::{browser_at, is_root, run, Lan, BOX_IP};
use common::ui::{self, csrf_in, curl, form_login, log_in, type_into};
use common::webdriver::{wait_until, Browser};
use common::{Options, Outpost};

const PASSWORD: &str = "ui-more-password";
/// Bound of every wait on the page: generous, never a timing assertion.
const BOUND: Duration = Duration::from_secs(30);
const PORTAL_PASSWORD: &str = "portal-101-pass";

const SITE: &str = r#"
schema = 1
[site]
name = "ui more"

[[tenants]]
name = "acme"
domains = ["acme.pbx.local"]

[[tenants.extensions]]
number = "101"
secret = "correct-horse-101"
"#;

/// A box with `SITE`, its admin password set; and a browser logged in.
fn start_box(dir: &Path) -> (Outpost, String, Browser) {
    let path = dir.join("site.toml");
    std::fs::write(&path, SITE).unwrap();
    let options = Options { site: Some(path), ..Options::default() };
    let outpost = Outpost::start_with(tempfile::tempdir().unwrap(), &options);
    let token = outpost.admin_token(PASSWORD);
    let browser = Browser::start();
    log_in(&browser, &outpost, PASSWORD);
    wait_until(BOUND, "the dashboard", || browser.try_find("#dashboard"));
    (outpost, token, browser)
}

/// 101's user logged in to the portal: the session cookie and a CSRF token.
fn portal_user(browser: &Browser, outpost: &Outpost, dir: &Path) -> (String, String) {
    ui::portal_user(browser, outpost, dir, ("acme", "101"), PORTAL_PASSWORD)
}

/// The numbers of acme's extensions, as `GET /api/v1/site` has them.
fn numbers(outpost: &Outpost, token: &str) -> Vec<String> {
    let (code, doc) = outpost.json("GET", "/api/v1/site", Some(token), None);
    assert_eq!(code, 200, "{doc}");
    let acme = doc["tenants"].as_array().unwrap().iter().find(|t| t["name"] == "acme").cloned().unwrap();
    acme["extensions"].as_array().unwrap().iter().map(|x| x["number"].as_str().unwrap().to_owned()).collect()
}

/// `curl -o file` of `path` with `header`; returns the status and the bytes.
fn fetch(outpost: &Outpost, path: &str, header: &str, file: &Path) -> (u16, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o"])
        .arg(file)
        .args(["-w", "%{http_code}", "-H", header, "--cacert"])
        .arg(outpost.cert())
        .arg(outpost.url(path))
        .output()
        .unwrap();
    let code = String::from_utf8(out.stdout).unwrap().parse().unwrap();
    (code, std::fs::read(file).unwrap_or_default())
}

/// The ids of the backups table's rows, top to bottom.
fn backup_ids(browser: &Browser) -> Vec<String> {
    browser.find_all("#backups tbody tr").iter().map(|r| r.attribute("data-id").unwrap()).collect()
}

#[test]
fn an_admin_takes_a_backup_downloads_it_and_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut outpost, token, browser) = start_box(dir.path());
    browser.goto(&outpost.url("/ui/backups"));
    wait_until(BOUND, "the backups page", || browser.try_find("#backups-page"));
    assert!(browser.try_find("nav.menu a[href=\"/ui/backups\"].open").is_some(), "linked in the nav");
    assert!(browser.try_find("#no-backups").is_some(), "none yet");
    assert_eq!(browser.find("#backup-facts [data-f=last]").text(), "none yet");
    assert_eq!(browser.find("#backup-facts [data-f=cloud]").text(), "not configured");
    assert!(browser.try_find("#restore-pending").is_none());

    // Taken in the browser: listed as the API lists it.
    browser.find("#take-backup button[type=submit]").click();
    let done = wait_until(BOUND, "the backup taken", || browser.try_text("#backups-page .notice.ok"));
    let ids = backup_ids(&browser);
    assert_eq!(ids.len(), 1, "{ids:?}");
    let id = ids[0].clone();
    assert_eq!(done, format!("Backup {id} taken."));
    let (code, api) = outpost.json("GET", "/api/v1/backups", Some(&token), None);
    assert_eq!(code, 200, "{api}");
    let api_ids: Vec<String> = api.as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(api_ids, ids, "the page lists what the API lists");
    let row = format!("#backups tr[data-id=\"{id}\"]");
    assert_eq!(browser.find(&format!("{row} [data-f=revision]")).text(), api[0]["revision"].to_string());
    assert!(browser.find(&format!("{row} [data-f=taken]")).text().ends_with(" UTC"));
    assert_eq!(
        browser.find("#backup-facts [data-f=last]").text(),
        browser.find(&format!("{row} [data-f=taken]")).text()
    );
    assert!(browser.find(&format!("{row} [data-f=size]")).text().ends_with('B'));

    // The download behind the session cookie is the API's file, byte for byte.
    let cookie = common::ui::session_cookie(&browser);
    let link = browser.find(&format!("{row} a.download")).attribute("href").unwrap();
    assert_eq!(link, format!("/ui/backups/{id}/download"));
    let (code, by_ui) =
        fetch(&outpost, &link, &format!("cookie: outpost_session={cookie}"), &dir.path().join("ui.bin"));
    assert_eq!(code, 200);
    let (code, by_api) = fetch(
        &outpost,
        &format!("/api/v1/backups/{id}"),
        &format!("Authorization: Bearer {token}"),
        &dir.path().join("api.bin"),
    );
    assert_eq!(code, 200);
    assert!(by_ui.len() > 100, "a real file: {} bytes", by_ui.len());
    assert_eq!(by_ui, by_api, "the same bytes");
    let (code, _) = fetch(&outpost, &link, "cookie: outpost_session=not-a-session", &dir.path().join("none.bin"));
    assert_eq!(code, 303, "no session: to the login page");
    let (code, page) = curl(&outpost, "GET", "/ui/backups/no-such-backup/download", Some(&cookie), None);
    assert_eq!(code, 404);
    assert!(page.contains("no backup `no-such-backup`"), "{page}");
    browser.set_window_size(1280, 800);
    browser.keep_screenshot("box-backups");

    // An extension user's session is refused on the page, the download and each form.
    let (user, csrf) = portal_user(&browser, &outpost, dir.path());
    for path in ["/ui/backups", link.as_str()] {
        let (code, page) = curl(&outpost, "GET", path, Some(&user), None);
        assert_eq!(code, 403, "{path}");
        assert!(!page.contains(&id), "{path}: nothing of the backups shows");
    }
    let form = format!("csrf={csrf}");
    assert_eq!(curl(&outpost, "POST", "/ui/backups", Some(&user), Some(&form)).0, 403);
    assert_eq!(curl(&outpost, "POST", &format!("/ui/backups/{id}/restore"), Some(&user), Some(&form)).0, 403);
    let (_, api) = outpost.json("GET", "/api/v1/backups", Some(&token), None);
    assert_eq!(api.as_array().unwrap().len(), 1, "no backup taken by the user");

    // A change after the backup, through the API.
    let (_, mut doc) = outpost.json("GET", "/api/v1/site", Some(&token), None);
    doc["tenants"][0]["extensions"].as_array_mut().unwrap().push(serde_json::json!({"number": "105"}));
    let (code, applied) = outpost.json("PUT", "/api/v1/site", Some(&token), Some(&doc.to_string()));
    assert_eq!(code, 200, "{applied}");
    assert_eq!(numbers(&outpost, &token), ["101", "105"]);

    // Restored in the browser, after the confirmation: staged, and the box runs unchanged.
    browser.goto(&outpost.url("/ui/backups"));
    wait_until(BOUND, "the backups page", || browser.try_find("#backups-page"));
    browser.find(&format!("{row} form.restore button")).click();
    browser.accept_alert();
    let done = wait_until(BOUND, "the restore staged", || browser.try_text("#backups-page .notice.ok"));
    assert_eq!(done, format!("Backup {id} checked and staged: it is restored at the next start of the box."));
    let pending = browser.find("#restore-pending").text();
    assert!(pending.contains("takes effect at the next start of the box"), "{pending}");
    assert_eq!(numbers(&outpost, &token), ["101", "105"], "nothing changes under the running box");

    // The next start commits it: 105 is gone, the admin password is the backup's, the
    // backup is still on the box, and nothing waits any more.
    outpost.terminate(Duration::from_secs(10)).expect("the box stops");
    let data = std::mem::replace(&mut outpost.data, tempfile::tempdir().unwrap());
    drop(outpost);
    let outpost = Outpost::start_in(data);
    let login = format!(r#"{{"username":"admin","password":"{PASSWORD}"}}"#);
    let (code, body) = outpost.json("POST", "/api/v1/login", None, Some(&login));
    assert_eq!(code, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(numbers(&outpost, &token), ["101"], "the change after the backup is undone");
    // The browser's session was in the backup's store: it still opens the page.
    browser.goto(&outpost.url("/ui/backups"));
    wait_until(BOUND, "the backups page", || browser.try_find("#backups-page"));
    assert!(browser.try_find("#restore-pending").is_none(), "the restore is done");
    assert!(backup_ids(&browser).contains(&id), "{:?}", backup_ids(&browser));
}

#[test]
fn the_dhcp_page_says_dhcp_is_off_and_refuses_portal_users() {
    let dir = tempfile::tempdir().unwrap();
    let (outpost, token, browser) = start_box(dir.path());
    browser.goto(&outpost.url("/ui/dhcp"));
    wait_until(BOUND, "the DHCP page", || browser.try_find("#dhcp-page"));
    assert!(browser.try_find("nav.menu a[href=\"/ui/dhcp\"].open").is_some(), "linked in the nav");
    let (code, api) = outpost.json("GET", "/api/v1/dhcp/status", Some(&token), None);
    assert_eq!(code, 200, "{api}");
    assert_eq!(api["state"], "off");
    assert_eq!(browser.find("#dhcp-status [data-f=state]").text(), "off");
    assert_eq!(browser.find("#dhcp-status [data-f=said]").text(), format!("Off: {}.", api["reason"].as_str().unwrap()));
    assert_eq!(browser.find("#dhcp-status [data-f=rival]").text(), "Not run: the DHCP server is off.");
    assert!(browser.try_find("#no-scopes").is_some() && browser.try_find("#no-leases").is_some());

    let (user, _) = portal_user(&browser, &outpost, dir.path());
    let (code, page) = curl(&outpost, "GET", "/ui/dhcp", Some(&user), None);
    assert_eq!(code, 403);
    assert!(!page.contains("dhcp-status"), "nothing of the page shows");
}

#[test]
fn a_lease_udhcpc_got_from_the_box_shows_on_the_dhcp_page() {
    if !is_root() {
        eprintln!("SKIPPED: needs root (network namespaces, port 67)");
        return;
    }
    let mut lan = Lan::new();
    let dir = tempfile::tempdir().unwrap();
    let (outpost, token) = lan.serving_box(dir.path(), PASSWORD, &format!("dns = [\"{BOX_IP}\"]"));

    // A client on the segment gets a lease with udhcpc (bounded, quits once bound).
    let mac = "02:42:0a:4e:00:99";
    let client_if = lan.client_if.clone();
    run(&["ip", "-n", &lan.client, "link", "set", &client_if, "address", mac]);
    let got = Command::new("timeout")
        .args(["40", "ip", "netns", "exec", &lan.client, "busybox", "udhcpc", "-f", "-q", "-n", "-t", "15", "-T", "1"])
        .args(["-i", &client_if, "-V", "yealink SIP-T54W", "-x", "hostname:desk-phone", "-s", "/bin/true"])
        .output()
        .unwrap();
    assert!(got.status.success(), "udhcpc got no lease: {}", String::from_utf8_lossy(&got.stderr));
    let (_, leases) = outpost.json("GET", "/api/v1/dhcp/leases", Some(&token), None);
    let lease = leases.as_array().unwrap().iter().find(|l| l["mac"] == mac).cloned();
    let lease = lease.unwrap_or_else(|| panic!("the lease in the API: {leases}"));

    // The browser, through the forwarder: the state, the scope, the lease with its MAC.
    let port = lan.forward(outpost.port);
    let at = |path: &str| format!("https://127.0.0.1:{port}{path}");
    let browser = browser_at(port, PASSWORD);
    browser.goto(&at("/ui/dhcp"));
    wait_until(BOUND, "the DHCP page", || browser.try_find("#dhcp-page"));
    assert_eq!(browser.find("#dhcp-status [data-f=state]").text(), "serving");
    assert_eq!(
        browser.find("#dhcp-status [data-f=said]").text(),
        format!("Serving on {} ({BOX_IP}): lab.", lan.server_if)
    );
    assert!(browser.find("#dhcp-status [data-f=rival]").text().starts_with("No other DHCP server answered"));
    let scope = "#dhcp-scopes tr[data-scope=lab]";
    assert_eq!(browser.find(&format!("{scope} [data-f=range]")).text(), "10.78.0.100 – 10.78.0.150");
    assert_eq!(browser.find(&format!("{scope} [data-f=authoritative]")).text(), "no");
    let row = format!("#leases tr[data-mac=\"{mac}\"]");
    assert_eq!(browser.find(&format!("{row} [data-f=mac]")).text(), mac);
    assert_eq!(browser.find(&format!("{row} [data-f=ip]")).text(), lease["ip"].as_str().unwrap());
    assert!(lease["ip"].as_str().unwrap().starts_with("10.78.0."), "{lease}");
    assert_eq!(lease["vendor"], "yealink", "the vendor told by its class: {lease}");
    assert_eq!(browser.find(&format!("{row} [data-f=vendor]")).text(), "yealink");
    assert_eq!(lease["hostname"], "desk-phone", "{lease}");
    assert_eq!(browser.find(&format!("{row} [data-f=hostname]")).text(), "desk-phone");
    assert_eq!(browser.find(&format!("{row} [data-f=state]")).text(), "bound");
    assert!(browser.find(&format!("{row} [data-f=expires]")).text().ends_with(" UTC"));
    browser.set_window_size(1280, 1000);
    browser.keep_screenshot("box-dhcp");
    browser.set_window_size(1280, 800);
}

/// Logs extension 101's user in on the portal's login page (the answer is for the caller to
/// wait for).
fn portal_log_in(browser: &Browser, outpost: &Outpost, password: &str) {
    browser.goto(&outpost.url("/ui/me/login"));
    type_into(browser, "#portal-login input[name=tenant]", "acme");
    type_into(browser, "#portal-login input[name=number]", "101");
    type_into(browser, "#portal-login input[name=password]", password);
    browser.find("#portal-login button[type=submit]").click();
}

/// The portal login form posted by curl: its status.
fn portal_login_code(outpost: &Outpost, dir: &Path, password: &str) -> u16 {
    let jar = dir.join(format!("jar-{password}"));
    form_login(outpost, &jar, "/ui/me/login", &format!("tenant=acme&number=101&password={password}"))
}

#[test]
fn an_extension_user_changes_their_own_portal_password() {
    const NEW: &str = "my-own-new-pass-101";
    let dir = tempfile::tempdir().unwrap();
    let (outpost, _token, admin) = start_box(dir.path());
    // The admin sets the first portal password; another session of the user (curl) is open.
    let (other, _) = portal_user(&admin, &outpost, dir.path());
    let browser = Browser::start();
    portal_log_in(&browser, &outpost, PORTAL_PASSWORD);
    wait_until(BOUND, "the portal", || browser.try_find("#portal"));

    // Refused: a wrong current password, a short new one, two that differ; nothing changes.
    let attempt = |current: &str, new: &str, confirm: &str| {
        type_into(&browser, "#my-password input[name=current]", current);
        type_into(&browser, "#my-password input[name=new]", new);
        type_into(&browser, "#my-password input[name=confirm]", confirm);
        browser.find("#my-password button[type=submit]").click();
    };
    attempt("not-my-password", NEW, NEW);
    let refused = wait_until(BOUND, "the refusal", || browser.try_text("#portal .notice.refused"));
    assert_eq!(refused, "Not changed: the current password is wrong.");
    attempt(PORTAL_PASSWORD, "short", "short");
    let refused = wait_until(BOUND, "the refusal", || {
        browser.try_text("#portal .notice.refused").filter(|r| r.contains("at least"))
    });
    assert_eq!(refused, "Not changed: The password must have at least 10 characters.");
    attempt(PORTAL_PASSWORD, NEW, "my-own-new-pass-102");
    wait_until(BOUND, "the refusal", || browser.try_text("#portal .notice.refused").filter(|r| r.contains("differ")));
    assert_eq!(portal_login_code(&outpost, dir.path(), PORTAL_PASSWORD), 303, "the old password still works");

    // Changed: this browser stays in, with a fresh session; the other session is logged out.
    attempt(PORTAL_PASSWORD, NEW, NEW);
    let done = wait_until(BOUND, "the change", || browser.try_text("#portal .notice.ok"));
    assert_eq!(done, "Password changed. Your other sessions are logged out.");
    browser.goto(&outpost.url("/ui/me"));
    wait_until(BOUND, "the portal, still signed in", || browser.try_find("#portal"));
    let (code, _) = curl(&outpost, "GET", "/ui/me", Some(&other), None);
    assert_eq!(code, 303, "the other session ended");

    // The new password opens the portal; the old one no longer does.
    assert_eq!(portal_login_code(&outpost, dir.path(), NEW), 303, "the new password works");
    assert_eq!(portal_login_code(&outpost, dir.path(), PORTAL_PASSWORD), 401, "the old one does not");
    drop(browser);
    let fresh = Browser::start();
    portal_log_in(&fresh, &outpost, NEW);
    wait_until(BOUND, "the portal with the new password", || fresh.try_find("#portal"));

    // The form is the user's own: an admin's session is refused on it.
    let cookie = common::ui::session_cookie(&admin);
    admin.goto(&outpost.url("/ui/"));
    let csrf = csrf_in(&admin.source());
    let form = format!("csrf={csrf}&current={PASSWORD}&new=admin-new-password&confirm=admin-new-password");
    assert_eq!(curl(&outpost, "POST", "/ui/me/password", Some(&cookie), Some(&form)).0, 403);
}
