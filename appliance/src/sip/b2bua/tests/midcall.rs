//! Mid-call requests through the core on virtual time: re-INVITE (hold), UPDATE (a
//! Session-Timers refresh) and REFER (blind transfer).

use super::*;

#[test]
fn a_re_invite_for_hold_is_passed_to_the_other_phone_and_answered_back() {
    let mut rig = Rig::new();
    let out = rig.call("101", "correct-horse-101", "acme.pbx.local", "102");
    let invite = sent_to(&out.sends, "192.168.10.52:5060", "INVITE").unwrap();
    let ok = rig.input(10, &reply(&invite, 200, "OK", "tb", true), "192.168.10.52:5060");
    let a_to = header(&sent_to(&ok.sends, A, "SIP/2.0 200 OK").unwrap(), "to");
    let in_dialog = |method: &str, cseq: u32, branch: &str, body: &str| {
        format!(
            "{method} sip:box SIP/2.0\r\nVia: SIP/2.0/UDP {A};branch={branch}\r\nFrom: \"Alice\" <sip:101@acme.pbx.local>;tag=fa\r\n\
             To: {a_to}\r\nCall-ID: call-a\r\nCSeq: {cseq} {method}\r\nContact: <sip:101@{A}>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    rig.input(20, &in_dialog("ACK", 2, "z9hG4bKack", ""), A);
    let hold = "v=0\r\no=a 1 2 IN IP4 192.168.10.51\r\ns=-\r\nc=IN IP4 192.168.10.51\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n";
    let out = rig.input(30, &in_dialog("INVITE", 3, "z9hG4bKhold", hold), A);
    assert!(sent_to(&out.sends, A, "SIP/2.0 100 Trying").is_some());
    let to_b = sent_to(&out.sends, "192.168.10.52:5060", "INVITE sip:b@192.168.10.52:5060").unwrap();
    assert_eq!(header(&to_b, "call-id"), header(&invite, "call-id"), "on B's own dialog");
    assert_eq!(header(&to_b, "cseq"), "2 INVITE");
    assert!(to_b.contains("a=sendonly"), "{to_b}");
    let again = rig.input(31, &in_dialog("INVITE", 4, "z9hG4bKhold2", hold), A);
    assert!(sent_to(&again.sends, A, "SIP/2.0 491").is_some(), "one re-INVITE at a time");

    let answered = rig.input(40, &reply(&to_b, 200, "OK", "tb", true), "192.168.10.52:5060");
    let back = sent_to(&answered.sends, A, "SIP/2.0 200 OK").unwrap();
    assert_eq!(header(&back, "cseq"), "3 INVITE");
    assert!(back.contains("m=audio 5000"));
    let b_ack = sent_to(&answered.sends, "192.168.10.52:5060", "ACK").unwrap();
    assert_eq!(header(&b_ack, "cseq"), "2 ACK");
    let acked = rig.input(50, &in_dialog("ACK", 3, "z9hG4bKack3", ""), A);
    assert!(acked.sends.is_empty(), "the originator's ACK ends its transaction: {:?}", texts(&acked.sends));
    assert_eq!(rig.core.b2bua.active(), 1, "the call goes on");
}

#[test]
fn an_update_refresh_from_the_callee_reaches_the_caller_and_its_answer_comes_back() {
    let mut rig = Rig::new();
    let out = rig.call("101", "correct-horse-101", "acme.pbx.local", "102");
    let invite = sent_to(&out.sends, "192.168.10.52:5060", "INVITE").unwrap();
    rig.input(10, &reply(&invite, 200, "OK", "tb", true), "192.168.10.52:5060");
    let update = format!(
        "UPDATE sip:box SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.10.52:5060;branch=z9hG4bKupd\r\nFrom: <sip:102@acme.pbx.local>;tag=tb\r\n\
         To: {}\r\nCall-ID: {}\r\nCSeq: 1 UPDATE\r\nSession-Expires: 1800;refresher=uas\r\nContent-Length: 0\r\n\r\n",
        header(&invite, "from"),
        header(&invite, "call-id")
    );
    let out = rig.input(20, &update, "192.168.10.52:5060");
    let to_a = sent_to(&out.sends, A, "UPDATE sip:101@192.168.10.51:5062").unwrap();
    assert_eq!(header(&to_a, "call-id"), "call-a", "on A's dialog");
    assert_eq!(header(&to_a, "session-expires"), "1800;refresher=uas", "the refresh means the same on A's side");
    assert!(out.reply.is_none(), "answered only when A answers");
    let answered = rig.input(30, &reply(&to_a, 200, "OK", "", false), A);
    let back = sent_to(&answered.sends, "192.168.10.52:5060", "SIP/2.0 200 OK").unwrap();
    assert_eq!(header(&back, "cseq"), "1 UPDATE");
    let again = rig.input(40, &update, "192.168.10.52:5060");
    assert_eq!(
        sent_to(&again.sends, "192.168.10.52:5060", "SIP/2.0 200 OK"),
        Some(back),
        "a retransmission gets the same answer"
    );
    assert!(sent_to(&again.sends, A, "UPDATE").is_none());
}

#[test]
fn a_refer_from_the_callee_rings_the_target_and_moves_the_call_to_it() {
    let mut rig = Rig::new();
    let out = rig.call("101", "correct-horse-101", "acme.pbx.local", "102");
    let invite = sent_to(&out.sends, "192.168.10.52:5060", "INVITE").unwrap();
    rig.input(10, &reply(&invite, 200, "OK", "tb", true), "192.168.10.52:5060");
    let refer = format!(
        "REFER sip:box SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.10.52:5060;branch=z9hG4bKref\r\nFrom: <sip:102@acme.pbx.local>;tag=tb\r\n\
         To: {}\r\nCall-ID: {}\r\nCSeq: 1 REFER\r\nRefer-To: <sip:103@acme.pbx.local>\r\nContent-Length: 0\r\n\r\n",
        header(&invite, "from"),
        header(&invite, "call-id")
    );
    let out = rig.input(20, &refer, "192.168.10.52:5060");
    assert!(String::from_utf8_lossy(out.reply.as_deref().unwrap()).starts_with("SIP/2.0 202 Accepted"));
    let notify = sent_to(&out.sends, "192.168.10.52:5060", "NOTIFY").unwrap();
    assert!(notify.ends_with("SIP/2.0 100 Trying\r\n") && header(&notify, "event") == "refer", "{notify}");
    let to_103 = sent_to(&out.sends, "192.168.10.53:5060", "INVITE").unwrap();
    assert!(header(&to_103, "from").contains("sip:101@"), "the target sees the caller");
    let answered = rig.input(30, &reply(&to_103, 200, "OK", "t3", true), "192.168.10.53:5060");
    assert!(sent_to(&answered.sends, "192.168.10.53:5060", "ACK").is_some());
    let done = sent_to(&answered.sends, "192.168.10.52:5060", "NOTIFY").unwrap();
    assert!(done.contains("SIP/2.0 200 OK") && header(&done, "subscription-state").starts_with("terminated"));
    assert!(sent_to(&answered.sends, "192.168.10.52:5060", "BYE").is_some(), "the referrer is hung up");
    assert!(answered.sends.iter().all(|o| o.to.addr != addr(A)), "the caller's leg is untouched");
    let refused =
        rig.input(40, &refer.replace("z9hG4bKref", "z9hG4bKref2").replace("1 REFER", "2 REFER"), "192.168.10.52:5060");
    assert!(
        String::from_utf8_lossy(refused.reply.as_deref().unwrap()).starts_with("SIP/2.0 481"),
        "102 is no longer in the call"
    );
}
