//! Provisioning against real clients: tftp-hpa and curl (`tftp://`) fetch the bootstrap and a
//! device file without credentials, curl with a phone's User-Agent fetches the full file over
//! HTTPS, a wrong MAC is refused, a MAC scan is banned, an unknown phone is recorded and can be
//! adopted, and a change of the site config sends check-sync to the registered phone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Extra, Options, Outpost};

const SITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/site.toml");
const YEALINK_UA: &str = "Yealink SIP-T54W 96.86.0.100 80:5e:c0:11:22:33";
const SECRET: &str = "correct-horse-101";
const PASSWORD: &str = "provision-tests-admin";

fn start(provision_config: &str) -> Outpost {
    let options = Options { sip: true, sip_config: "digest_algorithms = [\"MD5\"]\n".into(), site: Some(SITE.into()) };
    let extra = Extra { tftp: true, provision_config: provision_config.into(), ..Extra::default() };
    Outpost::start_extra(tempfile::tempdir().unwrap(), &options, &extra)
}

/// tftp-hpa's client: the file's bytes, or None when the server refused.
fn tftp_hpa(box_: &Outpost, file: &str) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("got");
    let status = Command::new("tftp")
        .args(["-m", "binary", "127.0.0.1", &box_.tftp_port.to_string(), "-c", "get", file])
        .arg(&out)
        .output()
        .expect("tftp-hpa must be installed (the README's test command installs it)");
    // tftp-hpa exits 0 even on an error packet; it prints the error and leaves no (or an empty) file.
    let text = String::from_utf8_lossy(&status.stdout).to_string() + &String::from_utf8_lossy(&status.stderr);
    if text.contains("Error code") {
        return None;
    }
    std::fs::read(&out).ok()
}

/// curl over HTTPS with a User-Agent and extra arguments: (status, headers, body).
fn fetch(box_: &Outpost, file: &str, ua: &str, extra: &[&str]) -> (u16, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("h");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}", "-A", ua, "-D"])
        .arg(&headers)
        .arg("--cacert")
        .arg(box_.cert())
        .args(extra)
        .arg(box_.url(&format!("/prov/{file}")))
        .output()
        .unwrap();
    assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), std::fs::read_to_string(headers).unwrap(), body.to_owned())
}

fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn tftp_serves_the_bootstrap_and_no_secret() {
    let box_ = start("");
    let boot = String::from_utf8(tftp_hpa(&box_, "y000000000000.cfg").expect("bootstrap")).unwrap();
    let https = format!("https://127.0.0.1:{}/prov/", box_.port);
    assert!(boot.contains(&https), "the bootstrap points at HTTPS: {boot}");
    assert!(!boot.contains(SECRET));
    // The device file over TFTP has the account but not its password.
    let device = String::from_utf8(tftp_hpa(&box_, "805ec0112233.cfg").expect("device file")).unwrap();
    assert!(device.contains("101"), "{device}");
    assert!(!device.contains(SECRET), "no password over TFTP: {device}");
    // curl's TFTP client sees the same, and a leading slash (Cisco's habit) is fine.
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .arg(format!("tftp://127.0.0.1:{}/y000000000000.cfg", box_.tftp_port))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), boot);
    // Nothing outside the served files, and no writes.
    assert_eq!(tftp_hpa(&box_, "../outpost.db"), None);
    assert_eq!(tftp_hpa(&box_, "box.key"), None);
    let put = Command::new("tftp")
        .args(["127.0.0.1", &box_.tftp_port.to_string(), "-c", "put", SITE, "evil.cfg"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&put.stdout).to_string() + &String::from_utf8_lossy(&put.stderr);
    assert!(said.contains("Error code"), "a write is refused: {said}");
}

#[test]
fn https_serves_the_full_file_to_its_phone_only() {
    let box_ = start("");
    let (code, headers, body) = fetch(&box_, "805ec0112233.cfg", YEALINK_UA, &[]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(SECRET), "the device file carries its SIP password over HTTPS: {body}");
    assert!(body.contains("acme.pbx.local"), "{body}");
    assert!(header(&headers, "content-type").is_some_and(|t| t.starts_with("text/plain")), "{headers}");
    // Unchanged: not sent again.
    let etag = header(&headers, "etag").expect("an ETag").to_owned();
    let (code, _, body) = fetch(&box_, "805ec0112233.cfg", YEALINK_UA, &["-H", &format!("If-None-Match: {etag}")]);
    assert_eq!((code, body.as_str()), (304, ""));
    // Another phone's file, asked with this phone's User-Agent: refused, and no secret leaks.
    let other_ua = "Yealink SIP-T54W 96.86.0.100 80:5e:c0:99:99:99";
    let (code, _, body) = fetch(&box_, "805ec0112233.cfg", other_ua, &[]);
    assert_eq!(code, 403, "{body}");
    assert!(!body.contains(SECRET));
    // The Poly in the site gets Poly's XML under Poly's name.
    let (code, headers, body) =
        fetch(&box_, "0004f2aabbcc-outpost.cfg", "FileTransport PolycomVVX-VVX_450-UA/6.4.0.0001", &[]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("battery-staple-102") && body.contains("reg.1."), "{body}");
    assert!(header(&headers, "content-type").is_some_and(|t| t.contains("xml")), "{headers}");
}

#[test]
fn a_mac_scan_is_banned_and_unknown_phones_can_be_adopted() {
    let box_ = start("scan_limit = 10\nban_secs = 600\n");
    let token = box_.admin_token(PASSWORD);
    let mut first_ban = None;
    for i in 0..50u32 {
        let file = format!("805ec0{:06x}.cfg", 0x500000 + i);
        let (code, headers, body) = fetch(&box_, &file, "curl-scanner", &[]);
        assert!(!body.contains("password"), "{body}");
        if code == 429 {
            assert!(header(&headers, "retry-after").is_some(), "{headers}");
            first_ban.get_or_insert(i);
        } else {
            assert_eq!(code, 404, "request {i}: {body}");
        }
    }
    assert_eq!(first_ban, Some(10), "banned after 10 unknown MACs");
    // Banned means banned: the known phone's file is not served to that address either.
    let (code, _, _) = fetch(&box_, "805ec0112233.cfg", YEALINK_UA, &[]);
    assert_eq!(code, 429);
    // The admin sees the ban and the MACs asked for, and can lift it.
    let (code, bans) = box_.json("GET", "/api/v1/provision/bans", Some(&token), None);
    assert_eq!(code, 200);
    assert_eq!(bans.as_array().unwrap().len(), 1, "{bans}");
    let (code, found) = box_.json("GET", "/api/v1/devices/discovered", Some(&token), None);
    assert_eq!(code, 200);
    let macs: Vec<&str> = found.as_array().unwrap().iter().filter_map(|d| d["mac"].as_str()).collect();
    assert!(macs.contains(&"80:5e:c0:50:00:00"), "{found}");
    let (code, _) = box_.curl("DELETE", "/api/v1/provision/bans/127.0.0.1", Some(&token), None);
    assert_eq!(code, 204);
    // Adopt one: its file is served from then on, with the extension's credentials.
    let (code, device) = box_.json(
        "POST",
        "/api/v1/devices/discovered/80:5e:c0:50:00:00/adopt",
        Some(&token),
        Some(r#"{"tenant":"acme","extension":"103"}"#),
    );
    assert_eq!(code, 201, "{device}");
    let (code, _, body) = fetch(&box_, "805ec0500000.cfg", "Yealink SIP-T46U 108.86.0.20 80:5e:c0:50:00:00", &[]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("tr0ub4dor-and-3"), "{body}");
}

#[test]
fn a_config_change_sends_check_sync_to_the_registered_phone() {
    let box_ = start("");
    let token = box_.admin_token(PASSWORD);
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
    let account = tools::sim::sip::Account {
        user: "101".into(),
        domain: "acme.pbx.local".into(),
        password: SECRET.into(),
        server: format!("127.0.0.1:{}", box_.sip_port).parse().unwrap(),
    };
    let status = tools::sim::sip::register(&phone, &account, 600, YEALINK_UA).unwrap();
    assert!(status.contains("200"), "{status}");
    // Rename extension 101: its phone's file changes, so its phone hears of it.
    let (code, body) = box_.curl(
        "PUT",
        "/api/v1/tenants/acme/extensions/101",
        Some(&token),
        Some(r#"{"number":"101","name":"Alice Front Desk"}"#),
    );
    assert!(code == 200 || code == 204, "{code} {body}");
    phone.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buf = [0u8; 4096];
    let notify = loop {
        assert!(Instant::now() < deadline, "no check-sync NOTIFY arrived");
        let Ok((n, from)) = phone.recv_from(&mut buf) else { continue };
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        if text.starts_with("NOTIFY ") {
            break (text, from);
        }
    };
    let (text, from) = notify;
    assert!(text.to_ascii_lowercase().contains("event: check-sync"), "{text}");
    // Answer it, as a phone does, so the box stops retransmitting; then it re-fetches.
    let answer = sip_ok(&text);
    phone.send_to(answer.as_bytes(), from).unwrap();
    let (code, _, body) = fetch(&box_, "805ec0112233.cfg", YEALINK_UA, &[]);
    assert_eq!(code, 200);
    assert!(body.contains("Alice Front Desk"), "{body}");
}

/// A 200 OK to `request`, copying the headers a response must echo.
fn sip_ok(request: &str) -> String {
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    for line in request.lines() {
        let lower = line.to_ascii_lowercase();
        if ["via:", "from:", "to:", "call-id:", "cseq:"].iter().any(|h| lower.starts_with(h)) {
            out.push_str(line.trim_end());
            out.push_str("\r\n");
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}
