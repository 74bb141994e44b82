//! The web UI's system page, end to end in headless Chromium against a real `outpost`: what
//! the box runs (as `GET /api/v1/system` says), an update bundle chosen in the browser's file
//! field and uploaded (a tampered one refused with the reason and nothing staged, a form
//! without the CSRF token refused, a signed one staged byte for byte), a reboot and a factory
//! reset left for the root service (the reset only once its words are typed), all in the audit
//! log; an extension user is refused. On a host without the root service (the default off
//! the image) the API refuses a reboot or a reset with the reason and leaves nothing behind.
//! The image drill (`image.rs`) has the root service act on a factory reset for real.
//! Screenshot: `box-system`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::bundles::{bundle, keygen};
use common::ui::{self, curl, log_in, session_cookie, type_into};
use common::webdriver::{wait_until, Browser};
use common::{Extra, Options, Outpost};

const PASSWORD: &str = "ui-system-password";
/// Bound of every wait on the page: generous, never a timing assertion.
const BOUND: Duration = Duration::from_secs(30);

const SITE: &str = r#"
schema = 1
[site]
name = "ui system"

[[tenants]]
name = "acme"
domains = ["acme.pbx.local"]

[[tenants.extensions]]
number = "101"
secret = "correct-horse-101"
"#;

/// curl posts `bundle` as the upload form's file, with `csrf` as its first part.
fn post_upload(outpost: &Outpost, cookie: &str, csrf: &str, bundle: &Path) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-w", "\n%{http_code}", "--cacert"])
        .arg(outpost.cert())
        .args(["-H", &format!("cookie: outpost_session={cookie}"), "-F", &format!("csrf={csrf}"), "-F"])
        .arg(format!("bundle=@{}", bundle.display()))
        .arg(outpost.url("/ui/system/update"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_owned())
}

/// Chooses `file` in the upload form, submits it and confirms; the notice it answers with.
fn upload_in_browser(browser: &Browser, outpost: &Outpost, file: &Path) -> String {
    browser.goto(&outpost.url("/ui/system"));
    wait_until(BOUND, "the system page", || browser.try_find("#system-page"));
    browser.find("#update-form input[type=file]").send_keys(&file.display().to_string());
    browser.find("#update-form button[type=submit]").click();
    browser.accept_alert();
    wait_until(BOUND, "the upload's answer", || browser.try_text("#system-page .notice:not(#update-staged)"))
}

fn audit_actions(outpost: &Outpost, token: &str) -> Vec<(String, String)> {
    let (code, log) = outpost.json("GET", "/api/v1/audit", Some(token), None);
    assert_eq!(code, 200, "{log}");
    log.as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap().to_owned(), e["action"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn an_admin_sees_the_box_uploads_an_update_and_asks_for_a_reboot_and_a_reset() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keygen(&dir.path().join("keys"));
    let site = dir.path().join("site.toml");
    std::fs::write(&site, SITE).unwrap();
    // This host plays the image: a root service is said to act on what the box leaves.
    let extra = Extra {
        update_config: format!("public_key = \"{}\"\nroot_service = true", keys.join("update.pub").display()),
        ..Extra::default()
    };
    let outpost =
        Outpost::start_extra(tempfile::tempdir().unwrap(), &Options { site: Some(site), ..Options::default() }, &extra);
    let token = outpost.admin_token(PASSWORD);
    let browser = Browser::start();
    log_in(&browser, &outpost, PASSWORD);
    wait_until(BOUND, "the dashboard", || browser.try_find("#dashboard"));

    // What runs, as the API says.
    let (code, info) = outpost.json("GET", "/api/v1/system", Some(&token), None);
    assert_eq!(code, 200, "{info}");
    browser.goto(&outpost.url("/ui/system"));
    wait_until(BOUND, "the system page", || browser.try_find("#system-page"));
    assert_eq!(browser.find("#system-facts [data-f=version]").text(), info["version"].as_str().unwrap());
    assert_eq!(browser.find("#system-facts [data-f=image]").text(), "not the Outpost image");
    assert!(browser.find("#system-facts [data-f=slot]").text().starts_with("none"));
    assert!(browser.try_find("#no-root-service").is_none(), "this box has its root service");
    assert!(browser.find("nav.menu a.open").text() == "System");

    // A tampered bundle: refused with the reason, nothing staged.
    let staged = outpost.data_dir().join("updates/staged.bundle");
    let good = bundle(dir.path(), &keys, "9.0.0", "generic-x86_64");
    let tampered = dir.path().join("tampered.bundle");
    let mut bytes = std::fs::read(&good).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&tampered, bytes).unwrap();
    let said = upload_in_browser(&browser, &outpost, &tampered);
    assert!(said.contains("Not installed") && said.contains("root.squashfs does not match the manifest"), "{said}");
    assert!(!staged.exists());

    // The form without its token, or with another session's: refused before anything is kept.
    let cookie = session_cookie(&browser);
    let (code, page) = post_upload(&outpost, &cookie, "forged", &good);
    assert_eq!(code, 403, "{page}");
    assert!(!staged.exists());
    let leftovers: Vec<_> = std::fs::read_dir(outpost.data_dir().join("updates")).unwrap().collect();
    assert!(leftovers.is_empty(), "no partial upload left behind: {leftovers:?}");

    // The signed one: staged byte for byte, and the page says what happens next.
    let said = upload_in_browser(&browser, &outpost, &good);
    assert!(said.contains("Bundle 9.0.0 for generic-x86_64 checked and staged"), "{said}");
    assert_eq!(std::fs::read(&staged).unwrap(), std::fs::read(&good).unwrap());
    assert!(browser.find("#update-staged").text().contains("installs it on the other slot"));
    let (_, info) = outpost.json("GET", "/api/v1/system", Some(&token), None);
    assert_eq!(info["update_staged"], true);

    // Reboot: left for the root service, named by who asked.
    let requests = outpost.data_dir().join("requests");
    browser.find("#reboot-form button[type=submit]").click();
    browser.accept_alert();
    let said = wait_until(BOUND, "the reboot's answer", || browser.try_text("#system-page .notice.ok"));
    assert!(said.contains("reboots now"), "{said}");
    assert_eq!(std::fs::read_to_string(requests.join("reboot")).unwrap().trim(), "ui:admin");
    assert!(browser.find("#pending").text().contains("A reboot is on its way"));

    // Factory reset: not without its words; then left for the root service too.
    type_into(&browser, "#reset-form input[name=confirm]", "yes");
    browser.find("#reset-form button[type=submit]").click();
    browser.accept_alert();
    let said = wait_until(BOUND, "the refusal", || browser.try_text("#system-page .notice.refused:not(#pending)"));
    assert!(said.contains("Nothing erased"), "{said}");
    assert!(!requests.join("factory-reset").exists());
    type_into(&browser, "#reset-form input[name=confirm]", "factory reset");
    browser.find("#reset-form button[type=submit]").click();
    browser.accept_alert();
    let said = wait_until(BOUND, "the reset's answer", || browser.try_text("#system-page .notice.ok"));
    assert!(said.contains("erases its data"), "{said}");
    assert!(requests.join("factory-reset").exists());
    let (_, info) = outpost.json("GET", "/api/v1/system", Some(&token), None);
    assert_eq!(info["pending"], serde_json::json!(["reboot", "factory reset"]));
    browser.set_window_size(1280, 1100);
    browser.keep_screenshot("box-system");

    // All three in the audit log, by the admin through the web UI.
    let log = audit_actions(&outpost, &token);
    for action in ["update.staged", "system.reboot", "system.factory-reset"] {
        assert!(log.contains(&("ui:admin".to_owned(), action.to_owned())), "{action} in {log:?}");
    }

    // An extension user: refused on the page and the forms, nothing asked.
    std::fs::remove_dir_all(&requests).unwrap();
    let (cookie, csrf) = ui::portal_user(&browser, &outpost, dir.path(), ("acme", "101"), "portal-101-pass");
    let (code, _) = curl(&outpost, "GET", "/ui/system", Some(&cookie), None);
    assert_eq!(code, 403);
    let (code, _) = curl(&outpost, "POST", "/ui/system/reboot", Some(&cookie), Some(&format!("csrf={csrf}")));
    assert_eq!(code, 403);
    let (code, _) = curl(
        &outpost,
        "POST",
        "/ui/system/factory-reset",
        Some(&cookie),
        Some(&format!("csrf={csrf}&confirm=factory+reset")),
    );
    assert_eq!(code, 403);
    let (code, _) = post_upload(&outpost, &cookie, &csrf, &good);
    assert_eq!(code, 403);
    assert!(!requests.exists(), "nothing asked by a user");
}

#[test]
fn without_a_root_service_a_reboot_or_reset_is_refused_and_nothing_is_left() {
    let outpost = Outpost::start_extra(
        tempfile::tempdir().unwrap(),
        &Options::default(),
        &Extra { update_config: "root_service = false".into(), ..Extra::default() },
    );
    let token = outpost.admin_token(PASSWORD);
    let (code, body) = outpost.curl("POST", "/api/v1/system/reboot", Some(&token), Some("{}"));
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("no root service on this host does a reboot"), "{body}");
    let (code, body) = outpost.curl("POST", "/api/v1/system/factory-reset", Some(&token), Some(r#"{"confirm":"yes"}"#));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("confirm with"), "{body}");
    let (code, body) =
        outpost.curl("POST", "/api/v1/system/factory-reset", Some(&token), Some(r#"{"confirm":"factory reset"}"#));
    assert_eq!(code, 409, "{body}");
    assert!(!outpost.data_dir().join("requests").exists(), "nothing left behind");
    let (code, _) = outpost.curl("POST", "/api/v1/system/reboot", None, Some("{}"));
    assert_eq!(code, 401);
    let (code, info) = outpost.json("GET", "/api/v1/system", Some(&token), None);
    assert_eq!(code, 200, "{info}");
    assert_eq!(info["root_service"], false);
    assert_eq!(info["pending"], serde_json::json!([]));
}

#[test]
fn an_admin_claims_the_box_at_setup_and_it_joins_the_fleet_at_the_next_start() {
    let (fleet, _mqtt) = common::fleet::Fleet::start_embedded(tempfile::tempdir().unwrap(), &[]);
    let (code, claim) = fleet.call("POST", "/api/v1/claims", Some(&serde_json::json!({"tenant": "acme"})));
    assert_eq!(code, 201, "{claim}");
    let (claim_code, box_id) =
        (claim["code"].as_str().unwrap().to_owned(), claim["box_id"].as_str().unwrap().to_owned());
    let mut outpost = Outpost::start_in(tempfile::tempdir().unwrap());
    let browser = Browser::start();
    log_in(&browser, &outpost, &outpost.one_time_password);
    wait_until(BOUND, "the setup page", || browser.try_find("#setup"));

    // Setup with a made-up code: the box is set up all the same, and the system page says why
    // the claim was refused.
    type_into(&browser, "#setup input[name=password]", PASSWORD);
    type_into(&browser, "#setup input[name=confirm]", PASSWORD);
    type_into(&browser, "#setup input[name=site_name]", "Harbour house");
    type_into(&browser, "#setup input[name=time_zone]", "Europe/Berlin");
    type_into(&browser, "#setup input[name=fleet]", &fleet.api);
    type_into(&browser, "#setup input[name=code]", "AAAA-BBBB-CCCC");
    browser.find("#setup button[type=submit]").click();
    let said = wait_until(BOUND, "the claim's answer", || browser.try_text("#system-page > .notice"));
    assert!(said.starts_with("Not claimed: the fleet refused the claim") && said.contains("not valid"), "{said}");
    let token = login_api(&outpost);
    assert!(!outpost.data_dir().join("cloud-claim.json").exists());

    // The right code on the system page's Cloud card: claimed, connecting at the next start.
    type_into(&browser, "#claim-form input[name=fleet]", &fleet.api);
    type_into(&browser, "#claim-form input[name=code]", &claim_code);
    browser.find("#claim-form button[type=submit]").click();
    let said = wait_until(BOUND, "claimed", || browser.try_text("#system-page > .notice.ok"));
    assert_eq!(said, format!("Claimed as {box_id} in tenant acme. The box connects to the fleet at its next start."));
    assert_eq!(browser.find("#claim [data-f=box]").text(), box_id);
    assert!(browser.find("#cloud [data-f=link]").text().starts_with("Not connected yet"));
    assert!(browser.try_find("#claim-form").is_none(), "a claimed box offers no second claim");
    assert!(!browser.source().contains(&claim_code), "the code is spent and not shown");
    let log = audit_actions(&outpost, &token);
    assert!(log.contains(&("ui:admin".to_owned(), "cloud.claim".to_owned())), "{log:?}");

    // At its next start the box connects with what the fleet gave it.
    outpost.terminate(Duration::from_secs(10)).expect("the box stops");
    let data = std::mem::replace(&mut outpost.data, tempfile::tempdir().unwrap());
    drop(outpost);
    let outpost = Outpost::start_in(data);
    fleet.wait_state(&box_id, "the claimed box online", |s| s["status"]["state"] == "online");
    browser.goto(&outpost.url("/ui/system"));
    let link = wait_until(BOUND, "the cloud card", || browser.try_text("#cloud [data-f=link]"));
    assert!(link.starts_with("Syncing with the fleet's broker"), "{link}");
    // The dashboard's cloud tile: connected, and when the site config last went to the fleet.
    browser.goto(&outpost.url("/ui/"));
    let tile = wait_until(BOUND, "the cloud tile synced", || {
        browser.try_text(".tiles [data-f=cloud]").filter(|t| t.contains("last sync"))
    });
    let (_, health) = outpost.json("GET", "/api/v1/health", None, None);
    let revision = format!(" UTC (revision {})", health["site_revision"]);
    assert!(tile.starts_with("connected since ") && tile.ends_with(&revision), "{tile} {health}");

    // The site is shared with the fleet now: the editing pages say so, and who changed it last.
    let token = login_api(&outpost);
    browser.goto(&outpost.url("/ui/extensions"));
    let owner = wait_until(BOUND, "the owner banner", || browser.try_text("#owner"));
    assert!(owner.starts_with("Shared with the cloud fleet") && owner.contains("admin (web UI)"), "{owner}");
    let (_, mut site) = outpost.json("GET", "/api/v1/site", Some(&token), None);
    let base = site["revision"].as_u64().unwrap_or(health["site_revision"].as_u64().unwrap());
    site["site"]["name"] = serde_json::json!("Named by the fleet");
    let push = serde_json::json!({"base_revision": base, "document": site, "author": "ops@fleet"});
    let (code, body) = fleet.call("POST", &format!("/api/v1/boxes/{box_id}/config"), Some(&push));
    assert_eq!(code, 202, "{body}");
    let owner = wait_until(BOUND, "the fleet's change", || {
        browser.goto(&outpost.url("/ui/routes"));
        browser.try_text("#owner [data-f=who]").filter(|w| w.contains("cloud"))
    });
    assert_eq!(owner, "ops@fleet (cloud)");
}

/// An API session with the password set at setup.
fn login_api(outpost: &Outpost) -> String {
    let login = format!(r#"{{"username":"admin","password":"{PASSWORD}"}}"#);
    let (code, body) = outpost.json("POST", "/api/v1/login", None, Some(&login));
    assert_eq!(code, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}
