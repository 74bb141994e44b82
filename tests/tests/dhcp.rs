//! The DHCP server against real clients: busybox udhcpc and ISC dhclient in network namespaces
//! that each test builds for itself (a veth pair: the box on one end, the clients on the other;
//! macvlans on the client end when several MACs are needed). A rogue dnsmasq plays the other
//! DHCP server. Everything is removed on drop, also when a test fails.
//!
//! Needs root (namespaces, port 67); without it each test says so and passes without running.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Extra, Options, Outpost};

const BOX_IP: &str = "10.77.0.1";

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

macro_rules! need_root {
    () => {
        if !is_root() {
            eprintln!("SKIPPED: the DHCP end-to-end tests need root (network namespaces, port 67)");
            return;
        }
    };
}

fn run(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Two namespaces joined by a veth pair: `server` holds `BOX_IP` on `server_if`.
struct Lan {
    server: String,
    client: String,
    server_if: String,
    client_if: String,
    dir: tempfile::TempDir,
    children: Vec<Child>,
}

impl Lan {
    fn new() -> Lan {
        static N: AtomicUsize = AtomicUsize::new(0);
        let id = format!("{}x{}", std::process::id() % 100_000, N.fetch_add(1, Ordering::SeqCst));
        let lan = Lan {
            server: format!("outpost-s{id}"),
            client: format!("outpost-c{id}"),
            server_if: format!("vs{id}"),
            client_if: format!("vc{id}"),
            dir: tempfile::tempdir().unwrap(),
            children: Vec::new(),
        };
        // Built before any step can fail, so that Drop always cleans what exists.
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

    /// A macvlan on the client end with its own MAC: one more client.
    fn add_client(&self, name: &str, mac: &str) -> String {
        run(&[
            "ip",
            "-n",
            &self.client,
            "link",
            "add",
            name,
            "link",
            &self.client_if,
            "address",
            mac,
            "type",
            "macvlan",
            "mode",
            "bridge",
        ]);
        run(&["ip", "-n", &self.client, "link", "set", name, "up"]);
        name.to_owned()
    }

    /// Outpost in the server namespace, serving `site_scopes` (TOML `[[dhcp_scopes]]` tables).
    fn outpost(&self, data: tempfile::TempDir, site_scopes: &str, apply: bool) -> Outpost {
        let site = self.dir.path().join("site.toml");
        std::fs::write(&site, format!("schema = 1\n[site]\nname = \"lab\"\n\n{site_scopes}")).unwrap();
        let options = Options { site: apply.then_some(site), ..Options::default() };
        let extra = Extra {
            dhcp_config: format!("interface = \"{}\"\nport = 67", self.server_if),
            netns: Some(self.server.clone()),
            // TFTP on 69, so that Cisco phones get options 150 and 66 with the box's address.
            tftp_listen: Some("0.0.0.0:69".into()),
            ..Extra::default()
        };
        Outpost::start_extra(data, &options, &extra)
    }

    /// Runs udhcpc once on `ifname` with vendor class `class`; returns the variables its script
    /// saw on `bound`.
    fn udhcpc(&self, ifname: &str, class: &str) -> BTreeMap<String, String> {
        let out = self.dir.path().join(format!("udhcpc-{ifname}.env"));
        let _ = std::fs::remove_file(&out);
        let script = self.script(&format!("udhcpc-{ifname}"), &out, "bound");
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.client,
                "busybox",
                "udhcpc",
                "-f",
                "-q",
                "-n",
                "-t",
                "15",
                "-T",
                "1",
                "-A",
                "1",
            ])
            .args(["-i", ifname, "-V", class, "-s"])
            .arg(&script)
            .args(["-O", "tftp", "-O", "bootfile", "-O", "150", "-O", "160", "-O", "ntpsrv"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let status = wait_bounded(&mut child, Duration::from_secs(40));
        assert!(status, "udhcpc on {ifname} got no lease");
        read_env(&out)
    }

    /// Runs dhclient in the foreground with its own config, script, lease and pid files (the
    /// host's are untouched) until its script sees `BOUND`; returns the variables.
    fn dhclient(&mut self, ifname: &str, class: &str) -> BTreeMap<String, String> {
        let d = self.dir.path().to_owned();
        let out = d.join(format!("dhclient-{ifname}.env"));
        let script = self.script(&format!("dhclient-{ifname}"), &out, "BOUND");
        let conf = d.join(format!("dhclient-{ifname}.conf"));
        std::fs::write(
            &conf,
            format!(
                "option op150 code 150 = ip-address;\noption op160 code 160 = text;\n\
                 send vendor-class-identifier \"{class}\";\n\
                 request subnet-mask, routers, domain-name-servers, ntp-servers, tftp-server-name, op150, op160;\n"
            ),
        )
        .unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.client, "dhclient", "-4", "-d", "-1", "-cf"])
            .arg(&conf)
            .arg("-sf")
            .arg(&script)
            .arg("-lf")
            .arg(d.join(format!("dhclient-{ifname}.leases")))
            .arg("-pf")
            .arg(d.join(format!("dhclient-{ifname}.pid")))
            .arg(ifname)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !out.exists() {
            assert!(Instant::now() < deadline, "dhclient got no lease");
            std::thread::sleep(Duration::from_millis(100));
        }
        read_env(&out)
    }

    /// A script that writes its environment to `out` when called for `event`.
    fn script(&self, name: &str, out: &Path, event: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.sh"));
        let tmp = out.with_extension("tmp");
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\nif [ \"$1\" = {event} ] || [ \"$reason\" = {event} ]; then env > {tmp}; mv {tmp} {out}; fi\nexit 0\n",
                tmp = tmp.display(),
                out = out.display()
            ),
        )
        .unwrap();
        run(&["chmod", "+x", path.to_str().unwrap()]);
        path
    }

    /// dnsmasq as a rival DHCP server on the client end of the segment (on a macvlan of its
    /// own: macvlans in bridge mode reach each other and the veth, but not their parent).
    fn rogue_dnsmasq(&mut self) {
        let rogue = self.add_client("rg0", "02:99:00:00:00:01");
        run(&["ip", "-n", &self.client, "addr", "add", "10.77.0.2/24", "dev", &rogue]);
        let d = self.dir.path();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.client, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0"])
            .arg(format!("--interface={rogue}"))
            .args(["--bind-interfaces", "--dhcp-range=10.77.0.200,10.77.0.210,1h", "--user=root"])
            .arg(format!("--dhcp-leasefile={}", d.join("dnsmasq.leases").display()))
            .arg(format!("--pid-file={}", d.join("dnsmasq.pid").display()))
            .arg("--log-dhcp")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("dnsmasq.log")).unwrap())
            .spawn()
            .expect("dnsmasq (dnsmasq-base) must be installed");
        self.children.push(child);
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.server, &self.client] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn wait_bounded(child: &mut Child, bound: Duration) -> bool {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

fn read_env(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn scope(authoritative: bool) -> String {
    format!(
        "[[dhcp_scopes]]\nname = \"lab\"\nnetwork = \"10.77.0.0/24\"\nrange_start = \"10.77.0.100\"\n\
         range_end = \"10.77.0.150\"\nrouter = \"{BOX_IP}\"\ndns = [\"{BOX_IP}\"]\nntp = [\"{BOX_IP}\"]\n\
         lease_time = 600\nauthoritative = {authoritative}\n"
    )
}

/// Waits (bounded) until the probe is over and returns the status.
fn status(outpost: &Outpost, token: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, body) = outpost.json("GET", "/api/v1/dhcp/status", Some(token), None);
        assert_eq!(code, 200, "{body}");
        if body["state"] != "probing" || Instant::now() > deadline {
            return body;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn phones_get_a_lease_and_their_vendors_provisioning_options() {
    need_root!();
    let mut lan = Lan::new();
    let outpost = lan.outpost(tempfile::tempdir().unwrap(), &scope(false), true);
    let token = outpost.admin_token("dhcp-test-password");
    assert_eq!(status(&outpost, &token)["state"], "serving");
    let url = format!("https://{BOX_IP}:{}/prov/", outpost.port);

    let yealink = lan.add_client("yl0", "80:5e:c0:00:00:01");
    let env = lan.dhclient(&yealink, "yealink SIP-T54W");
    assert!(env["new_ip_address"].starts_with("10.77.0."), "{env:?}");
    assert_eq!(env["new_subnet_mask"], "255.255.255.0");
    assert_eq!(env["new_routers"], BOX_IP);
    assert_eq!(env["new_dhcp_server_identifier"], BOX_IP);
    assert_eq!(env["new_tftp_server_name"].trim_matches('"'), url, "Yealink is told the HTTPS URL in option 66");

    let poly = lan.add_client("po0", "00:04:f2:00:00:03");
    let env = lan.dhclient(&poly, "Polycom-VVX450");
    assert_eq!(env["new_op160"].trim_matches('"'), url, "Poly reads option 160 first");
    assert_eq!(env["new_tftp_server_name"].trim_matches('"'), url);

    // Garbage at the DHCP port is counted and dropped; the next phone is served as usual.
    run(&["ip", "-n", &lan.client, "addr", "add", "10.77.0.3/24", "dev", &lan.client_if]);
    let mut socat = Command::new("ip")
        .args(["netns", "exec", &lan.client, "socat", "-u", "-", "UDP4-SENDTO:10.77.0.1:67"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut socat.stdin.take().unwrap(), b"not a DHCP message").unwrap();
    assert!(wait_bounded(&mut socat, Duration::from_secs(10)));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, metrics) = outpost.curl("GET", "/metrics", None, None);
        if metrics.contains("outpost_dhcp_dropped_total{reason=\"malformed\"} 1") {
            break;
        }
        assert!(Instant::now() < deadline, "the malformed datagram is counted:\n{metrics}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // busybox checks option 66 as a host name: Cisco's (the box's address) passes.
    let cisco = lan.add_client("cs0", "00:1e:7a:00:00:02");
    let env = lan.udhcpc(&cisco, "Cisco Systems, Inc. IP Phone CP-8841");
    assert!(env["ip"].starts_with("10.77.0."), "{env:?}");
    assert_eq!(env["subnet"], "255.255.255.0");
    assert_eq!(env["serverid"], BOX_IP);
    assert_eq!(env["tftp"], BOX_IP, "{env:?}");
    assert_eq!(env.get("opt150").map(String::as_str), Some("0a4d0001"), "option 150 is the box's address: {env:?}");

    let (code, leases) = outpost.json("GET", "/api/v1/dhcp/leases", Some(&token), None);
    assert_eq!(code, 200);
    let vendors: HashSet<&str> = leases.as_array().unwrap().iter().map(|l| l["vendor"].as_str().unwrap()).collect();
    assert_eq!(vendors, HashSet::from(["yealink", "cisco", "poly"]), "{leases}");
    let (_, seen) = outpost.json("GET", "/api/v1/devices/discovered", Some(&token), None);
    let macs: Vec<&str> = seen.as_array().unwrap().iter().filter_map(|d| d["mac"].as_str()).collect();
    assert!(macs.contains(&"80:5e:c0:00:00:01"), "DHCP sightings land in the discovered list: {seen}");
}

#[test]
fn a_restart_keeps_every_clients_address_and_concurrent_clients_never_share_one() {
    need_root!();
    let lan = Lan::new();
    let data = tempfile::tempdir().unwrap();
    let mut outpost = lan.outpost(data, &scope(false), true);
    outpost.admin_token("dhcp-test-password");
    let names: Vec<String> =
        (0..6).map(|i| lan.add_client(&format!("m{i}"), &format!("02:42:00:00:00:{i:02x}"))).collect();
    let lease_all = |names: &[String]| -> Vec<String> {
        std::thread::scope(|s| {
            let handles: Vec<_> = names.iter().map(|n| s.spawn(|| lan.udhcpc(n, "yealink")["ip"].clone())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    };
    let first = lease_all(&names[..3]);
    // Restart in the middle: the store has the first three.
    outpost.terminate(Duration::from_secs(10)).expect("outpost stops on SIGTERM");
    let data = std::mem::replace(&mut outpost.data, tempfile::tempdir().unwrap());
    drop(outpost);
    let outpost = lan.outpost(data, &scope(false), false);
    let second = lease_all(&names[3..]);
    let all: Vec<&String> = first.iter().chain(&second).collect();
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 6, "six clients, six addresses: {all:?}");
    // The same MACs again, after the restart: each gets the address it had.
    assert_eq!(lease_all(&names[..3]), first);
    let (code, login) =
        outpost.json("POST", "/api/v1/login", None, Some(r#"{"username":"admin","password":"dhcp-test-password"}"#));
    assert_eq!(code, 200, "{login}");
    let token = login["token"].as_str().unwrap();
    let (_, leases) = outpost.json("GET", "/api/v1/dhcp/leases", Some(token), None);
    assert_eq!(leases.as_array().unwrap().len(), 6, "{leases}");
}

#[test]
fn another_dhcp_server_on_the_segment_makes_outpost_refuse_unless_authoritative() {
    need_root!();
    let mut lan = Lan::new();
    lan.rogue_dnsmasq();
    let outpost = lan.outpost(tempfile::tempdir().unwrap(), &scope(false), true);
    let token = outpost.admin_token("dhcp-test-password");
    let st = status(&outpost, &token);
    let log = std::fs::read_to_string(lan.dir.path().join("dnsmasq.log")).unwrap_or_default();
    assert_eq!(st["state"], "refused", "{st}\ndnsmasq:\n{log}\noutpost:\n{}", outpost.log_lines().join("\n"));
    assert_eq!(st["other_server"], "10.77.0.2");
    // The rival answers; outpost stays silent, so the client gets the rival's address.
    let phone = lan.add_client("p0", "80:5e:c0:00:00:09");
    let env = lan.udhcpc(&phone, "yealink");
    assert_eq!(env["serverid"], "10.77.0.2", "{env:?}");
    drop(outpost);

    let outpost = lan.outpost(tempfile::tempdir().unwrap(), &scope(true), true);
    let token = outpost.admin_token("dhcp-test-password");
    let st = status(&outpost, &token);
    assert_eq!(st["state"], "serving", "authoritative = true serves anyway: {st}");
}

/// The whole chain of zero touch, with nothing but the wire: phone-sim phones of three vendors
/// in the client namespace ask DHCP, follow the option their vendor reads (Yealink 66 = URL,
/// Poly 160, Cisco 150 → TFTP bootstrap → URL), fetch their file over HTTPS, and register with
/// the account in it.
#[test]
fn phones_go_from_dhcp_to_registered_with_no_human_step() {
    need_root!();
    use appliance::site::Vendor;
    use tools::sim::habits::mac_of;
    let lan = Lan::new();
    let vendors = [Vendor::Yealink, Vendor::Poly, Vendor::Cisco];
    let mut site = format!("schema = 1\n[site]\nname = \"lab\"\n\n{}", scope(false));
    site.push_str("[[tenants]]\nname = \"lab\"\ndomains = [\"lab.pbx.local\"]\n");
    for (i, vendor) in vendors.iter().enumerate() {
        site.push_str(&format!("[[tenants.extensions]]\nnumber = \"{}\"\n", 301 + i));
        site.push_str(&format!(
            "[[tenants.devices]]\nmac = \"{}\"\nvendor = \"{}\"\nextension = \"{}\"\n",
            mac_of(*vendor, 1 + i as u32),
            vendor.as_str(),
            301 + i
        ));
    }
    let site_path = lan.dir.path().join("chain.toml");
    std::fs::write(&site_path, site).unwrap();
    let options = Options { sip: true, sip_config: String::new(), site: Some(site_path) };
    let extra = Extra {
        dhcp_config: format!("interface = \"{}\"\nport = 67", lan.server_if),
        netns: Some(lan.server.clone()),
        tftp_listen: Some("0.0.0.0:69".into()),
        listen_all: true,
        ..Extra::default()
    };
    let outpost = Outpost::start_extra(tempfile::tempdir().unwrap(), &options, &extra);
    let token = outpost.admin_token("dhcp-chain-password");
    assert_eq!(status(&outpost, &token)["state"], "serving");
    let names: Vec<&str> = vendors.iter().map(|v| v.as_str()).collect();
    // Bounded: `timeout` ends phone-sim if it hangs.
    let out = Command::new("timeout")
        .args(["60", "ip", "netns", "exec", &lan.client])
        .arg(common::bin("phone-sim"))
        .args(["boot", "--vendors", &names.join(","), "--count", "3", "--first-mac", "1", "--parallel", "3"])
        .args(["--dhcp-iface", &lan.client_if, "--cacert"])
        .arg(outpost.cert())
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "phone-sim:\n{stdout}\n{stderr}");
    assert!(stdout.contains("booted 3 of 3"), "{stdout}");
    let (code, bindings) = outpost.json("GET", "/api/v1/registrations", Some(&token), None);
    assert_eq!(code, 200);
    let mut aors: Vec<&str> = bindings.as_array().unwrap().iter().filter_map(|b| b["aor"].as_str()).collect();
    aors.sort_unstable();
    assert_eq!(aors, ["301", "302", "303"], "{bindings}");
    // Each registered from the address DHCP gave it.
    let (_, leases) = outpost.json("GET", "/api/v1/dhcp/leases", Some(&token), None);
    for b in bindings.as_array().unwrap() {
        let source = b["source"].as_str().unwrap();
        assert!(
            leases.as_array().unwrap().iter().any(|l| source.contains(l["ip"].as_str().unwrap_or("?"))),
            "{source} is a leased address: {leases}"
        );
    }
}
