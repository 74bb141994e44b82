//! The fleet dashboard end to end in headless Chromium (Debian `chromium` and
//! `chromium-driver`, driven by `common::webdriver`): a real `outpost-fleet`, a real box
//! `outpost` and a real Mosquitto. Screenshots of each main page go to `target/screenshots/`,
//! and to `docs/screenshots/` with `OUTPOST_UPDATE_SCREENSHOTS=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::fleet::{Fleet, ADMIN_PASSWORD};
use common::mosquitto::Mosquitto;
use common::webdriver::{wait_until, Browser};
use common::{Extra, Options, Outpost};
use serde_json::{json, Value};

/// The box admin's password (set through the box's one-time password).
const BOX_PASSWORD: &str = "a-good-long-password";
/// Bound of every wait on the page: generous, never a timing assertion.
const BOUND: Duration = Duration::from_secs(30);

fn start_box(broker: &Mosquitto, id: &str, pw: &str) -> Outpost {
    let extra = Extra { cloud_config: broker.cloud_config(id, pw), ..Extra::default() };
    Outpost::start_extra(tempfile::tempdir().unwrap(), &Options::default(), &extra)
}

fn log_in(browser: &Browser, fleet: &Fleet, name: &str, password: &str) {
    browser.goto(&format!("{}/login", fleet.api));
    let field = browser.find("#login input[name=name]");
    field.clear();
    field.send_keys(name);
    browser.find("#login input[name=password]").send_keys(password);
    browser.find("#login button[type=submit]").click();
}

/// A login that must succeed: waits for its answer, or the next `goto` is sent back to /login.
fn log_in_ok(browser: &Browser, fleet: &Fleet) {
    log_in(browser, fleet, "admin", ADMIN_PASSWORD);
    wait_until(BOUND, "the login to be answered", || (!browser.url().ends_with("/login")).then_some(()));
}

/// A login with a wrong password: the refusal notice, once the answer page shows it (the
/// click returns before the form's answer has loaded; `log_in` starts from a page without one).
fn log_in_refused(browser: &Browser, fleet: &Fleet, name: &str) -> String {
    log_in(browser, fleet, name, "not-the-password");
    wait_until(BOUND, "the login refusal", || browser.try_text("#login .notice"))
}

/// The text of the fleet list's state cell of `id`, once it says `want`.
fn wait_row_state(browser: &Browser, id: &str, want: &str) {
    let css = format!("#fleet tr[data-box=\"{id}\"] [data-f=state]");
    wait_until(BOUND, &format!("{id} shown {want}"), || browser.try_text(&css).filter(|t| t == want));
}

/// `curl` with the browser's session cookie: what another page could make the browser send,
/// if the cookie were all it took.
fn post_with_cookie(fleet: &Fleet, cookie: &str, path: &str, form: &str) -> u16 {
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args(["-H", &format!("cookie: outpost_fleet_session={cookie}")])
        .args(["--data", form, &format!("{}{path}", fleet.api)])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().parse().unwrap()
}

#[test]
fn an_operator_logs_in_and_nothing_opens_without_a_login_or_a_csrf_token() {
    let broker = Mosquitto::start(&[]);
    let fleet = Fleet::start(&broker);

    // The API: nothing without a bearer token, the boxes' claim route stays open.
    let (code, body) = fleet.call_with(None, "GET", "/api/v1/boxes/b1", None);
    assert_eq!(code, 401, "{body}");
    assert_eq!(fleet.call_with(Some("made-up"), "GET", "/api/v1/claims", None).0, 401);
    let (code, _) = fleet.call_with(None, "POST", "/api/v1/claim", Some(&json!({"code": "AAAA-BBBB-CCCC"})));
    assert_ne!(code, 401, "boxes claim without an operator login");
    let wrong = fleet.call_with(None, "POST", "/api/v1/login", Some(&json!({"name": "admin", "password": "nope"})));
    let unknown = fleet.call_with(None, "POST", "/api/v1/login", Some(&json!({"name": "eve", "password": "nope"})));
    assert_eq!(wrong, unknown, "the same answer for a wrong password and an unknown user");
    assert_eq!(wrong.0, 401);
    assert_eq!(fleet.call("GET", "/api/v1/boxes/b1", None).0, 200, "with the token");

    // The pages: a visitor lands on the login page.
    let browser = Browser::start();
    browser.goto(&format!("{}/box/b1", fleet.api));
    assert!(browser.url().ends_with("/login"), "{}", browser.url());
    browser.keep_screenshot("fleet-login");
    let refused = log_in_refused(&browser, &fleet, "admin");
    assert_eq!(refused, "wrong name or password");
    assert_eq!(log_in_refused(&browser, &fleet, "nobody"), refused, "unknown user reads the same");
    log_in_ok(&browser, &fleet);
    wait_until(BOUND, "the fleet list", || browser.try_find("#fleet-page"));
    assert_eq!(browser.find("h1").text(), "Boxes");

    // The session cookie as the server set it.
    let cookies = browser.cookies();
    let session = cookies.iter().find(|c| c["name"] == "outpost_fleet_session").expect("a session cookie");
    assert_eq!(
        (&session["httpOnly"], &session["secure"], &session["sameSite"]),
        (&json!(true), &json!(true), &json!("Strict"))
    );
    let cookie = session["value"].as_str().unwrap().to_owned();

    // Claim codes from the page: the code is shown once, the list keeps the row.
    browser.goto(&format!("{}/claims", fleet.api));
    browser.find("#new-claim input[name=tenant]").send_keys("acme");
    browser.find("#new-claim button[type=submit]").click();
    let code = wait_until(BOUND, "a claim code", || browser.try_text("#claim-code"));
    assert!(code.len() == 14 && code.chars().filter(|c| *c == '-').count() == 2, "{code}");
    assert!(browser.find("#claims tbody tr").text().contains("acme"));
    browser.keep_screenshot("fleet-claims");

    // CSRF: the cookie alone does not post a form; with the page's token it does.
    let form = "tenant=acme&replaces=";
    assert_eq!(post_with_cookie(&fleet, &cookie, "/claims", form), 403, "no token");
    assert_eq!(post_with_cookie(&fleet, &cookie, "/claims", &format!("{form}&csrf=forged")), 403, "a wrong token");
    let csrf = browser.find("#new-claim input[name=csrf]").attribute("value").unwrap();
    assert_eq!(post_with_cookie(&fleet, &cookie, "/claims", &format!("{form}&csrf={csrf}")), 200, "the page's token");
    assert_eq!(post_with_cookie(&fleet, "made-up", "/claims", &format!("{form}&csrf={csrf}")), 303, "to the login");

    // Logging out ends the session: the old cookie opens nothing.
    browser.find("form.logout button").click();
    wait_until(BOUND, "the login page", || browser.try_find("#login"));
    assert_eq!(post_with_cookie(&fleet, &cookie, "/claims", &format!("{form}&csrf={csrf}")), 303);

    // Past five failures a minute, the address is refused before the password is checked.
    for _ in 0..5 {
        fleet.call_with(None, "POST", "/api/v1/login", Some(&json!({"name": "admin", "password": "guess"})));
    }
    let right = json!({"name": "admin", "password": ADMIN_PASSWORD});
    assert_eq!(fleet.call_with(None, "POST", "/api/v1/login", Some(&right)).0, 429);
}

#[test]
fn the_fleet_list_shows_a_real_box_online_and_offline_within_its_keepalive() {
    let broker = Mosquitto::start(&[("b1", "pw-b1")]);
    let fleet = Fleet::start(&broker);
    let mut outpost = start_box(&broker, "b1", "pw-b1");
    fleet.wait_state("b1", "online", |s| s["status"]["state"] == "online");

    let browser = Browser::start();
    log_in_ok(&browser, &fleet);
    wait_row_state(&browser, "b1", "online");
    let row = browser.find("#fleet tr[data-box=b1]").text();
    assert!(row.contains(env!("CARGO_PKG_VERSION")), "the box's version: {row}");
    assert!(row.contains("no backup in 48 h"), "{row}");
    browser.keep_screenshot("fleet-list");
    browser.set_window_size(390, 844);
    browser.keep_screenshot("fleet-list-phone");
    browser.set_window_size(1280, 800);

    // The filters: "offline" hides the row, a search for its id shows it again.
    browser.execute("document.querySelector('#filter select').value = 'offline'; document.getElementById('filter').dispatchEvent(new Event('change'));", vec![]);
    assert_eq!(browser.execute("return document.querySelector('#fleet tr[data-box=b1]').hidden", vec![]), json!(true));
    browser.execute("document.querySelector('#filter select').value = '';", vec![]);
    browser.find("#filter input[name=q]").send_keys("b1");
    assert_eq!(browser.execute("return document.querySelector('#fleet tr[data-box=b1]').hidden", vec![]), json!(false));
    browser.find("#filter input[name=q]").send_keys("-nothing-like-it");
    assert_eq!(browser.execute("return document.querySelector('#fleet tr[data-box=b1]').hidden", vec![]), json!(true));
    browser.find("#filter input[name=q]").clear();
    browser.execute("document.getElementById('filter').dispatchEvent(new Event('input'));", vec![]);

    // Killed without a goodbye: the broker's will after 1.5 keepalives, the page's next poll.
    browser.execute("window.notReloaded = true;", vec![]);
    let child = outpost.child.as_mut().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    wait_row_state(&browser, "b1", "offline");
    assert_eq!(browser.execute("return window.notReloaded === true", vec![]), json!(true), "updated in place");
    assert!(browser.find("#fleet tr[data-box=b1] [data-f=alerts]").text().contains("offline"));
}

/// The textarea's JSON with `site.name` set to `name`.
fn edit_name(browser: &Browser, name: &str) {
    let area = browser.find("#push textarea[name=document]");
    let mut doc: Value = serde_json::from_str(area.property("value").as_str().unwrap()).unwrap();
    doc["site"]["name"] = json!(name);
    browser.execute(
        "arguments[0].value = arguments[1];",
        vec![area.arg(), json!(serde_json::to_string_pretty(&doc).unwrap())],
    );
}

#[test]
fn a_change_pushed_from_the_box_page_is_applied_and_its_diff_shows_the_field() {
    let broker = Mosquitto::start(&[("b1", "pw-b1")]);
    let fleet = Fleet::start(&broker);
    let outpost = start_box(&broker, "b1", "pw-b1");
    fleet.wait_state("b1", "online and reported", |s| s["status"]["state"] == "online" && s["reported"].is_object());
    let token = outpost.admin_token(BOX_PASSWORD);
    let (_, site) = outpost.json("GET", "/api/v1/site", Some(&token), None);

    let browser = Browser::start();
    log_in_ok(&browser, &fleet);
    browser.goto(&format!("{}/box/b1", fleet.api));
    assert_eq!(browser.find("#reported-revision").text(), "1");
    assert_eq!(browser.find("#push input[name=base_revision]").property("value"), json!("1"));

    // Nothing pushed yet: the form starts empty; paste the box's document, renamed.
    let area = browser.find("#push textarea[name=document]");
    browser.execute("arguments[0].value = arguments[1];", vec![area.arg(), json!(site.to_string())]);
    edit_name(&browser, "Harbour House");
    browser.find("#push button[type=submit]").click();
    wait_until(BOUND, "the pushed notice", || browser.try_text(".notice.ok").filter(|t| t.contains("Revision 1 sent")));
    // The page updates itself when the box reports.
    wait_until(BOUND, "box revision 2 on the page", || browser.try_text("#reported-revision").filter(|t| t == "2"));
    assert!(browser.find("#outcome").text().starts_with("applied"), "{}", browser.find("#outcome").text());
    let export = String::from_utf8(outpost.cli(&["config", "export"]).stdout).unwrap();
    assert!(export.contains("name = \"Harbour House\"") && export.contains("revision = 2"), "{export}");

    // A second change, from the page as it is now (the newest pushed document, base 2).
    browser.goto(&format!("{}/box/b1", fleet.api));
    assert_eq!(browser.find("#push input[name=base_revision]").property("value"), json!("2"));
    edit_name(&browser, "Harbour House East");
    browser.find("#push button[type=submit]").click();
    wait_until(BOUND, "box revision 3 on the page", || browser.try_text("#reported-revision").filter(|t| t == "3"));
    let history = browser.find("#history tbody").text();
    assert!(history.contains("admin"), "the operator is the author: {history}");

    // The diff of the fleet's revision 2 against 1 shows the renamed field, and only it.
    browser.find("#history tr[data-revision=\"2\"] a.diff-link").click();
    wait_until(BOUND, "the diff", || browser.try_find("#diff pre.diff"));
    let removed: Vec<String> = browser.find_all("#diff del").iter().map(|e| e.text()).collect();
    let added: Vec<String> = browser.find_all("#diff ins").iter().map(|e| e.text()).collect();
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert!(removed[0].contains("\"name\": \"Harbour House\""), "{removed:?}");
    assert_eq!(added.len(), 1, "{added:?}");
    assert!(added[0].contains("\"name\": \"Harbour House East\""), "{added:?}");
    // The page from its top, tall enough to show the state, the config and the diff.
    browser.set_window_size(1280, 1600);
    browser.execute("window.scrollTo(0, 0);", vec![]);
    browser.keep_screenshot("fleet-box");
    browser.set_window_size(1280, 800);

    // A command from the page is recorded and listed (its result follows when the box answers).
    browser.find("#commands-card form button[type=submit]").click();
    wait_until(BOUND, "the command listed", || {
        browser.try_text("#commands tbody").filter(|t| t.contains("backup_now"))
    });

    // A document that is not JSON is refused on the page, with what was typed kept.
    let area = browser.find("#push textarea[name=document]");
    browser.execute("arguments[0].value = '{not json';", vec![area.arg()]);
    browser.find("#push button[type=submit]").click();
    let refused = wait_until(BOUND, "the refusal", || browser.try_text(".notice.refused"));
    assert!(refused.contains("not valid JSON"), "{refused}");
    assert_eq!(browser.find("#push textarea[name=document]").property("value"), json!("{not json"));
    let (_, history) = fleet.call("GET", "/api/v1/boxes/b1/config", None);
    assert_eq!(history.as_array().unwrap().len(), 2, "nothing pushed: {history}");
}
