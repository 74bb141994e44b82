//! `outpost config apply/export/check` on a real data directory, including `kill -9` in the
//! middle of an apply.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use appliance::site::{self, SiteDoc};
use common::bin;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/site.toml");

fn outpost(data: &Path, args: &[&str]) -> Output {
    Command::new(bin("outpost")).args(args).arg("--data-dir").arg(data).stdin(Stdio::null()).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn export(data: &Path) -> SiteDoc {
    let out = outpost(data, &["config", "export"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut doc = site::from_toml(&stdout(&out)).unwrap();
    doc.revision = None;
    doc
}

#[test]
fn apply_export_apply_is_a_no_op() {
    let data = tempfile::tempdir().unwrap();
    let out = outpost(data.path(), &["config", "apply", EXAMPLE]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout(&out).trim(), "applied: site config is now at revision 1");

    let file = data.path().join("exported.toml");
    let out = outpost(data.path(), &["config", "export", "--output", file.to_str().unwrap()]);
    assert!(out.status.success());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600, "exports hold secrets");
    let out = outpost(data.path(), &["config", "apply", file.to_str().unwrap()]);
    assert_eq!(stdout(&out).trim(), "unchanged: the document equals revision 1");
    assert_eq!(export(data.path()), site::from_toml(&std::fs::read_to_string(EXAMPLE).unwrap()).unwrap());
}

#[test]
fn an_export_without_secrets_still_round_trips() {
    let data = tempfile::tempdir().unwrap();
    assert!(outpost(data.path(), &["config", "apply", EXAMPLE]).status.success());
    let out = outpost(data.path(), &["config", "export", "--no-secrets"]);
    let text = stdout(&out);
    assert!(!text.contains("correct-horse-101") && !text.contains("s3cret-trunk-password"), "{text}");
    let file = data.path().join("redacted.toml");
    std::fs::write(&file, text).unwrap();
    let out = outpost(data.path(), &["config", "apply", file.to_str().unwrap()]);
    assert_eq!(stdout(&out).trim(), "unchanged: the document equals revision 1");
}

#[test]
fn a_bad_document_is_rejected_whole_with_every_reason() {
    let data = tempfile::tempdir().unwrap();
    assert!(outpost(data.path(), &["config", "apply", EXAMPLE]).status.success());
    let bad = std::fs::read_to_string(EXAMPLE)
        .unwrap()
        .replace("Harbour House", "Harbour House II")
        .replace("domains = [\"bright.pbx.local\"]", "domains = [\"acme.pbx.local\"]")
        .replace("members = [\"102\", \"103\"]", "members = [\"102\", \"109\"]");
    let file = data.path().join("bad.toml");
    std::fs::write(&file, bad).unwrap();
    let out = outpost(data.path(), &["config", "apply", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tenants[1].domains[0]: domain `acme.pbx.local` is already used by tenant `acme`"), "{err}");
    assert!(err.contains("tenants[0].ring_groups[0].members[1]: no extension 109"), "{err}");
    assert!(err.contains("was not applied"), "{err}");
    assert_eq!(export(data.path()).site.name, "Harbour House", "nothing changed");

    let check = outpost(data.path(), &["config", "check", file.to_str().unwrap()]);
    assert!(!check.status.success());
}

/// A document big enough that applying it takes a while, so that kills land mid-transaction.
fn big_document(tag: &str) -> String {
    let mut doc = site::from_toml(&std::fs::read_to_string(EXAMPLE).unwrap()).unwrap();
    doc.site.name = format!("site {tag}");
    for tenant in &mut doc.tenants {
        for n in 0..3000 {
            tenant.extensions.push(site::Extension {
                number: format!("{}", 20000 + n),
                name: format!("{tag} {n}"),
                secret: Some(format!("secret-{tag}-{n}")),
                ..Default::default()
            });
        }
    }
    site::to_toml(&doc)
}

#[test]
fn kill_9_during_apply_leaves_the_old_or_the_new_document_never_a_mix() {
    let data = tempfile::tempdir().unwrap();
    let files: Vec<_> = ["old", "new"]
        .iter()
        .map(|tag| {
            let path = data.path().join(format!("{tag}.toml"));
            std::fs::write(&path, big_document(tag)).unwrap();
            path
        })
        .collect();
    let docs: Vec<SiteDoc> =
        files.iter().map(|f| site::from_toml(&std::fs::read_to_string(f).unwrap()).unwrap()).collect();
    assert!(outpost(data.path(), &["config", "apply", files[0].to_str().unwrap()]).status.success());

    let mut killed_midway = 0;
    for (round, delay_ms) in [0u64, 5, 20, 50, 100, 150, 250, 400, 700].into_iter().enumerate() {
        let target = &files[(round + 1) % 2];
        let mut child = Command::new(bin("outpost"))
            .args(["config", "apply"])
            .arg(target)
            .arg("--data-dir")
            .arg(data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap_or(()); // SIGKILL
        child.wait().unwrap();
        if !finished {
            killed_midway += 1;
        }
        let now = export(data.path());
        assert!(now == docs[0] || now == docs[1], "round {round}: the stored document is neither old nor new");
    }
    assert!(killed_midway > 0, "at least one kill must land before the apply finished");
}
