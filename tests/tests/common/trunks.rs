//! Trunks for the trunk tests (`tests/tests/trunks.rs`): a box whose tenant has trunks to sipp
//! peers on loopback (the cloud PBX, a second provider), the site config that describes them,
//! and the box's view of them (`/api/v1/trunks/status`, `/api/v1/survivable`).
//!
//! A peer is a sipp UAS (`trunk_peer.xml`, or `trunk_registrar.xml` when it wants a REGISTER)
//! on its own loopback port: it answers the box's OPTIONS probes and its calls, and logs both
//! with sipp's timestamps. "The cloud dies" is `Peer::stop` (the process is killed, probes go
//! unanswered); "the cloud returns" is `Peer::start` again on the same port.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::phones::{free_block, SCENARIOS};
use super::{Options, Outpost};

const PASSWORD: &str = "trunks-tests-admin";

/// `[tenants.trunks.health]` of a trunk.
#[derive(Clone, Copy, Debug)]
pub struct Health {
    pub probe_interval: u32,
    pub probe_timeout: u32,
    pub down_after: u32,
    pub up_after: u32,
    pub hold_down: u32,
}

impl Health {
    /// Fast enough for tests: down after two missed 1 s probes, up after two answers that
    /// last 3 s.
    pub fn aggressive() -> Health {
        Health { probe_interval: 1, probe_timeout: 1, down_after: 2, up_after: 2, hold_down: 3 }
    }

    pub fn hold_down(self, hold_down: u32) -> Health {
        Health { hold_down, ..self }
    }

    fn toml(&self) -> String {
        format!(
            "[tenants.trunks.health]\nprobe_interval = {}\nprobe_timeout = {}\ndown_after = {}\nup_after = {}\nhold_down = {}\n",
            self.probe_interval, self.probe_timeout, self.down_after, self.up_after, self.hold_down
        )
    }
}

/// A trunk of the tenant `acme`, to a peer on `ip:port`.
#[derive(Clone, Debug)]
pub struct Trunk {
    pub name: String,
    /// `cloud` or `fallback`.
    pub role: &'static str,
    pub ip: String,
    pub port: u16,
    pub health: Health,
    /// More lines for the trunk's table (`username = ...`, `max_channels = 1`).
    pub extra: String,
}

impl Trunk {
    /// A trunk to `peer`.
    pub fn to(peer: &Peer, role: &'static str, health: Health) -> Trunk {
        Trunk::at(&peer.name, role, &peer.ip, peer.port, health)
    }

    /// A trunk to `ip:port` (where nothing may listen).
    pub fn at(name: &str, role: &'static str, ip: &str, port: u16, health: Health) -> Trunk {
        Trunk { name: name.to_owned(), role, ip: ip.to_owned(), port, health, extra: String::new() }
    }

    pub fn with(mut self, lines: &str) -> Trunk {
        self.extra.push_str(lines);
        self.extra.push('\n');
        self
    }

    fn toml(&self) -> String {
        format!(
            "[[tenants.trunks]]\nname = \"{}\"\nrole = \"{}\"\nhost = \"{}\"\nport = {}\ntransport = \"udp\"\n{}{}\n",
            self.name,
            self.role,
            self.ip,
            self.port,
            self.extra,
            self.health.toml()
        )
    }
}

/// The site: tenant `acme` with extensions 101-104 (the secrets `phones::Phone::new` knows),
/// ring group 600 (102 and 103 at once), `trunks`, then `tenant_tables` (routes, as TOML
/// tables) and `tenant_keys` (plain keys of the tenant such as `blocked = [...]`, which TOML
/// wants before the tenant's first sub-table). `site_tables`: more of `[site]`
/// (`[site.survivable]`).
pub struct Site<'a> {
    pub trunks: &'a [Trunk],
    pub tenant_keys: &'a str,
    pub tenant_tables: &'a str,
    pub site_tables: &'a str,
}

/// The usual outbound route: national numbers (`0` then 1-9) by the cloud, else by the
/// fallback, which wants them international (`0301234567` → `+49301234567`).
pub const NATIONAL_ROUTE: &str = r#"
[[tenants.outbound_routes]]
name = "national"
pattern = "0Z."
trunks = ["cloud", { name = "fallback", strip = 1, prepend = "+49" }]
"#;

impl Site<'_> {
    pub fn toml(&self) -> String {
        let trunks: String = self.trunks.iter().map(Trunk::toml).collect();
        format!(
            r#"schema = 1
[site]
name = "trunks"
{site_tables}

[[tenants]]
name = "acme"
domains = ["acme.pbx.local"]
{tenant_keys}

[[tenants.extensions]]
number = "101"
secret = "correct-horse-101"

[[tenants.extensions]]
number = "102"
secret = "battery-staple-102"

[[tenants.extensions]]
number = "103"
secret = "tr0ub4dor-and-3"

[[tenants.extensions]]
number = "104"
secret = "hunter2-but-longer-104"

[[tenants.ring_groups]]
number = "600"
strategy = "simultaneous"
members = ["102", "103"]
member_timeout = 20

{trunks}
{tenant_tables}
"#,
            site_tables = self.site_tables,
            tenant_keys = self.tenant_keys,
            tenant_tables = self.tenant_tables,
        )
    }
}

/// Starts a box with `site` (SIP on loopback, MD5 digest for sipp, loopback trusted) and
/// logs in as admin.
pub fn start(dir: &Path, site: &Site<'_>) -> (Outpost, String) {
    let path = dir.join("site.toml");
    std::fs::write(&path, site.toml()).unwrap();
    let sip_config = "digest_algorithms = [\"MD5\"]\nallowlist = [\"127.0.0.0/8\"]\n".to_owned();
    let options = Options { sip: true, sip_config, site: Some(path) };
    let outpost = Outpost::start_with(tempfile::tempdir().unwrap(), &options);
    let token = outpost.admin_token(PASSWORD);
    (outpost, token)
}

/// A loopback address of its own for each trunk peer (127.0.0.2, 127.0.0.3, ...): phones are
/// on 127.0.0.1, and the box knows a trunk's calls by their source address (by IP alone when
/// the port differs), so a peer must not share the phones' address (see
/// `a_phone_on_a_trunk_host_is_not_taken_for_the_trunk` in trunks.rs).
pub fn peer_ip() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("127.0.{}.{}", n / 250, 2 + n % 250)
}

/// A sipp playing a trunk's far end on `ip:port` (its RTP on `media`, echoed).
pub struct Peer {
    pub name: String,
    pub ip: String,
    pub port: u16,
    pub media: u16,
    dir: PathBuf,
    scenario: String,
    args: Vec<String>,
    runs: usize,
    child: Option<Child>,
}

impl Peer {
    /// A peer answering probes and calls (`trunk_peer.xml`), not started yet.
    pub fn new(dir: &Path, name: &str) -> Peer {
        let base = free_block();
        Peer {
            name: name.to_owned(),
            ip: peer_ip(),
            port: base,
            media: base + 2,
            dir: dir.to_owned(),
            scenario: "trunk_peer.xml".into(),
            args: Vec::new(),
            runs: 0,
            child: None,
        }
    }

    /// A peer that also wants a REGISTER with these credentials (`trunk_registrar.xml`).
    pub fn registrar(dir: &Path, name: &str, user: &str, password: &str) -> Peer {
        let mut peer = Peer::new(dir, name);
        peer.scenario = "trunk_registrar.xml".into();
        peer.args = vec!["-key".into(), "user".into(), user.into(), "-key".into(), "password".into(), password.into()];
        peer
    }

    /// Also writes every SIP message it sends and receives to `peer-NAME-messages.log` (sipp's
    /// -trace_msg), for a failure's report.
    pub fn trace_messages(mut self) -> Peer {
        let file = self.dir.join(format!("peer-{}-messages.log", self.name));
        self.args.extend(["-trace_msg".to_owned(), "-message_file".to_owned(), file.display().to_string()]);
        self
    }

    /// What `trace_messages` wrote.
    pub fn messages(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("peer-{}-messages.log", self.name))).unwrap_or_default()
    }

    /// What sipp reported as errors (unexpected messages and the like), over all its runs.
    pub fn errors(&self) -> String {
        (1..=self.runs)
            .map(|r| {
                std::fs::read_to_string(self.dir.join(format!("peer-{}-{r}-errors.log", self.name))).unwrap_or_default()
            })
            .collect()
    }

    fn log_path(&self, run: usize) -> PathBuf {
        self.dir.join(format!("peer-{}-{run}.log", self.name))
    }

    /// Starts (or starts again) the sipp, bounded by `-timeout`; waits until it answers.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "peer {} runs already", self.name);
        self.runs += 1;
        let log = self.log_path(self.runs);
        let child = Command::new("sipp")
            .current_dir(&self.dir)
            .args(["-sf", &format!("{SCENARIOS}/{}", self.scenario)])
            .args(&self.args)
            .args(["-i", &self.ip, "-p", &self.port.to_string(), "-mi", &self.ip])
            .args(["-mp", &self.media.to_string(), "-rtp_echo", "-timeout", "120", "-nostdin"])
            .args(["-trace_err", "-error_file"])
            .arg(self.dir.join(format!("peer-{}-{}-errors.log", self.name, self.runs)))
            .args(["-trace_logs", "-log_file"])
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sipp must be installed");
        self.child = Some(child);
        // Bound to its port once it answers an OPTIONS of our own.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !options_answered(&self.ip, self.port) {
            assert!(Instant::now() < deadline, "peer {} did not start", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the sipp: from now on nothing answers on its port.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Everything it logged, over all its runs.
    pub fn log(&self) -> String {
        (1..=self.runs).map(|r| std::fs::read_to_string(self.log_path(r)).unwrap_or_default()).collect()
    }

    /// The numbers of the INVITEs it answered (the Request-URI's user), in order.
    pub fn answered(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|l| l.strip_prefix("answered INVITE to "))
            .map(|l| l.split_whitespace().next().unwrap_or_default().to_owned())
            .collect()
    }

    /// The From users of the INVITEs it answered (the caller ID the box presented).
    pub fn callers(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|l| l.strip_prefix("answered INVITE to "))
            .filter_map(|l| l.split(" from ").nth(1))
            .map(|l| l.split_whitespace().next().unwrap_or_default().to_owned())
            .collect()
    }

    /// Unix times (sipp's clock, the same machine's) of the box's OPTIONS it answered in run
    /// `run` (not counting the test's own readiness probe).
    pub fn options_times(&self, run: usize) -> Vec<f64> {
        std::fs::read_to_string(self.log_path(run))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("answered OPTIONS") && !l.contains("Call-ID: ready-"))
            .filter_map(|l| l.split_whitespace().last()?.parse().ok())
            .collect()
    }

    /// How many times it has been started.
    pub fn runs(&self) -> usize {
        self.runs
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether something answers an OPTIONS on `ip:port` within half a second.
pub fn options_answered(ip: &str, port: u16) -> bool {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let me = socket.local_addr().unwrap();
    let id = format!("{}-{}", std::process::id(), me.port());
    let request = format!(
        "OPTIONS sip:{ip}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKready{id}\r\n\
         From: <sip:ready@{me}>;tag=r{id}\r\nTo: <sip:{ip}:{port}>\r\nCall-ID: ready-{id}\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    if socket.send_to(request.as_bytes(), (ip, port)).is_err() {
        return false;
    }
    let mut buf = [0u8; 2048];
    matches!(socket.recv(&mut buf), Ok(n) if buf[..n].starts_with(b"SIP/2.0 200"))
}

/// `GET /api/v1/trunks/status`.
pub fn status(outpost: &Outpost, token: &str) -> Vec<Value> {
    let (code, body) = outpost.json("GET", "/api/v1/trunks/status", Some(token), None);
    assert_eq!(code, 200, "{body}");
    body.as_array().unwrap().clone()
}

/// The status row of trunk `name` of acme.
pub fn trunk(outpost: &Outpost, token: &str, name: &str) -> Value {
    let rows = status(outpost, token);
    rows.iter().find(|r| r["tenant"] == "acme" && r["name"] == name).cloned().unwrap_or_else(|| {
        panic!("no trunk {name} in {rows:?}");
    })
}

/// `GET /api/v1/survivable`.
pub fn survivable(outpost: &Outpost, token: &str) -> Value {
    let (code, body) = outpost.json("GET", "/api/v1/survivable", Some(token), None);
    assert_eq!(code, 200, "{body}");
    body
}

/// Polls `probe` (every 100 ms, at most `bound`) until it gives `Some`; panics with `what`
/// and the box's last answer otherwise. Bounds here are ceilings against hangs, never the
/// thing a test checks.
pub fn wait_for<T>(what: &str, bound: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + bound;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(last) if Instant::now() > deadline => panic!("{what}: still not so after {bound:?}; last: {last}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Waits until trunk `name` is in `state` (`up`, `down`); returns its status row.
pub fn wait_state(outpost: &Outpost, token: &str, name: &str, state: &str) -> Value {
    wait_for(&format!("trunk {name} {state}"), Duration::from_secs(30), || {
        let row = trunk(outpost, token, name);
        if row["state"] == state {
            Ok(row)
        } else {
            Err(row.to_string())
        }
    })
}

/// Waits until the site's mode is survivable (`true`) or normal; returns `/api/v1/survivable`.
pub fn wait_mode(outpost: &Outpost, token: &str, survivable_now: bool) -> Value {
    wait_for(&format!("survivable = {survivable_now}"), Duration::from_secs(30), || {
        let body = survivable(outpost, token);
        if body["survivable"] == survivable_now {
            Ok(body)
        } else {
            Err(body.to_string())
        }
    })
}

/// The events of `/api/v1/survivable` of this `kind` (`survivable`, `normal`, `up`, `down`,
/// `registered`), for trunk `trunk` or, with `None`, the site's mode changes.
pub fn events<'a>(body: &'a Value, kind: &str, trunk: Option<&str>) -> Vec<&'a Value> {
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind && trunk.is_none_or(|t| e["trunk"] == t))
        .collect()
}

/// A metric line's value from `/metrics` (`outpost_survivable`, `outpost_trunk_up{...}`).
pub fn metric(outpost: &Outpost, series: &str) -> Option<f64> {
    let (code, text) = outpost.curl("GET", "/metrics", None, None);
    assert_eq!(code, 200);
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The raw A-law file `trunk_long_call_uac.xml` streams (a 440 Hz tone, 1 s), written into the
/// directory sipp runs in.
pub fn write_tone(dir: &Path) {
    fn alaw(sample: i32) -> u8 {
        let sign = if sample >= 0 { 0x80 } else { 0 };
        let s = (sample.unsigned_abs() >> 3).min(0xfff);
        let (exp, mantissa) = if s < 32 {
            (0, s >> 1)
        } else {
            let exp = 32 - s.leading_zeros() - 5;
            (exp, (s >> exp) & 0xf)
        };
        ((exp << 4) as u8 | mantissa as u8 | sign) ^ 0x55
    }
    let tone: Vec<u8> = (0..8000)
        .map(|i| alaw((8000.0 * (2.0 * std::f64::consts::PI * 440.0 * f64::from(i) / 8000.0).sin()) as i32))
        .collect();
    std::fs::write(dir.join("trunk_tone.alaw"), tone).unwrap();
}

/// The log lines of a sipp run with `-trace_logs -log_file path`.
pub fn sipp_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A sipp running in the background (a long call), killed if the test ends first.
pub struct Background {
    child: Option<Child>,
    name: String,
    dir: PathBuf,
}

impl Background {
    pub fn spawn(mut cmd: Command, name: &str, dir: &Path) -> Background {
        let child = cmd.spawn().expect("sipp must be installed");
        Background { child: Some(child), name: name.to_owned(), dir: dir.to_owned() }
    }

    /// Whether its scenario is still going.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// Waits (bounded) for its scenario's end; true when it completed.
    pub fn finished(&mut self) -> bool {
        let Some(mut child) = self.child.take() else { return false };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                if !status.success() {
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        let _ = std::io::Read::read_to_string(&mut e, &mut err);
                    }
                    eprintln!("{}: {status}: {err}\n{}", self.name, super::phones::errors(&self.dir));
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

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The far end of a trunk calling into the box: sipp from `(ip, port, media)` (the trunk's
/// address, so the box knows the calls as the trunk's) places one call per `(did, caller)`,
/// one at a time, answering the box's probes meanwhile (`-aa`). The finished sipp run.
pub fn calls_from_trunk(
    dir: &Path,
    outpost: &Outpost,
    (ip, port, media): (&str, u16, u16),
    calls: &[(&str, &str)],
) -> std::process::Output {
    let file = dir.join("dids.csv");
    let lines: String = calls.iter().map(|(did, caller)| format!("{did};{caller};\n")).collect();
    std::fs::write(&file, format!("SEQUENTIAL\n{lines}")).unwrap();
    Command::new("sipp")
        .current_dir(dir)
        .arg(format!("127.0.0.1:{}", outpost.sip_port))
        .args(["-sf", &format!("{SCENARIOS}/trunk_inbound_uac.xml"), "-inf"])
        .arg(&file)
        .args(["-i", ip, "-p", &port.to_string(), "-mi", ip, "-mp", &media.to_string()])
        .args([
            "-m",
            &calls.len().to_string(),
            "-l",
            "1",
            "-aa",
            "-t",
            "u1",
            "-timeout",
            "40",
            "-timeout_error",
            "-nostdin",
        ])
        .arg("-trace_err")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}
