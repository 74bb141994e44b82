//! Editing DHCP scopes in the web UI, end to end in headless Chromium against a real `outpost`
//! serving DHCP in a network namespace (root only): a scope's range and a reservation changed
//! in the browser (a range outside the network refused first, with the reason, and nothing
//! changed) are what busybox udhcpc gets from the box on the other end of the veth; a second
//! scope added and removed in the browser is in and out of the site document; a form without
//! the CSRF token changes nothing. Screenshot: `box-dhcp-scope`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::lan::{browser_at, is_root, run, Lan, BOX_IP};
use common::ui::type_into;
use common::webdriver::{wait_until, Browser};
use common::{Options, Outpost};
use serde_json::Value;

const PASSWORD: &str = "ui-scopes-password";
/// Bound of every wait on the page: generous, never a timing assertion.
const BOUND: Duration = Duration::from_secs(30);
const PHONE_MAC: &str = "02:42:0a:4e:00:77";

fn scopes(outpost: &Outpost, token: &str) -> Vec<Value> {
    let (code, doc) = outpost.json("GET", "/api/v1/site", Some(token), None);
    assert_eq!(code, 200, "{doc}");
    doc["dhcp_scopes"].as_array().cloned().unwrap_or_default()
}

/// How often the box's log said the DHCP server reloaded its scopes since the last look.
fn reloads(outpost: &Outpost) -> usize {
    outpost.log_lines().iter().filter(|l| l.contains("DHCP scopes reloaded")).count()
}

/// The address busybox udhcpc gets on the client's end (quits once bound, bounded).
fn lease_of_client(lan: &Lan) -> String {
    let script = "/tmp/outpost-udhcpc-print";
    std::fs::write(script, "#!/bin/sh\n[ \"$1\" = bound ] && echo \"LEASE $ip\"\nexit 0\n").unwrap();
    run(&["chmod", "755", script]);
    let got = Command::new("timeout")
        .args(["40", "ip", "netns", "exec", &lan.client, "busybox", "udhcpc", "-f", "-q", "-n", "-t", "15", "-T", "1"])
        .args(["-i", &lan.client_if, "-s", script])
        .output()
        .unwrap();
    assert!(got.status.success(), "udhcpc got no lease: {}", String::from_utf8_lossy(&got.stderr));
    let out = String::from_utf8_lossy(&got.stdout).into_owned();
    out.lines().find_map(|l| l.strip_prefix("LEASE ")).unwrap_or_else(|| panic!("no lease line: {out}")).to_owned()
}

/// An API session with the password set at setup.
fn login(outpost: &Outpost) -> String {
    let login = format!(r#"{{"username":"admin","password":"{PASSWORD}"}}"#);
    let (code, body) = outpost.json("POST", "/api/v1/login", None, Some(&login));
    assert_eq!(code, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// Fills the fields `(name, value)` of the form `form` and submits it, accepting a confirm.
fn submit(browser: &Browser, form: &str, fields: &[(&str, &str)], confirm: bool) {
    for (name, value) in fields {
        type_into(browser, &format!("{form} [name={name}]"), value);
    }
    browser.find(&format!("{form} button[type=submit]")).click();
    if confirm {
        browser.accept_alert();
    }
}

#[test]
fn a_scope_changed_in_the_browser_is_what_a_phone_gets() {
    if !is_root() {
        eprintln!("SKIPPED: needs root (network namespaces, port 67)");
        return;
    }
    let mut lan = Lan::new();
    let dir = tempfile::tempdir().unwrap();
    let (outpost, token) = lan.serving_box(dir.path(), PASSWORD, "");
    run(&["ip", "-n", &lan.client, "link", "set", &lan.client_if.clone(), "address", PHONE_MAC]);

    let port = lan.forward(outpost.port);
    let at = |path: &str| format!("https://127.0.0.1:{port}{path}");
    let browser = browser_at(port, PASSWORD);

    // A range outside the network: refused with the site's reason, nothing changed.
    let before = scopes(&outpost, &token);
    browser.goto(&at("/ui/dhcp"));
    browser.find("#dhcp-scopes tr[data-scope=lab] a").click();
    wait_until(BOUND, "the scope's page", || browser.try_find("#edit-scope"));
    submit(&browser, "#edit-scope", &[("range_end", "10.79.0.5")], true);
    let said = wait_until(BOUND, "refused", || browser.try_text("#scope-page .notice"));
    assert!(said.starts_with("Not saved: ") && said.contains("dhcp_scopes[0].range_end"), "{said}");
    assert_eq!(scopes(&outpost, &token), before, "nothing changed");

    // The range moved and the phone's MAC reserved an address outside it: the phone gets it.
    reloads(&outpost);
    browser.goto(&at("/ui/dhcp/scopes/lab"));
    wait_until(BOUND, "the scope's page", || browser.try_find("#edit-scope"));
    let reservation = format!("{PHONE_MAC} 10.78.0.42");
    submit(
        &browser,
        "#edit-scope",
        &[("range_start", "10.78.0.200"), ("range_end", "10.78.0.210"), ("reservations", &reservation)],
        true,
    );
    let said = wait_until(BOUND, "saved", || browser.try_text("#scope-page .notice"));
    assert!(said.starts_with("Saved"), "{said}");
    let lab = scopes(&outpost, &token)[0].clone();
    assert_eq!((lab["range_start"].as_str(), lab["range_end"].as_str()), (Some("10.78.0.200"), Some("10.78.0.210")));
    let reserved = lab["reservations"].as_array().unwrap();
    assert_eq!((reserved.len(), reserved[0]["ip"].as_str()), (1, Some("10.78.0.42")), "{lab}");
    assert_eq!(lab["router"], BOX_IP, "a field left alone is kept");
    browser.set_window_size(1280, 1300);
    browser.keep_screenshot("box-dhcp-scope");
    wait_until(BOUND, "the DHCP scopes reloaded", || (reloads(&outpost) > 0).then_some(()));
    assert_eq!(lease_of_client(&lan), "10.78.0.42", "the reservation made in the browser");

    // A second scope (a relayed subnet) added, shown, then removed.
    browser.goto(&at("/ui/dhcp"));
    browser.find("#add-scope-card summary").click();
    submit(
        &browser,
        "#new-scope",
        &[("name", "branch"), ("network", "10.90.0.0/24"), ("range_start", "10.90.0.10"), ("range_end", "10.90.0.20")],
        false,
    );
    let said = wait_until(BOUND, "added", || browser.try_text("#dhcp-page > .notice"));
    assert_eq!(said, "Scope branch added.");
    assert!(browser.try_find("#dhcp-scopes tr[data-scope=branch]").is_some());
    let names: Vec<_> = scopes(&outpost, &token).iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["lab", "branch"]);
    browser.goto(&at("/ui/dhcp/scopes/branch"));
    wait_until(BOUND, "the scope's page", || browser.try_find("#remove-scope"));
    browser.find("#remove-scope button").click();
    browser.accept_alert();
    assert_eq!(wait_until(BOUND, "removed", || browser.try_text("#dhcp-page > .notice")), "Scope branch removed.");
    assert_eq!(scopes(&outpost, &token).len(), 1);

    // Without the CSRF token: refused, nothing changed.
    let session = browser.cookies().iter().find(|c| c["name"] == "outpost_session").unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = scopes(&outpost, &token);
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
        .arg(format!("cookie: outpost_session={session}"))
        .args(["--data", "network=10.78.0.0/24&range_start=10.78.0.1&range_end=10.78.0.9"])
        .arg(at("/ui/dhcp/scopes/lab"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403");
    assert_eq!(scopes(&outpost, &token), before);
}

#[test]
fn the_lan_chosen_at_setup_serves_dhcp_from_the_next_start() {
    if !is_root() {
        eprintln!("SKIPPED: needs root (network namespaces, port 67)");
        return;
    }
    let mut lan = Lan::new();
    // No [dhcp] interface in outpost.toml and no scope: DHCP is off until the setup chooses.
    // `from_site` is the image's default; off the image it is asked for.
    let extra = common::Extra {
        netns: Some(lan.server.clone()),
        dhcp_config: "from_site = true".into(),
        ..common::Extra::default()
    };
    let mut outpost = Outpost::start_extra(tempfile::tempdir().unwrap(), &Options::default(), &extra);
    let port = lan.forward(outpost.port);
    let at = |path: &str| format!("https://127.0.0.1:{port}{path}");
    let browser = Browser::start();
    browser.goto(&at("/ui/login"));
    type_into(&browser, "#login input[name=username]", "admin");
    browser.find("#login input[name=password]").send_keys(&outpost.one_time_password);
    browser.find("#login button[type=submit]").click();
    wait_until(BOUND, "the setup page", || browser.try_find("#setup"));

    // The box's own interface on the phones' segment, chosen in the list, with a scope.
    browser.find(&format!("#setup select[name=lan_interface] option[value='{}']", lan.server_if)).click();
    let fields = [
        ("password", PASSWORD),
        ("confirm", PASSWORD),
        ("site_name", "Lab"),
        ("time_zone", "Europe/Berlin"),
        ("network", "10.78.0.0/24"),
        ("range_start", "10.78.0.100"),
        ("range_end", "10.78.0.110"),
        ("router", BOX_IP),
    ];
    submit(&browser, "#setup", &fields, false);
    wait_until(BOUND, "the dashboard", || browser.try_find("#dashboard"));
    let token = login(&outpost);
    let lab = scopes(&outpost, &token);
    assert_eq!(lab.len(), 1, "{lab:?}");
    assert_eq!((lab[0]["name"].as_str(), lab[0]["interface"].as_str()), (Some("lan"), Some(lan.server_if.as_str())));
    browser.goto(&at("/ui/dhcp"));
    let next = wait_until(BOUND, "the DHCP page", || browser.try_text("#dhcp-next-start"));
    assert!(next.contains(&lan.server_if) && next.contains("next start"), "{next}");
    let (_, status) = outpost.json("GET", "/api/v1/dhcp/status", Some(&token), None);
    assert_eq!(status["state"], "off", "not before the next start: {status}");

    // The next start: DHCP serves on the chosen interface and a phone gets an address.
    outpost.terminate(Duration::from_secs(10)).expect("the box stops");
    let data = std::mem::replace(&mut outpost.data, tempfile::tempdir().unwrap());
    drop(outpost);
    let outpost = Outpost::start_extra(data, &Options::default(), &extra);
    let token = login(&outpost);
    let serving = wait_until(BOUND, "DHCP serving", || {
        let (_, s) = outpost.json("GET", "/api/v1/dhcp/status", Some(&token), None);
        (s["state"] != "probing").then_some(s)
    });
    assert_eq!(serving["state"], "serving", "{serving}");
    assert_eq!(serving["interface"], lan.server_if.as_str(), "{serving}");
    let ip = lease_of_client(&lan);
    let last: u8 = ip.rsplit('.').next().unwrap().parse().unwrap();
    assert!(ip.starts_with("10.78.0.") && (100..=110).contains(&last), "{ip} is in the range set at setup");
}
