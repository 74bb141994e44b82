//! Claiming boxes end to end: a real `outpost-fleet` (embedded broker) makes one-time codes, a
//! real `outpost` redeems one with `outpost cloud claim` and connects with the credentials it
//! got. The disaster-recovery drill: box 1, populated, backs up to the fleet and is destroyed;
//! box 2 is claimed as its replacement, restores box 1's latest backup from the fleet, comes
//! up as box 1 (same id, same site config, same admin password) with fresh broker
//! credentials (the store's unit tests show the old password stops working).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::fleet::Fleet;
use common::{bin, Options, Outpost};
use serde_json::{json, Value};

const PASSWORD: &str = "claim-tests-admin";

fn claim_cli(fleet: &Fleet, data: &Path, code: &str) -> Output {
    let mut cmd = Command::new(bin("outpost"));
    cmd.args(["cloud", "claim", "--fleet", &fleet.api, "--data-dir"]).arg(data);
    if fleet.api.starts_with("https://") {
        cmd.arg("--ca").arg(fleet.data.path().join("mqtt-cert.pem"));
    }
    cmd.arg(code).output().unwrap()
}

fn new_code(fleet: &Fleet, body: Value) -> (String, String) {
    let (code, claim) = fleet.call("POST", "/api/v1/claims", Some(&body));
    assert_eq!(code, 201, "{claim}");
    (claim["code"].as_str().unwrap().to_owned(), claim["box_id"].as_str().unwrap().to_owned())
}

fn export(outpost: &Outpost) -> String {
    let out = outpost.cli(&["config", "export"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_new_box_is_claimed_with_a_one_time_code_and_connects() {
    let (fleet, _mqtt) = Fleet::start_embedded(tempfile::tempdir().unwrap(), &[]);
    let (code, box_id) = new_code(&fleet, json!({"tenant": "acme"}));
    assert!(box_id.starts_with("acme-"), "{box_id}");

    let data = tempfile::tempdir().unwrap();
    let out = claim_cli(&fleet, &data.path().join("box"), &code.to_lowercase());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && said.contains(&box_id), "{said} {}", String::from_utf8_lossy(&out.stderr));
    let outpost = Outpost::start_in(data);
    fleet.wait_state(&box_id, "the claimed box online", |s| s["status"]["state"] == "online");
    let status = outpost.cli(&["cloud", "status"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("tenant acme"), "{status:?}");

    // A spent code, and a made-up one, get the same refusal; the fleet lists the code as used.
    let other = tempfile::tempdir().unwrap();
    for bad in [code.as_str(), "AAAA-BBBB-CCCC"] {
        let out = claim_cli(&fleet, &other.path().join("box"), bad);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("not valid"), "{out:?}");
    }
    let (_, claims) = fleet.call("GET", "/api/v1/claims", None);
    assert!(claims[0]["used_at"].is_number(), "{claims}");
    assert!(!claims.to_string().contains(&code), "codes are not kept: {claims}");
}

#[test]
fn a_dead_box_is_replaced_by_a_claimed_box_that_restores_its_latest_backup() {
    let (fleet, _mqtt) = Fleet::start_embedded(tempfile::tempdir().unwrap(), &[]);
    let (code, box_id) = new_code(&fleet, json!({"tenant": "acme"}));
    let one_data = tempfile::tempdir().unwrap();
    assert!(claim_cli(&fleet, &one_data.path().join("box"), &code).status.success());
    let site = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/site.toml");
    let options = Options { site: Some(site.into()), ..Options::default() };
    let mut one = Outpost::start_with(one_data, &options);
    one.admin_token(PASSWORD);
    fleet.wait_state(&box_id, "box 1 online", |s| s["status"]["state"] == "online");
    let before = export(&one);

    // The fleet asks for a backup and waits until it holds all of it.
    let (c, sent) =
        fleet.call("POST", &format!("/api/v1/boxes/{box_id}/commands"), Some(&json!({"kind": {"type": "backup_now"}})));
    assert_eq!(c, 202, "{sent}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, backups) = fleet.call("GET", &format!("/api/v1/boxes/{box_id}/backups"), None);
        if backups.as_array().is_some_and(|b| b.iter().any(|b| b["complete"] == true)) {
            break;
        }
        assert!(Instant::now() < deadline, "no complete backup in the fleet within 60 s: {backups}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Box 1 dies with its disk; its claim (old broker password) is kept to try later.
    let old_claim = std::fs::read(one.data_dir().join("cloud-claim.json")).unwrap();
    let _ = one.child.as_mut().unwrap().kill();
    drop(one);

    let (code, same_id) = new_code(&fleet, json!({"tenant": "acme", "replaces": box_id}));
    assert_eq!(same_id, box_id, "the replacement takes over the identity");
    let two_data = tempfile::tempdir().unwrap();
    let out = claim_cli(&fleet, &two_data.path().join("box"), &code);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said} {}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains(&format!("replaces {box_id}")) && said.contains("staged"), "{said}");
    let new_claim = std::fs::read(two_data.path().join("box/cloud-claim.json")).unwrap();
    let two = Outpost::start_in(two_data);
    assert_eq!(export(&two), before, "the replacement's export equals box 1's");
    let (code, _) =
        two.curl("POST", "/api/v1/login", None, Some(&format!(r#"{{"username":"admin","password":"{PASSWORD}"}}"#)));
    assert_eq!(code, 200, "box 1's admin password works on the replacement");
    fleet.wait_state(&box_id, "the replacement online", |s| s["status"]["state"] == "online");
    assert_ne!(old_claim, new_claim, "the replacement has fresh broker credentials");
}

#[test]
fn with_https_the_claim_and_the_api_go_over_tls_only() {
    let (fleet, _mqtt) = Fleet::start_embedded(tempfile::tempdir().unwrap(), &["--api-tls"]);
    assert!(fleet.api.starts_with("https://127.0.0.1:"), "{}", fleet.api);
    let (code, box_id) = new_code(&fleet, json!({"tenant": "acme"}));
    let data = tempfile::tempdir().unwrap();
    let out = claim_cli(&fleet, &data.path().join("box"), &code);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let _outpost = Outpost::start_in(data);
    fleet.wait_state(&box_id, "the box claimed over HTTPS online", |s| s["status"]["state"] == "online");
    // Plain HTTP to the same port gets no API, and a box that does not trust the certificate
    // does not claim.
    let plain = fleet.api.replace("https://", "http://");
    let got = Command::new("curl").args(["-s", "--max-time", "5", &format!("{plain}/api/v1/claims")]).output().unwrap();
    assert!(!String::from_utf8_lossy(&got.stdout).contains("box_id"), "{got:?}");
    let other = tempfile::tempdir().unwrap();
    let out = Command::new(bin("outpost"))
        .args(["cloud", "claim", "--fleet", &fleet.api, "--data-dir"])
        .arg(other.path().join("box"))
        .arg("AAAA-BBBB-CCCC")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be reached"), "{out:?}");
}
