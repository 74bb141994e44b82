//! The registrar against real peers: sipp registering with digest auth over UDP, TCP and TLS
//! (TLS through a socat tunnel, as Debian's sipp is built without TLS), bindings surviving a
//! restart, 10,000 extensions, and what a scanner sees (raw UDP, as sipvicious sends it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Options, Outpost};

const SITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/site.toml");
const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sipp");
/// Debian's sipp 3.6 answers only MD5 challenges, and only the first one offered.
const SIPP_CONFIG: &str = "digest_algorithms = [\"MD5\"]\n";
const PASSWORD: &str = "registrar-tests-admin";

fn sip_options(extra: &str) -> Options {
    Options { sip: true, sip_config: format!("{SIPP_CONFIG}{extra}"), site: Some(SITE.into()) }
}

/// (extension, domain, password) rows as a sipp injection file.
fn users_file(dir: &Path, users: &[(String, &str, String)], expires: u32) -> PathBuf {
    let mut text = String::from("SEQUENTIAL\n");
    for (ext, domain, password) in users {
        text.push_str(&format!("{ext};{domain};[authentication username={ext} password={password}];{expires}\n"));
    }
    let path = dir.join("users.csv");
    std::fs::write(&path, text).unwrap();
    path
}

fn acme_users() -> Vec<(String, &'static str, String)> {
    vec![
        ("101".into(), "acme.pbx.local", "correct-horse-101".into()),
        ("102".into(), "acme.pbx.local", "battery-staple-102".into()),
    ]
}

/// Runs a sipp scenario to completion; true when every call succeeded.
fn sipp(dir: &Path, scenario: &str, target: &str, transport: &str, users: &Path, calls: usize, rate: u32) -> bool {
    sipp_from(dir, scenario, target, transport, users, calls, rate, &[])
}

#[allow(clippy::too_many_arguments)]
fn sipp_from(
    dir: &Path,
    scenario: &str,
    target: &str,
    transport: &str,
    users: &Path,
    calls: usize,
    rate: u32,
    extra: &[&str],
) -> bool {
    let out = Command::new("sipp")
        .current_dir(dir)
        .arg(target)
        .args(["-sf", &format!("{SCENARIOS}/{scenario}"), "-inf"])
        .arg(users)
        .args(["-t", transport, "-m", &calls.to_string(), "-r", &rate.to_string(), "-l", "200"])
        .args(extra)
        .args(["-i", "127.0.0.1", "-timeout", "60", "-timeout_error", "-nostdin", "-trace_err"])
        .stdin(Stdio::null())
        .output()
        .expect("sipp must be installed (the README's test command installs sip-tester)");
    if !out.status.success() {
        let errors: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        eprintln!("sipp failed: {}\n{}", String::from_utf8_lossy(&out.stderr), errors.join("\n"));
    }
    out.status.success()
}

fn registrations(outpost: &Outpost, token: &str) -> Vec<serde_json::Value> {
    let (code, body) = outpost.json("GET", "/api/v1/registrations", Some(token), None);
    assert_eq!(code, 200, "{body}");
    body.as_array().unwrap().clone()
}

/// A TLS tunnel: sipp speaks TCP to socat, socat speaks TLS to the box (checking its certificate).
struct Tunnel(Child, u16);

impl Tunnel {
    fn to(outpost: &Outpost) -> Tunnel {
        let port = common::free_port();
        let child = Command::new("socat")
            .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"))
            .arg(format!(
                "OPENSSL:127.0.0.1:{},cafile={},verify=1,commonname=localhost",
                outpost.sip_tls_port,
                outpost.cert().display()
            ))
            .stdin(Stdio::null())
            .spawn()
            .expect("socat must be installed (the README's test command installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "socat did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Tunnel(child, port)
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sipp_registers_over_udp_tcp_and_tls_and_unregisters() {
    let outpost = Outpost::start_with(tempfile::tempdir().unwrap(), &sip_options(""));
    let token = outpost.admin_token(PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), &acme_users(), 600);
    let target = format!("127.0.0.1:{}", outpost.sip_port);

    assert!(sipp(dir.path(), "register.xml", &target, "u1", &users, 2, 10), "UDP");
    assert!(sipp(dir.path(), "register.xml", &target, "t1", &users, 2, 10), "TCP");
    let tunnel = Tunnel::to(&outpost);
    // Through the tunnel sipp believes it speaks TCP: another local port keeps its contacts apart.
    let port = common::free_port().to_string();
    let tls_target = format!("127.0.0.1:{}", tunnel.1);
    assert!(sipp_from(dir.path(), "register.xml", &tls_target, "t1", &users, 2, 10, &["-p", &port]), "TLS");

    let regs = registrations(&outpost, &token);
    assert_eq!(regs.len(), 6, "two extensions, three transports, three contacts each: {regs:?}");
    let sources: Vec<&str> = regs.iter().map(|r| r["source"].as_str().unwrap()).collect();
    for transport in ["udp:", "tcp:", "tls:"] {
        assert_eq!(sources.iter().filter(|s| s.starts_with(transport)).count(), 2, "{sources:?}");
    }
    assert!(regs.iter().all(|r| r["tenant"] == "acme" && r["user_agent"] == "sipp"));

    assert!(sipp(dir.path(), "unregister.xml", &target, "u1", &users, 2, 10), "unregister");
    assert!(registrations(&outpost, &token).is_empty(), "Contact: * removed every binding");
    let (_, metrics) = outpost.curl("GET", "/metrics", None, None);
    assert!(
        metrics.contains("outpost_sip_requests_total{transport=\"tls\",outcome=\"register_registered\"} 2"),
        "{metrics}"
    );
}

#[test]
fn bindings_survive_a_restart() {
    let mut outpost = Outpost::start_with(tempfile::tempdir().unwrap(), &sip_options(""));
    let token = outpost.admin_token(PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), &acme_users(), 3600);
    assert!(sipp(dir.path(), "register.xml", &format!("127.0.0.1:{}", outpost.sip_port), "u1", &users, 2, 10));
    let before = registrations(&outpost, &token);
    assert_eq!(before.len(), 2);

    let status = outpost.terminate(Duration::from_secs(10)).expect("stops within 10 s");
    assert!(status.success(), "{status:?}: {}", outpost.log_lines().join("\n"));
    let data = std::mem::replace(&mut outpost.data, tempfile::tempdir().unwrap());
    let again = Outpost::start_with(data, &sip_options(""));
    let login = format!(r#"{{"username":"admin","password":"{PASSWORD}"}}"#);
    let (_, body) = again.json("POST", "/api/v1/login", None, Some(&login));
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(registrations(&again, &token), before, "every phone is still registered");
    // And the phones can refresh against the restarted box.
    assert!(sipp(dir.path(), "register.xml", &format!("127.0.0.1:{}", again.sip_port), "u1", &users, 2, 10));
}

#[test]
fn ten_thousand_extensions_register() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc = std::fs::read_to_string(SITE).unwrap();
    let mut users = Vec::new();
    let mut extra = String::new();
    for n in 0..10_000 {
        let ext = format!("{}", 200_000 + n);
        let password = format!("pw-{ext}-secret");
        extra.push_str(&format!("\n[[tenants.extensions]]\nnumber = \"{ext}\"\nsecret = \"{password}\"\n"));
        users.push((ext, "bright.pbx.local", password));
    }
    // The last [[tenants]] table before the DHCP scopes is `bright`: its extensions go there.
    let split = doc.find("[[dhcp_scopes]]").unwrap();
    doc.insert_str(split, &format!("{extra}\n"));
    let site = dir.path().join("site.toml");
    std::fs::write(&site, doc).unwrap();

    // All load comes from 127.0.0.1: trust it, as an admin would trust the phone LAN.
    let options = Options { site: Some(site), ..sip_options("allowlist = [\"127.0.0.0/8\"]\n") };
    let outpost = Outpost::start_with(tempfile::tempdir().unwrap(), &options);
    let token = outpost.admin_token(PASSWORD);
    let file = users_file(dir.path(), &users, 3600);
    assert!(sipp(dir.path(), "register.xml", &format!("127.0.0.1:{}", outpost.sip_port), "u1", &file, 10_000, 500));
    let regs = registrations(&outpost, &token);
    assert_eq!(regs.len(), 10_000);
    let mut registered: Vec<&str> = regs.iter().map(|r| r["aor"].as_str().unwrap()).collect();
    registered.sort_unstable();
    registered.dedup();
    assert_eq!(registered.len(), 10_000, "every extension, once");
}

/// A REGISTER as a scanner sends it, over a plain UDP socket.
fn scan(socket: &UdpSocket, target: u16, ext: &str, auth: Option<&str>, n: u32) -> Option<String> {
    let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    let msg = format!(
        "REGISTER sip:acme.pbx.local SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-scan-{n}\r\n\
         From: <sip:{ext}@acme.pbx.local>;tag=scan\r\nTo: <sip:{ext}@acme.pbx.local>\r\nCall-ID: scan-{n}\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:{ext}@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n{auth}Content-Length: 0\r\n\r\n",
        port = socket.local_addr().unwrap().port()
    );
    socket.send_to(msg.as_bytes(), ("127.0.0.1", target)).unwrap();
    let mut buf = [0u8; 4096];
    match socket.recv(&mut buf) {
        Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Err(_) => None,
    }
}

fn nonce_of(reply: &str) -> String {
    let start = reply.find("nonce=\"").unwrap() + 7;
    reply[start..].split('"').next().unwrap().to_owned()
}

/// The varying parts of a reply (call-id, tag, branch, nonce) replaced, so two can be compared.
fn shape(reply: &str, ext: &str, n: u32) -> String {
    let nonce = nonce_of(reply);
    let tag = reply.split(";tag=").nth(2).and_then(|t| t.split("\r\n").next()).unwrap_or_default().to_owned();
    reply.replace(&nonce, "NONCE").replace(&tag, "TAG").replace(&format!("scan-{n}"), "scan-N").replace(ext, "EXT")
}

#[test]
fn a_scanner_learns_nothing_about_which_extensions_exist() {
    let outpost = Outpost::start_with(tempfile::tempdir().unwrap(), &sip_options(""));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let port = outpost.sip_port;

    // Without credentials (svwar's default), an existing and a missing extension look alike.
    let exists = scan(&socket, port, "101", None, 1).unwrap();
    let missing = scan(&socket, port, "999", None, 2).unwrap();
    assert!(exists.starts_with("SIP/2.0 401 "), "{exists}");
    assert_eq!(shape(&exists, "101", 1), shape(&missing, "999", 2));

    // With a guessed password, too.
    let guess = |ext: &str, n: u32, nonce: &str| {
        let auth = format!(
            r#"Digest username="{ext}", realm="acme.pbx.local", nonce="{nonce}", uri="sip:acme.pbx.local", response="0123456789abcdef0123456789abcdef", algorithm=MD5"#
        );
        scan(&socket, port, ext, Some(&auth), n).unwrap()
    };
    let wrong_password = guess("101", 3, &nonce_of(&exists));
    let unknown_user = guess("999", 4, &nonce_of(&missing));
    assert!(wrong_password.starts_with("SIP/2.0 401 "), "{wrong_password}");
    assert_eq!(shape(&wrong_password, "101", 3), shape(&unknown_user, "999", 4));
}

#[test]
fn brute_force_gets_banned_and_the_ban_lifts() {
    let outpost =
        Outpost::start_with(tempfile::tempdir().unwrap(), &sip_options("ban_after_failures = 3\nban_secs = 3\n"));
    let token = outpost.admin_token(PASSWORD);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    let port = outpost.sip_port;
    let challenge = scan(&socket, port, "101", None, 1).unwrap();
    let nonce = nonce_of(&challenge);
    for n in 0..3 {
        let auth = format!(
            r#"Digest username="101", realm="acme.pbx.local", nonce="{nonce}", uri="sip:acme.pbx.local", response="{n:032x}", algorithm=MD5"#
        );
        assert!(scan(&socket, port, "101", Some(&auth), 10 + n).unwrap().starts_with("SIP/2.0 401 "));
    }
    assert_eq!(scan(&socket, port, "101", None, 20), None, "banned: no answer at all");
    let (_, bans) = outpost.json("GET", "/api/v1/sip/bans", Some(&token), None);
    assert_eq!(bans[0]["address"], "127.0.0.1", "{bans}");
    assert!(outpost.log_lines().iter().any(|l| l.contains("SIP source banned")));

    std::thread::sleep(Duration::from_secs(3));
    let after = scan(&socket, port, "101", None, 21).expect("answered again once the ban is over");
    assert!(after.starts_with("SIP/2.0 401 "));
    let (_, bans) = outpost.json("GET", "/api/v1/sip/bans", Some(&token), None);
    assert_eq!(bans, serde_json::json!([]));
}

#[test]
fn malformed_packets_get_400_and_the_server_goes_on() {
    let outpost = Outpost::start_with(tempfile::tempdir().unwrap(), &sip_options(""));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let me = socket.local_addr().unwrap().port();
    let broken = format!(
        "REGISTER sip:acme.pbx.local SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-bad\r\n\
         From: <sip:101@acme.pbx.local>;tag=a\r\nTo: <sip:101@acme.pbx.local>\r\nCall-ID: bad\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    );
    socket.send_to(broken.as_bytes(), ("127.0.0.1", outpost.sip_port)).unwrap();
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).unwrap();
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(reply.starts_with("SIP/2.0 400 Bad Request: CSeq method"), "{reply}");
    for junk in [&b"\x00\xff\xfe"[..], b"INVITE", b"REGISTER sip:x SIP/2.0\r\n\r\n", &[b'A'; 20_000][..]] {
        socket.send_to(junk, ("127.0.0.1", outpost.sip_port)).unwrap();
    }
    assert!(scan(&socket, outpost.sip_port, "101", None, 1).unwrap().starts_with("SIP/2.0 401 "), "still serving");
}

#[test]
fn a_phone_answering_sha256_registers_with_the_default_challenge() {
    // Default settings: SHA-256 offered first, then MD5. phone-sim picks SHA-256 as a modern
    // phone does (sipp cannot, see docs/sip.md).
    let options = Options { sip: true, sip_config: String::new(), site: Some(SITE.into()) };
    let outpost = Outpost::start_with(tempfile::tempdir().unwrap(), &options);
    let token = outpost.admin_token(PASSWORD);
    let out = Command::new(common::bin("phone-sim"))
        .args(["register", "--server", &format!("127.0.0.1:{}", outpost.sip_port), "--domain", "acme.pbx.local"])
        .args(["--first", "101", "--count", "1", "--password-prefix", "correct-horse-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let regs = registrations(&outpost, &token);
    assert_eq!(regs.len(), 1);
    assert_eq!(regs[0]["user_agent"], "phone-sim");
}
