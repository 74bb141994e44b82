//! Trunks and survivable mode with real peers: sipp UASes on loopback play the cloud PBX and a
//! fallback provider (they answer the box's OPTIONS probes and its calls, `trunk_peer.xml`),
//! sipp phones call out through the box, and the cloud "dies" when its sipp is killed and
//! "returns" when it is started again on the same port. Health settings are aggressive
//! (probes every second, down after two misses, a 3-5 s hold-down) to keep the tests short.
//!
//! What is checked is what a user or an admin would see: which peer answered and with which
//! number, the status and reason phrase the caller got, the CDR's `trunk`, and the API's trunk
//! states, mode and events. Every sipp run is bounded (`-timeout`), every wait has a ceiling;
//! nothing asserts on how long something took, only on the order of what happened (the box's
//! own event timestamps against the peer's log, for the hold-down).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::phones::{cdrs, errors, Phone};
use common::trunks::{
    calls_from_trunk, events, metric, peer_ip, start, survivable, trunk, wait_for, wait_mode, wait_state, write_tone,
    Background, Health, Peer, Site, Trunk, NATIONAL_ROUTE,
};
use common::Outpost;

/// The cloud and a fallback provider, both up, with the national route (cloud first).
fn cloud_and_fallback(dir: &Path, cloud_health: Health, site_tables: &str, tenant_keys: &str) -> Setup {
    let mut cloud = Peer::new(dir, "cloud");
    let mut fallback = Peer::new(dir, "fallback");
    cloud.start();
    fallback.start();
    let trunks = [
        Trunk::to(&cloud, "cloud", cloud_health).with("caller_id = \"+4940123450\""),
        Trunk::to(&fallback, "fallback", Health::aggressive()),
    ];
    let site = Site { trunks: &trunks, tenant_keys, tenant_tables: NATIONAL_ROUTE, site_tables };
    let (outpost, token) = start(dir, &site);
    wait_state(&outpost, &token, "cloud", "up");
    wait_state(&outpost, &token, "fallback", "up");
    Setup { outpost, token, cloud, fallback }
}

struct Setup {
    outpost: Outpost,
    token: String,
    cloud: Peer,
    fallback: Peer,
}

/// Phone 101 calls `number` (a 3 s call with RTP); true when the call went through.
fn call_out(dir: &Path, outpost: &Outpost, number: &str) -> bool {
    Phone::new(dir, "101").call(dir, outpost, number, "call_uac.xml")
}

/// A phone calls `number` and is refused; returns the status line it got ("403 ...").
fn refused(dir: &Path, outpost: &Outpost, ext: &'static str, number: &str) -> String {
    let log = dir.join(format!("refused-{ext}-{number}.log"));
    let out = Phone::new(dir, ext)
        .sipp(dir, outpost, "trunk_uac_refused.xml")
        .args(["-s", number, "-trace_logs", "-log_file"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(out.status.success(), "{ext} calling {number}: {}\n{}", String::from_utf8_lossy(&out.stderr), errors(dir));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let line = text.lines().find_map(|l| l.strip_prefix("refused: ")).unwrap_or_default();
    line.split(" (").next().unwrap_or_default().to_owned()
}

fn logs(outpost: &Outpost) -> String {
    outpost.log_lines().join("\n")
}

#[test]
fn an_outside_call_goes_out_by_the_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let s = cloud_and_fallback(dir.path(), Health::aggressive(), "", "");
    assert!(call_out(dir.path(), &s.outpost, "0301234567"), "{}", logs(&s.outpost));

    assert_eq!(s.cloud.answered(), ["0301234567"], "the cloud took the call, number unchanged");
    assert_eq!(s.cloud.callers(), ["+4940123450"], "with the trunk's caller ID");
    assert!(s.fallback.answered().is_empty(), "{:?}", s.fallback.answered());
    let rows = cdrs(&s.outpost, &s.token, 1);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let cdr = &rows[0];
    assert_eq!(cdr["disposition"], "answered", "{cdr}");
    assert_eq!(cdr["trunk"], "cloud", "{cdr}");
    assert_eq!((cdr["caller"].as_str(), cdr["dialled"].as_str()), (Some("101"), Some("0301234567")), "{cdr}");
    assert_eq!(cdr["hangup"], "caller");
    let media = &cdr["media"];
    assert!(media["a"]["relayed_packets"].as_u64().unwrap_or(0) > 0, "phone → cloud: {media}");
    assert!(media["b"]["relayed_packets"].as_u64().unwrap_or(0) > 0, "cloud (echo) → phone: {media}");
    let body = survivable(&s.outpost, &s.token);
    assert_eq!(body["survivable"], false, "{body}");
    assert_eq!(metric(&s.outpost, "outpost_survivable"), Some(0.0));
    assert_eq!(metric(&s.outpost, "outpost_trunk_up{tenant=\"acme\",trunk=\"cloud\"}"), Some(1.0));
}

/// The cloud delivers two DIDs: one to extension 101, one to ring group 600 (102 rings, 103
/// answers). The cloud's sender runs on the trunk's own address (the box knows trunk calls by
/// their source) and answers the box's probes meanwhile (`-aa`), as a real PBX would.
#[test]
fn calls_from_the_cloud_reach_an_extension_and_a_ring_group() {
    let dir = tempfile::tempdir().unwrap();
    let base = common::phones::free_block();
    let (cloud_ip, cloud_port, cloud_media) = (peer_ip(), base, base + 2);
    let trunks = [Trunk::at("cloud", "cloud", &cloud_ip, cloud_port, Health::aggressive())];
    let routes = r#"
[[tenants.inbound_routes]]
did = "+4940123450"
destination = "101"

[[tenants.inbound_routes]]
did = "+4940123600"
destination = "600"
"#;
    let site = Site { trunks: &trunks, tenant_keys: "", tenant_tables: routes, site_tables: "" };
    let (outpost, token) = start(dir.path(), &site);
    let desk = Phone::new(dir.path(), "101").serve(dir.path(), &outpost, "call_uas.xml");
    let ringing = Phone::new(dir.path(), "102").serve(dir.path(), &outpost, "call_uas_ring.xml");
    let answering = Phone::new(dir.path(), "103").serve(dir.path(), &outpost, "call_uas.xml");

    let calls = [("+4940123450", "+4917012345"), ("+4940123600", "+4917012345")];
    let out = calls_from_trunk(dir.path(), &outpost, (&cloud_ip, cloud_port, cloud_media), &calls);
    assert!(
        out.status.success(),
        "the cloud's calls: {}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        errors(dir.path()),
        logs(&outpost)
    );
    assert!(desk.finished(), "101 answered the DID's call");
    assert!(answering.finished(), "103 answered the ring group's call");
    assert!(ringing.finished(), "102 rang and was cancelled when 103 answered");

    let rows = cdrs(&outpost, &token, 2);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (group, direct) = (&rows[0], &rows[1]);
    for cdr in [group, direct] {
        assert_eq!(cdr["disposition"], "answered", "{cdr}");
        assert_eq!(cdr["trunk"], "cloud", "{cdr}");
        assert_eq!(cdr["caller"], "+4917012345", "{cdr}");
    }
    assert_eq!((direct["dialled"].as_str(), direct["callee"].as_str()), (Some("+4940123450"), Some("101")), "{direct}");
    assert_eq!((group["dialled"].as_str(), group["callee"].as_str()), (Some("+4940123600"), Some("103")), "{group}");
}

#[test]
fn when_the_cloud_dies_outside_calls_go_by_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = cloud_and_fallback(dir.path(), Health::aggressive(), "", "");
    assert!(call_out(dir.path(), &s.outpost, "0301234567"), "{}", logs(&s.outpost));
    assert_eq!(cdrs(&s.outpost, &s.token, 1)[0]["trunk"], "cloud");

    s.cloud.stop();
    // Placed at once, before the probes notice: the cloud says nothing to the INVITE, and
    // the call moves on to the fallback instead of being lost.
    assert!(call_out(dir.path(), &s.outpost, "0301234568"), "{}", logs(&s.outpost));
    assert_eq!(s.fallback.answered(), ["+49301234568"], "the fallback got the call, in its own format");
    let cdr = cdrs(&s.outpost, &s.token, 2)[0].clone();
    assert_eq!((cdr["disposition"].as_str(), cdr["trunk"].as_str()), (Some("answered"), Some("fallback")), "{cdr}");

    let row = wait_state(&s.outpost, &s.token, "cloud", "down");
    assert_eq!(row["role"], "cloud", "{row}");
    assert!(!row["reason"].as_str().unwrap_or_default().is_empty(), "the API says why: {row}");
    assert_eq!(trunk(&s.outpost, &s.token, "fallback")["state"], "up");
    let mode = wait_mode(&s.outpost, &s.token, true);
    assert!(!mode["reason"].as_str().unwrap_or_default().is_empty(), "{mode}");
    assert_eq!(events(&mode, "down", Some("cloud")).len(), 1, "{mode}");
    assert_eq!(events(&mode, "survivable", None).len(), 1, "{mode}");
    assert_eq!(metric(&s.outpost, "outpost_survivable"), Some(1.0));
    assert_eq!(metric(&s.outpost, "outpost_trunk_up{tenant=\"acme\",trunk=\"cloud\"}"), Some(0.0));
    assert_eq!(metric(&s.outpost, "outpost_trunk_up{tenant=\"acme\",trunk=\"fallback\"}"), Some(1.0));

    // Now the cloud is known down: the fallback is the first and only leg.
    assert!(call_out(dir.path(), &s.outpost, "0301234569"), "{}", logs(&s.outpost));
    assert_eq!(s.fallback.answered(), ["+49301234568", "+49301234569"]);
    let cdr = cdrs(&s.outpost, &s.token, 3)[0].clone();
    assert_eq!((cdr["disposition"].as_str(), cdr["trunk"].as_str()), (Some("answered"), Some("fallback")), "{cdr}");
    assert_eq!(cdr["legs"], 1, "the dead cloud was skipped, not tried: {cdr}");
    assert_eq!(s.cloud.answered(), ["0301234567"], "only the call from before it died");
}

/// Cloud and the second provider down, the gateway up but with its one channel in use: 112
/// still goes out, by the gateway; an ordinary number gets 503.
#[test]
fn an_emergency_call_gets_through_with_every_trunk_but_one_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut gateway = Peer::new(dir.path(), "gateway");
    gateway.start();
    // Nothing listens for cloud and carrier.
    let (cloud_port, carrier_port) = (common::phones::free_block(), common::phones::free_block());
    let trunks = [
        Trunk::at("cloud", "cloud", &peer_ip(), cloud_port, Health::aggressive()),
        Trunk::at("carrier", "fallback", &peer_ip(), carrier_port, Health::aggressive()),
        Trunk::to(&gateway, "fallback", Health::aggressive()).with("max_channels = 1"),
    ];
    let routes = r#"
[[tenants.outbound_routes]]
name = "national"
pattern = "0Z."
trunks = ["cloud", "carrier"]

[[tenants.outbound_routes]]
name = "international"
pattern = "00Z."
trunks = ["gateway"]
"#;
    let site = Site { trunks: &trunks, tenant_keys: "", tenant_tables: routes, site_tables: "" };
    let (outpost, token) = start(dir.path(), &site);
    wait_state(&outpost, &token, "cloud", "down");
    wait_state(&outpost, &token, "carrier", "down");
    wait_state(&outpost, &token, "gateway", "up");

    // A long call takes the gateway's only channel.
    write_tone(dir.path());
    let mut cmd = Phone::new(dir.path(), "101").sipp(dir.path(), &outpost, "trunk_long_call_uac.xml");
    cmd.args(["-s", "00441234567", "-d", "12000"]);
    let mut long = Background::spawn(cmd, "101", dir.path());
    wait_for("the long call up on the gateway", Duration::from_secs(20), || {
        let row = trunk(&outpost, &token, "gateway");
        if row["channels"] == 1 && gateway.answered().len() == 1 {
            Ok(())
        } else {
            Err(row.to_string())
        }
    });

    assert!(Phone::new(dir.path(), "102").call(dir.path(), &outpost, "112", "call_uac.xml"), "{}", logs(&outpost));
    assert_eq!(gateway.answered(), ["00441234567", "112"], "112 went out by the only trunk up, though it was full");
    let status = refused(dir.path(), &outpost, "103", "0301234567");
    assert!(status.starts_with("503"), "an ordinary call finds no trunk: {status}");
    let status = refused(dir.path(), &outpost, "104", "00441234568");
    assert!(status.starts_with("503"), "the gateway is full for ordinary calls: {status}");
    assert!(long.finished(), "the long call ended normally");

    let rows = cdrs(&outpost, &token, 4);
    let emergency = rows.iter().find(|r| r["dialled"] == "112").unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(emergency["disposition"], "answered", "{emergency}");
    assert_eq!(emergency["trunk"], "gateway", "{emergency}");
    let national = rows.iter().find(|r| r["dialled"] == "0301234567").unwrap();
    assert_eq!(
        (national["status"].as_u64(), national["disposition"].as_str()),
        (Some(503), Some("no_trunk")),
        "{national}"
    );
}

/// 101 talks to 103 (RTP both ways all along) while the cloud dies and comes back: the call
/// is never touched, and its media keeps flowing through both changes of mode.
#[test]
fn a_local_call_keeps_its_media_while_the_cloud_dies_and_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = cloud_and_fallback(dir.path(), Health::aggressive(), "", "");
    write_tone(dir.path());
    let callee = Phone::new(dir.path(), "103").serve(dir.path(), &s.outpost, "call_uas.xml");
    let mut cmd = Phone::new(dir.path(), "101").sipp(dir.path(), &s.outpost, "trunk_long_call_uac.xml");
    cmd.args(["-s", "103", "-d", "25000"]);
    let mut caller = Background::spawn(cmd, "101", dir.path());

    let relayed = |outpost: &Outpost, token: &str| -> Result<(u64, u64), String> {
        let (code, body) = outpost.json("GET", "/api/v1/media", Some(token), None);
        let call = body.as_array().and_then(|calls| calls.first()).cloned().ok_or(format!("{code} {body}"))?;
        let a = call["a"]["relayed_packets"].as_u64().unwrap_or(0);
        let b = call["b"]["relayed_packets"].as_u64().unwrap_or(0);
        Ok((a, b))
    };
    let flowing = |outpost: &Outpost, token: &str, after: (u64, u64), what: &str| {
        wait_for(what, Duration::from_secs(10), || {
            let now = relayed(outpost, token)?;
            if now.0 > after.0 && now.1 > after.1 {
                Ok(now)
            } else {
                Err(format!("{now:?} after {after:?}"))
            }
        })
    };
    let before = flowing(&s.outpost, &s.token, (0, 0), "RTP through the box both ways");

    s.cloud.stop();
    wait_mode(&s.outpost, &s.token, true);
    let during = flowing(&s.outpost, &s.token, before, "RTP still flowing in survivable mode");
    s.cloud.start();
    wait_mode(&s.outpost, &s.token, false);
    flowing(&s.outpost, &s.token, during, "RTP still flowing after the fail-back");
    assert!(caller.running(), "the call was still up through both changes (lengthen its -d if not)");

    assert!(caller.finished(), "the caller hung up normally (BYE, 200)");
    assert!(callee.finished(), "the callee saw the whole call");
    let rows = cdrs(&s.outpost, &s.token, 1);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let cdr = &rows[0];
    assert_eq!(cdr["disposition"], "answered", "{cdr}");
    assert_eq!(cdr["hangup"], "caller", "{cdr}");
    assert_eq!(cdr["callee"], "103");
    assert!(cdr["trunk"].is_null(), "a local call uses no trunk: {cdr}");
    assert!(cdr["media"]["a"]["relayed_packets"].as_u64().unwrap_or(0) > 0, "{cdr}");
    assert!(cdr["media"]["b"]["relayed_packets"].as_u64().unwrap_or(0) > 0, "{cdr}");
}

/// The cloud returns: the site stays survivable while the cloud's answers have not yet lasted
/// its hold-down, then fails back; the box's own event times show the hold-down was kept.
#[test]
fn the_site_fails_back_only_after_the_hold_down() {
    const HOLD_DOWN: u32 = 4;
    let dir = tempfile::tempdir().unwrap();
    let mut s = cloud_and_fallback(dir.path(), Health::aggressive().hold_down(HOLD_DOWN), "", "");
    s.cloud.stop();
    wait_mode(&s.outpost, &s.token, true);

    s.cloud.start();
    let mut seen_survivable_with_cloud_answering = false;
    let body = wait_for("fail-back", Duration::from_secs(30), || {
        let body = survivable(&s.outpost, &s.token);
        let row = trunk(&s.outpost, &s.token, "cloud");
        if body["survivable"] == true {
            if !s.cloud.options_times(s.cloud.runs()).is_empty() {
                seen_survivable_with_cloud_answering = true;
            }
            return Err(format!("{body} / {row}"));
        }
        // Read after the mode: once the mode is normal, the cloud must be up.
        assert_eq!(row["state"], "up", "normal mode with the cloud not up: {body} / {row}");
        Ok(body)
    });
    assert!(seen_survivable_with_cloud_answering, "the cloud's first answers did not end survivable mode at once");

    let enter = events(&body, "survivable", None);
    let leave = events(&body, "normal", None);
    assert_eq!((enter.len(), leave.len()), (1, 1), "one enter, one leave: {body}");
    let (entered, left) = (enter[0]["at"].as_i64().unwrap(), leave[0]["at"].as_i64().unwrap());
    assert!(entered <= left, "enter before leave: {body}");
    let kinds: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["trunk"] == "cloud" || e["trunk"].is_null())
        .map(|e| e["kind"].as_str().unwrap_or_default())
        .collect();
    let order: Vec<&str> =
        kinds.iter().copied().filter(|k| ["down", "survivable", "up", "normal"].contains(k)).collect();
    let pos = |k: &str| order.iter().rposition(|x| *x == k).unwrap_or_else(|| panic!("no {k} in {order:?}"));
    assert!(pos("down") < pos("up") && pos("survivable") < pos("normal") && pos("up") <= pos("normal"), "{order:?}");
    // The first probe the returned cloud answered, by the peer's clock (same machine), against
    // the box's time of the fail-back (whole seconds).
    let first_answer = s.cloud.options_times(s.cloud.runs())[0].floor() as i64;
    assert!(
        left >= first_answer + i64::from(HOLD_DOWN),
        "left survivable mode at {left}, the cloud first answered at {first_answer}, hold-down {HOLD_DOWN} s: {body}"
    );
    let up = events(&body, "up", Some("cloud"));
    let up_at = up.last().unwrap()["at"].as_i64().unwrap();
    assert!(up_at >= first_answer + i64::from(HOLD_DOWN), "cloud up at {up_at}: {body}");

    // And calls take the cloud again.
    assert!(call_out(dir.path(), &s.outpost, "0301234567"), "{}", logs(&s.outpost));
    assert_eq!(cdrs(&s.outpost, &s.token, 1)[0]["trunk"], "cloud");
    assert_eq!(s.cloud.answered(), ["0301234567"]);
}

/// The cloud comes and goes every ~1.5 s for ~12 s (hold-down 5 s): the site enters survivable
/// mode once and stays there; the cloud never counts as up again.
#[test]
fn a_flapping_cloud_does_not_flap_the_mode() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = cloud_and_fallback(dir.path(), Health::aggressive().hold_down(5), "", "");
    s.cloud.stop();
    wait_mode(&s.outpost, &s.token, true);
    for _ in 0..4 {
        s.cloud.start();
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(survivable(&s.outpost, &s.token)["survivable"], true, "mode left while the cloud flaps");
        s.cloud.stop();
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(survivable(&s.outpost, &s.token)["survivable"], true, "mode left while the cloud flaps");
    }
    let body = survivable(&s.outpost, &s.token);
    assert_eq!(body["survivable"], true, "{body}");
    assert_eq!(events(&body, "survivable", None).len(), 1, "one enter: {body}");
    assert!(events(&body, "normal", None).is_empty(), "no leave: {body}");
    let downs = events(&body, "down", Some("cloud")).len();
    let ups_after_first_down = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .skip_while(|e| !(e["trunk"] == "cloud" && e["kind"] == "down"))
        .filter(|e| e["trunk"] == "cloud" && e["kind"] == "up")
        .count();
    assert_eq!((downs, ups_after_first_down), (1, 0), "the cloud stayed down: {body}");
    assert_eq!(trunk(&s.outpost, &s.token, "cloud")["state"], "down");
    let answered: usize = (1..=s.cloud.runs()).map(|r| s.cloud.options_times(r).len()).sum();
    assert!(answered > 0, "the flapping cloud did answer some probes");
}

#[test]
fn a_premium_number_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let blocked = r#"blocked = [{ pattern = "0900.", reason = "premium rate numbers are blocked" }]"#;
    let s = cloud_and_fallback(dir.path(), Health::aggressive(), "", blocked);
    let status = refused(dir.path(), &s.outpost, "101", "09001234567");
    assert_eq!(status, "403 Forbidden: premium rate numbers are blocked", "the caller's phone shows why");
    assert!(s.cloud.answered().is_empty() && s.fallback.answered().is_empty(), "no trunk saw the call");
    let cdr = &cdrs(&s.outpost, &s.token, 1)[0];
    assert_eq!((cdr["disposition"].as_str(), cdr["status"].as_u64()), (Some("failed"), Some(403)), "{cdr}");
    assert_eq!(cdr["dialled"], "09001234567");
}

/// A provider that wants a REGISTER gets one, answers its challenge, and shows as registered;
/// one whose password the box has wrong shows as failed. Calls go out by the registered one.
#[test]
fn the_box_registers_with_a_trunk_that_wants_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut carrier = Peer::registrar(dir.path(), "carrier", "acme-trunk", "s3cret-trunk");
    let mut other = Peer::registrar(dir.path(), "other", "acme-other", "the-right-one");
    carrier.start();
    other.start();
    let trunks = [
        Trunk::to(&carrier, "fallback", Health::aggressive())
            .with("username = \"acme-trunk\"\nsecret = \"s3cret-trunk\""),
        Trunk::to(&other, "fallback", Health::aggressive())
            .with("username = \"acme-other\"\nsecret = \"not-the-right-one\""),
    ];
    let routes = r#"
[[tenants.outbound_routes]]
name = "national"
pattern = "0Z."
trunks = ["carrier"]
"#;
    let site = Site { trunks: &trunks, tenant_keys: "", tenant_tables: routes, site_tables: "" };
    let (outpost, token) = start(dir.path(), &site);

    let row = wait_for("carrier registered", Duration::from_secs(30), || {
        let row = trunk(&outpost, &token, "carrier");
        if row["registration"]["state"] == "registered" {
            Ok(row)
        } else {
            Err(row.to_string())
        }
    });
    assert!(row["registration"]["until_unix"].as_i64().is_some(), "{row}");
    let log = carrier.log();
    assert!(log.contains("challenged REGISTER"), "{log}");
    assert!(log.contains("registered acme-trunk"), "sipp's verifyauth accepted the digest: {log}");
    let row = wait_for("other refused", Duration::from_secs(30), || {
        let row = trunk(&outpost, &token, "other");
        if row["registration"]["state"] == "failed" {
            Ok(row)
        } else {
            Err(row.to_string())
        }
    });
    assert!(!row["registration"]["reason"].as_str().unwrap_or_default().is_empty(), "{row}");
    assert!(other.log().contains("refused REGISTER from acme-other"), "{}", other.log());
    let body = survivable(&outpost, &token);
    assert_eq!(events(&body, "registered", Some("carrier")).len(), 1, "{body}");

    assert!(call_out(dir.path(), &outpost, "0301234567"), "{}", logs(&outpost));
    assert_eq!(carrier.answered(), ["0301234567"]);
    assert_eq!(cdrs(&outpost, &token, 1)[0]["trunk"], "carrier");
}

/// A PSTN gateway on the LAN shares its address with a phone (an ATA with FXO and FXS ports,
/// or a phone on the gateway's host): the phone's calls from its own port are still the
/// phone's, not the trunk's. The trunk's port is configured; only what comes from that
/// address is the trunk's.
#[test]
fn a_phone_on_a_trunk_host_is_not_taken_for_the_trunk() {
    let dir = tempfile::tempdir().unwrap();
    // The gateway on the phones' own address, 127.0.0.1.
    let mut gateway = Peer::new(dir.path(), "gateway");
    gateway.ip = "127.0.0.1".into();
    gateway.start();
    let trunks = [Trunk::to(&gateway, "fallback", Health::aggressive())];
    let routes = r#"
[[tenants.outbound_routes]]
name = "national"
pattern = "0Z."
trunks = ["gateway"]
"#;
    let site = Site { trunks: &trunks, tenant_keys: "", tenant_tables: routes, site_tables: "" };
    let (outpost, token) = start(dir.path(), &site);
    wait_state(&outpost, &token, "gateway", "up");
    let callee = Phone::new(dir.path(), "103").serve(dir.path(), &outpost, "call_uas.xml");
    let caller = Phone::new(dir.path(), "101");
    caller.register(dir.path(), &outpost);
    assert!(caller.call(dir.path(), &outpost, "103", "call_uac.xml"), "a local call: {}", logs(&outpost));
    assert!(callee.finished());
    let cdr = &cdrs(&outpost, &token, 1)[0];
    assert_eq!((cdr["caller"].as_str(), cdr["callee"].as_str()), (Some("101"), Some("103")), "{cdr}");
    assert!(cdr["trunk"].is_null(), "{cdr}");
    assert!(call_out(dir.path(), &outpost, "0301234567"), "out by the gateway: {}", logs(&outpost));
    assert_eq!(gateway.answered(), ["0301234567"]);
}

/// A call placed just after the cloud died is carried by the fallback; when the cloud comes
/// back a few seconds later, it must not be handed that call's INVITE (a retransmission of the
/// abandoned leg) and ring a phone behind it for a call that was answered elsewhere.
#[test]
fn the_returning_cloud_is_not_sent_calls_carried_by_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let mut cloud = Peer::new(dir.path(), "cloud").trace_messages();
    let mut fallback = Peer::new(dir.path(), "fallback");
    cloud.start();
    fallback.start();
    let trunks =
        [Trunk::to(&cloud, "cloud", Health::aggressive()), Trunk::to(&fallback, "fallback", Health::aggressive())];
    let site = Site { trunks: &trunks, tenant_keys: "", tenant_tables: NATIONAL_ROUTE, site_tables: "" };
    let (outpost, token) = start(dir.path(), &site);
    wait_state(&outpost, &token, "cloud", "up");
    wait_state(&outpost, &token, "fallback", "up");

    cloud.stop();
    let died = std::time::Instant::now();
    assert!(call_out(dir.path(), &outpost, "0301234567"), "{}", logs(&outpost));
    assert_eq!(fallback.answered(), ["+49301234567"]);
    cloud.start();
    wait_mode(&outpost, &token, false);
    // Long enough for an INVITE retransmitted on RFC 3261's schedule (0.5, 1, 2, 4, 8 s
    // apart) to reach the returned cloud, if the box still sends them; not a timed assertion.
    std::thread::sleep(Duration::from_secs(17).saturating_sub(died.elapsed()));
    assert!(
        cloud.answered().is_empty(),
        "the returned cloud got INVITEs of a call the fallback carried: {:?}\n{}\n{}",
        cloud.answered(),
        cloud.errors(),
        cloud.messages()
    );
}
