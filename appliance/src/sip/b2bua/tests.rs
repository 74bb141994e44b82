//! The B2BUA driven through the core with bytes, on virtual time: phones are strings.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

use super::dialog::Head;
use super::Outgoing;
use crate::sip::core::{Now, Output, SipCore};
use crate::sip::defence::DefenceConfig;
use crate::sip::digest::Algorithm;
use crate::sip::directory::Directory;
use crate::sip::location::Binding;
use crate::sip::message::Transport;
use crate::sip::registrar::RegistrarConfig;

const SITE: &str = include_str!("../../../../examples/site.toml");

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const A: &str = "192.168.10.51:5062";

fn binding(ext: &str, at: &str) -> Binding {
    Binding {
        tenant: "acme".into(),
        aor: ext.into(),
        contact: format!("sip:{ext}@{at}"),
        expires_at: i64::MAX / 2,
        source: format!("udp:{at}"),
        user_agent: "test".into(),
        call_id: format!("reg-{ext}"),
        cseq: 1,
    }
}

struct Rig {
    core: SipCore,
    t0: Instant,
}

impl Rig {
    fn new() -> Rig {
        let doc = crate::site::from_toml(SITE).unwrap();
        let config = RegistrarConfig { algorithms: vec![Algorithm::Md5], ..RegistrarConfig::default() };
        let bindings = vec![binding("102", "192.168.10.52:5060"), binding("103", "192.168.10.53:5060")];
        let mut core =
            SipCore::new(Arc::new(Directory::from_doc(&doc)), bindings, &[9; 32], config, DefenceConfig::default());
        core.set_site(Arc::new(doc));
        Rig { core, t0: Instant::now() }
    }

    fn at(&self, ms: u64) -> Now {
        Now { at: self.t0 + Duration::from_millis(ms), unix: 1_800_000_000 + (ms / 1000) as i64 }
    }

    fn input(&mut self, ms: u64, bytes: &str, from: &str) -> Output {
        self.core.handle(self.at(ms), bytes.as_bytes(), addr(from), Transport::Udp)
    }

    /// An INVITE from 101 (`user`@`domain`) for `number`, answered to its challenge: what the
    /// authenticated INVITE produced.
    fn call(&mut self, user: &str, password: &str, domain: &str, number: &str) -> Output {
        let plain = self.invite(user, domain, number, None);
        let first = self.input(0, &plain, A);
        let challenge = text_of(&first.sends, "SIP/2.0 401").unwrap();
        let nonce = challenge.split("nonce=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        self.input(0, &ack_for(&plain, &challenge), A);
        let h = |s: String| hex::encode(Md5::digest(s.as_bytes()));
        let uri = format!("sip:{number}@{domain}");
        let ha1 = h(format!("{user}:{domain}:{password}"));
        let response = h(format!("{ha1}:{nonce}:00000001:c0:auth:{}", h(format!("INVITE:{uri}"))));
        let auth = format!(
            r#"Digest username="{user}", realm="{domain}", nonce="{nonce}", uri="{uri}", response="{response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c0""#
        );
        let invite = self.invite(user, domain, number, Some(&auth));
        self.input(0, &invite, A)
    }

    fn invite(&self, user: &str, domain: &str, number: &str, auth: Option<&str>) -> String {
        let (cseq, auth) = match auth {
            Some(a) => (2, format!("Authorization: {a}\r\n")),
            None => (1, String::new()),
        };
        let sdp = "v=0\r\no=a 1 1 IN IP4 192.168.10.51\r\ns=-\r\nc=IN IP4 192.168.10.51\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        format!(
            "INVITE sip:{number}@{domain} SIP/2.0\r\nVia: SIP/2.0/UDP {A};branch=z9hG4bKa{cseq}\r\n\
             From: \"Alice\" <sip:{user}@{domain}>;tag=fa\r\nTo: <sip:{number}@{domain}>\r\nCall-ID: call-a\r\n\
             CSeq: {cseq} INVITE\r\nContact: <sip:{user}@{A}>\r\nMax-Forwards: 70\r\n{auth}\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    }
}

fn texts(sends: &[Outgoing]) -> Vec<(SocketAddr, String)> {
    sends.iter().map(|o| (o.to.addr, String::from_utf8_lossy(&o.bytes).into_owned())).collect()
}

fn text_of(sends: &[Outgoing], start: &str) -> Option<String> {
    texts(sends).into_iter().map(|(_, t)| t).find(|t| t.starts_with(start))
}

fn sent_to(sends: &[Outgoing], to: &str, start: &str) -> Option<String> {
    texts(sends).into_iter().find(|(a, t)| *a == addr(to) && t.starts_with(start)).map(|(_, t)| t)
}

fn header(msg: &str, name: &str) -> String {
    Head::parse(msg.as_bytes()).and_then(|h| h.get(name).map(str::to_owned)).unwrap_or_default()
}

/// The ACK of a failure to `invite` (same branch, the response's To).
fn ack_for(invite: &str, response: &str) -> String {
    let line = |n: &str| header(invite, n);
    format!(
        "ACK sip:x@acme.pbx.local SIP/2.0\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} ACK\r\nContent-Length: 0\r\n\r\n",
        line("via"),
        line("from"),
        header(response, "to"),
        line("call-id"),
        line("cseq").split_whitespace().next().unwrap_or("1")
    )
}

/// A phone's response to a request the box sent it.
fn reply(request: &str, code: u16, reason: &str, tag: &str, sdp: bool) -> String {
    let body = if sdp {
        "v=0\r\no=b 1 1 IN IP4 192.168.10.52\r\ns=-\r\nc=IN IP4 192.168.10.52\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"
    } else {
        ""
    };
    let to = header(request, "to");
    let to = if to.contains("tag=") { to } else { format!("{to};tag={tag}") };
    format!(
        "SIP/2.0 {code} {reason}\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
         Contact: <sip:b@192.168.10.52:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        header(request, "via"),
        header(request, "from"),
        header(request, "call-id"),
        header(request, "cseq"),
        body.len()
    )
}

#[test]
fn a_call_is_challenged_forked_answered_and_hung_up_with_new_identifiers_on_the_b_side() {
    let mut rig = Rig::new();
    let out = rig.call("101", "correct-horse-101", "acme.pbx.local", "102");
    assert!(sent_to(&out.sends, A, "SIP/2.0 100 Trying").is_some());
    let invite = sent_to(&out.sends, "192.168.10.52:5060", "INVITE sip:102@192.168.10.52:5060").unwrap();
    assert_ne!(header(&invite, "call-id"), "call-a", "the B leg has its own Call-ID");
    assert!(header(&invite, "contact").contains("127.0.0.1:5060"), "Contact is the box: {invite}");
    assert!(header(&invite, "from").contains("sip:101@acme.pbx.local"), "{invite}");
    assert!(out.deadline.is_some(), "Timer A runs");

    let ringing = rig.input(10, &reply(&invite, 180, "Ringing", "tb", false), "192.168.10.52:5060");
    let to_a = sent_to(&ringing.sends, A, "SIP/2.0 180 Ringing").unwrap();
    assert_eq!(header(&to_a, "call-id"), "call-a");
    assert!(header(&to_a, "to").contains(";tag="), "our own tag towards A");

    let ok = rig.input(20, &reply(&invite, 200, "OK", "tb", true), "192.168.10.52:5060");
    let to_a = sent_to(&ok.sends, A, "SIP/2.0 200 OK").unwrap();
    assert!(to_a.contains("m=audio 5000"), "SDP passed (no bridge in this test): {to_a}");
    let a_tag = header(&to_a, "to");

    let ack = format!(
        "ACK sip:box SIP/2.0\r\nVia: SIP/2.0/UDP {A};branch=z9hG4bKack\r\nFrom: \"Alice\" <sip:101@acme.pbx.local>;tag=fa\r\n\
         To: {a_tag}\r\nCall-ID: call-a\r\nCSeq: 2 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    let acked = rig.input(30, &ack, A);
    let b_ack = sent_to(&acked.sends, "192.168.10.52:5060", "ACK sip:b@192.168.10.52:5060").unwrap();
    assert!(header(&b_ack, "to").contains("tag=tb"));

    let bye = ack.replace("ACK sip:box", "BYE sip:box").replace("2 ACK", "3 BYE").replace("z9hG4bKack", "z9hG4bKbye");
    let hung = rig.input(40, &bye, A);
    assert!(String::from_utf8_lossy(hung.reply.as_deref().unwrap()).starts_with("SIP/2.0 200 OK"));
    let b_bye = sent_to(&hung.sends, "192.168.10.52:5060", "BYE sip:b@192.168.10.52:5060").unwrap();
    assert_eq!(header(&b_bye, "call-id"), header(&invite, "call-id"));
    assert_eq!(hung.records.len(), 1);
    let r = &hung.records[0];
    assert_eq!(
        (r.disposition.as_str(), r.hangup.as_str(), r.callee.as_str(), r.legs),
        ("answered", "caller", "102", 1)
    );
    let done = rig.input(50, &reply(&b_bye, 200, "OK", "tb", false), "192.168.10.52:5060");
    assert!(done.sends.is_empty());
    assert_eq!(rig.core.b2bua.active(), 0);
}

#[test]
fn the_first_answer_wins_and_a_late_200_is_acked_and_hung_up() {
    let mut rig = Rig::new();
    let out = rig.call("101", "correct-horse-101", "acme.pbx.local", "600");
    let to_102 = sent_to(&out.sends, "192.168.10.52:5060", "INVITE").unwrap();
    let to_103 = sent_to(&out.sends, "192.168.10.53:5060", "INVITE").unwrap();
    rig.input(5, &reply(&to_102, 180, "Ringing", "t2", false), "192.168.10.52:5060");
    rig.input(5, &reply(&to_103, 180, "Ringing", "t3", false), "192.168.10.53:5060");
    let won = rig.input(10, &reply(&to_102, 200, "OK", "t2", true), "192.168.10.52:5060");
    let cancel = sent_to(&won.sends, "192.168.10.53:5060", "CANCEL").unwrap();
    assert!(header(&cancel, "reason").contains("Call completed elsewhere"), "{cancel}");
    assert_eq!(header(&cancel, "via"), header(&to_103, "via"), "CANCEL has its INVITE's branch");
    // 103 answered anyway, crossing the CANCEL.
    let late = rig.input(11, &reply(&to_103, 200, "OK", "t3", true), "192.168.10.53:5060");
    assert!(sent_to(&late.sends, "192.168.10.53:5060", "ACK").is_some(), "{:?}", texts(&late.sends));
    assert!(sent_to(&late.sends, "192.168.10.53:5060", "BYE").is_some());
    assert!(sent_to(&late.sends, A, "SIP/2.0 200").is_none(), "A gets one answer");
}

#[test]
fn a_cancel_racing_the_answer_gets_487_and_the_answer_is_hung_up() {
    let mut rig = Rig::new();
    let out = rig.call("101", "correct-horse-101", "acme.pbx.local", "102");
    let invite = sent_to(&out.sends, "192.168.10.52:5060", "INVITE").unwrap();
    rig.input(5, &reply(&invite, 180, "Ringing", "t2", false), "192.168.10.52:5060");
    let mine = rig.invite("101", "acme.pbx.local", "102", Some("x"));
    let cancel = format!(
        "CANCEL sip:102@acme.pbx.local SIP/2.0\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: call-a\r\nCSeq: 2 CANCEL\r\nContent-Length: 0\r\n\r\n",
        header(&mine, "via"),
        header(&mine, "from"),
        header(&mine, "to")
    );
    let cancelled = rig.input(10, &cancel, A);
    assert!(String::from_utf8_lossy(cancelled.reply.as_deref().unwrap()).starts_with("SIP/2.0 200 OK"));
    assert!(sent_to(&cancelled.sends, A, "SIP/2.0 487").is_some());
    assert!(sent_to(&cancelled.sends, "192.168.10.52:5060", "CANCEL").is_some());
    assert_eq!(cancelled.records[0].disposition.as_str(), "cancelled");
    let late = rig.input(11, &reply(&invite, 200, "OK", "t2", true), "192.168.10.52:5060");
    assert!(sent_to(&late.sends, "192.168.10.52:5060", "ACK").is_some());
    assert!(sent_to(&late.sends, "192.168.10.52:5060", "BYE").is_some());
}

#[test]
fn refusals_carry_a_reason_and_calls_never_cross_tenants() {
    let mut rig = Rig::new();
    let out = rig.call("101", "correct-horse-101", "acme.pbx.local", "09001234");
    let refused = sent_to(&out.sends, A, "SIP/2.0 403").unwrap_or_else(|| panic!("{:?}", texts(&out.sends)));
    assert!(refused.starts_with("SIP/2.0 403 Forbidden: premium rate numbers are blocked"), "{refused}");
    assert!(header(&refused, "reason").contains("cause=403"));
    assert_eq!(out.records[0].disposition.as_str(), "failed");

    // bright's 101 dials 102: bright's own 102 is not registered; acme's 102 (registered) is
    // another tenant's phone and never rings.
    let mut rig = Rig::new();
    let out = rig.call("101", "bright-dana-1010", "bright.pbx.local", "102");
    let refused = sent_to(&out.sends, A, "SIP/2.0 480").unwrap_or_else(|| panic!("{:?}", texts(&out.sends)));
    assert!(refused.contains("102 is not registered"), "{refused}");
    assert!(texts(&out.sends).iter().all(|(a, _)| *a == addr(A)), "no INVITE left the box");
}

#[test]
fn a_phone_that_never_answers_times_out_and_the_caller_hears_480() {
    let mut rig = Rig::new();
    let out = rig.call("101", "correct-horse-101", "acme.pbx.local", "103");
    let mut deadline = out.deadline;
    let mut retransmissions = 0;
    let mut answer = None;
    while let Some(at) = deadline {
        let ms = (at - rig.t0).as_millis() as u64;
        let out = rig.core.on_timer(rig.at(ms));
        retransmissions += texts(&out.sends)
            .iter()
            .filter(|(a, t)| *a == addr("192.168.10.53:5060") && t.starts_with("INVITE"))
            .count();
        if let Some(a) = sent_to(&out.sends, A, "SIP/2.0 4") {
            answer = Some(a);
            break;
        }
        deadline = out.deadline;
    }
    assert_eq!(retransmissions, 6, "Timer A doubling up to Timer B");
    assert!(answer.unwrap().starts_with("SIP/2.0 480 Temporarily Unavailable"));
}

proptest::proptest! {
    /// Whatever a phone sends back (a response or request cut, garbled or spliced), the core
    /// answers or drops it and goes on.
    #[test]
    fn mangled_answers_and_requests_never_panic(
        cut in 0usize..600,
        at in 0usize..600,
        byte in proptest::prelude::any::<u8>(),
        which in 0usize..4,
    ) {
        let mut rig = Rig::new();
        let out = rig.call("101", "correct-horse-101", "acme.pbx.local", "600");
        let invite = sent_to(&out.sends, "192.168.10.52:5060", "INVITE").unwrap();
        let samples = [
            reply(&invite, 180, "Ringing", "t", true),
            reply(&invite, 200, "OK", "t", true),
            reply(&invite, 486, "Busy Here", "t", false),
            invite.replace("INVITE sip:102", "BYE sip:102").replace("1 INVITE", "2 BYE"),
        ];
        let mut bytes = samples[which].clone().into_bytes();
        if let Some(b) = bytes.get_mut(at) {
            *b = byte;
        }
        bytes.truncate(cut.max(1).min(bytes.len()));
        let _ = rig.core.handle(rig.at(5), &bytes, addr("192.168.10.52:5060"), Transport::Udp);
        let _ = rig.core.on_timer(rig.at(40_000));
    }
}

mod midcall;
mod trunks;
