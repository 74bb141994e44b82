//! Mid-call features through the box with real peers: hold by re-INVITE, blind transfer by
//! REFER, a call whose media stops, and baresip (Debian `baresip-core`) as a real softphone,
//! skipped with a notice when it is not installed. Each test checks the call's CDR.
//!
//! Every peer run is bounded (`-timeout`, `-t`), so a test never hangs; nothing here asserts
//! on time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::phones::{cdrs, free_block, start, start_extra, Phone};
use common::{Extra, Outpost};

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

/// A baresip config directory: no audio devices (a 440 Hz sine, at 48 kHz stereo, the only
/// format `ausine` makes, as the microphone; the bridge module as the speaker), G.711, and
/// 101's account, calling through the box without registering (calls need authentication,
/// not a binding).
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
             ausrc_srate 48000\nauplay_srate 48000\nausrc_channels 2\nauplay_channels 2\nrtp_ports {}-{}\n",
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
        .args(["-n", "127.0.0.1", "-e", "/dial sip:103@acme.pbx.local", "-t", "6"])
        .stdin(Stdio::null())
        .output()
        .expect("baresip runs");
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(callee.finished(), "the sipp phone saw the whole call: {log}");
    let cdr = &cdrs(&outpost, &token, 1)[0];
    assert_eq!(cdr["disposition"], "answered", "{cdr}\n{log}");
    assert_eq!((cdr["caller"].as_str(), cdr["callee"].as_str()), (Some("101"), Some("103")));
    assert!(cdr["media"]["a"]["relayed_packets"].as_u64().unwrap() > 0, "baresip's RTP went through: {cdr}");
    assert!(cdr["media"]["b"]["relayed_packets"].as_u64().unwrap() > 0, "the echo came back to baresip: {cdr}");
}
