//! The harness shared by the end-to-end tests: a real `outpost` process on loopback with its own
//! data directory and free ports, and `curl` as the HTTPS client. Everything is torn down on drop.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod bundles;
pub mod fleet;
pub mod lan;
pub mod phones;
pub mod trunks;
pub mod ui;
pub mod webdriver;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Where cargo put the workspace's binaries (next to this test's own `deps/` directory).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (the README's test command does)",
        path.display()
    );
    path
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A UDP port that was free a moment ago.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A port free on both UDP and TCP (SIP listens on both).
pub fn free_sip_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// How to start a box: everything off but the API unless asked.
#[derive(Default, Clone)]
pub struct Options {
    /// Run SIP on loopback (UDP and TCP on one port, TLS on another).
    pub sip: bool,
    /// Extra lines for the `[sip]` table of outpost.toml.
    pub sip_config: String,
    /// A site config to apply before the first start.
    pub site: Option<PathBuf>,
}

/// Settings besides `Options` (a separate struct, so that `Options { .. }` literals in tests
/// stay valid as this grows).
#[derive(Default, Clone)]
pub struct Extra {
    /// Run TFTP on a free loopback port (`Outpost::tftp_port`).
    pub tftp: bool,
    /// Lines for the `[provision]` table of outpost.toml.
    pub provision_config: String,
    /// Lines for the `[dhcp]` table of outpost.toml (none: DHCP off).
    pub dhcp_config: String,
    /// Run the daemon, and `curl` against it, inside this network namespace.
    pub netns: Option<String>,
    /// `[tftp] listen` as given (overrides `tftp`), e.g. `"0.0.0.0:69"` inside a namespace.
    pub tftp_listen: Option<String>,
    /// Lines for the `[rtp]` table of outpost.toml (none: the defaults).
    pub rtp_config: String,
    /// The API and SIP listen on every address (phones in another namespace reach them),
    /// not only on loopback.
    pub listen_all: bool,
    /// Lines for the `[cloud]` table of outpost.toml (none: cloud sync off).
    pub cloud_config: String,
    /// Lines for the `[update]` table of outpost.toml (none: the image's key path).
    pub update_config: String,
}

pub struct Outpost {
    pub child: Option<Child>,
    pub data: tempfile::TempDir,
    pub config: PathBuf,
    pub port: u16,
    /// SIP UDP/TCP port and SIP TLS port, when SIP runs.
    pub sip_port: u16,
    pub sip_tls_port: u16,
    /// TFTP port, when TFTP runs.
    pub tftp_port: u16,
    pub one_time_password: String,
    pub banner: Vec<String>,
    /// Lines of stderr (logs), collected as they come.
    pub logs: mpsc::Receiver<String>,
    /// The network namespace the daemon runs in, when not the test's own.
    pub netns: Option<String>,
}

impl Outpost {
    /// Starts a fresh box and waits for its banner.
    pub fn start() -> Outpost {
        let data = tempfile::tempdir().unwrap();
        Self::start_in(data)
    }

    pub fn start_in(data: tempfile::TempDir) -> Outpost {
        Self::start_with(data, &Options::default())
    }

    pub fn start_with(data: tempfile::TempDir, options: &Options) -> Outpost {
        Self::start_extra(data, options, &Extra::default())
    }

    pub fn start_extra(data: tempfile::TempDir, options: &Options, extra: &Extra) -> Outpost {
        // Ports were free a moment ago, each on its own: one box must not get the same one twice
        // (a TLS port equal to the SIP port failed a CI run with "Address already in use").
        let (port, tftp_port, sip_port, sip_tls_port) = loop {
            let port = free_port();
            let tftp_port = if extra.tftp { free_udp_port() } else { 0 };
            let (sip_port, sip_tls_port) = if options.sip { (free_sip_port(), free_port()) } else { (0, 0) };
            let taken: Vec<u16> = [port, tftp_port, sip_port, sip_tls_port].into_iter().filter(|p| *p != 0).collect();
            let mut distinct = taken.clone();
            distinct.sort_unstable();
            distinct.dedup();
            if distinct.len() == taken.len() {
                break (port, tftp_port, sip_port, sip_tls_port);
            }
        };
        let tftp = match (&extra.tftp_listen, extra.tftp) {
            (Some(listen), _) => format!("\"{listen}\""),
            (None, true) => format!("\"127.0.0.1:{tftp_port}\""),
            (None, false) => "\"off\"".to_owned(),
        };
        let at = if extra.listen_all { "0.0.0.0" } else { "127.0.0.1" };
        let sip = if options.sip {
            format!(
                "udp = \"{at}:{sip_port}\"\ntcp = \"{at}:{sip_port}\"\ntls = \"{at}:{sip_tls_port}\"\n{}",
                options.sip_config
            )
        } else {
            "udp = \"off\"\ntcp = \"off\"\ntls = \"off\"\n".to_owned()
        };
        let config = data.path().join("outpost.toml");
        let dhcp =
            if extra.dhcp_config.is_empty() { String::new() } else { format!("[dhcp]\n{}\n", extra.dhcp_config) };
        let dhcp = if extra.rtp_config.is_empty() { dhcp } else { format!("{dhcp}[rtp]\n{}\n", extra.rtp_config) };
        let dhcp =
            if extra.cloud_config.is_empty() { dhcp } else { format!("{dhcp}[cloud]\n{}\n", extra.cloud_config) };
        let dhcp =
            if extra.update_config.is_empty() { dhcp } else { format!("{dhcp}[update]\n{}\n", extra.update_config) };
        std::fs::write(
            &config,
            format!(
                "data_dir = \"{}\"\n[api]\nlisten = \"{at}:{port}\"\n[sip]\n{sip}\n\
                 [tftp]\nlisten = {tftp}\n[provision]\n{}\n{dhcp}[daemon]\nshutdown_timeout_secs = 5\n",
                data.path().join("box").display(),
                extra.provision_config,
            ),
        )
        .unwrap();
        if let Some(site) = &options.site {
            let out = Command::new(bin("outpost"))
                .args(["config", "apply", "--config"])
                .arg(&config)
                .arg(site)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        let mut child = in_netns(extra.netns.as_deref(), bin("outpost"))
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, logs) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut banner = Vec::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut one_time_password = String::new();
        loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap() == 0 {
                let logs: Vec<String> = logs.try_iter().collect();
                panic!("outpost exited before its banner:\n{}\n{}", banner.join(""), logs.join("\n"));
            }
            if let Some(rest) = line.trim().strip_prefix("Admin login: admin / ") {
                one_time_password = rest.split_whitespace().next().unwrap().to_owned();
            }
            let done = line.trim().starts_with("Admin login:");
            banner.push(line);
            if done {
                break;
            }
        }
        // Keep draining stdout so the daemon never blocks on a full pipe.
        std::thread::spawn(move || for _ in stdout.lines() {});
        Outpost {
            child: Some(child),
            data,
            config,
            port,
            sip_port,
            sip_tls_port,
            tftp_port,
            one_time_password,
            banner,
            logs,
            netns: extra.netns.clone(),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data.path().join("box")
    }

    pub fn cert(&self) -> PathBuf {
        self.data_dir().join("tls/cert.pem")
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// Runs curl against the box; returns (status, body).
    pub fn curl(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
        let mut cmd = in_netns(self.netns.as_deref(), "curl");
        cmd.args(["-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}", "-X", method, "--cacert"])
            .arg(self.cert())
            .arg(self.url(path));
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        if let Some(b) = body {
            cmd.args(["-H", "Content-Type: application/json", "--data-binary", b]);
        }
        let out = cmd.output().expect("curl must be installed (the README's test command installs it)");
        assert!(out.status.success(), "curl failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.parse().unwrap(), body.to_owned())
    }

    pub fn json(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, serde_json::Value) {
        let (code, text) = self.curl(method, path, token, body);
        (code, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    /// Logs in with the one-time password, sets `password`, and returns a session token.
    pub fn admin_token(&self, password: &str) -> String {
        let login = |pw: &str| {
            let (code, body) =
                self.json("POST", "/api/v1/login", None, Some(&format!(r#"{{"username":"admin","password":"{pw}"}}"#)));
            assert_eq!(code, 200, "{body}");
            body["token"].as_str().unwrap().to_owned()
        };
        let first = login(&self.one_time_password);
        let change = format!(r#"{{"current":"{}","new":"{password}"}}"#, self.one_time_password);
        let (code, body) = self.curl("POST", "/api/v1/password", Some(&first), Some(&change));
        assert_eq!(code, 204, "{body}");
        login(password)
    }

    /// Runs `outpost <args>` against this box's config (its data directory).
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(bin("outpost")).args(args).arg("--config").arg(&self.config).stdin(Stdio::null()).output().unwrap()
    }

    /// Sends SIGTERM and waits up to `bound` for the exit.
    pub fn terminate(&mut self, bound: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        signal(&child, "TERM");
        let deadline = Instant::now() + bound;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Log lines received so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.logs.try_iter().collect()
    }
}

impl Drop for Outpost {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `program`, run inside network namespace `netns` when one is given (`ip netns exec` execs it,
/// so the child's pid is the program's own and signals reach it).
pub fn in_netns(netns: Option<&str>, program: impl AsRef<std::ffi::OsStr>) -> Command {
    match netns {
        Some(ns) => {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", ns]).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
}

pub mod mosquitto;
