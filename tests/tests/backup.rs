//! Backups end to end with the real binary: a populated, running box is backed up (CLI and
//! API), then destroyed (`kill -9`, its data directory gone); a new box restores the backup
//! with the escrowed backup key and comes up as the old one: same site config, secrets
//! included, same admin password. A damaged backup is refused and changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{bin, Options, Outpost};

const PASSWORD: &str = "backup-tests-admin";

fn export(outpost: &Outpost) -> String {
    let out = outpost.cli(&["config", "export"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_destroyed_box_is_replaced_from_its_backup() {
    let site = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/site.toml");
    let options = Options { site: Some(site.into()), ..Options::default() };
    let mut one = Outpost::start_with(tempfile::tempdir().unwrap(), &options);
    let token = one.admin_token(PASSWORD);
    let before = export(&one);
    assert!(before.contains("s3cret-trunk-password"), "the export holds the secrets: {before}");

    // The API takes and lists backups while the box runs.
    let (code, taken) = one.json("POST", "/api/v1/backups", Some(&token), None);
    assert_eq!(code, 201, "{taken}");
    let id = taken["id"].as_str().unwrap().to_owned();
    let (_, list) = one.json("GET", "/api/v1/backups", Some(&token), None);
    assert_eq!(list[0]["id"], id.as_str(), "{list}");
    // The admin downloads it (the file is what the fleet service would keep).
    let keep = tempfile::tempdir().unwrap();
    let file = keep.path().join("site.outpost-backup");
    let got = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "20", "--cacert"])
        .arg(one.cert())
        .args(["-H", &format!("Authorization: Bearer {token}"), "-o"])
        .arg(&file)
        .arg(one.url(&format!("/api/v1/backups/{id}")))
        .output()
        .unwrap();
    assert!(got.status.success(), "{}", String::from_utf8_lossy(&got.stderr));
    // The CLI writes one to a file of the admin's choosing, and checks one.
    let other = keep.path().join("cli.outpost-backup");
    let out = one.cli(&["backup", "create", "--output", other.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = one.cli(&["backup", "verify", other.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("is sound: outpost.db"), "{out:?}");
    // The key is escrowed (the fleet service keeps a copy); then the box dies with its disk.
    let key = keep.path().join("backup.key");
    std::fs::copy(one.data_dir().join("backup.key"), &key).unwrap();
    let _ = one.child.as_mut().unwrap().kill();
    drop(one);

    // A damaged copy is refused whole.
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() - 700;
    bytes[at] ^= 0x55;
    let bad = keep.path().join("bad.outpost-backup");
    std::fs::write(&bad, bytes).unwrap();
    let new_data = tempfile::tempdir().unwrap();
    let restore = |backup: &std::path::Path| {
        Command::new(bin("outpost"))
            .args(["backup", "restore"])
            .arg(backup)
            .arg("--key")
            .arg(&key)
            .arg("--data-dir")
            .arg(new_data.path().join("box"))
            .output()
            .unwrap()
    };
    let refused = restore(&bad);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("damaged") || why.contains("SHA-256"), "{why}");

    let out = restore(&file);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let two = Outpost::start_in(new_data);
    assert!(two.banner.iter().any(|l| l.contains("as set before")), "{:?}", two.banner);
    assert_eq!(export(&two), before);
    let (code, _) =
        two.curl("POST", "/api/v1/login", None, Some(&format!(r#"{{"username":"admin","password":"{PASSWORD}"}}"#)));
    assert_eq!(code, 200, "the old admin password works on the replacement");
}
