//! Calls through the box with real peers: sipp phones register as extensions, one calls
//! (UAC), others answer, ring or are busy (UAS), and the box bridges them as a B2BUA with the
//! media anchored on its own ports. Each test checks the call's CDR. Mid-call features (hold,
//! transfer, media timeout) and baresip are in `calls_midcall.rs`.
//!
//! Every sipp run is bounded (`-timeout`), so a test never hangs; nothing here asserts on time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::phones::{cdrs, start, Phone};

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
