//! An admin uploads an update bundle to the API (`POST /api/v1/update`) with curl: a bundle
//! signed by the box's key is staged whole for the updater; a tampered one, one signed by
//! another key, one for another board and an upload without a login are refused with the
//! reason, and nothing is staged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::bundles::{bundle, keygen};
use common::{Extra, Options, Outpost};

const PASSWORD: &str = "update-admin-pw-1";

/// curl uploads `file` as the body of `POST /api/v1/update`: (status, body).
fn upload(outpost: &Outpost, token: Option<&str>, file: &Path) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "30", "-w", "\n%{http_code}", "-X", "POST", "--cacert"])
        .arg(outpost.cert())
        .args(["-H", "content-type: application/octet-stream", "--data-binary"])
        .arg(format!("@{}", file.display()));
    if let Some(token) = token {
        cmd.args(["-H", &format!("authorization: Bearer {token}")]);
    }
    let out = cmd.arg(outpost.url("/api/v1/update")).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_owned())
}

#[test]
fn a_signed_bundle_is_staged_and_bad_ones_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keygen(&dir.path().join("keys"));
    let other_keys = keygen(&dir.path().join("other-keys"));
    let extra =
        Extra { update_config: format!("public_key = \"{}\"", keys.join("update.pub").display()), ..Extra::default() };
    let outpost = Outpost::start_extra(tempfile::tempdir().unwrap(), &Options::default(), &extra);
    let token = outpost.admin_token(PASSWORD);
    let staged = outpost.data_dir().join("updates/staged.bundle");

    let good = bundle(dir.path(), &keys, "9.0.0", "generic-x86_64");

    // No login: 401, and the upload is not kept.
    let (code, body) = upload(&outpost, None, &good);
    assert_eq!(code, 401, "{body}");
    assert!(!staged.exists());

    // Tampered: one byte of the root flipped.
    let tampered = dir.path().join("tampered.bundle");
    let mut bytes = std::fs::read(&good).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&tampered, bytes).unwrap();
    let (code, body) = upload(&outpost, Some(&token), &tampered);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("root.squashfs does not match the manifest"), "{body}");

    // Signed by another key; made for another board.
    let foreign = bundle(&dir.path().join("other-keys"), &other_keys, "9.0.0", "generic-x86_64");
    let (code, body) = upload(&outpost, Some(&token), &foreign);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("signature"), "{body}");
    let arm = bundle(dir.path(), &keys, "9.0.0", "raspberry-pi-5");
    let (code, body) = upload(&outpost, Some(&token), &arm);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("for board raspberry-pi-5"), "{body}");
    assert!(!staged.exists(), "nothing refused is staged");
    let leftovers: Vec<_> = std::fs::read_dir(outpost.data_dir().join("updates")).unwrap().collect();
    assert!(leftovers.is_empty(), "no partial upload left behind: {leftovers:?}");

    // The good one: 202 with its version, staged byte for byte.
    let (code, body) = upload(&outpost, Some(&token), &good);
    assert_eq!(code, 202, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["version"], "9.0.0");
    assert_eq!(std::fs::read(&staged).unwrap(), std::fs::read(&good).unwrap());
}
