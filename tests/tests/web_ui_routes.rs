//! Editing routes in the web UI, end to end in headless Chromium against a real `outpost`:
//! outbound routes added, refused with the site's reason, changed, moved up and removed, each
//! step read back by the route tester (the routing the B2BUA asks for every call) and the
//! site document; an inbound route added in the browser takes a real call from the cloud
//! trunk (sipp) to the extension it names. An extension user is refused. Screenshot:
//! `box-routes-edit`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::phones::Phone;
use common::trunks::{calls_from_trunk, start, wait_state, Health, Peer, Site, Trunk};
use common::ui::{self, curl, log_in, type_into, wait_reloaded};
use common::webdriver::{wait_until, Browser};
use common::Outpost;
use serde_json::Value;

/// The admin password `common::trunks::start` sets.
const PASSWORD: &str = "trunks-tests-admin";
/// Bound of every wait on the page: generous, never a timing assertion.
const BOUND: Duration = Duration::from_secs(30);

const ROUTES: &str = r#"
[[tenants.outbound_routes]]
name = "national"
pattern = "0Z."
trunks = ["cloud"]

[[tenants.inbound_routes]]
did = "+4940123450"
destination = "101"
"#;

fn site(outpost: &Outpost, token: &str) -> Value {
    let (code, doc) = outpost.json("GET", "/api/v1/site?secrets=true", Some(token), None);
    assert_eq!(code, 200, "{doc}");
    doc["tenants"][0].clone()
}

fn outbound_names(outpost: &Outpost, token: &str) -> Vec<String> {
    let acme = site(outpost, token);
    acme["outbound_routes"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect()
}

/// The route tester's answer for `number` dialled from 101: (headline, why, [(trunk, sent)]).
fn tested(browser: &Browser, outpost: &Outpost, number: &str) -> (String, String, Vec<(String, String)>) {
    browser.goto(&outpost.url(&format!("/ui/routes?from=acme%2F101&number={number}")));
    let headline = wait_until(BOUND, "the tester's answer", || browser.try_text("#route-result [data-f=headline]"));
    let why = browser.find("#route-result [data-f=why]").text();
    let trunks = browser
        .find_all("#route-trunks tbody tr")
        .iter()
        .map(|row| (row.find("td:nth-child(1)").text(), row.find("td:nth-child(2)").text()))
        .collect();
    (headline, why, trunks)
}

/// Fills the add-outbound form and submits it; the notice the page answers with.
fn add_outbound(browser: &Browser, outpost: &Outpost, fields: [&str; 5]) -> String {
    browser.goto(&outpost.url("/ui/routes"));
    wait_until(BOUND, "the routes page", || browser.try_find("#routes-page"));
    for (name, value) in ["name", "pattern", "trunks", "strip", "prepend"].iter().zip(fields) {
        type_into(browser, &format!("#new-outbound [name={name}]"), value);
    }
    browser.find("#new-outbound button[type=submit]").click();
    wait_until(BOUND, "the answer", || browser.try_text("#routes-page > .notice"))
}

#[test]
fn an_admin_adds_changes_orders_and_removes_routes_and_a_new_did_takes_a_call() {
    let dir = tempfile::tempdir().unwrap();
    // The cloud PBX answers the box's probes (the trunk is up, so the tester sends numbers
    // to it); later its calls to the box come from the same address and port.
    let mut cloud = Peer::new(dir.path(), "cloud");
    cloud.start();
    let (cloud_ip, cloud_port, cloud_media) = (cloud.ip.clone(), cloud.port, cloud.media);
    let trunks = [Trunk::to(&cloud, "cloud", Health::aggressive())];
    let s = Site { trunks: &trunks, tenant_keys: "", tenant_tables: ROUTES, site_tables: "" };
    let (outpost, token) = start(dir.path(), &s);
    let browser = Browser::start();
    log_in(&browser, &outpost, PASSWORD);
    wait_until(BOUND, "the dashboard", || browser.try_find("#dashboard"));
    wait_state(&outpost, &token, "cloud", "up");

    // A new outbound route for international numbers goes last and takes what it matches.
    let said = add_outbound(&browser, &outpost, ["international", "00Z.", "cloud", "2", "+"]);
    assert_eq!(said, "Outbound route international added.");
    assert!(browser.try_find("#owner").is_none(), "a box without a fleet owns its config alone");
    assert_eq!(outbound_names(&outpost, &token), ["national", "international"]);
    let (headline, why, legs) = tested(&browser, &outpost, "0049301234");
    assert_eq!(headline, "Out over a trunk");
    assert!(why.contains("outbound route international"), "{why}");
    assert_eq!(legs, [("cloud".to_owned(), "+49301234".to_owned())]);

    // Refused whole with the site's reason: a pattern that is none, a trunk the tenant lacks.
    let before = site(&outpost, &token);
    let said = add_outbound(&browser, &outpost, ["bad", "0a!", "cloud", "", ""]);
    assert!(said.starts_with("Not added: ") && said.contains("outbound_routes[2].pattern"), "{said}");
    let said = add_outbound(&browser, &outpost, ["nowhere", "9.", "gsm", "", ""]);
    assert!(said.contains("gsm"), "{said}");
    assert_eq!(site(&outpost, &token), before, "nothing changed");

    // Change national: the fallback format, and the tester follows.
    browser.goto(&outpost.url("/ui/routes"));
    browser.find("tr[data-route=national] td.actions a").click();
    wait_until(BOUND, "the route's page", || browser.try_find("#route-page #edit-route"));
    type_into(&browser, "#edit-route [name=strip]", "1");
    type_into(&browser, "#edit-route [name=prepend]", "+49");
    browser.find("#edit-route button[type=submit]").click();
    assert_eq!(wait_until(BOUND, "saved", || browser.try_text("#route-page .notice")), "Saved.");
    let (_, why, legs) = tested(&browser, &outpost, "0301234567");
    assert!(why.contains("outbound route national"), "{why}");
    assert_eq!(legs, [("cloud".to_owned(), "+49301234567".to_owned())]);

    // A Berlin route added last never takes 030 numbers (national matches first) until it
    // is moved up above national.
    let said = add_outbound(&browser, &outpost, ["berlin", "030.", "cloud", "3", "+4930"]);
    assert_eq!(said, "Outbound route berlin added.");
    let (_, why, _) = tested(&browser, &outpost, "0301234567");
    assert!(why.contains("outbound route national"), "{why}");
    for _ in 0..2 {
        browser.goto(&outpost.url("/ui/routes"));
        browser.find("tr[data-route=berlin] form.up button").click();
        wait_until(BOUND, "moved", || browser.try_text("#routes-page > .notice.ok"));
    }
    assert_eq!(outbound_names(&outpost, &token), ["berlin", "national", "international"]);
    assert!(browser.try_find("tr[data-route=berlin] form.up").is_none(), "the first has no Up");
    let (_, why, legs) = tested(&browser, &outpost, "0301234567");
    assert!(why.contains("outbound route berlin"), "{why}");
    assert_eq!(legs, [("cloud".to_owned(), "+49301234567".to_owned())]);

    // Removed: its numbers have no route any more.
    browser.goto(&outpost.url("/ui/routes/acme/outbound/international"));
    wait_until(BOUND, "the route's page", || browser.try_find("#remove-route"));
    browser.find("#remove-route button").click();
    browser.accept_alert();
    let said = wait_until(BOUND, "removed", || browser.try_text("#routes-page > .notice"));
    assert_eq!(said, "Outbound route international removed.");
    assert_eq!(tested(&browser, &outpost, "0049301234").0, "No route (404)");

    // Inbound: a day that is none is refused; a route for a new DID to 102 is added.
    browser.goto(&outpost.url("/ui/routes"));
    type_into(&browser, "#new-inbound [name=did]", "+4940123600");
    type_into(&browser, "#new-inbound [name=destination]", "102");
    type_into(&browser, "#new-inbound [name=days]", "mon funday");
    browser.find("#new-inbound button[type=submit]").click();
    let said = wait_until(BOUND, "refused", || browser.try_text("#routes-page > .notice"));
    assert!(said.contains("`funday` is not a day"), "{said}");
    type_into(&browser, "#new-inbound [name=did]", "+4940123600");
    type_into(&browser, "#new-inbound [name=destination]", "102");
    browser.find("#new-inbound button[type=submit]").click();
    // The refusal's page is still there until the answer loads: wait for the answer's notice.
    let said = wait_until(BOUND, "added", || browser.try_text("#routes-page > .notice.ok"));
    assert_eq!(said, "Inbound route for +4940123600 added.");
    let row = browser.find("tr[data-did='+4940123600']");
    assert_eq!(
        (row.find("[data-f=destination]").text(), row.find("[data-f=days]").text()),
        ("102".into(), "every day".into())
    );
    browser.set_window_size(1280, 1400);
    browser.keep_screenshot("box-routes-edit");

    // The cloud calls the new DID: 102 answers (once the SIP core has the new revision). Its
    // caller takes the prober's place on the trunk's address (and answers the probes, -aa).
    cloud.stop();
    wait_reloaded(&outpost, &token);
    let answering = Phone::new(dir.path(), "102").serve(dir.path(), &outpost, "call_uas.xml");
    let out =
        calls_from_trunk(dir.path(), &outpost, (&cloud_ip, cloud_port, cloud_media), &[("+4940123600", "+4917012345")]);
    assert!(
        out.status.success(),
        "the cloud's call: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        outpost.log_lines().join("\n")
    );
    assert!(answering.finished(), "102 answered the new DID's call");
    let (code, cdrs) = outpost.json("GET", "/api/v1/cdrs?limit=1", Some(&token), None);
    assert_eq!(code, 200, "{cdrs}");
    let cdr = &cdrs.as_array().unwrap()[0];
    assert_eq!((cdr["dialled"].as_str(), cdr["callee"].as_str()), (Some("+4940123600"), Some("102")), "{cdr}");

    // Edit it by its place (the form carries its DID), then a stale form is refused.
    browser.goto(&outpost.url("/ui/routes/acme/inbound/1"));
    wait_until(BOUND, "the route's page", || browser.try_find("#edit-route"));
    type_into(&browser, "#edit-route [name=hours]", "08:00-18:00");
    browser.find("#edit-route button[type=submit]").click();
    assert_eq!(wait_until(BOUND, "saved", || browser.try_text("#route-page .notice")), "Saved.");
    assert_eq!(site(&outpost, &token)["inbound_routes"][1]["hours"], "08:00-18:00");
    let cookie = ui::session_cookie(&browser);
    let (_, page) = curl(&outpost, "GET", "/ui/routes", Some(&cookie), None);
    let csrf = ui::csrf_in(&page);
    let (code, page) = curl(
        &outpost,
        "POST",
        "/ui/routes/acme/inbound/1/remove",
        Some(&cookie),
        Some(&format!("csrf={csrf}&did=%2B4940123450")),
    );
    assert_eq!(code, 422, "{page}");
    assert!(page.contains("changed since this page was loaded"), "{page}");
    assert_eq!(site(&outpost, &token)["inbound_routes"].as_array().unwrap().len(), 2, "nothing removed");

    // An extension user gets 403 on the forms, with their own CSRF token, and nothing changes.
    let (cookie, csrf) = ui::portal_user(&browser, &outpost, dir.path(), ("acme", "104"), "portal-104-pass");
    let before = site(&outpost, &token);
    for (path, form) in [
        ("/ui/routes/outbound", format!("csrf={csrf}&tenant=acme&name=x&pattern=9.&trunks=cloud")),
        ("/ui/routes/acme/outbound/national/remove", format!("csrf={csrf}")),
        ("/ui/routes/acme/inbound/0/remove", format!("csrf={csrf}&did=%2B4940123450")),
    ] {
        let (code, _) = curl(&outpost, "POST", path, Some(&cookie), Some(&form));
        assert_eq!(code, 403, "{path}");
    }
    let (code, _) = curl(&outpost, "GET", "/ui/routes/acme/outbound/national", Some(&cookie), None);
    assert_eq!(code, 403);
    assert_eq!(site(&outpost, &token), before);
}
