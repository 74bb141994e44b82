//! Backups to the fleet end to end: a real `outpost` box, a real `outpost-fleet` and a real
//! Mosquitto. `backup_now` from the fleet lands whole and its file verifies on the box; a
//! broker killed mid-upload costs nothing (the upload goes on from the fleet's count); the
//! escrowed key is kept sealed; a `restore` command brings back the state of the backup.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::fleet::Fleet;
use common::mosquitto::Mosquitto;
use common::{Extra, Options, Outpost};
use serde_json::{json, Value};

const PASSWORD: &str = "a-good-long-password";

fn start_box(broker: &Mosquitto, data: tempfile::TempDir) -> Outpost {
    let extra = Extra { cloud_config: broker.cloud_config("b1", "pw-b1"), ..Extra::default() };
    Outpost::start_extra(data, &Options::default(), &extra)
}

fn exported(outpost: &Outpost) -> String {
    let out = outpost.cli(&["config", "export"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Waits until the box's connection is up (the fleet has its status).
fn wait_online(fleet: &Fleet) {
    fleet.wait_state("b1", "an online box", |s| s.to_string().contains("online"));
}

fn send(fleet: &Fleet, kind: Value) -> String {
    let (code, answer) = fleet.call("POST", "/api/v1/boxes/b1/commands", Some(&json!({ "kind": kind })));
    assert_eq!(code, 202, "{answer}");
    answer["id"].as_str().unwrap().to_owned()
}

/// The result of command `id` once the box answered (`timeout` at most).
fn result(fleet: &Fleet, id: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let (_, list) = fleet.call("GET", "/api/v1/boxes/b1/commands", None);
        let found = list.as_array().and_then(|l| l.iter().find(|c| c["id"] == id)).cloned();
        if let Some(r) = found.and_then(|c| (!c["result"].is_null()).then(|| c["result"].clone())) {
            return r;
        }
        assert!(Instant::now() < deadline, "no result for {id}: {list}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn backups(fleet: &Fleet) -> Vec<Value> {
    let (code, list) = fleet.call("GET", "/api/v1/boxes/b1/backups", None);
    assert_eq!(code, 200, "{list}");
    list.as_array().cloned().unwrap_or_default()
}

/// Downloads a backup file from the fleet into `path` (the API's bearer token, by curl).
fn download(fleet: &Fleet, bid: &str, path: &std::path::Path) {
    let login = json!({"name": "admin", "password": common::fleet::ADMIN_PASSWORD});
    let (_, answer) = fleet.call_with(None, "POST", "/api/v1/login", Some(&login));
    let token = answer["token"].as_str().unwrap();
    let out = std::process::Command::new("curl")
        .args(["-sf", "-o"])
        .arg(path)
        .args(["-H", &format!("authorization: Bearer {token}")])
        .arg(format!("{}/api/v1/boxes/b1/backups/{bid}/file", fleet.api))
        .status()
        .unwrap();
    assert!(out.success(), "download of {bid}");
}

/// Adds `rows` incompressible 64 KiB rows to the box's store, so that its backup has many chunks.
fn fill_store(outpost: &Outpost, rows: u32) {
    let db = outpost.data_dir().join("outpost.db");
    let fill = format!(
        "CREATE TABLE filler (b BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
         INSERT INTO filler SELECT randomblob(65536) FROM n;"
    );
    let out = std::process::Command::new("sqlite3").arg(&db).arg(fill).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn verify(outpost: &Outpost, path: &std::path::Path) {
    let out = outpost.cli(&["backup", "verify", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn backup_now_lands_whole_in_the_fleet_and_the_key_stays_sealed() {
    let broker = Mosquitto::start(&[("b1", "pw-b1")]);
    let fleet = Fleet::start(&broker);
    let outpost = start_box(&broker, tempfile::tempdir().unwrap());
    wait_online(&fleet);

    let id = send(&fleet, json!({"type": "backup_now"}));
    let r = result(&fleet, &id, Duration::from_secs(60));
    assert_eq!(r["outcome"]["result"], "done", "{r}");
    let list = backups(&fleet);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["complete"], true);
    assert_eq!(list[0]["have"], list[0]["chunks"]);

    let file = fleet.data.path().join("downloaded.outpost-backup");
    download(&fleet, list[0]["id"].as_str().unwrap(), &file);
    verify(&outpost, &file);
    // Again by id `latest`.
    download(&fleet, "latest", &file);
    verify(&outpost, &file);

    // A redelivered id is not run again: the fleet keeps one backup.
    // The key: escrowed, and nowhere in the fleet's files in clear.
    let key = std::fs::read(outpost.data_dir().join("backup.key")).unwrap();
    let db = fleet.data.path().join("fleet.db");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out =
            std::process::Command::new("sqlite3").arg(&db).arg("SELECT count(*) FROM backup_keys").output().unwrap();
        if String::from_utf8_lossy(&out.stdout).trim() == "1" {
            break;
        }
        assert!(Instant::now() < deadline, "no escrowed key");
        std::thread::sleep(Duration::from_millis(200));
    }
    let hex_key = hex_encode(&key);
    for entry in std::fs::read_dir(fleet.data.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(!bytes.windows(32).any(|w| w == key.as_slice()), "{} holds the key", path.display());
            assert!(!String::from_utf8_lossy(&bytes).contains(&hex_key), "{} holds the key in hex", path.display());
        }
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_broker_killed_mid_backup_costs_nothing() {
    let mut broker = Mosquitto::start(&[("b1", "pw-b1")]);
    let fleet = Fleet::start(&broker);
    let outpost = start_box(&broker, tempfile::tempdir().unwrap());
    wait_online(&fleet);
    // A store of many chunks: incompressible rows (about 100 chunks of 128 KiB).
    fill_store(&outpost, 200);

    let id = send(&fleet, json!({"type": "backup_now"}));
    // Kill the broker as soon as part of the backup arrived.
    let deadline = Instant::now() + Duration::from_secs(120);
    let (have, total) = loop {
        let list = backups(&fleet);
        if let Some(b) = list.first() {
            let (have, total) = (b["have"].as_u64().unwrap(), b["chunks"].as_u64().unwrap());
            if have >= 1 {
                break (have, total);
            }
        }
        assert!(Instant::now() < deadline, "no chunk arrived");
        std::thread::sleep(Duration::from_millis(10));
    };
    broker.restart();
    assert!(have < total, "the backup was done before the broker went ({have}/{total}): make it bigger");

    let r = result(&fleet, &id, Duration::from_secs(180));
    assert_eq!(r["outcome"]["result"], "done", "{r}");
    let list = backups(&fleet);
    assert_eq!((list[0]["have"].as_u64(), list[0]["complete"].as_bool()), (Some(total), Some(true)));
    let logs = outpost.log_lines().join("\n");
    assert!(logs.contains("backup upload continues where the fleet stands"), "the upload did not resume:\n{logs}");
    let file = fleet.data.path().join("resumed.outpost-backup");
    download(&fleet, "latest", &file);
    verify(&outpost, &file);
}

#[test]
fn a_restore_command_brings_back_the_state_of_the_backup() {
    let broker = Mosquitto::start(&[("b1", "pw-b1")]);
    let fleet = Fleet::start(&broker);
    let mut outpost = start_box(&broker, tempfile::tempdir().unwrap());
    wait_online(&fleet);
    let t = outpost.admin_token(PASSWORD);
    let (_, mut site) = outpost.json("GET", "/api/v1/site", Some(&t), None);
    site["site"]["name"] = json!("As backed up");
    let (code, body) = outpost.json("PUT", "/api/v1/site", Some(&t), Some(&site.to_string()));
    assert_eq!(code, 200, "{body}");
    let at_backup = exported(&outpost);

    let id = send(&fleet, json!({"type": "backup_now"}));
    assert_eq!(result(&fleet, &id, Duration::from_secs(60))["outcome"]["result"], "done");

    let (_, mut site) = outpost.json("GET", "/api/v1/site", Some(&t), None);
    site["site"]["name"] = json!("Changed after");
    let (code, body) = outpost.json("PUT", "/api/v1/site", Some(&t), Some(&site.to_string()));
    assert_eq!(code, 200, "{body}");
    assert_ne!(exported(&outpost), at_backup);

    let id = send(&fleet, json!({"type": "restore", "backup": "latest"}));
    assert_eq!(result(&fleet, &id, Duration::from_secs(60))["outcome"]["result"], "done");
    // The daemon exits with 75 (systemd's Restart=on-failure starts it again): do what systemd does.
    let mut child = outpost.child.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the daemon did not restart itself for the restore");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(75));
    let data = std::mem::replace(&mut outpost.data, tempfile::tempdir().unwrap());
    drop(outpost);
    let again = start_box(&broker, data);
    assert_eq!(exported(&again), at_backup);
}

/// Two fleet instances on one broker share the box's backup (Mosquitto hands each chunk of the
/// shared subscription to one of them), and the one store ends up with the backup whole.
#[test]
fn two_fleet_instances_share_a_backup_and_store_it_whole() {
    let broker = Mosquitto::start(&[("b1", "pw-b1")]);
    let data = tempfile::tempdir().unwrap();
    let one = Fleet::start_instance(&broker, "one", data.path());
    let two = Fleet::start_instance(&broker, "two", data.path());
    let outpost = start_box(&broker, tempfile::tempdir().unwrap());
    wait_online(&one);
    fill_store(&outpost, 60);

    let id = send(&one, json!({"type": "backup_now"}));
    let r = result(&two, &id, Duration::from_secs(120));
    assert_eq!(r["outcome"]["result"], "done", "{r}");
    let list = backups(&two);
    assert_eq!(list.len(), 1, "{list:?}");
    assert!(list[0]["chunks"].as_u64().unwrap() > 10, "{list:?}");
    assert_eq!((&list[0]["complete"], &list[0]["have"]), (&json!(true), &list[0]["chunks"]), "{list:?}");
    let file = outpost.data_dir().join("from-the-fleet.outpost-backup");
    download(&one, "latest", &file);
    verify(&outpost, &file);
}
