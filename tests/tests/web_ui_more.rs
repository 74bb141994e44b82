//! The web UI's backups page, end to end in headless Chromium against a real `outpost`: a
//! backup taken in the browser is listed as `GET /api/v1/backups` lists it, its download
//! behind the session cookie is the same bytes as the API's; an extension added afterwards
//! through the API is undone by a restore confirmed in the browser, once the box starts
//! again (the restore is staged: until then the page says so and the box runs unchanged).
//! Every page and form refuses an extension user's session. Screenshot: `box-backups`
//! (`target/screenshots/`, and `docs/screenshots/` with `OUTPOST_UPDATE_SCREENSHOTS=1`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::ui::{csrf_in, curl, form_login, jar_session, log_in, type_into};
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
