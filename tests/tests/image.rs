//! The flashable image in qemu (TCG, OVMF): boot to the ready line, SIP OPTIONS and the API
//! through host port forwards, an update from a USB stick to slot B marked good, a broken
//! update uploaded to the API that rolls back by itself, a factory reset asked through the API
//! and done by the root service, and a tampered bundle refused.
//!
//! Slow (seven kernel boots in four qemu runs under software emulation), so it runs only with
//! `OUTPOST_IMAGE_TESTS=1`, on the test images that `tools/test-all` builds then
//! (`image/build --out image/out/test ...`: image 1.0.0, bundles 1.0.1 and broken 1.0.2).
//! Without them, or without qemu and OVMF, it says why and passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
const BOOT_TIMEOUT: Duration = Duration::from_secs(420);

fn out_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../image/out/test")
}

/// Where the serial console logs of the last run stay, one per qemu run.
fn consoles() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("image-consoles")
}

fn artifact(name: &str) -> PathBuf {
    out_dir().join(name)
}

/// Why the test cannot run here, if it cannot.
fn missing() -> Option<String> {
    if std::env::var("OUTPOST_IMAGE_TESTS").ok().as_deref() != Some("1") {
        return Some("OUTPOST_IMAGE_TESTS=1 is not set (tools/test-all sets it with the image step)".into());
    }
    for tool in ["qemu-system-x86_64", "mkfs.vfat", "mcopy", "sfdisk", "curl"] {
        if Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().map_or(true, |o| !o.status.success())
        {
            return Some(format!("{tool} is not installed"));
        }
    }
    for file in [OVMF_CODE, OVMF_VARS] {
        if !Path::new(file).exists() {
            return Some(format!("{file} is missing (package ovmf)"));
        }
    }
    for name in ["outpost-1.0.0-x86_64.img", "outpost-1.0.1-x86_64.bundle", "outpost-1.0.2-x86_64.bundle"] {
        if !artifact(name).exists() {
            return Some(format!("{} has not been built (tools/test-all builds it)", artifact(name).display()));
        }
    }
    None
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// How long a rebooting box may show nothing before it counts as stuck in the reset.
const STUCK: Duration = Duration::from_secs(60);

/// One qemu run of the box; killed on drop.
struct Vm {
    child: Child,
    /// The command line but the serial file, to power the box on again.
    args: Vec<String>,
    name: String,
    /// The console of each power-on, oldest first.
    consoles: Vec<PathBuf>,
    sip: SocketAddr,
    api: u16,
    started: Instant,
}

fn qemu(args: &[String], console: &Path) -> Child {
    Command::new("qemu-system-x86_64")
        .args(args)
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

impl Vm {
    /// `name` names the console log, kept in `consoles()` after the test (pass or fail).
    fn boot(dir: &Path, stick: Option<&Path>, name: &str) -> Vm {
        std::fs::create_dir_all(consoles()).unwrap();
        let console = consoles().join(format!("{name}.log"));
        let _ = std::fs::remove_file(&console);
        let (sip, api) = (free_port(), free_port());
        // RDRAND seeds the kernel's random pool at once, before the second vCPU starts: without
        // it the pool becomes ready during udev's start, the kernel patches its code live (a
        // static key) while udev workers run it, and multi-threaded TCG can hang there (seen:
        // both vCPUs stuck in an int3 loop for minutes, one boot in about thirty).
        // No default devices (CD drive, floppy, parallel port: probed by the firmware and the
        // kernel at every boot, and a box has none) and no option ROM on the NIC (no network
        // boot): about a second of each boot under TCG. tools/bench/boot-time boots the same.
        let mut args: Vec<String> = [
            "-nodefaults",
            "-machine",
            "q35",
            "-accel",
            "tcg",
            "-cpu",
            "qemu64,+rdrand",
            "-m",
            "1024",
            "-smp",
            "2",
            "-display",
            "none",
            "-monitor",
            "none",
        ]
        .map(String::from)
        .to_vec();
        args.extend([
            "-drive".into(),
            format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}"),
            "-drive".into(),
            format!("if=pflash,format=raw,file={}", dir.join("vars.fd").display()),
            "-drive".into(),
            format!("if=virtio,format=raw,file={}", dir.join("disk.img").display()),
            "-netdev".into(),
            format!("user,id=n0,hostfwd=udp:127.0.0.1:{sip}-:5060,hostfwd=tcp:127.0.0.1:{api}-:443"),
        ]);
        args.extend(["-device", "virtio-net-pci,netdev=n0,romfile=", "-device", "i6300esb"].map(String::from));
        if let Some(stick) = stick {
            args.extend(["-drive".into(), format!("if=virtio,format=raw,file={}", stick.display())]);
        }
        let child = qemu(&args, &console);
        Vm {
            child,
            args,
            name: name.to_owned(),
            consoles: vec![console],
            sip: ([127, 0, 0, 1], sip).into(),
            api,
            started: Instant::now(),
        }
    }

    /// The consoles of every power-on, one after the other.
    fn log(&self) -> String {
        let mut text = String::new();
        for console in &self.consoles {
            if let Ok(mut f) = std::fs::File::open(console) {
                let mut bytes = Vec::new();
                f.read_to_end(&mut bytes).unwrap();
                text.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        text
    }

    /// Waits until the console shows `needle` for the `nth` time (1-based); returns the time.
    /// A box that rebooted and then shows nothing at all for `STUCK` (not even the firmware's
    /// first output) is powered off and on, as a real box's owner would: multi-threaded TCG
    /// has been seen to hang in the reset itself, which is qemu's fault, not the image's.
    fn wait_for(&mut self, needle: &str, nth: usize) -> Duration {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        let (mut seen, mut still_since) = (0, Instant::now());
        loop {
            let log = self.log();
            if log.matches(needle).count() >= nth {
                return self.started.elapsed();
            }
            if log.len() != seen {
                (seen, still_since) = (log.len(), Instant::now());
            } else if still_since.elapsed() > STUCK && log.trim_end().ends_with("reboot: machine restart") {
                self.power_cycle();
                still_since = Instant::now();
            }
            assert!(Instant::now() < deadline, "no {needle:?} (#{nth}) on the console; it ends with:\n{}", tail(&log));
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn power_cycle(&mut self) {
        eprintln!(
            "{}: nothing on the console for {STUCK:?} after the reboot: qemu is stuck in the reset, power-cycling",
            self.name
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
        let console = consoles().join(format!("{}.power-on-{}.log", self.name, self.consoles.len() + 1));
        let _ = std::fs::remove_file(&console);
        self.child = qemu(&self.args, &console);
        self.consoles.push(console);
    }

    fn count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A FAT disk labelled OUTPOST-UPD holding `bundle` as /outpost.bundle.
fn stick(dir: &Path, bundle: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let kb = std::fs::metadata(bundle).unwrap().len() / 1024 + 16 * 1024;
    let _ = std::fs::remove_file(&path);
    assert!(Command::new("mkfs.vfat")
        .args(["-C", "-n", "OUTPOST-UPD"])
        .arg(&path)
        .arg(kb.to_string())
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success());
    assert!(Command::new("mcopy").arg("-i").arg(&path).arg(bundle).arg("::outpost.bundle").status().unwrap().success());
    path
}

fn curl_health(api: u16) -> String {
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "10", &format!("https://127.0.0.1:{api}/api/v1/health")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn image_boots_updates_rolls_back_and_resets() {
    if let Some(why) = missing() {
        eprintln!("skipped: {why}");
        return;
    }
    // The disk and the sticks stay in target/tmp/image-drill when the drill fails, to look at.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("image-drill");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let dir = Drill(dir);
    eprintln!("serial console logs: {}", consoles().display());
    let disk = dir.path().join("disk.img");
    // A 3 GB "disk": the image, then free space where the box makes its data partition.
    assert!(Command::new("cp")
        .arg("--sparse=always")
        .arg(artifact("outpost-1.0.0-x86_64.img"))
        .arg(&disk)
        .status()
        .unwrap()
        .success());
    assert!(Command::new("truncate").args(["-s", "3G"]).arg(&disk).status().unwrap().success());
    std::fs::copy(OVMF_VARS, dir.path().join("vars.fd")).unwrap();

    // 1. First boot: ready line, SIP OPTIONS, the API, a new admin password.
    let mut vm = Vm::boot(dir.path(), None, "1-first-boot");
    let ready = vm.wait_for("Outpost is ready", 1);
    eprintln!("first boot to SIP-ready: {:.1} s", ready.as_secs_f64());
    let code = appliance::update::health::sip_options(vm.sip, Duration::from_secs(5)).unwrap();
    assert_eq!(code, 200, "SIP OPTIONS through the forwarded port");
    let health = curl_health(vm.api);
    assert!(health.contains("\"status\":\"ok\""), "API health: {health}");
    assert_eq!(vm.count("one-time password: change it"), 1, "a new box prints its one-time password");
    let one_time_password = vm
        .log()
        .lines()
        .find_map(|l| l.split("Admin login: admin / ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    drop(vm);

    // 2. Update to 1.0.1 from a stick: installs on B, reboots, B is marked good. The store
    // was kept from the first boot (the data partition): no new one-time password.
    let good = stick(dir.path(), &artifact("outpost-1.0.1-x86_64.bundle"), "stick-good.img");
    let mut vm = Vm::boot(dir.path(), Some(&good), "2-update");
    let ready = vm.wait_for("Outpost is ready", 1);
    eprintln!("later boot to SIP-ready: {:.1} s", ready.as_secs_f64());
    vm.wait_for("installed; rebooting into the new slot", 1);
    vm.wait_for("slot b marked good", 1);
    vm.wait_for("Outpost is ready", 2);
    assert_eq!(code_of(&vm), 200);
    assert_eq!(vm.count("one-time password: change it"), 0, "data survived the reboots");
    drop(vm);

    // 3. A broken 1.0.2 (its outpost binary exits at once, so it cannot even mark itself
    // bad), uploaded by an admin to the API: staged, installed on A by the root updater;
    // each boot of A fails and the mark-good script reboots, using up a try; with none left,
    // B comes back by itself.
    let mut vm = Vm::boot(dir.path(), None, "3-rollback");
    vm.wait_for("Outpost is ready", 1);
    let token = api_token(vm.api, &one_time_password);
    let (code, body) = curl_upload(vm.api, &token, &artifact("outpost-1.0.2-x86_64.bundle"));
    assert_eq!(code, 202, "{body}");
    assert!(body.contains("\"version\":\"1.0.2\""), "{body}");
    vm.wait_for("outpost-staged-update: installed; rebooting into the new slot", 1);
    vm.wait_for("deliberately broken test build", 1);
    vm.wait_for("slot a is on trial and not healthy", 1);
    vm.wait_for("Outpost is ready", 2);
    assert_eq!(code_of(&vm), 200, "back on slot b");
    // The system page's facts, through the API: slot b runs 1.0.1, as the updater reported
    // (the mark-good service writes its report once the daemon is healthy: a moment after the
    // ready line).
    let deadline = Instant::now() + Duration::from_secs(60);
    let info = loop {
        let (code, info) = curl_json(vm.api, &token, "GET", "/api/v1/system", None);
        assert_eq!(code, 200, "{info}");
        let info: serde_json::Value = serde_json::from_str(&info).unwrap();
        if !info["slots"].is_null() || Instant::now() > deadline {
            break info;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!((info["running_slot"].as_str(), info["image_version"].as_str()), (Some("b"), Some("1.0.1")), "{info}");
    assert!(info["slots"].as_str().is_some_and(|s| s.contains("slot b 1.0.1 (good)")), "{info}");

    // The admin asks for a factory reset (as the system page does): the daemon leaves the
    // request, the root service writes the wipe flag and reboots, the data partition is wiped
    // on the way up and the box starts over with a new one-time password.
    let (code, body) =
        curl_json(vm.api, &token, "POST", "/api/v1/system/factory-reset", Some(r#"{"confirm":"factory reset"}"#));
    assert_eq!(code, 202, "{body}");
    vm.wait_for("factory reset asked by api:admin: rebooting", 1);
    vm.wait_for("factory reset: wiping the data partition", 1);
    vm.wait_for("Outpost is ready", 3);
    assert_eq!(vm.count("one-time password: change it"), 1, "a wiped box starts over with a new password");
    assert_eq!(code_of(&vm), 200, "still on slot b");
    drop(vm);

    // 4. A tampered bundle is refused and B keeps running; the reset box kept its new data
    // across this reboot. The reset button's flag (at the top of the data partition) is the
    // same wipe (the reset above wrote it through the board).
    let tampered = dir.path().join("tampered.bundle");
    let mut bytes = std::fs::read(artifact("outpost-1.0.1-x86_64.bundle")).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&tampered, bytes).unwrap();
    let bad = stick(dir.path(), &tampered, "stick-tampered.img");
    let mut vm = Vm::boot(dir.path(), Some(&bad), "4-tampered");
    vm.wait_for("Outpost is ready", 1);
    assert_eq!(vm.count("one-time password: change it"), 0, "the data since the reset is kept");
    assert_eq!(vm.count("wiping the data partition"), 0, "a reset happens once");
    vm.wait_for("the bundle was refused", 1);
    assert!(vm.log().contains("root.squashfs does not match the manifest"), "{}", tail(&vm.log()));
    assert_eq!(code_of(&vm), 200, "still on slot b");
}

/// The drill's working directory: removed after a pass, kept after a failure.
struct Drill(PathBuf);

impl Drill {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Drill {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// An admin session on the box through the forwarded API port: the first login with the
/// one-time password must set a new one.
fn api_token(api: u16, one_time_password: &str) -> String {
    let call = |path: &str, token: Option<&str>, body: String| {
        let mut cmd = Command::new("curl");
        cmd.args(["-sk", "--max-time", "20", "-w", "\n%{http_code}", "-H", "content-type: application/json"]);
        if let Some(token) = token {
            cmd.args(["-H", &format!("authorization: Bearer {token}")]);
        }
        let out = cmd.args(["--data", &body, &format!("https://127.0.0.1:{api}{path}")]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.parse::<u16>().unwrap_or(0), body.to_owned())
    };
    let login = |password: &str| {
        let (code, body) = call("/api/v1/login", None, format!(r#"{{"username":"admin","password":"{password}"}}"#));
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["token"].as_str().unwrap().to_owned()
    };
    let first = login(one_time_password);
    let new = "drill-admin-password-1";
    let (code, body) =
        call("/api/v1/password", Some(&first), format!(r#"{{"current":"{one_time_password}","new":"{new}"}}"#));
    assert_eq!(code, 204, "{body}");
    login(new)
}

/// `method path` on the API with the admin's `token` and a JSON `body`: (status, body).
fn curl_json(api: u16, token: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sk", "--max-time", "20", "-w", "\n%{http_code}", "-X", method]).args([
        "-H",
        &format!("authorization: Bearer {token}"),
        "-H",
        "content-type: application/json",
    ]);
    if let Some(body) = body {
        cmd.args(["--data", body]);
    }
    let out = cmd.arg(format!("https://127.0.0.1:{api}{path}")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.parse().unwrap_or(0), body.to_owned())
}

/// `POST /api/v1/update` with `bundle` as the body: (status, body).
fn curl_upload(api: u16, token: &str, bundle: &Path) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "300", "-w", "\n%{http_code}", "-H", &format!("authorization: Bearer {token}")])
        .args(["-H", "content-type: application/octet-stream", "--data-binary"])
        .arg(format!("@{}", bundle.display()))
        .arg(format!("https://127.0.0.1:{api}/api/v1/update"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.parse().unwrap_or(0), body.to_owned())
}

fn code_of(vm: &Vm) -> u16 {
    appliance::update::health::sip_options(vm.sip, Duration::from_secs(5)).unwrap_or(0)
}
