//! A little LAN for the DHCP tests of the web UI: two network namespaces joined by a veth pair
//! (the box on one end), and a TCP forwarder so that the host's browser reaches the box.
//! Needs root; removed on drop.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::webdriver::{wait_until, Browser};
use super::{Extra, Options, Outpost};

const BOUND: Duration = Duration::from_secs(30);

/// Runs `args`, asserting success.
pub fn run(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

pub const BOX_IP: &str = "10.78.0.1";

/// Two network namespaces joined by a veth pair (the box's end holds `BOX_IP`), and a TCP
/// forwarder from the host's loopback to the box's HTTPS port inside its namespace, so that
/// the host's browser reaches it. Removed on drop, also when the test fails.
pub struct Lan {
    pub server: String,
    pub client: String,
    pub server_if: String,
    pub client_if: String,
    forwarder: Option<std::process::Child>,
}

impl Lan {
    pub fn new() -> Lan {
        let id = std::process::id() % 100_000;
        let lan = Lan {
            server: format!("outpost-uis{id}"),
            client: format!("outpost-uic{id}"),
            server_if: format!("uis{id}"),
            client_if: format!("uic{id}"),
            forwarder: None,
        };
        run(&["ip", "netns", "add", &lan.server]);
        run(&["ip", "netns", "add", &lan.client]);
        run(&["ip", "link", "add", &lan.server_if, "type", "veth", "peer", "name", &lan.client_if]);
        run(&["ip", "link", "set", &lan.server_if, "netns", &lan.server]);
        run(&["ip", "link", "set", &lan.client_if, "netns", &lan.client]);
        run(&["ip", "-n", &lan.server, "addr", "add", &format!("{BOX_IP}/24"), "dev", &lan.server_if]);
        for (ns, ifname) in [(&lan.server, &lan.server_if), (&lan.client, &lan.client_if)] {
            run(&["ip", "-n", ns, "link", "set", ifname, "up"]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        lan
    }

    /// Forwards host `127.0.0.1:<returned port>` to `127.0.0.1:port` in the box's namespace.
    pub fn forward(&mut self, port: u16) -> u16 {
        let local = super::free_port();
        let child = Command::new("socat")
            .arg(format!("TCP-LISTEN:{local},bind=127.0.0.1,reuseaddr,fork"))
            .arg(format!("SYSTEM:ip netns exec {} socat STDIO TCP\\:127.0.0.1\\:{port}", self.server))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.forwarder = Some(child);
        wait_until(BOUND, "the forwarder listening", || std::net::TcpStream::connect(("127.0.0.1", local)).ok());
        local
    }
}

impl Lan {
    /// A box in the server namespace, serving DHCP on its veth with one scope `lab`
    /// (10.78.0.100 to .150, router `BOX_IP`, lease 600 s, and `scope_lines`), its admin
    /// password set to `password`: the box and an API token, once DHCP serves.
    pub fn serving_box(&self, dir: &Path, password: &str, scope_lines: &str) -> (Outpost, String) {
        let site = dir.join("site.toml");
        std::fs::write(
            &site,
            format!(
                "schema = 1\n[site]\nname = \"lab\"\n\n[[dhcp_scopes]]\nname = \"lab\"\nnetwork = \"10.78.0.0/24\"\n\
                 range_start = \"10.78.0.100\"\nrange_end = \"10.78.0.150\"\nrouter = \"{BOX_IP}\"\nlease_time = 600\n{scope_lines}\n"
            ),
        )
        .unwrap();
        let extra = Extra {
            dhcp_config: format!("interface = \"{}\"\nport = 67", self.server_if),
            netns: Some(self.server.clone()),
            ..Extra::default()
        };
        let outpost = Outpost::start_extra(
            tempfile::tempdir().unwrap(),
            &Options { site: Some(site), ..Options::default() },
            &extra,
        );
        let token = outpost.admin_token(password);
        let serving = wait_until(BOUND, "DHCP serving", || {
            let (_, s) = outpost.json("GET", "/api/v1/dhcp/status", Some(&token), None);
            (s["state"] != "probing").then_some(s)
        });
        assert_eq!(serving["state"], "serving", "{serving}");
        (outpost, token)
    }
}

/// A browser logged in as `admin` with `password` at `https://127.0.0.1:port` (a forwarder).
pub fn browser_at(port: u16, password: &str) -> Browser {
    let browser = Browser::start();
    browser.goto(&format!("https://127.0.0.1:{port}/ui/login"));
    let field = browser.find("#login input[name=username]");
    field.clear();
    field.send_keys("admin");
    browser.find("#login input[name=password]").send_keys(password);
    browser.find("#login button[type=submit]").click();
    wait_until(BOUND, "the dashboard", || browser.try_find("#dashboard"));
    browser
}

impl Drop for Lan {
    fn drop(&mut self) {
        if let Some(mut child) = self.forwarder.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.server, &self.client] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
