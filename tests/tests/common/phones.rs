//! sipp phones for the call tests (`tests/tests/calls*.rs`): a box with a small site, phones
//! that register and then answer, ring or are busy in the background, a caller, and the CDRs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Extra, Options, Outpost};

pub const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sipp");
const PASSWORD: &str = "calls-tests-admin";

/// One tenant: 102 forwards to 103 when busy or after 5 s of ringing; 610 hunts 104 then 103.
const SITE: &str = r#"
schema = 1
[site]
name = "calls"

[[tenants]]
name = "acme"
domains = ["acme.pbx.local"]

[[tenants.extensions]]
number = "101"
secret = "correct-horse-101"

[[tenants.extensions]]
number = "102"
secret = "battery-staple-102"
forward_busy = "103"
forward_no_answer = "103"
no_answer_secs = 5

[[tenants.extensions]]
number = "103"
secret = "tr0ub4dor-and-3"

[[tenants.extensions]]
number = "104"
secret = "hunter2-but-longer-104"

[[tenants.ring_groups]]
number = "610"
strategy = "sequential"
members = ["104", "103"]
member_timeout = 5

[[tenants]]
name = "bright"
domains = ["bright.pbx.local"]

[[tenants.extensions]]
number = "101"
secret = "bright-101-secret"

[[tenants.extensions]]
number = "102"
secret = "bright-102-secret"
"#;

fn secret(ext: &str) -> &'static str {
    match ext {
        "101" => "correct-horse-101",
        "102" => "battery-staple-102",
        "103" => "tr0ub4dor-and-3",
        _ => "hunter2-but-longer-104",
    }
}

pub fn start(dir: &Path) -> (Outpost, String) {
    start_extra(dir, &Extra::default())
}

pub fn start_extra(dir: &Path, extra: &Extra) -> (Outpost, String) {
    let site = dir.join("site.toml");
    std::fs::write(&site, SITE).unwrap();
    // Debian's sipp answers only MD5; all load comes from loopback, which is trusted.
    let sip_config = "digest_algorithms = [\"MD5\"]\nallowlist = [\"127.0.0.0/8\"]\n".to_owned();
    let options = Options { sip: true, sip_config, site: Some(site) };
    let outpost = Outpost::start_extra(tempfile::tempdir().unwrap(), &options, extra);
    let token = outpost.admin_token(PASSWORD);
    (outpost, token)
}

/// A sipp phone: its SIP port and its RTP port.
pub struct Phone {
    pub ext: &'static str,
    pub port: u16,
    pub media: u16,
    pub users: PathBuf,
}

impl Phone {
    /// Extension `ext` of acme.
    pub fn new(dir: &Path, ext: &'static str) -> Phone {
        Phone::of(dir, ext, "acme.pbx.local", secret(ext))
    }

    /// Extension `ext` of the tenant of `domain`.
    pub fn of(dir: &Path, ext: &'static str, domain: &str, password: &str) -> Phone {
        let users = dir.join(format!("user-{ext}-{domain}.csv"));
        let line = format!("SEQUENTIAL\n{ext};{domain};[authentication username={ext} password={password}];600\n");
        std::fs::write(&users, line).unwrap();
        let base = free_block();
        Phone { ext, port: base, media: base + 2, users }
    }

    pub fn sipp(&self, dir: &Path, outpost: &Outpost, scenario: &str) -> Command {
        let mut cmd = Command::new("sipp");
        cmd.current_dir(dir)
            .arg(format!("127.0.0.1:{}", outpost.sip_port))
            .args(["-sf", &format!("{SCENARIOS}/{scenario}"), "-inf"])
            .arg(&self.users)
            .args(["-t", "u1", "-m", "1", "-p", &self.port.to_string(), "-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-mp", &self.media.to_string(), "-timeout", "40", "-timeout_error", "-nostdin", "-trace_err"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    /// Registers the phone's SIP port as the extension's contact.
    pub fn register(&self, dir: &Path, outpost: &Outpost) {
        let out = self.sipp(dir, outpost, "register.xml").output().expect("sipp must be installed");
        assert!(out.status.success(), "{} did not register: {}", self.ext, String::from_utf8_lossy(&out.stderr));
    }

    /// Starts answering (or ringing, or being busy) in the background.
    pub fn serve(&self, dir: &Path, outpost: &Outpost, scenario: &str) -> Sipp {
        self.register(dir, outpost);
        let child = self.sipp(dir, outpost, scenario).arg("-rtp_echo").spawn().expect("sipp must be installed");
        Sipp(Some(child), self.ext, dir.to_owned())
    }

    /// Calls `number` and waits for the scenario's end; true when it completed.
    pub fn call(&self, dir: &Path, outpost: &Outpost, number: &str, scenario: &str) -> bool {
        let out = self.sipp(dir, outpost, scenario).args(["-s", number]).output().expect("sipp must be installed");
        if !out.status.success() {
            eprintln!("caller {}: {}\n{}", self.ext, String::from_utf8_lossy(&out.stderr), errors(dir));
        }
        out.status.success()
    }
}

/// Six consecutive free UDP ports (SIP, a gap, then RTP, RTCP and sipp's echo ports), in a
/// range the box's RTP ports (10000-20000) and the kernel's ephemeral ports stay out of.
pub fn free_block() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let seed = (std::process::id() as u16).wrapping_mul(7919);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = 20_100 + (seed.wrapping_add(n.wrapping_mul(6)) % 2_000) * 6;
        let held: Vec<_> = (base..base + 6).filter_map(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).ok()).collect();
        if held.len() == 6 {
            return base;
        }
    }
}

pub fn errors(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A background sipp, killed if the test ends first.
pub struct Sipp(Option<Child>, &'static str, PathBuf);

impl Sipp {
    /// Waits (bounded) for its scenario to finish; true when it completed.
    pub fn finished(mut self) -> bool {
        let mut child = self.0.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                if !status.success() {
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        let _ = std::io::Read::read_to_string(&mut e, &mut err);
                    }
                    eprintln!("phone {}: {status}: {err}\n{}", self.1, errors(&self.2));
                }
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The CDRs of the box, newest first; waits (bounded) until `n` are written.
pub fn cdrs(outpost: &Outpost, token: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, body) = outpost.json("GET", "/api/v1/cdrs", Some(token), None);
        assert_eq!(code, 200, "{body}");
        let rows = body.as_array().unwrap().clone();
        if rows.len() >= n || Instant::now() > deadline {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
