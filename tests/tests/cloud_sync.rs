//! Cloud sync end to end: a real `outpost` box and a real Mosquitto (started here, with per-box
//! users and an ACL). The cloud side is played with `mosquitto_pub`/`mosquitto_sub` as user
//! `fleet`, the way the fleet service will use the topics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::fleet::Fleet;
use common::mosquitto::{Mosquitto, FLEET};
use common::{Extra, Options, Outpost};
use serde_json::{json, Value};

const PASSWORD: &str = "a-good-long-password";

fn start_box(broker: &Mosquitto, id: &str, pw: &str) -> Outpost {
    let extra = Extra { cloud_config: broker.cloud_config(id, pw), ..Extra::default() };
    Outpost::start_extra(tempfile::tempdir().unwrap(), &Options::default(), &extra)
}

fn is(topic: &str, want: &str) -> bool {
    topic.ends_with(want)
}

/// Waits for the box's first report after it connected (it asks for the full document).
fn wait_connected(sub: &mut common::mosquitto::Sub) -> Value {
    sub.wait_for("a want_full report", |t, v| is(t, "/config/reported") && v["want_full"] == true)
}

fn desired(revision: u64, base: u64, document: &Value) -> String {
    json!({"schema": 1, "revision": revision, "base_revision": base, "document": document,
           "author": "ops@fleet", "at": 1_700_000_000})
    .to_string()
}

fn exported(outpost: &Outpost) -> String {
    let out = outpost.cli(&["config", "export"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_pushed_config_is_applied_and_reported() {
    let broker = Mosquitto::start(&[("b1", "pw-b1")]);
    let mut sub = broker.subscribe_ready("outpost/v1/b1");
    let outpost = start_box(&broker, "b1", "pw-b1");
    let hello = wait_connected(&mut sub);
    assert_eq!(hello["revision"], 1);
    // Mosquitto 2 has MQTT 5, so the box speaks it (and keeps its session with an expiry).
    let connected = outpost.log_lines().into_iter().find(|l| l.contains("connected to the cloud broker"));
    assert!(connected.as_deref().is_some_and(|l| l.contains("MQTT 5")), "{connected:?}");

    let t = outpost.admin_token(PASSWORD);
    let (_, mut site) = outpost.json("GET", "/api/v1/site", Some(&t), None);
    site["site"]["name"] = json!("Harbour House");
    site["tenants"][0]["extensions"] = json!([{"number": "101", "name": "Alice", "secret": "correct-horse-101"}]);
    broker.publish(FLEET, "outpost/v1/b1/config/desired", &desired(1, 1, &site), true);

    let report = sub.wait_for("an applied report", |t, v| is(t, "/config/reported") && v["desired_revision"] == 1);
    assert_eq!(report["outcome"], json!({"result": "applied", "applied_revision": 2}), "{report}");
    let export = exported(&outpost);
    assert!(export.contains("name = \"Harbour House\"") && export.contains("revision = 2"), "{export}");
    let (_, ext) = outpost.json("GET", "/api/v1/tenants/default/extensions/101", Some(&t), None);
    assert_eq!(ext["name"], "Alice");
    let (_, audit) = outpost.json("GET", "/api/v1/audit", Some(&t), None);
    assert_eq!(audit[0]["actor"], "cloud:ops@fleet");
}

#[test]
fn a_bad_document_is_rejected_whole_with_reasons_and_nothing_changes() {
    let broker = Mosquitto::start(&[("b1", "pw-b1")]);
    let mut sub = broker.subscribe_ready("outpost/v1/b1");
    let outpost = start_box(&broker, "b1", "pw-b1");
    wait_connected(&mut sub);
    let before = exported(&outpost);

    let t = outpost.admin_token(PASSWORD);
    let (_, mut site) = outpost.json("GET", "/api/v1/site", Some(&t), None);
    site["site"]["name"] = json!("Would be renamed");
    site["tenants"][0]["extensions"] = json!([{"number": "101", "name": "Alice", "secret": "short"}]);
    site["tenants"][0]["ring_groups"] = json!([{"number": "600", "strategy": "simultaneous", "members": ["109"]}]);
    broker.publish(FLEET, "outpost/v1/b1/config/desired", &desired(1, 1, &site), true);

    let report = sub.wait_for("a rejection", |t, v| is(t, "/config/reported") && v["desired_revision"] == 1);
    assert_eq!(report["outcome"]["result"], "rejected", "{report}");
    let reasons = report["outcome"]["reasons"].as_array().unwrap();
    let fields: Vec<&str> = reasons.iter().filter_map(|r| r["field"].as_str()).collect();
    assert!(fields.iter().any(|f| f.contains("extensions[0].secret")), "{report}");
    assert!(fields.iter().any(|f| f.contains("ring_groups[0].members")), "{fields:?}");
    assert_eq!(report["revision"], 1);
    assert_eq!(exported(&outpost), before, "nothing of the document was applied");

    // A document of a newer schema is refused with the reason, not misread.
    let newer = json!({"schema": 2, "revision": 2, "base_revision": 1, "document": {}, "author": "x", "at": 0});
    broker.publish(FLEET, "outpost/v1/b1/config/desired", &newer.to_string(), true);
    let report = sub.wait_for("a schema refusal", |t, v| {
        is(t, "/config/reported") && v["outcome"]["reasons"][0]["field"] == "schema"
    });
    assert!(report["outcome"]["reasons"][0]["reason"].as_str().unwrap().contains("schema 2"), "{report}");
    assert_eq!(exported(&outpost), before);
}

#[test]
fn a_stale_base_after_a_local_edit_is_a_conflict_and_the_local_edit_stays() {
    let broker = Mosquitto::start(&[("b1", "pw-b1")]);
    let mut sub = broker.subscribe_ready("outpost/v1/b1");
    let outpost = start_box(&broker, "b1", "pw-b1");
    wait_connected(&mut sub);

    let t = outpost.admin_token(PASSWORD);
    let (_, site) = outpost.json("GET", "/api/v1/site", Some(&t), None);
    let mut local = site.clone();
    local["site"]["name"] = json!("Edited on the box");
    let (code, body) = outpost.json("PUT", "/api/v1/site", Some(&t), Some(&local.to_string()));
    assert_eq!((code, &body["revision"]), (200, &json!(2)), "{body}");

    let mut cloud = site.clone();
    cloud["site"]["name"] = json!("Edited in the cloud");
    broker.publish(FLEET, "outpost/v1/b1/config/desired", &desired(1, 1, &cloud), true);
    let report = sub.wait_for("a conflict", |t, v| is(t, "/config/reported") && v["desired_revision"] == 1);
    assert_eq!(report["outcome"], json!({"result": "conflict", "base_revision": 1, "current_revision": 2}));
    assert_eq!(report["document"]["site"]["name"], "Edited on the box", "the cloud gets the box's document");
    assert!(report["document"].to_string().find("secret").is_none(), "secrets never leave the box");
    let export = exported(&outpost);
    assert!(export.contains("Edited on the box") && export.contains("revision = 2"), "{export}");
}

#[test]
fn local_edits_made_offline_are_reported_on_reconnect() {
    let broker = Mosquitto::start(&[("b1", "pw-b1")]);
    let mut sub = broker.subscribe_ready("outpost/v1/b1");
    let mut outpost = start_box(&broker, "b1", "pw-b1");
    assert_eq!(wait_connected(&mut sub)["local_edits"], false);
    outpost.terminate(Duration::from_secs(10));

    // The admin edits the stopped box with the CLI (`outpost config apply`).
    let mut doc: toml::Value = toml::from_str(&exported(&outpost)).unwrap();
    doc["site"]["name"] = toml::Value::String("Offline".into());
    let file = outpost.data.path().join("edit.toml");
    std::fs::write(&file, toml::to_string(&doc).unwrap()).unwrap();
    let out = outpost.cli(&["config", "apply", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Started again on the same data directory, it tells the cloud what changed.
    let kept = std::mem::replace(&mut outpost.data, tempfile::tempdir().unwrap());
    drop(outpost);
    let extra = Extra { cloud_config: broker.cloud_config("b1", "pw-b1"), ..Extra::default() };
    let _again = Outpost::start_extra(kept, &Options::default(), &extra);
    let report = sub.wait_for("a local-edits report", |t, v| is(t, "/config/reported") && v["local_edits"] == true);
    assert_eq!(report["revision"], 2);
    assert_eq!(report["document"]["site"]["name"], "Offline");
}

#[test]
fn status_is_retained_online_and_the_last_will_marks_it_offline() {
    let broker = Mosquitto::start(&[("b1", "pw-b1")]);
    let mut first = broker.subscribe_ready("outpost/v1/b1");
    let mut outpost = start_box(&broker, "b1", "pw-b1");
    wait_connected(&mut first);

    // A reader that comes later still learns the state: it is retained.
    let mut late = broker.subscribe(FLEET, "outpost/v1/b1/status");
    let online = late.wait_for("the retained status", |_, v| v["state"].is_string());
    assert_eq!(online["state"], "online");
    let boot = online["boot_seq"].clone();
    assert_eq!(boot, 1);

    // Killed without a goodbye: the broker publishes the will, with the same boot_seq.
    let child = outpost.child.as_mut().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let offline = late.wait_for("the last will", |_, v| v["state"] == "offline");
    assert_eq!(offline["boot_seq"], boot);
    let mut later = broker.subscribe(FLEET, "outpost/v1/b1/status");
    assert_eq!(later.wait_for("the retained will", |_, v| v["state"].is_string())["state"], "offline");
}

#[test]
fn a_box_cannot_read_or_write_another_box_topics() {
    let broker = Mosquitto::start(&[("b1", "pw-b1"), ("b2", "pw-b2")]);
    let mut sub = broker.subscribe_ready("outpost/v1/b2");
    let _b2 = start_box(&broker, "b2", "pw-b2");
    wait_connected(&mut sub);

    // b2's own credentials read its retained status; b1's read nothing of b2.
    let mut own = broker.subscribe(("b2", "pw-b2"), "outpost/v1/b2/#");
    assert_eq!(own.wait_for("b2's status", |t, _| is(t, "/status"))["state"], "online");
    let mut spy = broker.subscribe(("b1", "pw-b1"), "outpost/v1/b2/#");
    let mut spy_all = broker.subscribe(("b1", "pw-b1"), "outpost/v1/#");
    // b1 tries to push a config to b2: the broker drops it.
    broker.publish(("b1", "pw-b1"), "outpost/v1/b2/config/desired", &desired(9, 1, &json!({})), true);
    // A marker from the fleet, after the attempt: once b2's own subscriber has it, anything b1
    // could have received or caused has been delivered.
    broker.publish(FLEET, "outpost/v1/b2/telemetry", "marker", false);
    own.wait_for("the marker", |t, _| is(t, "/telemetry"));
    // b1's subscription on everything is live (it gets its own topics), and got nothing of b2's.
    broker.publish(FLEET, "outpost/v1/b1/telemetry", "own", false);
    spy_all.wait_for("b1's own marker", |t, _| t == "outpost/v1/b1/telemetry");
    assert!(!own.seen.iter().any(|l| l.contains("config/desired")), "b1's publish reached b2: {:?}", own.seen);
    assert!(sub.try_wait_for(Duration::from_millis(200), |t, _| is(t, "/config/reported")).is_none());
    let leaked: Vec<String> = [&mut spy, &mut spy_all]
        .into_iter()
        .flat_map(|s| {
            s.try_wait_for(Duration::from_millis(500), |_, _| false);
            s.seen.clone()
        })
        .filter(|l| l.contains("outpost/v1/b2"))
        .collect();
    assert!(leaked.is_empty(), "b1 read b2's topics: {leaked:?}");
}

#[test]
fn the_fleet_service_pushes_a_config_and_keeps_the_report_and_status() {
    let broker = Mosquitto::start(&[("b1", "pw-b1")]);
    let fleet = Fleet::start(&broker);
    let outpost = start_box(&broker, "b1", "pw-b1");
    let state = fleet
        .wait_state("b1", "online and reported", |s| s["status"]["state"] == "online" && s["reported"].is_object());
    assert_eq!(state["reported"]["revision"], 1);

    let t = outpost.admin_token(PASSWORD);
    let (_, mut site) = outpost.json("GET", "/api/v1/site", Some(&t), None);
    site["site"]["name"] = json!("Pushed by the fleet");
    let push = json!({"base_revision": 1, "document": site, "author": "ops@fleet"});
    let (code, body) = fleet.call("POST", "/api/v1/boxes/b1/config", Some(&push));
    assert_eq!((code, &body["revision"]), (202, &json!(1)), "{body}");

    let state = fleet.wait_state("b1", "an applied report", |s| s["reported"]["desired_revision"] == 1);
    assert_eq!(state["reported"]["outcome"], json!({"result": "applied", "applied_revision": 2}));
    assert!(exported(&outpost).contains("Pushed by the fleet"));
    let (_, history) = fleet.call("GET", "/api/v1/boxes/b1/config", None);
    assert_eq!(history[0]["author"], "ops@fleet");
    assert_eq!(fleet.call("GET", "/api/v1/boxes/b%2Fx", None).0, 400, "box ids are checked");
}

#[test]
fn losing_the_cloud_link_puts_the_site_in_survivable_mode() {
    let broker = Mosquitto::start(&[("b1", "pw-b1")]);
    let mut sub = broker.subscribe_ready("outpost/v1/b1");
    let outpost = start_box(&broker, "b1", "pw-b1");
    wait_connected(&mut sub);
    let t = outpost.admin_token(PASSWORD);
    let (code, mode) = outpost.json("GET", "/api/v1/survivable", Some(&t), None);
    assert_eq!((code, &mode["survivable"]), (200, &json!(false)), "{mode}");

    // The broker dies: after the link's grace time (15 s) the box says it is on its own.
    drop(sub);
    drop(broker);
    let mut mode = Value::Null;
    for _ in 0..80 {
        std::thread::sleep(Duration::from_millis(500));
        mode = outpost.json("GET", "/api/v1/survivable", Some(&t), None).1;
        if mode["survivable"] == true {
            break;
        }
    }
    assert_eq!(mode["survivable"], true, "{mode}");
    assert_eq!(mode["reason"], "cloud link down", "{mode}");
    let events = mode["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["kind"] == "survivable" && e["reason"] == "cloud link down"), "{mode}");
    let (_, metrics) = outpost.curl("GET", "/metrics", None, None);
    assert!(metrics.contains("outpost_survivable 1"), "{metrics}");
}

#[test]
fn a_reprovision_command_sends_check_sync_to_the_phone() {
    let broker = Mosquitto::start(&[("b1", "pw-b1")]);
    let mut sub = broker.subscribe_ready("outpost/v1/b1");
    let site = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/site.toml");
    let options = Options { sip: true, sip_config: "digest_algorithms = [\"MD5\"]\n".into(), site: Some(site.into()) };
    let extra = Extra { cloud_config: broker.cloud_config("b1", "pw-b1"), ..Extra::default() };
    let outpost = Outpost::start_extra(tempfile::tempdir().unwrap(), &options, &extra);
    wait_connected(&mut sub);
    // The phone of 80:5e:c0:11:22:33 (extension 101 in the example site) registers.
    let phone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let account = tools::sim::sip::Account {
        user: "101".into(),
        domain: "acme.pbx.local".into(),
        password: "correct-horse-101".into(),
        server: format!("127.0.0.1:{}", outpost.sip_port).parse().unwrap(),
    };
    let ua = "Yealink SIP-T54W 96.86.0.100 80:5e:c0:11:22:33";
    let status = tools::sim::sip::register(&phone, &account, 600, ua).unwrap();
    assert!(status.contains("200"), "{status}");

    // The cloud asks, with the MAC spelled its own way; the phone hears check-sync and says 200.
    let cmd = json!({"schema": 1, "id": "c-9", "kind": {"type": "reprovision", "mac": "805EC0112233"}});
    broker.publish(FLEET, "outpost/v1/b1/cmd/c-9", &cmd.to_string(), false);
    phone.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut buf = [0u8; 4096];
    let (notify, from) = loop {
        assert!(std::time::Instant::now() < deadline, "no check-sync NOTIFY arrived");
        let Ok((n, from)) = phone.recv_from(&mut buf) else { continue };
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        if text.starts_with("NOTIFY ") {
            break (text, from);
        }
    };
    assert!(notify.to_ascii_lowercase().contains("event: check-sync"), "{notify}");
    let mut ok = String::from("SIP/2.0 200 OK\r\n");
    for line in notify.lines() {
        let lower = line.to_ascii_lowercase();
        if ["via:", "from:", "to:", "call-id:", "cseq:"].iter().any(|h| lower.starts_with(h)) {
            ok.push_str(line.trim_end());
            ok.push_str("\r\n");
        }
    }
    ok.push_str("Content-Length: 0\r\n\r\n");
    phone.send_to(ok.as_bytes(), from).unwrap();
    let result = sub.wait_for("the command's result", |t, _| is(t, "/cmd/c-9/result"));
    assert_eq!(result["outcome"], json!({"result": "done"}), "{result}");

    // A phone that is not registered: the command fails with the reason.
    let cmd = json!({"schema": 1, "id": "c-10", "kind": {"type": "reprovision", "mac": "00:15:65:00:00:01"}});
    broker.publish(FLEET, "outpost/v1/b1/cmd/c-10", &cmd.to_string(), false);
    let result = sub.wait_for("the second result", |t, _| is(t, "/cmd/c-10/result"));
    assert_eq!(result["outcome"]["result"], "failed", "{result}");
    assert!(result["outcome"]["reason"].as_str().unwrap().contains("no phone"), "{result}");
}

#[test]
fn a_reboot_command_is_left_for_the_root_service_and_refused_where_there_is_none() {
    let broker = Mosquitto::start(&[("b1", "pw-b1"), ("b2", "pw-b2")]);
    // b1 plays the image: its root service would reboot it.
    let mut sub = broker.subscribe_ready("outpost/v1/b1");
    let extra = Extra {
        cloud_config: broker.cloud_config("b1", "pw-b1"),
        update_config: "root_service = true".into(),
        ..Extra::default()
    };
    let b1 = Outpost::start_extra(tempfile::tempdir().unwrap(), &Options::default(), &extra);
    wait_connected(&mut sub);
    let cmd = json!({"schema": 1, "id": "r-1", "kind": {"type": "reboot"}});
    broker.publish(FLEET, "outpost/v1/b1/cmd/r-1", &cmd.to_string(), false);
    let result = sub.wait_for("the reboot's result", |t, _| is(t, "/cmd/r-1/result"));
    assert_eq!(result["outcome"], json!({"result": "done"}), "{result}");
    let request = b1.data_dir().join("requests/reboot");
    assert_eq!(std::fs::read_to_string(&request).unwrap().trim(), "cloud", "left for root, naming who asked");
    let token = b1.admin_token(PASSWORD);
    let (_, info) = b1.json("GET", "/api/v1/system", Some(&token), None);
    assert_eq!(info["pending"], json!(["reboot"]), "{info}");

    // b2 is a development host: nothing there would reboot it, and nothing is left behind.
    let mut sub = broker.subscribe_ready("outpost/v1/b2");
    let b2 = start_box(&broker, "b2", "pw-b2");
    wait_connected(&mut sub);
    broker.publish(
        FLEET,
        "outpost/v1/b2/cmd/r-2",
        &json!({"schema": 1, "id": "r-2", "kind": {"type": "reboot"}}).to_string(),
        false,
    );
    let result = sub.wait_for("the refusal", |t, _| is(t, "/cmd/r-2/result"));
    assert_eq!(result["outcome"]["result"], "unsupported", "{result}");
    assert!(result["outcome"]["reason"].as_str().unwrap().contains("no root service"), "{result}");
    assert!(!b2.data_dir().join("requests").exists());
}

/// Files of `dir` over plain HTTP on loopback (Python's http.server), for the update command.
struct Files {
    child: std::process::Child,
    port: u16,
}

impl Files {
    fn serve(dir: &std::path::Path) -> Files {
        let port = common::free_port();
        let child = std::process::Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string(), "--directory"])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "the file server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Files { child, port }
    }

    fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256_of(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_owned()
}

#[test]
fn an_update_command_fetches_the_named_bundle_checks_it_and_stages_it() {
    use common::bundles::{bundle, keygen};
    let dir = tempfile::tempdir().unwrap();
    let keys = keygen(&dir.path().join("keys"));
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let good = bundle(&files, &keys, "9.0.0", "generic-x86_64");
    let tampered = files.join("tampered.bundle");
    let mut bytes = std::fs::read(&good).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&tampered, bytes).unwrap();
    let server = Files::serve(&files);

    let broker = Mosquitto::start(&[("b1", "pw-b1")]);
    let mut sub = broker.subscribe_ready("outpost/v1/b1");
    let extra = Extra {
        cloud_config: broker.cloud_config("b1", "pw-b1"),
        update_config: format!("public_key = \"{}\"\nroot_service = true", keys.join("update.pub").display()),
        ..Extra::default()
    };
    let b1 = Outpost::start_extra(tempfile::tempdir().unwrap(), &Options::default(), &extra);
    wait_connected(&mut sub);
    let staged = b1.data_dir().join("updates/staged.bundle");
    let mut send = |id: &str, url: &str, sha256: &str| {
        let cmd = json!({"schema": 1, "id": id, "kind": {"type": "update", "url": url, "sha256": sha256}});
        broker.publish(FLEET, &format!("outpost/v1/b1/cmd/{id}"), &cmd.to_string(), false);
        sub.wait_for("the update's result", |t, _| is(t, &format!("/cmd/{id}/result")))["outcome"].clone()
    };
    let name = good.file_name().unwrap().to_str().unwrap().to_owned();

    // Not the file the fleet named; a tampered bundle with its own hash; plain HTTP elsewhere.
    let outcome = send("u-1", &server.url(&name), &"0".repeat(64));
    assert_eq!(outcome["result"], "failed", "{outcome}");
    assert!(outcome["reason"].as_str().unwrap().contains("not the 0000"), "{outcome}");
    let outcome = send("u-2", &server.url("tampered.bundle"), &sha256_of(&tampered));
    assert_eq!(outcome["result"], "failed", "{outcome}");
    assert!(outcome["reason"].as_str().unwrap().contains("root.squashfs does not match the manifest"), "{outcome}");
    let outcome = send("u-3", "http://downloads.example.net/x.bundle", &sha256_of(&good));
    assert_eq!(outcome["result"], "failed", "{outcome}");
    assert!(!staged.exists(), "nothing refused is staged");

    // The right one: staged byte for byte for the updater, booked as the cloud's.
    let outcome = send("u-4", &server.url(&name), &sha256_of(&good));
    assert_eq!(outcome, json!({"result": "done"}));
    assert_eq!(std::fs::read(&staged).unwrap(), std::fs::read(&good).unwrap());
    let token = b1.admin_token(PASSWORD);
    let (_, log) = b1.json("GET", "/api/v1/audit", Some(&token), None);
    assert!(log.as_array().unwrap().iter().any(|e| e["action"] == "update.staged" && e["actor"] == "cloud"), "{log}");
}
