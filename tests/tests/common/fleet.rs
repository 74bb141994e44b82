//! `outpost-fleet` as the end-to-end tests run it: a real process with its own data directory,
//! its REST API called with curl (logged in as `admin` once, then with the bearer token),
//! killed on drop.

use std::time::Duration;

use serde_json::Value;

use super::mosquitto::{Mosquitto, FLEET};

/// The dashboard password of `admin` that `Fleet::start` gives the fleet
/// (`$OUTPOST_FLEET_ADMIN_PASSWORD`).
pub const ADMIN_PASSWORD: &str = "fleet-admin-password";

/// `outpost-fleet run` against the same broker, killed on drop.
pub struct Fleet {
    pub child: std::process::Child,
    pub api: String,
    pub data: tempfile::TempDir,
    /// The API bearer token, from the first `call`.
    token: std::sync::OnceLock<String>,
}

impl Fleet {
    pub fn start(broker: &Mosquitto) -> Fleet {
        let data = tempfile::tempdir().unwrap();
        let (child, api, _) = spawn(&["--broker", &broker.url(), "--username", FLEET.0], data.path(), None);
        Fleet { child, api, data, token: std::sync::OnceLock::new() }
    }

    /// Calls the REST API as `admin` (logged in on the first call).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let token = self.token.get_or_init(|| {
            let login = serde_json::json!({"name": "admin", "password": ADMIN_PASSWORD});
            let (code, answer) = self.call_with(None, "POST", "/api/v1/login", Some(&login));
            assert_eq!(code, 200, "API login: {answer}");
            answer["token"].as_str().expect("a token").to_owned()
        });
        self.call_with(Some(token), method, path, body)
    }

    /// Calls the REST API with `token` as the bearer, or without one.
    pub fn call_with(&self, token: Option<&str>, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut cmd = std::process::Command::new("curl");
        cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, &format!("{}{path}", self.api)]);
        if self.api.starts_with("https://") {
            // `--api-tls`: the fleet's self-signed certificate, from its data directory.
            cmd.arg("--cacert").arg(self.data.path().join("mqtt-cert.pem"));
        }
        if let Some(token) = token {
            cmd.args(["-H", &format!("authorization: Bearer {token}")]);
        }
        if let Some(body) = body {
            cmd.args(["-H", "content-type: application/json", "--data-binary", &body.to_string()]);
        }
        let out = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
        let (body, code) = out.rsplit_once('\n').unwrap();
        (code.parse().unwrap(), serde_json::from_str(body).unwrap_or(Value::Null))
    }

    /// Polls the box's state until `pred` holds (20 s at most).
    pub fn wait_state(&self, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (_, state) = self.call("GET", &format!("/api/v1/boxes/{id}"), None);
            if pred(&state) {
                return state;
            }
            assert!(std::time::Instant::now() < deadline, "no {what} within 20 s: {state}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Fleet {
    /// Kills the process (SIGKILL: no goodbye) and hands back its data directory.
    pub fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.data, tempfile::tempdir().unwrap())
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fleet with its embedded broker (no `--broker`): its gateway on a free loopback port.
impl Fleet {
    /// Starts `outpost-fleet run` on `data` with the embedded broker and `extra` arguments
    /// (e.g. `--mqtt-tls`); returns it and the gateway's URL (`mqtt://…` or `mqtts://…`).
    pub fn start_embedded(data: tempfile::TempDir, extra: &[&str]) -> (Fleet, String) {
        Fleet::start_embedded_at(data, "127.0.0.1:0", extra)
    }

    /// As `start_embedded`, with the gateway on `listen` (a restart on the same port).
    pub fn start_embedded_at(data: tempfile::TempDir, listen: &str, extra: &[&str]) -> (Fleet, String) {
        let args = [&["--mqtt-listen", listen], extra].concat();
        let (child, api, mqtt) = spawn(&args, data.path(), Some("outpost-fleet MQTT on "));
        (Fleet { child, api, data, token: std::sync::OnceLock::new() }, mqtt.expect("the MQTT line"))
    }

    /// `outpost-fleet box add` on this fleet's data directory.
    pub fn add_box(data: &std::path::Path, id: &str, password: &str) {
        let out = std::process::Command::new(super::bin("outpost-fleet"))
            .args(["box", "add", id, "--tenant", "t1", "--data"])
            .arg(data)
            .env("OUTPOST_BOX_PASSWORD", password)
            .output()
            .unwrap();
        assert!(out.status.success(), "box add: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Several fleet instances on one external broker.
impl Fleet {
    /// `outpost-fleet run --broker … --instance NAME` on the data directory `data` (shared by
    /// the instances: one SQLite file, WAL).
    pub fn start_instance(broker: &Mosquitto, name: &str, data: &std::path::Path) -> Fleet {
        let (child, api, _) =
            spawn(&["--broker", &broker.url(), "--username", FLEET.0, "--instance", name], data, None);
        // The data directory belongs to the caller; this TempDir is only a placeholder.
        Fleet { child, api, data: tempfile::tempdir().unwrap(), token: std::sync::OnceLock::new() }
    }
}

/// `outpost-fleet run ARGS --api 127.0.0.1:0 --data DATA` with the test passwords; returns
/// the process, its API URL (its first line) and, with `until`, the rest of the first line
/// that starts with it. Stdout is drained after that, so the fleet never writes into a
/// closed pipe.
fn spawn(args: &[&str], data: &std::path::Path, until: Option<&str>) -> (std::process::Child, String, Option<String>) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(super::bin("outpost-fleet"))
        .arg("run")
        .args(args)
        .args(["--api", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("OUTPOST_FLEET_PASSWORD", FLEET.1)
        .env("OUTPOST_FLEET_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("the API line").unwrap();
    let api = first.trim().strip_prefix("outpost-fleet API on ").expect("the API line").to_owned();
    let found = until.map(|prefix| loop {
        let line = lines.next().expect("the fleet's announcement").unwrap();
        if let Some(rest) = line.trim().strip_prefix(prefix) {
            break rest.to_owned();
        }
    });
    std::thread::spawn(move || lines.for_each(drop));
    (child, api, found)
}
