//! `outpostctl` as an admin uses it: the real CLI against a real box over HTTPS, one saved
//! session per test (through `OUTPOSTCTL_SESSION`), never the caller's own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::Outpost;

const PASSWORD: &str = "a-good-long-password";
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/site.toml");

/// `outpostctl` bound to one box and one private session file.
struct Ctl<'a> {
    outpost: &'a Outpost,
    dir: tempfile::TempDir,
}

impl<'a> Ctl<'a> {
    fn new(outpost: &'a Outpost) -> Ctl<'a> {
        Ctl { outpost, dir: tempfile::tempdir().unwrap() }
    }

    fn session_file(&self) -> PathBuf {
        self.dir.path().join("session.json")
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(common::bin("outpostctl"));
        cmd.args(args)
            .env("OUTPOSTCTL_SESSION", self.session_file())
            .env_remove("OUTPOST_PASSWORD")
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(args, env).output().unwrap()
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, &[]);
        assert!(out.status.success(), "{args:?} failed:\n{}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command that must fail; returns its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args, &[]);
        assert!(!out.status.success(), "{args:?} should have failed:\n{}", text(&out));
        String::from_utf8(out.stderr).unwrap()
    }

    fn login_args(&self, cacert: &Path) -> Vec<String> {
        let url = self.outpost.url("");
        vec!["login".into(), "--url".into(), url, "--cacert".into(), cacert.display().to_string()]
    }

    /// The first login of a fresh box: the one-time password, replaced by `PASSWORD`.
    fn first_login(&self) -> Output {
        let cert = self.outpost.cert();
        let mut args = self.login_args(&cert);
        args.extend(["--new-password-env".into(), "NEW_PW".into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&args, &[("OUTPOST_PASSWORD", &self.outpost.one_time_password), ("NEW_PW", PASSWORD)])
    }

    fn logged_in(outpost: &'a Outpost) -> Ctl<'a> {
        let ctl = Ctl::new(outpost);
        let out = ctl.first_login();
        assert!(out.status.success(), "first login failed:\n{}", text(&out));
        ctl
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_first_login_must_set_a_new_password_and_then_works() {
    let outpost = Outpost::start();
    let ctl = Ctl::new(&outpost);
    let cert = outpost.cert();
    let args = ctl.login_args(&cert);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let out = ctl.run(&args, &[("OUTPOST_PASSWORD", &outpost.one_time_password)]);
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("one-time password") && err.contains("--new-password-env"), "{err}");
    assert!(!ctl.session_file().exists(), "no session is saved that could only change the password");

    let mut with_new: Vec<&str> = args.clone();
    with_new.extend(["--new-password-env", "NEW_PW"]);
    let out = ctl.run(&with_new, &[("OUTPOST_PASSWORD", &outpost.one_time_password), ("NEW_PW", "short")]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("422"), "{}", text(&out));

    let out = ctl.first_login();
    assert!(out.status.success(), "{}", text(&out));
    let all = text(&out);
    assert!(!all.contains(PASSWORD) && !all.contains(&outpost.one_time_password), "passwords are never printed: {all}");
    let mode = std::fs::metadata(ctl.session_file()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the session file holds a token: owner only");
    let saved = std::fs::read_to_string(ctl.session_file()).unwrap();
    assert!(!saved.contains(PASSWORD), "the password is not saved");

    assert!(ctl.ok(&["tenant", "list"]).contains("default"));
    assert!(ctl.ok(&["health"]).contains("site revision 1"));

    // Logging in again reads the password from stdin when the environment has none.
    let mut child =
        ctl.command(&args, &[]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(ctl.ok(&["tenant", "list"]).contains("default"));

    let out = ctl.run(&args, &[("OUTPOST_PASSWORD", "not-the-password")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("outpostctl: 401: ") && err.contains("wrong user name or password"), "{err}");
    assert!(ctl.ok(&["tenant", "list"]).contains("default"), "a failed login keeps the saved session");
}

#[test]
fn extensions_are_added_listed_and_removed() {
    let outpost = Outpost::start();
    let ctl = Ctl::logged_in(&outpost);

    let added = ctl.ok(&["extension", "add", "--tenant", "default", "201", "--name", "Front desk"]);
    let secret = added.lines().find_map(|l| l.strip_prefix("secret: ")).expect("the generated secret is shown once");
    assert!(secret.len() >= 8, "{added}");
    let list = ctl.ok(&["extension", "list", "--tenant", "default"]);
    assert!(list.lines().any(|l| l.starts_with("201") && l.contains("Front desk")), "{list}");
    assert!(!list.contains(secret), "lists never show secrets: {list}");
    let export = ctl.ok(&["site", "export"]);
    assert!(!export.contains(secret), "nor does a plain export");
    assert!(ctl.ok(&["site", "export", "--secrets"]).contains(secret), "an export asking for them does");

    let out = ctl.run(
        &["extension", "add", "-t", "default", "202", "--secret-env", "SIP_SECRET"],
        &[("SIP_SECRET", "my-own-secret-202")],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("my-own-secret-202"), "a given secret is not echoed: {}", text(&out));

    assert!(ctl.ok(&["extension", "rm", "--tenant", "default", "201"]).contains("removed"));
    let list = ctl.ok(&["extension", "list", "--tenant", "default"]);
    assert!(!list.contains("201") && list.contains("202"), "{list}");

    let added = ctl.ok(&[
        "device",
        "add",
        "-t",
        "default",
        "80-5E-C0-AA-BB-CC",
        "--vendor",
        "Yealink",
        "--model",
        "T54W",
        "--extension",
        "202",
    ]);
    assert!(added.contains("80:5e:c0:aa:bb:cc"), "the box's spelling of the MAC is shown: {added}");
    let list = ctl.ok(&["device", "list", "-t", "default"]);
    assert!(
        list.lines().any(|l| l.starts_with("80:5e:c0:aa:bb:cc") && l.contains("yealink") && l.contains("202")),
        "{list}"
    );
    ctl.ok(&["device", "rm", "-t", "default", "80:5E:C0:AA:BB:CC"]);
    assert!(ctl.ok(&["device", "list", "-t", "default"]).contains("(none)"));
}

#[test]
fn bad_changes_fail_with_the_reason() {
    let outpost = Outpost::start();
    let ctl = Ctl::logged_in(&outpost);
    ctl.ok(&["extension", "add", "--tenant", "default", "201"]);

    let err = ctl.fails(&["extension", "add", "--tenant", "default", "201"]);
    assert!(err.starts_with("outpostctl: 409: ") && err.contains("already exists"), "{err}");

    let err = ctl.fails(&["extension", "add", "--tenant", "default", "2x1"]);
    assert!(err.starts_with("outpostctl: 422: "), "{err}");
    assert!(
        err.lines().any(|l| l.trim().starts_with("tenants[0].extensions[1].number: ")),
        "each reason on its own line: {err}"
    );

    let err = ctl.fails(&["extension", "list", "--tenant", "nope"]);
    assert!(err.starts_with("outpostctl: 404: "), "{err}");
    let err = ctl.fails(&["extension", "rm", "--tenant", "default", "999"]);
    assert!(err.starts_with("outpostctl: 404: "), "{err}");
    let err = ctl.fails(&["device", "rm", "--tenant", "default", ".."]);
    assert!(err.contains("cannot name"), "`..` must not reach the tenant itself: {err}");
    assert!(ctl.ok(&["tenant", "list"]).contains("default"), "the tenant is still there");
    let err = ctl.fails(&["device", "add", "--tenant", "default", "80:5e:c0:aa:bb:cc", "--vendor", "nokia"]);
    assert!(err.contains("unknown vendor"), "{err}");
    assert!(ctl.ok(&["health"]).contains("site revision 2"), "only the first add was applied");
}

#[test]
fn a_site_file_is_applied_and_its_tenants_appear() {
    let outpost = Outpost::start();
    let ctl = Ctl::logged_in(&outpost);

    let applied = ctl.ok(&["site", "apply", EXAMPLE]);
    assert!(applied.contains("revision 2"), "{applied}");
    assert!(ctl.ok(&["site", "apply", EXAMPLE]).contains("unchanged"), "applying it again changes nothing");

    let tenants = ctl.ok(&["tenant", "list"]);
    let names: Vec<&str> = tenants.lines().skip(1).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(names, ["acme", "bright"], "{tenants}");

    let trunks = ctl.ok(&["trunk", "list", "--tenant", "acme"]);
    assert!(trunks.contains("pbx.cloud.example.net") && trunks.contains("pstn-gw"), "{trunks}");
    assert!(!trunks.contains("s3cret-trunk-password"), "{trunks}");
    let routes = ctl.ok(&["route", "list", "--tenant", "acme"]);
    assert!(routes.contains("+4940123450") && routes.contains("international"), "{routes}");
    let devices = ctl.ok(&["device", "list", "--tenant", "acme"]);
    assert!(devices.contains("00:04:f2:aa:bb:cc"), "{devices}");
    let export = ctl.ok(&["site", "export"]);
    assert!(!export.contains("correct-horse-101") && !export.contains("s3cret-trunk-password"), "{export}");

    // Export, edit, apply: the round trip an admin makes, with the revision guarding it.
    let exported = ctl.dir.path().join("exported.toml");
    let toml = ctl.ok(&["site", "export", "--toml"]);
    assert!(toml.contains("revision = 2") && !toml.contains("correct-horse-101"), "{toml}");
    std::fs::write(&exported, toml.replace("Alice Reception", "Alice Front Desk")).unwrap();
    assert!(ctl.ok(&["site", "apply", exported.to_str().unwrap()]).contains("revision 3"));
    assert!(ctl.ok(&["extension", "list", "-t", "acme"]).contains("Alice Front Desk"));
    let err = ctl.fails(&["site", "apply", exported.to_str().unwrap()]);
    assert!(err.starts_with("outpostctl: 409: ") && err.contains("export again"), "a stale edit is refused: {err}");

    // A broken file is explained here and never reaches the box.
    let bad = ctl.dir.path().join("bad.toml");
    let text = std::fs::read_to_string(EXAMPLE).unwrap().replace("number = \"103\"", "number = \"1x3\"");
    std::fs::write(&bad, text).unwrap();
    let err = ctl.fails(&["site", "apply", bad.to_str().unwrap()]);
    assert!(err.contains("extensions[2].number"), "{err}");
    assert!(ctl.ok(&["health"]).contains("site revision 3"));
}

#[test]
fn a_box_with_another_certificate_is_refused() {
    let outpost = Outpost::start();
    let other = Outpost::start();
    let ctl = Ctl::new(&outpost);
    let wrong = other.cert();
    let args = ctl.login_args(&wrong);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ctl.run(&args, &[("OUTPOST_PASSWORD", &outpost.one_time_password)]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("certificate is not the one in"), "{}", text(&out));
    assert!(!ctl.session_file().exists());

    let health = ["health", "--url", &outpost.url(""), "--cacert", wrong.to_str().unwrap()];
    assert!(ctl.fails(&health).contains("not the one in"));
    let cert = outpost.cert();
    let health = ["health", "--url", &outpost.url(""), "--cacert", cert.to_str().unwrap()];
    assert!(ctl.ok(&health).starts_with("ok: "), "the right certificate works for any command");
}

#[test]
fn without_a_session_commands_say_to_log_in() {
    let outpost = Outpost::start();
    let ctl = Ctl::new(&outpost);
    for args in [&["tenant", "list"][..], &["extension", "list", "-t", "default"], &["site", "export"], &["health"]] {
        let err = ctl.fails(args);
        assert!(err.contains("outpostctl login"), "{args:?}: {err}");
    }

    let ctl = Ctl::logged_in(&outpost);
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(ctl.session_file()).unwrap()).unwrap();
    let token = saved["token"].as_str().unwrap();
    assert_eq!(outpost.curl("GET", "/api/v1/tenants", Some(token), None).0, 200);
    assert!(ctl.ok(&["logout"]).contains("logged out"));
    assert_eq!(outpost.curl("GET", "/api/v1/tenants", Some(token), None).0, 401, "the session ended on the box too");
    assert!(ctl.fails(&["tenant", "list"]).contains("outpostctl login"));
    assert!(ctl.ok(&["logout"]).contains("not logged in"), "logging out twice is fine");

    // A session the box no longer knows (expired, or ended by a password change elsewhere).
    let stale = serde_json::json!({"url": outpost.url(""), "cacert": outpost.cert(), "token": "gone"});
    std::fs::write(ctl.session_file(), stale.to_string()).unwrap();
    let err = ctl.fails(&["tenant", "list"]);
    assert!(err.starts_with("outpostctl: 401: ") && err.contains("outpostctl login"), "{err}");
}
