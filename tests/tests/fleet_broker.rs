//! The fleet's embedded broker end to end: a real `outpost` box and `mosquitto_sub`/`_pub`
//! clients against the fleet's gateway (per-box ACL, TLS), boxes registered by
//! `outpost-fleet box add`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::fleet::Fleet;
use common::{Extra, Options, Outpost};
use serde_json::json;

const PASSWORD: &str = "a-good-long-password";

fn fleet_with(boxes: &[(&str, &str)], extra: &[&str]) -> (Fleet, String) {
    let data = tempfile::tempdir().unwrap();
    for (id, pw) in boxes {
        Fleet::add_box(data.path(), id, pw);
    }
    Fleet::start_embedded(data, extra)
}

fn host_port(url: &str) -> (String, String) {
    let rest = url.split_once("://").unwrap().1;
    let (h, p) = rest.rsplit_once(':').unwrap();
    (h.to_owned(), p.to_owned())
}

fn start_box(url: &str, id: &str, pw: &str, ca: Option<&std::path::Path>) -> Outpost {
    let mut cloud = format!("broker = \"{url}\"\nbox_id = \"{id}\"\npassword = \"{pw}\"\nkeepalive_secs = 5\n");
    if let Some(ca) = ca {
        cloud.push_str(&format!("ca_file = \"{}\"\n", ca.display()));
    }
    let extra = Extra { cloud_config: cloud, ..Extra::default() };
    Outpost::start_extra(tempfile::tempdir().unwrap(), &Options::default(), &extra)
}

fn push_and_check(fleet: &Fleet, outpost: &Outpost, id: &str) {
    fleet.wait_state(id, "a first report", |s| s["reported"]["revision"] == 1);
    let t = outpost.admin_token(PASSWORD);
    let (_, mut site) = outpost.json("GET", "/api/v1/site", Some(&t), None);
    site["site"]["name"] = json!("Pushed through the embedded broker");
    let push = json!({"base_revision": 1, "document": site, "author": "ops@fleet"});
    let (code, body) = fleet.call("POST", &format!("/api/v1/boxes/{id}/config"), Some(&push));
    assert_eq!(code, 202, "{body}");
    let state = fleet.wait_state(id, "an applied report", |s| s["reported"]["desired_revision"] == 1);
    assert_eq!(state["reported"]["outcome"], json!({"result": "applied", "applied_revision": 2}));
    let out = outpost.cli(&["config", "export"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Pushed through the embedded broker"));
}

#[test]
fn a_box_gets_its_config_through_the_embedded_broker() {
    let (fleet, url) = fleet_with(&[("b1", "pw-b1-long")], &[]);
    assert!(url.starts_with("mqtt://127.0.0.1:"), "{url}");
    let outpost = start_box(&url, "b1", "pw-b1-long", None);
    push_and_check(&fleet, &outpost, "b1");
    // The embedded broker is 3.1.1 only: the gateway refuses the box's MQTT 5 CONNECT with
    // "unsupported protocol version" and the box falls back.
    let connected = outpost.log_lines().into_iter().find(|l| l.contains("connected to the cloud broker"));
    assert!(connected.as_deref().is_some_and(|l| l.contains("MQTT 3.1.1")), "{connected:?}");
}

#[test]
fn a_bad_document_pushed_through_the_embedded_broker_is_rejected_whole_with_reasons() {
    let (fleet, url) = fleet_with(&[("b1", "pw-b1-long")], &[]);
    let outpost = start_box(&url, "b1", "pw-b1-long", None);
    fleet.wait_state("b1", "a first report", |s| s["reported"]["revision"] == 1);
    let before = outpost.cli(&["config", "export"]).stdout;
    let t = outpost.admin_token(PASSWORD);
    let (_, mut site) = outpost.json("GET", "/api/v1/site", Some(&t), None);
    site["site"]["name"] = json!("Would be renamed");
    site["tenants"][0]["extensions"] = json!([{"number": "101", "name": "Alice", "secret": "short"}]);
    let push = json!({"base_revision": 1, "document": site, "author": "ops@fleet"});
    let (code, body) = fleet.call("POST", "/api/v1/boxes/b1/config", Some(&push));
    assert_eq!(code, 202, "{body}");
    let state = fleet.wait_state("b1", "a rejection", |s| s["reported"]["outcome"]["result"] == "rejected");
    let reasons = state["reported"]["outcome"]["reasons"].to_string();
    assert!(reasons.contains("extensions[0].secret"), "{state}");
    assert_eq!(state["reported"]["revision"], 1, "{state}");
    assert_eq!(outpost.cli(&["config", "export"]).stdout, before, "nothing of the document was applied");
}

#[test]
fn edits_on_both_sides_while_apart_surface_as_a_conflict_and_the_box_keeps_its_own() {
    let (fleet, url) = fleet_with(&[("b1", "pw-b1-long")], &[]);
    let outpost = start_box(&url, "b1", "pw-b1-long", None);
    fleet.wait_state("b1", "a first report", |s| s["reported"]["revision"] == 1);
    let t = outpost.admin_token(PASSWORD);
    let (_, site) = outpost.json("GET", "/api/v1/site", Some(&t), None);

    // The fleet (and its broker) goes away; the site admin edits on the box meanwhile.
    let data = fleet.kill();
    let mut local = site.clone();
    local["site"]["name"] = json!("Edited on the box");
    let (code, body) = outpost.json("PUT", "/api/v1/site", Some(&t), Some(&local.to_string()));
    assert_eq!((code, &body["revision"]), (200, &json!(2)), "{body}");

    // Back on the same address; the operator edits revision 1 too.
    let listen = url.trim_start_matches("mqtt://");
    let (fleet, _) = Fleet::start_embedded_at(data, listen, &[]);
    let mut cloud = site.clone();
    cloud["site"]["name"] = json!("Edited in the cloud");
    let push = json!({"base_revision": 1, "document": cloud, "author": "ops@fleet"});
    let (code, body) = fleet.call("POST", "/api/v1/boxes/b1/config", Some(&push));
    assert_eq!(code, 202, "{body}");

    let state = fleet.wait_state("b1", "the conflict", |s| s["reported"]["outcome"]["result"] == "conflict");
    assert_eq!(state["reported"]["outcome"]["current_revision"], 2, "{state}");
    assert_eq!(state["reported"]["document"]["site"]["name"], "Edited on the box", "{state}");
    let out = outpost.cli(&["config", "export"]);
    let export = String::from_utf8_lossy(&out.stdout);
    assert!(export.contains("Edited on the box") && !export.contains("Edited in the cloud"), "{export}");
}

#[test]
fn a_box_connects_over_tls_with_the_generated_certificate() {
    let (fleet, url) = fleet_with(&[("b1", "pw-b1-long")], &["--mqtt-tls"]);
    assert!(url.starts_with("mqtts://127.0.0.1:"), "{url}");
    let ca = fleet.data.path().join("mqtt-cert.pem");
    assert!(ca.exists());
    let outpost = start_box(&url, "b1", "pw-b1-long", Some(&ca));
    push_and_check(&fleet, &outpost, "b1");
}

/// A `mosquitto_sub` against the gateway; its output lines and whether it exited.
struct Sub {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

fn sub(url: &str, (user, pw): (&str, &str), filter: &str) -> Sub {
    use std::io::BufRead;
    let (h, p) = host_port(url);
    let mut child = Command::new("mosquitto_sub")
        .args(["-h", &h, "-p", &p, "-u", user, "-i", user, "-P", pw, "-q", "1", "-v", "-t", filter])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    Sub { child, lines }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn publish(url: &str, (user, pw): (&str, &str), topic: &str, msg: &str) -> bool {
    let (h, p) = host_port(url);
    Command::new("mosquitto_pub")
        .args(["-h", &h, "-p", &p, "-u", user, "-i", user, "-P", pw, "-q", "1", "-t", topic, "-m", msg])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[test]
fn a_wrong_password_is_refused() {
    let (_fleet, url) = fleet_with(&[("b1", "pw-b1-long")], &[]);
    assert!(!publish(&url, ("b1", "not-the-password"), "outpost/v1/b1/telemetry", "x"));
    assert!(!publish(&url, ("nobody", "pw-b1-long"), "outpost/v1/nobody/telemetry", "x"));
    assert!(publish(&url, ("b1", "pw-b1-long"), "outpost/v1/b1/telemetry", "x"));
}

#[test]
fn box_a_cannot_read_or_write_box_b_topics() {
    let (fleet, url) = fleet_with(&[("b1", "pw-b1-long"), ("b2", "pw-b2-long")], &[]);
    let (a, b) = (("b1", "pw-b1-long"), ("b2", "pw-b2-long"));
    // b2 listens to its own topics (client id = username: one connection per box, so the
    // probe comes from the fleet: a pushed config is published retained on b2's topic).
    let own = sub(&url, b, "outpost/v1/b2/#");
    let push = json!({"base_revision": 1, "document": {}, "author": "ops@fleet"});
    let (code, body) = fleet.call("POST", "/api/v1/boxes/b2/config", Some(&push));
    assert_eq!(code, 202, "{body}");
    let first = own.lines.recv_timeout(Duration::from_secs(10)).expect("b2's desired config");
    assert!(first.starts_with("outpost/v1/b2/config/desired "), "{first}");
    // b1 asking for b2's topics, or everything, is disconnected (mosquitto_sub keeps
    // reconnecting) and gets nothing, not even b2's retained desired config.
    for filter in ["outpost/v1/b2/#", "#", "outpost/v1/+/config/desired"] {
        let spy = sub(&url, a, filter);
        let leaked = spy.lines.recv_timeout(Duration::from_secs(2));
        assert!(leaked.is_err(), "b1 subscribed to {filter} and got {leaked:?}");
    }
    // b1 publishing to b2's topics is cut off and never reaches b2.
    assert!(!publish(&url, a, "outpost/v1/b2/config/desired", "forged"));
    assert!(!publish(&url, a, "outpost/v1/b1/../b2/config/desired", "forged"));
    assert!(publish(&url, a, "outpost/v1/b1/telemetry", "own topic is fine"));
    let got: Vec<String> = std::iter::from_fn(|| own.lines.recv_timeout(Duration::from_secs(2)).ok()).collect();
    assert!(!got.iter().any(|l| l.contains("forged")), "{got:?}");
}

#[test]
fn two_instances_share_the_reports_on_mosquitto() {
    use common::mosquitto::{Mosquitto, FLEET};
    let broker = Mosquitto::start(&[("b1", "pw-b1"), ("b2", "pw-b2")]);
    let data = tempfile::tempdir().unwrap();
    let one = Fleet::start_instance(&broker, "one", data.path());
    let mut two = Fleet::start_instance(&broker, "two", data.path());
    // Each instance serves the API over the one store.
    for (i, id) in ["b1", "b2"].iter().enumerate() {
        let at = 1_700_000_000 + i;
        let status = format!("{{\"schema\":1,\"state\":\"online\",\"boot_seq\":1,\"version\":\"0.1.0\",\"at\":{at}}}");
        broker.publish(FLEET, &format!("outpost/v1/{id}/status"), &status, false);
    }
    for id in ["b1", "b2"] {
        one.wait_state(id, "a status via instance one", |s| s["status"]["state"] == "online");
        two.wait_state(id, "a status via instance two", |s| s["status"]["state"] == "online");
    }
    // One instance gone: the other keeps handling what boxes send.
    let _ = two.child.kill();
    let _ = two.child.wait();
    for id in ["b1", "b2"] {
        let status = "{\"schema\":1,\"state\":\"offline\",\"boot_seq\":1,\"version\":\"0.1.0\",\"at\":1700000100}";
        broker.publish(FLEET, &format!("outpost/v1/{id}/status"), status, false);
    }
    for id in ["b1", "b2"] {
        one.wait_state(id, "the later status via instance one", |s| s["status"]["state"] == "offline");
    }
}
