//! Signed update bundles for the tests that upload them (`update_api.rs`, `web_ui_system.rs`):
//! a key pair and small bundles made by the real `outpost-bundle`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use super::bin;

/// `outpost-bundle keygen` into `dir`.
pub fn keygen(dir: &Path) -> PathBuf {
    let out = Command::new(bin("outpost-bundle")).args(["keygen", "--out"]).arg(dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    dir.to_owned()
}

/// A small bundle of `version` for `board`, signed with the key in `keys`.
pub fn bundle(dir: &Path, keys: &Path, version: &str, board: &str) -> PathBuf {
    let file = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let root = file("root.squashfs", &vec![0x5a; 200_000]);
    let kernel = file("vmlinuz", b"a kernel");
    let initrd = file("initrd.img", b"an initrd");
    let out = dir.join(format!("outpost-{version}-{board}.bundle"));
    let status = Command::new(bin("outpost-bundle"))
        .args(["create", "--key"])
        .arg(keys.join("update.key"))
        .args(["--version", version, "--board", board, "--root"])
        .arg(&root)
        .arg("--kernel")
        .arg(&kernel)
        .arg("--initrd")
        .arg(&initrd)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    out
}
