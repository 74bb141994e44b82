//! Calls through the box with real peers: sipp phones register as extensions, one calls
//! (UAC), others answer, ring or are busy (UAS), and the box bridges them as a B2BUA with the
//! media anchored on its own ports. Each test checks the call's CDR.
//!
//! Every sipp run is bounded (`-timeout`), so a test never hangs; nothing here asserts on time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Extra, Options, Outpost};
use serde_json::Value;

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sipp");
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

fn start(dir: &Path) -> (Outpost, String) {
    start_extra(dir, &Extra::default())
}

fn start_extra(dir: &Path, extra: &Extra) -> (Outpost, String) {
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
struct Phone {
    ext: &'static str,
    port: u16,
    media: u16,
    users: PathBuf,
}

impl Phone {
    fn new(dir: &Path, ext: &'static str) -> Phone {
        let users = dir.join(format!("user-{ext}.csv"));
        let line =
            format!("SEQUENTIAL\n{ext};acme.pbx.local;[authentication username={ext} password={}];600\n", secret(ext));
        std::fs::write(&users, line).unwrap();
        let base = free_block();
        Phone { ext, port: base, media: base + 2, users }
    }

    fn sipp(&self, dir: &Path, outpost: &Outpost, scenario: &str) -> Command {
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
    fn register(&self, dir: &Path, outpost: &Outpost) {
        let out = self.sipp(dir, outpost, "register.xml").output().expect("sipp must be installed");
        assert!(out.status.success(), "{} did not register: {}", self.ext, String::from_utf8_lossy(&out.stderr));
    }

    /// Starts answering (or ringing, or being busy) in the background.
    fn serve(&self, dir: &Path, outpost: &Outpost, scenario: &str) -> Sipp {
        self.register(dir, outpost);
        let child = self.sipp(dir, outpost, scenario).arg("-rtp_echo").spawn().expect("sipp must be installed");
        Sipp(Some(child), self.ext, dir.to_owned())
    }

    /// Calls `number` and waits for the scenario's end; true when it completed.
    fn call(&self, dir: &Path, outpost: &Outpost, number: &str, scenario: &str) -> bool {
        let out = self.sipp(dir, outpost, scenario).args(["-s", number]).output().expect("sipp must be installed");
        if !out.status.success() {
            eprintln!("caller {}: {}\n{}", self.ext, String::from_utf8_lossy(&out.stderr), errors(dir));
        }
        out.status.success()
    }
}

/// Six consecutive free UDP ports (SIP, a gap, then RTP, RTCP and sipp's echo ports), in a
/// range the box's RTP ports (10000-20000) and the kernel's ephemeral ports stay out of.
fn free_block() -> u16 {
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

fn errors(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A background sipp, killed if the test ends first.
struct Sipp(Option<Child>, &'static str, PathBuf);

impl Sipp {
    /// Waits (bounded) for its scenario to finish; true when it completed.
    fn finished(mut self) -> bool {
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
fn cdrs(outpost: &Outpost, token: &str, n: usize) -> Vec<Value> {
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

#[test]
fn a_call_is_bridged_with_its_rtp_through_the_box() {
    let dir = tempfile::tempdir().unwrap();
    let (outpost, token) = start(dir.path());
    let callee = Phone::new(dir.path(), "103");
    let answering = callee.serve(dir.path(), &outpost, "call_uas.xml");
    let caller = Phone::new(dir.path(), "101");
    assert!(caller.call(dir.path(), &outpost, "103", "call_uac.xml"), "{}", outpost.log_lines().join("\n"));
    assert!(answering.finished(), "the callee saw the whole call");

    let rows = cdrs(&outpost, &token, 1);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let cdr = &rows[0];
    assert_eq!(cdr["disposition"], "answered", "{cdr}");
    assert_eq!((cdr["caller"].as_str(), cdr["callee"].as_str()), (Some("101"), Some("103")));
    assert_eq!(cdr["hangup"], "caller");
    assert_eq!(cdr["legs"], 1);
    assert!(cdr["answer"].is_i64());
    // The caller's RTP went to the box's leg A port, on to the callee through leg B; the
    // callee echoed it, and the echo came back through leg B and out of leg A.
    let media = &cdr["media"];
    assert!(media["a"]["relayed_packets"].as_u64().unwrap() > 0, "caller → callee: {media}");
    assert!(media["b"]["relayed_packets"].as_u64().unwrap() > 0, "callee → caller (echo): {media}");
    assert_ne!(media["a"]["port"], media["b"]["port"]);

    let (code, csv) = outpost.curl("GET", "/api/v1/cdrs.csv?disposition=answered", Some(&token), None);
    assert_eq!(code, 200);
    assert_eq!(csv.lines().count(), 2, "{csv}");
    let (_, metrics) = outpost.curl("GET", "/metrics", None, None);
    assert!(metrics.contains("outpost_calls_total{disposition=\"answered\"} 1"), "{metrics}");
}

#[test]
fn the_caller_cancels_while_it_rings() {
    let dir = tempfile::tempdir().unwrap();
    let (outpost, token) = start(dir.path());
    let callee = Phone::new(dir.path(), "104");
    let ringing = callee.serve(dir.path(), &outpost, "call_uas_ring.xml");
    let caller = Phone::new(dir.path(), "101");
    assert!(caller.call(dir.path(), &outpost, "104", "call_uac_cancel.xml"));
    assert!(ringing.finished(), "the callee's phone got the CANCEL");
    let rows = cdrs(&outpost, &token, 1);
    assert_eq!(rows[0]["disposition"], "cancelled", "{rows:?}");
    assert_eq!(rows[0]["status"], 487);
    assert_eq!(rows[0]["hangup"], "caller");
}

#[test]
fn busy_forwards_to_the_busy_target() {
    let dir = tempfile::tempdir().unwrap();
    let (outpost, token) = start(dir.path());
    let busy = Phone::new(dir.path(), "102").serve(dir.path(), &outpost, "call_uas_busy.xml");
    let target = Phone::new(dir.path(), "103").serve(dir.path(), &outpost, "call_uas.xml");
    let caller = Phone::new(dir.path(), "101");
    assert!(caller.call(dir.path(), &outpost, "102", "call_uac.xml"));
    assert!(busy.finished() && target.finished());
    let rows = cdrs(&outpost, &token, 1);
    let cdr = &rows[0];
    assert_eq!(cdr["disposition"], "answered", "{cdr}");
    assert_eq!((cdr["dialled"].as_str(), cdr["callee"].as_str()), (Some("102"), Some("103")));
    assert_eq!(cdr["legs"], 2, "one INVITE to 102, one to 103");
}

#[test]
fn no_answer_forwards_after_the_ring_time() {
    let dir = tempfile::tempdir().unwrap();
    let (outpost, token) = start(dir.path());
    let ringing = Phone::new(dir.path(), "102").serve(dir.path(), &outpost, "call_uas_ring.xml");
    let target = Phone::new(dir.path(), "103").serve(dir.path(), &outpost, "call_uas.xml");
    let caller = Phone::new(dir.path(), "101");
    assert!(caller.call(dir.path(), &outpost, "102", "call_uac.xml"));
    assert!(ringing.finished(), "102 was CANCELled when its ring time ran out");
    assert!(target.finished());
    let cdr = &cdrs(&outpost, &token, 1)[0];
    assert_eq!(cdr["disposition"], "answered", "{cdr}");
    assert_eq!(cdr["callee"], "103");
    assert!(cdr["route"].as_str().unwrap().contains("→"), "the forward shows in the route: {cdr}");
}

#[test]
fn a_sequential_ring_group_hunts_to_the_next_member() {
    let dir = tempfile::tempdir().unwrap();
    let (outpost, token) = start(dir.path());
    let first = Phone::new(dir.path(), "104").serve(dir.path(), &outpost, "call_uas_ring.xml");
    let second = Phone::new(dir.path(), "103").serve(dir.path(), &outpost, "call_uas.xml");
    let caller = Phone::new(dir.path(), "101");
    assert!(caller.call(dir.path(), &outpost, "610", "call_uac.xml"));
    assert!(first.finished() && second.finished());
    let cdr = &cdrs(&outpost, &token, 1)[0];
    assert_eq!(cdr["disposition"], "answered", "{cdr}");
    assert_eq!((cdr["dialled"].as_str(), cdr["callee"].as_str()), (Some("610"), Some("103")));
    assert_eq!(cdr["legs"], 2);
}

#[test]
fn hold_by_re_invite_passes_through_and_the_call_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (outpost, token) = start(dir.path());
    let callee = Phone::new(dir.path(), "103").serve(dir.path(), &outpost, "call_uas_hold.xml");
    let caller = Phone::new(dir.path(), "101");
    assert!(caller.call(dir.path(), &outpost, "103", "call_uac_hold.xml"), "{}", outpost.log_lines().join("\n"));
    assert!(callee.finished(), "the callee got the hold re-INVITE (a=sendonly) on its dialog");
    let cdr = &cdrs(&outpost, &token, 1)[0];
    assert_eq!(cdr["disposition"], "answered", "{cdr}");
    assert_eq!(cdr["hangup"], "caller");
    assert!(cdr["media"]["a"]["relayed_packets"].as_u64().unwrap() > 0, "{cdr}");
}

#[test]
fn a_call_whose_media_stops_is_hung_up_by_the_box_and_marked() {
    let dir = tempfile::tempdir().unwrap();
    let extra = Extra { rtp_config: "timeout_secs = 5".into(), ..Extra::default() };
    let (outpost, token) = start_extra(dir.path(), &extra);
    let callee = Phone::new(dir.path(), "103").serve(dir.path(), &outpost, "call_uas.xml");
    let caller = Phone::new(dir.path(), "101");
    assert!(caller.call(dir.path(), &outpost, "103", "call_uac_silent.xml"), "the caller got the box's BYE");
    assert!(callee.finished(), "the callee got the box's BYE");
    let cdr = &cdrs(&outpost, &token, 1)[0];
    assert_eq!(cdr["disposition"], "media_timeout", "{cdr}");
    assert_eq!(cdr["hangup"], "box");
}

#[test]
fn the_callee_transfers_the_caller_blind_to_another_extension() {
    let dir = tempfile::tempdir().unwrap();
    let (outpost, token) = start(dir.path());
    let referrer = Phone::new(dir.path(), "104").serve(dir.path(), &outpost, "call_uas_refer.xml");
    let target = Phone::new(dir.path(), "103").serve(dir.path(), &outpost, "call_uas.xml");
    let caller = Phone::new(dir.path(), "101");
    assert!(caller.call(dir.path(), &outpost, "104", "call_uac.xml"), "{}", outpost.log_lines().join("\n"));
    assert!(referrer.finished(), "104 got 202, both NOTIFYs and the box's BYE");
    assert!(target.finished(), "103 answered the transferred call and got the caller's BYE");
    let cdr = &cdrs(&outpost, &token, 1)[0];
    assert_eq!(cdr["disposition"], "answered", "{cdr}");
    assert_eq!((cdr["dialled"].as_str(), cdr["callee"].as_str()), (Some("104"), Some("103")));
    assert_eq!(cdr["legs"], 2);
    assert!(cdr["route"].as_str().unwrap().contains("transferred to 103"), "{cdr}");
}

/// A baresip config directory: no audio devices (a 440 Hz sine at 48 kHz, the only rate
/// `ausine` makes, as the microphone; the bridge module as the speaker), G.711, and 101's account, calling through the box without
/// registering (calls need authentication, not a binding).
fn baresip_config(dir: &Path, outpost: &Outpost) -> PathBuf {
    let conf = dir.join("baresip");
    std::fs::create_dir_all(&conf).unwrap();
    let port = free_block();
    std::fs::write(
        conf.join("config"),
        format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{port}\nmodule_path /usr/lib/baresip/modules\n\
             module g711.so\nmodule ausine.so\nmodule aubridge.so\nmodule account.so\nmodule menu.so\n\
             audio_player aubridge,speaker\naudio_source ausine,440\naudio_alert aubridge,alert\n\
             ausrc_srate 48000\nauplay_srate 48000\nrtp_ports {}-{}\n",
            port + 2,
            port + 5
        ),
    )
    .unwrap();
    std::fs::write(
        conf.join("accounts"),
        format!(
            "<sip:101@acme.pbx.local>;auth_user=101;auth_pass=correct-horse-101;regint=0;\
             outbound=\"sip:127.0.0.1:{};transport=udp\"\n",
            outpost.sip_port
        ),
    )
    .unwrap();
    conf
}

#[test]
fn baresip_calls_a_sipp_phone_through_the_box() {
    if Command::new("baresip").arg("-h").output().is_err() {
        eprintln!("baresip is not installed (Debian baresip-core): skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (outpost, token) = start(dir.path());
    let callee = Phone::new(dir.path(), "103").serve(dir.path(), &outpost, "call_uas.xml");
    let conf = baresip_config(dir.path(), &outpost);
    // Dial at once; after 6 s baresip quits, hanging up (BYE) on its way out.
    let out = Command::new("baresip")
        .arg("-f")
        .arg(&conf)
        .args(["-n", "lo", "-e", "/dial sip:103@acme.pbx.local", "-t", "6"])
        .stdin(Stdio::null())
        .output()
        .expect("baresip runs");
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("baresip: {log}");
    assert!(callee.finished(), "the sipp phone saw the whole call: {log}");
    let cdr = &cdrs(&outpost, &token, 1)[0];
    assert_eq!(cdr["disposition"], "answered", "{cdr}\n{log}");
    assert_eq!((cdr["caller"].as_str(), cdr["callee"].as_str()), (Some("101"), Some("103")));
    assert!(cdr["media"]["a"]["relayed_packets"].as_u64().unwrap() > 0, "baresip's RTP went through: {cdr}");
    assert!(cdr["media"]["b"]["relayed_packets"].as_u64().unwrap() > 0, "the echo came back to baresip: {cdr}");
}
