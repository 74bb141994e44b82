//! The `outpost` process itself: first start, banner, restart, bad config, clean shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{bin, Outpost};

#[test]
fn first_start_prints_url_password_and_certificate_and_serves() {
    let outpost = Outpost::start();
    let banner = outpost.banner.join("");
    assert!(banner.contains(&format!("https://127.0.0.1:{}/api/v1/health", outpost.port)), "{banner}");
    assert!(banner.contains("SHA-256"), "{banner}");
    assert_eq!(outpost.one_time_password.len(), 16, "{banner}");
    assert!(outpost.cert().exists());
    let data = outpost.data_dir();
    use std::os::unix::fs::PermissionsExt;
    for private in ["box.key", "tls/key.pem"] {
        let mode = std::fs::metadata(data.join(private)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{private}");
    }
    assert_eq!(outpost.curl("GET", "/api/v1/health", None, None).0, 200);
}

#[test]
fn sigterm_stops_the_daemon_cleanly_and_a_restart_keeps_everything() {
    let mut outpost = Outpost::start();
    let token = outpost.admin_token("kept-across-restarts");
    assert_eq!(
        outpost.curl("POST", "/api/v1/tenants/default/extensions", Some(&token), Some(r#"{"number":"55"}"#)).0,
        201
    );

    let status = outpost.terminate(Duration::from_secs(10)).expect("outpost must stop within 10 s of SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(outpost.log_lines().iter().any(|l| l.contains("stopped cleanly")));

    let data = std::mem::replace(&mut outpost.data, tempfile::tempdir().unwrap());
    let again = Outpost::start_in(data);
    assert!(again.one_time_password.is_empty(), "no new password on a second start");
    assert!(again.banner.join("").contains("reset-password"));
    let login = r#"{"username":"admin","password":"kept-across-restarts"}"#;
    let (code, body) = again.json("POST", "/api/v1/login", None, Some(login));
    assert_eq!(code, 200, "{body}");
    let token = body["token"].as_str().unwrap();
    let (_, list) = again.json("GET", "/api/v1/tenants/default/extensions", Some(token), None);
    assert_eq!(list[0]["number"], "55");
}

#[test]
fn a_bad_config_stops_the_start_and_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("outpost.toml");
    std::fs::write(&config, "[sip]\nudp = \"everywhere\"\n").unwrap();
    let out = Command::new(bin("outpost")).args(["run", "--config"]).arg(&config).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sip.udp") && err.contains("everywhere"), "{err}");

    std::fs::write(&config, "[api]\nlisten = \"127.0.0.1:1\"\nport = 3\n").unwrap();
    let out = Command::new(bin("outpost")).args(["run", "--config"]).arg(&config).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown field `port`") && err.contains("line 3"), "{err}");
}

#[test]
fn a_port_in_use_is_a_clear_start_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("outpost.toml");
    std::fs::write(
        &config,
        format!("data_dir = \"{}\"\n[api]\nlisten = \"127.0.0.1:{port}\"\n", dir.path().join("d").display()),
    )
    .unwrap();
    let out = Command::new(bin("outpost")).args(["run", "--config"]).arg(&config).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen for HTTPS on 127.0.0.1:{port}")), "{err}");
}

#[test]
fn version_is_printed() {
    let out = Command::new(bin("outpost")).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("outpost {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin("outpost"))
        .args(["config", "export", "--log-json", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let apply = Command::new(bin("outpost"))
        .args(["config", "apply", "--log-json", "--data-dir"])
        .arg(dir.path())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/site.toml"))
        .output()
        .unwrap();
    assert!(apply.status.success());
    let logs = String::from_utf8_lossy(&apply.stderr);
    assert!(!logs.trim().is_empty());
    for line in logs.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string(), "{line}");
    }
}
