//! `outpost-fleet` as the end-to-end tests run it: a real process with its own data directory,
//! its REST API called with curl, killed on drop.

use std::time::Duration;

use serde_json::Value;

use super::mosquitto::{Mosquitto, FLEET};

/// `outpost-fleet run` against the same broker, killed on drop.
pub struct Fleet {
    pub child: std::process::Child,
    pub api: String,
    pub data: tempfile::TempDir,
}

impl Fleet {
    pub fn start(broker: &Mosquitto) -> Fleet {
        use std::io::BufRead;
        let data = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(super::bin("outpost-fleet"))
            .args(["run", "--broker", &broker.url(), "--username", FLEET.0, "--api", "127.0.0.1:0", "--data"])
            .arg(data.path())
            .env("OUTPOST_FLEET_PASSWORD", FLEET.1)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let api = line.trim().strip_prefix("outpost-fleet API on ").expect("the API line").to_owned();
        Fleet { child, api, data }
    }

    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut cmd = std::process::Command::new("curl");
        cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, &format!("{}{path}", self.api)]);
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

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

