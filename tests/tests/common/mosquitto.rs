//! A real Mosquitto broker for the cloud-sync tests: its own config, password file and ACL
//! (each box may only use `outpost/v1/<its username>/…`; user `fleet` may use everything), on a
//! free loopback port, killed on drop. `Sub` is a `mosquitto_sub` whose lines a test waits for.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::free_port;

pub const FLEET: (&str, &str) = ("fleet", "fleet-password");

pub struct Mosquitto {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts a broker that knows `FLEET` and the boxes `(username, password)`.
    pub fn start(boxes: &[(&str, &str)]) -> Mosquitto {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let passwd = dir.path().join("passwd");
        for (i, (user, pw)) in std::iter::once(&FLEET).chain(boxes).enumerate() {
            let mut cmd = Command::new("mosquitto_passwd");
            cmd.arg("-b");
            if i == 0 {
                cmd.arg("-c");
            }
            let out = cmd.arg(&passwd).args([user, pw]).output().expect("mosquitto_passwd (apt install mosquitto)");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        let acl = dir.path().join("acl");
        std::fs::write(&acl, "pattern readwrite outpost/v1/%u/#\n\nuser fleet\ntopic readwrite outpost/v1/#\n")
            .unwrap();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\nacl_file {}\n\
                 persistence false\nlog_dest stderr\nuser root\n",
                passwd.display(),
                acl.display()
            ),
        )
        .unwrap();
        let child = run(&conf);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Mosquitto { child, port, _dir: dir }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// `[cloud]` lines for a box `user` with `password`.
    pub fn cloud_config(&self, user: &str, password: &str) -> String {
        format!("broker = \"{}\"\nbox_id = \"{user}\"\npassword = \"{password}\"\nkeepalive_secs = 5\n", self.url())
    }

    /// Publishes as `(user, password)`; `retain` keeps it for later subscribers.
    pub fn publish(&self, (user, pw): (&str, &str), topic: &str, payload: &str, retain: bool) {
        let mut cmd = Command::new("mosquitto_pub");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-u", user, "-P", pw, "-q", "1"]);
        cmd.args(["-t", topic, "-m", payload]);
        if retain {
            cmd.arg("-r");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "mosquitto_pub: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Subscribes as `(user, password)` to `filter`.
    pub fn subscribe(&self, (user, pw): (&str, &str), filter: &str) -> Sub {
        let mut child = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-u", user, "-P", pw, "-q", "1", "-v"])
            .args(["-t", filter])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Sub { child, lines, seen: Vec::new() }
    }

    /// Subscribes as `fleet` and returns once the subscription is live (a probe came back), so
    /// that nothing published afterwards is missed.
    pub fn subscribe_ready(&self, filter_prefix: &str) -> Sub {
        let mut sub = self.subscribe(FLEET, &format!("{filter_prefix}/#"));
        let probe = format!("{filter_prefix}/probe");
        for _ in 0..20 {
            self.publish(FLEET, &probe, "probe", false);
            if sub.try_wait_for(Duration::from_millis(500), |t, _| t == probe).is_some() {
                return sub;
            }
        }
        panic!("the subscription on {filter_prefix} never became live");
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Sub {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line received so far, for failure messages.
    pub seen: Vec<String>,
}

impl Sub {
    /// The first message from now whose (topic, payload) satisfies `pred`, within `bound`.
    pub fn try_wait_for(
        &mut self,
        bound: Duration,
        mut pred: impl FnMut(&str, &serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        let deadline = Instant::now() + bound;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.lines.recv_timeout(left).ok()?;
            self.seen.push(line.clone());
            let (topic, payload) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            let value = serde_json::from_str(payload).unwrap_or(serde_json::Value::String(payload.to_owned()));
            if pred(topic, &value) {
                return Some(value);
            }
        }
    }

    /// Like `try_wait_for` with 20 seconds, failing the test with what was seen.
    pub fn wait_for(&mut self, what: &str, pred: impl FnMut(&str, &serde_json::Value) -> bool) -> serde_json::Value {
        match self.try_wait_for(Duration::from_secs(20), pred) {
            Some(v) => v,
            None => panic!("no {what} within 20 s; seen:\n{}", self.seen.join("\n")),
        }
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Mosquitto {
    /// Kills the broker and starts it again on the same port with the same config: a broker
    /// restart (without persistence: sessions and queued messages are gone).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let conf = self._dir.path().join("mosquitto.conf");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.child = run(&conf);
            let up = Instant::now() + Duration::from_secs(2);
            while Instant::now() < up {
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // The port may still be held a moment by the old process: try again.
            let _ = self.child.kill();
            let _ = self.child.wait();
            assert!(Instant::now() < deadline, "mosquitto did not listen again on {}", self.port);
        }
    }
}

/// `mosquitto -c CONF`, quiet.
fn run(conf: &std::path::Path) -> Child {
    Command::new("mosquitto")
        .arg("-c")
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto (apt install mosquitto)")
}
