//! Outside calls over trunks through the core on virtual time: the INVITE a trunk gets,
//! failover on 503 and on silence, a challenge answered, a busy far end passed back, and a
//! call from a trunk routed by its DID.

use super::*;
use crate::trunk::TrunkKey;

const CLOUD: &str = "203.0.113.10:5061";
const GW: &str = "192.168.10.5:5060";

/// A rig whose two trunks have addresses (as DNS would give them).
fn with_trunks() -> Rig {
    let mut rig = Rig::new();
    let now = rig.at(0);
    rig.core.refresh_trunks(now);
    rig.core.trunks.set_targets(&TrunkKey::new("acme", "cloud"), vec![addr(CLOUD)]);
    rig.core.trunks.set_targets(&TrunkKey::new("acme", "pstn-gw"), vec![addr(GW)]);
    rig
}

#[test]
fn an_outside_call_fails_over_to_the_next_trunk_on_503_and_its_cdr_names_the_trunk() {
    let mut rig = with_trunks();
    let out = rig.call("101", "correct-horse-101", "acme.pbx.local", "0401234567");
    let first = sent_to(&out.sends, CLOUD, "INVITE sip:0401234567@pbx.cloud.example.net:5061 SIP/2.0")
        .unwrap_or_else(|| panic!("{:?}", texts(&out.sends)));
    assert!(header(&first, "from").starts_with("<sip:101@pbx.cloud.example.net>;tag="), "{first}");
    assert!(header(&first, "contact").contains("harbour-acme@"), "a registered trunk gets our AOR: {first}");

    let failed = rig.input(20, &reply(&first, 503, "Service Unavailable", "tc", false), CLOUD);
    assert!(sent_to(&failed.sends, CLOUD, "ACK").is_some());
    let second = sent_to(&failed.sends, GW, "INVITE sip:0401234567@192.168.10.5 SIP/2.0")
        .unwrap_or_else(|| panic!("{:?}", texts(&failed.sends)));
    assert!(!rig.core.trunks.usable(&TrunkKey::new("acme", "cloud")), "a 503 on a call marks the trunk down");

    let ok = rig.input(30, &reply(&second, 200, "OK", "tg", true), GW);
    assert!(sent_to(&ok.sends, A, "SIP/2.0 200 OK").is_some(), "{:?}", texts(&ok.sends));
    let a_to = header(&sent_to(&ok.sends, A, "SIP/2.0 200 OK").unwrap(), "to");
    let bye = format!(
        "BYE sip:box SIP/2.0\r\nVia: SIP/2.0/UDP {A};branch=z9hG4bKbye\r\nFrom: \"Alice\" <sip:101@acme.pbx.local>;tag=fa\r\n\
         To: {a_to}\r\nCall-ID: call-a\r\nCSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    let ended = rig.input(40, &bye, A);
    assert!(sent_to(&ended.sends, GW, "BYE").is_some());
    let cdr = &ended.records[0];
    assert_eq!((cdr.disposition.as_str(), cdr.trunk.as_deref()), ("answered", Some("pstn-gw")));
    assert!(cdr.route.contains("trying trunk cloud") && cdr.route.contains("trying trunk pstn-gw"), "{}", cdr.route);
}

#[test]
fn a_silent_trunk_is_left_after_its_probe_timeout_and_the_call_goes_on() {
    let mut rig = with_trunks();
    let out = rig.call("101", "correct-horse-101", "acme.pbx.local", "0401234567");
    assert!(sent_to(&out.sends, CLOUD, "INVITE").is_some());
    let quiet = rig.core.on_timer(rig.at(1_000));
    assert!(sent_to(&quiet.sends, GW, "INVITE").is_none(), "not before the timeout");
    let later = rig.core.on_timer(rig.at(2_100));
    assert!(sent_to(&later.sends, GW, "INVITE").is_some(), "{:?}", texts(&later.sends));
}

#[test]
fn a_trunk_challenge_is_answered_once_and_a_busy_far_end_is_passed_back() {
    let mut rig = with_trunks();
    let out = rig.call("101", "correct-horse-101", "acme.pbx.local", "0401234567");
    let first = sent_to(&out.sends, CLOUD, "INVITE").unwrap();
    let challenge = reply(&first, 407, "Proxy Authentication Required", "tc", false).replacen(
        "Content-Length",
        "Proxy-Authenticate: Digest realm=\"cloud\", nonce=\"n1\", qop=\"auth\", algorithm=MD5\r\nContent-Length",
        1,
    );
    let answered = rig.input(10, &challenge, CLOUD);
    let again = sent_to(&answered.sends, CLOUD, "INVITE").unwrap_or_else(|| panic!("{:?}", texts(&answered.sends)));
    assert!(header(&again, "proxy-authorization").contains("username=\"harbour-acme\""), "{again}");
    assert_eq!(header(&again, "cseq"), "2 INVITE");
    assert_eq!(header(&again, "call-id"), header(&first, "call-id"));

    let busy = rig.input(20, &reply(&again, 486, "Busy Here", "tc", false), CLOUD);
    assert!(sent_to(&busy.sends, A, "SIP/2.0 486").is_some(), "{:?}", texts(&busy.sends));
    assert!(sent_to(&busy.sends, GW, "INVITE").is_none(), "busy is the far end's answer, not a trunk failure");
    assert_eq!(busy.records[0].disposition.as_str(), "busy");
}

#[test]
fn a_call_from_a_trunk_rings_the_extension_of_its_did_without_a_challenge() {
    let mut rig = with_trunks();
    let sdp =
        "v=0\r\no=c 1 1 IN IP4 192.168.10.5\r\ns=-\r\nc=IN IP4 192.168.10.5\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8\r\n";
    let invite = |did: &str| {
        format!(
            "INVITE sip:{did}@192.168.10.1 SIP/2.0\r\nVia: SIP/2.0/UDP {GW};branch=z9hG4bKin{did}\r\n\
             From: <sip:+4930999@192.168.10.5>;tag=fc\r\nTo: <sip:{did}@192.168.10.1>\r\nCall-ID: in-{did}\r\n\
             CSeq: 1 INVITE\r\nContact: <sip:gw@{GW}>\r\nMax-Forwards: 70\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    };
    let did = crate::site::from_toml(SITE).unwrap().tenants[0].inbound_routes[0].clone();
    let out = rig.input(0, &invite(&did.did), GW);
    let rung: Vec<String> =
        texts(&out.sends).into_iter().filter(|(_, t)| t.starts_with("INVITE")).map(|(a, _)| a.to_string()).collect();
    assert!(!rung.is_empty(), "DID {} → {}: {:?}", did.did, did.destination, texts(&out.sends));
    assert!(text_of(&out.sends, "SIP/2.0 401").is_none() && text_of(&out.sends, "SIP/2.0 407").is_none());
    let refused = rig.input(10, &invite("102"), GW);
    assert!(
        sent_to(&refused.sends, GW, "SIP/2.0 404").is_some(),
        "a trunk cannot dial an extension: {:?}",
        texts(&refused.sends)
    );
}
