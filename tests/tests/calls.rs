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

/// One SIP message from a stream (every message the box sends has a Content-Length).
fn read_message(stream: &mut std::net::TcpStream, buf: &mut Vec<u8>) -> String {
    use std::io::Read;
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let message: Vec<u8> = buf.drain(..end + 4 + length).collect();
                return String::from_utf8_lossy(&message).into_owned();
            }
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).expect("the box answers within the read timeout");
        assert!(n > 0, "the box closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn line<'a>(message: &'a str, name: &str) -> &'a str {
    message.lines().find(|l| l.starts_with(&format!("{name}: "))).unwrap_or_default()
}

/// A phone registered over TCP is called on its own connection (the box opens none itself).
#[test]
fn a_phone_registered_over_tcp_gets_its_call_on_that_connection() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let (outpost, token) = start(dir.path());
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", outpost.sip_port)).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let local = tcp.local_addr().unwrap();
    let register = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:acme.pbx.local SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKtcp{cseq}\r\n\
             From: <sip:104@acme.pbx.local>;tag=t\r\nTo: <sip:104@acme.pbx.local>\r\nCall-ID: tcp-reg\r\n\
             CSeq: {cseq} REGISTER\r\nContact: <sip:104@{local};transport=tcp>\r\nExpires: 600\r\n{auth}\
             Content-Length: 0\r\n\r\n"
        )
    };
    let mut buf = Vec::new();
    tcp.write_all(register(1, "").as_bytes()).unwrap();
    let challenge = read_message(&mut tcp, &mut buf);
    assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
    let nonce = challenge.split("nonce=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let credentials = appliance::sip::digest::Credentials {
        username: "104".into(),
        realm: "acme.pbx.local".into(),
        nonce,
        uri: "sip:acme.pbx.local".into(),
        algorithm: Some("MD5".into()),
        qop: Some("auth".into()),
        nc: Some("00000001".into()),
        cnonce: Some("c0ffee".into()),
        ..Default::default()
    };
    let response = credentials.expected_response("REGISTER", "hunter2-but-longer-104").unwrap();
    let auth = format!(
        "Authorization: Digest username=\"104\", realm=\"acme.pbx.local\", nonce=\"{}\", uri=\"sip:acme.pbx.local\", \
         response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c0ffee\"\r\n",
        credentials.nonce
    );
    tcp.write_all(register(2, &auth).as_bytes()).unwrap();
    let ok = read_message(&mut tcp, &mut buf);
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");

    let caller = Phone::new(dir.path(), "101");
    let calling = caller.sipp(dir.path(), &outpost, "call_uac_busy.xml").args(["-s", "104"]).spawn().unwrap();
    let invite = read_message(&mut tcp, &mut buf);
    assert!(invite.starts_with("INVITE sip:104@"), "{invite}");
    assert!(line(&invite, "Via").contains("SIP/2.0/TCP"), "{invite}");
    assert!(line(&invite, "Contact").contains("transport=tcp"), "{invite}");
    let busy = format!(
        "SIP/2.0 486 Busy Here\r\n{}\r\n{}\r\n{};tag=busy104\r\n{}\r\n{}\r\nContent-Length: 0\r\n\r\n",
        line(&invite, "Via"),
        line(&invite, "From"),
        line(&invite, "To"),
        line(&invite, "Call-ID"),
        line(&invite, "CSeq")
    );
    tcp.write_all(busy.as_bytes()).unwrap();
    let ack = read_message(&mut tcp, &mut buf);
    assert!(ack.starts_with("ACK sip:104@"), "the 486 is ACKed on the same connection: {ack}");
    // sipp's own -timeout bounds this wait.
    let call = calling.wait_with_output().unwrap().status.success();
    assert!(call, "the caller heard busy");
    let cdr = &cdrs(&outpost, &token, 1)[0];
    assert_eq!((cdr["disposition"].as_str(), cdr["status"].as_u64()), (Some("busy"), Some(486)), "{cdr}");
}

/// bright's 101 dials 102: acme's 102 is registered, bright's is not. The call stays in bright.
#[test]
fn calls_never_cross_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let (outpost, token) = start(dir.path());
    Phone::new(dir.path(), "102").register(dir.path(), &outpost);
    let caller = Phone::of(dir.path(), "101", "bright.pbx.local", "bright-101-secret");
    assert!(
        caller.call(dir.path(), &outpost, "102", "call_uac_unavailable.xml"),
        "480: bright's 102 is not registered"
    );
    let cdr = &cdrs(&outpost, &token, 1)[0];
    assert_eq!((cdr["tenant"].as_str(), cdr["status"].as_u64()), (Some("bright"), Some(480)), "{cdr}");
    assert_eq!(cdr["legs"], 0, "no INVITE went to acme's 102");
    let (_, acme) = outpost.json("GET", "/api/v1/cdrs?tenant=acme", Some(&token), None);
    assert_eq!(acme.as_array().unwrap().len(), 0);
}
