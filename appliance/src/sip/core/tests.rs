//! The core driven with bytes, as a phone would, on virtual time.

use std::net::SocketAddr;
use std::time::Duration;

use md5::{Digest, Md5};

use super::*;
use crate::sip::registrar::RegistrarConfig;

const SITE: &str = include_str!("../../../../examples/site.toml");

fn core_with(config: RegistrarConfig, defence: DefenceConfig) -> SipCore {
    let doc = crate::site::from_toml(SITE).unwrap();
    SipCore::new(Arc::new(Directory::from_doc(&doc)), Vec::new(), &[5; 32], config, defence)
}

fn core() -> SipCore {
    core_with(RegistrarConfig::default(), DefenceConfig::default())
}

fn phone() -> SocketAddr {
    "192.168.10.50:5062".parse().unwrap()
}

fn at(secs: u64) -> Now {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    Now { at: start + Duration::from_secs(secs), unix: 1_800_000_000 + secs as i64 }
}

struct Register<'a> {
    user: &'a str,
    domain: &'a str,
    call_id: &'a str,
    cseq: u32,
    branch: String,
    contact: &'a str,
    expires: Option<&'a str>,
    auth: Option<String>,
}

impl<'a> Register<'a> {
    fn new(user: &'a str, cseq: u32) -> Self {
        Register {
            user,
            domain: "acme.pbx.local",
            call_id: "reg-1",
            cseq,
            branch: format!("z9hG4bK{cseq}x"),
            contact: "<sip:101@192.168.10.50:5062>",
            expires: Some("600"),
            auth: None,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut s = format!(
            "REGISTER sip:{d} SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.10.50:5062;branch={b};rport\r\n\
             From: <sip:{u}@{d}>;tag=f1\r\nTo: <sip:{u}@{d}>\r\nCall-ID: {c}\r\nCSeq: {n} REGISTER\r\n\
             Max-Forwards: 70\r\nUser-Agent: Yealink SIP-T54W\r\n",
            d = self.domain,
            b = self.branch,
            u = self.user,
            c = self.call_id,
            n = self.cseq
        );
        if !self.contact.is_empty() {
            s.push_str(&format!("Contact: {}\r\n", self.contact));
        }
        if let Some(e) = self.expires {
            s.push_str(&format!("Expires: {e}\r\n"));
        }
        if let Some(a) = &self.auth {
            s.push_str(&format!("Authorization: {a}\r\n"));
        }
        s.push_str("Content-Length: 0\r\n\r\n");
        s.into_bytes()
    }
}

fn text(out: &Output) -> String {
    String::from_utf8(out.reply.clone().expect("an answer")).unwrap()
}

fn status(out: &Output) -> u16 {
    text(out)[8..11].parse().unwrap()
}

fn header<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.lines().filter_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": "))).collect()
}

fn param(challenge: &str, name: &str) -> String {
    let start = challenge.find(&format!("{name}=")).unwrap() + name.len() + 1;
    let rest = &challenge[start..];
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    rest.split(['"', ',']).next().unwrap().to_owned()
}

/// What a phone answers to a challenge: MD5, qop=auth, the given nonce count.
fn md5_authorization(user: &str, password: &str, realm: &str, nonce: &str, nc: u32) -> String {
    let h = |s: String| hex::encode(Md5::digest(s.as_bytes()));
    let ha1 = h(format!("{user}:{realm}:{password}"));
    let ha2 = h(format!("REGISTER:sip:{realm}"));
    let nc = format!("{nc:08x}");
    let response = h(format!("{ha1}:{nonce}:{nc}:0a4f113b:auth:{ha2}"));
    format!(
        r#"Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="sip:{realm}", response="{response}", algorithm=MD5, qop=auth, nc={nc}, cnonce="0a4f113b""#
    )
}

fn sha256_authorization(user: &str, password: &str, realm: &str, nonce: &str) -> String {
    let h = |s: String| hex::encode(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()));
    let ha1 = h(format!("{user}:{realm}:{password}"));
    let ha2 = h(format!("REGISTER:sip:{realm}"));
    let response = h(format!("{ha1}:{nonce}:00000001:c:auth:{ha2}"));
    format!(
        r#"Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="sip:{realm}", response="{response}", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="c""#
    )
}

/// Registers 101 (challenge, then answer) and returns the nonce used.
fn register_101(core: &mut SipCore, now: Now, cseq: u32) -> (Output, String) {
    let first = core.handle(now, &Register::new("101", cseq).bytes(), phone(), Transport::Udp);
    assert_eq!(status(&first), 401, "{}", text(&first));
    let challenges = header(&text(&first), "WWW-Authenticate").iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let nonce = param(&challenges[1], "nonce");
    let mut r = Register::new("101", cseq + 1);
    r.auth = Some(md5_authorization("101", "correct-horse-101", "acme.pbx.local", &nonce, 1));
    (core.handle(now, &r.bytes(), phone(), Transport::Udp), nonce)
}

#[test]
fn challenge_offers_sha256_then_md5_and_both_register() {
    let mut core = core();
    let out = core.handle(at(0), &Register::new("101", 1).bytes(), phone(), Transport::Udp);
    let msg = text(&out);
    let challenges = header(&msg, "WWW-Authenticate");
    assert_eq!(challenges.len(), 2, "{msg}");
    assert!(challenges[0].contains("algorithm=SHA-256") && challenges[1].contains("algorithm=MD5"), "{msg}");
    assert!(challenges[0].contains("qop=\"auth\"") && challenges[0].contains("realm=\"acme.pbx.local\""));

    let nonce = param(challenges[0], "nonce");
    let mut r = Register::new("101", 2);
    r.auth = Some(sha256_authorization("101", "correct-horse-101", "acme.pbx.local", &nonce));
    let ok = core.handle(at(0), &r.bytes(), phone(), Transport::Udp);
    assert_eq!(status(&ok), 200, "{}", text(&ok));
    assert_eq!(ok.changes.len(), 1, "the binding is to be persisted before the answer goes out");

    let (ok, _) = register_101(&mut core, at(1), 10);
    assert_eq!(status(&ok), 200);
    let contacts = header(&text(&ok), "Contact").iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(contacts, vec!["<sip:101@192.168.10.50:5062>;expires=600"]);
    assert!(text(&ok).contains("received=192.168.10.50;rport=5062"));
}

#[test]
fn an_unknown_extension_and_a_wrong_password_get_the_same_answer() {
    let mut core = core();
    let answers: Vec<String> = [("101", "wrong-password"), ("999", "correct-horse-101")]
        .iter()
        .map(|(user, password)| {
            let mut r = Register::new(user, 1);
            r.branch = format!("z9hG4bK-{user}-1");
            let first = core.handle(at(0), &r.bytes(), phone(), Transport::Udp);
            let nonce = param(header(&text(&first), "WWW-Authenticate")[1], "nonce");
            let mut r = Register::new(user, 2);
            r.branch = format!("z9hG4bK-{user}-2");
            r.auth = Some(md5_authorization(user, password, "acme.pbx.local", &nonce, 1));
            let out = core.handle(at(0), &r.bytes(), phone(), Transport::Udp);
            assert_eq!(out.outcome, Outcome::Register(Event::AuthFailed));
            // Only the extension's own number in From/To may differ.
            text(&out).replace(user, "EXT")
        })
        .collect();
    assert_eq!(answers[0], answers[1]);
}

#[test]
fn the_nth_use_of_a_nonce_is_accepted_with_hex_nc() {
    let mut core = core();
    let (_, nonce) = register_101(&mut core, at(0), 1);
    for (i, nc) in [10u32, 16, 256].into_iter().enumerate() {
        let mut r = Register::new("101", 100 + i as u32);
        r.auth = Some(md5_authorization("101", "correct-horse-101", "acme.pbx.local", &nonce, nc));
        let out = core.handle(at(1), &r.bytes(), phone(), Transport::Udp);
        assert_eq!(status(&out), 200, "nc={nc:08x}: {}", text(&out));
    }
}

#[test]
fn an_old_nonce_is_stale_and_a_forged_one_is_challenged_again() {
    let mut core = core();
    let (_, nonce) = register_101(&mut core, at(0), 1);
    let mut r = Register::new("101", 5);
    r.auth = Some(md5_authorization("101", "correct-horse-101", "acme.pbx.local", &nonce, 2));
    let out = core.handle(at(301), &r.bytes(), phone(), Transport::Udp);
    assert_eq!(status(&out), 401);
    assert!(text(&out).contains("stale=true"), "{}", text(&out));
    assert_eq!(out.outcome, Outcome::Register(Event::Challenged), "a stale nonce is no failed password");
    let mut r = Register::new("101", 6);
    r.auth = Some(md5_authorization("101", "correct-horse-101", "acme.pbx.local", "Zm9yZ2Vk", 1));
    let out = core.handle(at(301), &r.bytes(), phone(), Transport::Udp);
    assert_eq!(status(&out), 401);
    assert!(!text(&out).contains("stale=true"));
}

#[test]
fn a_retransmission_gets_the_same_answer_without_a_second_change() {
    let mut core = core();
    let (ok, nonce) = register_101(&mut core, at(0), 1);
    let mut r = Register::new("101", 2);
    r.auth = Some(md5_authorization("101", "correct-horse-101", "acme.pbx.local", &nonce, 1));
    let again = core.handle(at(1), &r.bytes(), phone(), Transport::Udp);
    assert_eq!(again.reply, ok.reply);
    assert!(again.changes.is_empty());
    assert_eq!(again.outcome, Outcome::Retransmission);
}

#[test]
fn expiry_rules_min_expires_capping_and_unregister() {
    let mut core = core();
    let (_, nonce) = register_101(&mut core, at(0), 1);
    let send = |core: &mut SipCore, cseq: u32, contact: &'static str, expires: Option<&'static str>, nc: u32| {
        let mut r = Register::new("101", cseq);
        r.contact = contact;
        r.expires = expires;
        r.auth = Some(md5_authorization("101", "correct-horse-101", "acme.pbx.local", &nonce, nc));
        core.handle(at(2), &r.bytes(), phone(), Transport::Udp)
    };
    let brief = send(&mut core, 3, "<sip:101@192.168.10.50:5062>", Some("30"), 2);
    assert_eq!(status(&brief), 423);
    assert_eq!(header(&text(&brief), "Min-Expires"), vec!["60"]);
    let capped = send(&mut core, 4, "<sip:101@10.0.0.9>;expires=99999", None, 3);
    assert!(text(&capped).contains("<sip:101@10.0.0.9>;expires=3600"), "{}", text(&capped));
    assert_eq!(header(&text(&capped), "Contact").len(), 2, "two contacts on one extension");
    let one_off = send(&mut core, 5, "<sip:101@10.0.0.9>", Some("0"), 4);
    assert_eq!(header(&text(&one_off), "Contact").len(), 1);
    let bad_star = send(&mut core, 6, "*", Some("60"), 5);
    assert_eq!(status(&bad_star), 400);
    let all_off = send(&mut core, 7, "*", Some("0"), 6);
    assert_eq!(status(&all_off), 200);
    assert!(header(&text(&all_off), "Contact").is_empty());
    assert_eq!(core.location.count(), 0);
}

#[test]
fn bindings_expire_on_tick() {
    let mut core = core();
    register_101(&mut core, at(0), 1);
    assert!(core.tick(at(599)).is_empty());
    assert_eq!(core.tick(at(600)).len(), 1);
    assert_eq!(core.location.count(), 0);
}

#[test]
fn credentials_of_one_extension_cannot_register_another() {
    let mut core = core();
    let first = core.handle(at(0), &Register::new("102", 1).bytes(), phone(), Transport::Udp);
    let nonce = param(header(&text(&first), "WWW-Authenticate")[1], "nonce");
    let mut r = Register::new("102", 2);
    r.auth = Some(md5_authorization("101", "correct-horse-101", "acme.pbx.local", &nonce, 1));
    assert_eq!(status(&core.handle(at(0), &r.bytes(), phone(), Transport::Udp)), 403);
}

#[test]
fn tenants_are_separate_and_unknown_domains_refused() {
    let mut core = core();
    let mut r = Register::new("101", 1);
    r.domain = "evil.example";
    let out = core.handle(at(0), &r.bytes(), phone(), Transport::Udp);
    assert_eq!(status(&out), 404);
    // bright's 101 has another password: acme's does not work there.
    let mut r = Register::new("101", 2);
    r.domain = "bright.pbx.local";
    let first = core.handle(at(0), &r.bytes(), phone(), Transport::Udp);
    let nonce = param(header(&text(&first), "WWW-Authenticate")[1], "nonce");
    let mut r = Register::new("101", 3);
    r.domain = "bright.pbx.local";
    r.auth = Some(md5_authorization("101", "correct-horse-101", "bright.pbx.local", &nonce, 1));
    assert_eq!(status(&core.handle(at(0), &r.bytes(), phone(), Transport::Udp)), 401);
}

#[test]
fn brute_force_is_banned_and_the_ban_lifts() {
    let defence = DefenceConfig { max_failures: 3, ban: Duration::from_secs(60), ..DefenceConfig::default() };
    let mut core = core_with(RegistrarConfig::default(), defence);
    let attacker: SocketAddr = "203.0.113.7:5060".parse().unwrap();
    for i in 0..3 {
        let first = core.handle(at(0), &Register::new("101", i * 2 + 1).bytes(), attacker, Transport::Udp);
        let nonce = param(header(&text(&first), "WWW-Authenticate")[1], "nonce");
        let mut r = Register::new("101", i * 2 + 2);
        r.auth = Some(md5_authorization("101", &format!("guess-{i}"), "acme.pbx.local", &nonce, 1));
        assert_eq!(status(&core.handle(at(0), &r.bytes(), attacker, Transport::Udp)), 401);
    }
    let banned = core.handle(at(1), &Register::new("101", 50).bytes(), attacker, Transport::Udp);
    assert_eq!(banned.outcome, Outcome::Banned);
    assert!(banned.reply.is_none(), "banned sources learn nothing");
    assert_eq!(status(&core.handle(at(1), &Register::new("101", 51).bytes(), phone(), Transport::Udp)), 401);
    let lifted = core.handle(at(61), &Register::new("101", 52).bytes(), attacker, Transport::Udp);
    assert_eq!(status(&lifted), 401, "answered again after the ban");
}

#[test]
fn options_is_a_keepalive_and_other_methods_are_refused_politely() {
    let mut core = core();
    let options = b"OPTIONS sip:acme.pbx.local SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.10.50:5062;branch=z9hG4bKo1\r\n\
        From: <sip:101@acme.pbx.local>;tag=a\r\nTo: <sip:acme.pbx.local>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let out = core.handle(at(0), options, phone(), Transport::Udp);
    assert_eq!(status(&out), 200);
    assert_eq!(header(&text(&out), "Allow"), vec!["INVITE, ACK, CANCEL, BYE, REFER, UPDATE, REGISTER, OPTIONS"]);
    let invite = String::from_utf8_lossy(options).replace("OPTIONS", "INVITE").replace("o1", "i1");
    let out = core.handle(at(0), invite.as_bytes(), phone(), Transport::Udp);
    let sent: Vec<String> = out.sends.iter().map(|s| String::from_utf8_lossy(&s.bytes).into_owned()).collect();
    assert!(sent[0].starts_with("SIP/2.0 100 Trying") && sent[1].starts_with("SIP/2.0 401 "), "{sent:?}");
    assert!(out.sends.iter().all(|s| s.to.addr == phone()), "answered where it came from");
    let subscribe = String::from_utf8_lossy(options).replace("OPTIONS", "SUBSCRIBE").replace("o1", "s1");
    assert_eq!(status(&core.handle(at(0), subscribe.as_bytes(), phone(), Transport::Udp)), 405);
    let ack = String::from_utf8_lossy(options).replace("OPTIONS", "ACK").replace("o1", "a1");
    assert!(core.handle(at(0), ack.as_bytes(), phone(), Transport::Udp).reply.is_none(), "ACK is never answered");
}

#[test]
fn malformed_requests_get_400_with_a_reason_and_junk_is_dropped() {
    let mut core = core();
    let no_call_id = String::from_utf8(Register::new("101", 1).bytes()).unwrap().replace("Call-ID: reg-1\r\n", "");
    let out = core.handle(at(0), no_call_id.as_bytes(), phone(), Transport::Udp);
    assert!(out.reply.is_none() || status(&out) == 400);
    let bad_cseq =
        String::from_utf8(Register::new("101", 1).bytes()).unwrap().replace("CSeq: 1 REGISTER", "CSeq: 1 INVITE");
    let out = core.handle(at(0), bad_cseq.as_bytes(), phone(), Transport::Udp);
    assert_eq!(status(&out), 400);
    assert!(text(&out).starts_with("SIP/2.0 400 Bad Request: CSeq method"), "{}", text(&out));
    let out = core.handle(at(0), b"\x00\x01garbage", phone(), Transport::Udp);
    assert!(out.reply.is_none());
    assert_eq!(out.outcome, Outcome::Malformed);
    // And the server goes on.
    assert_eq!(status(&core.handle(at(0), &Register::new("101", 9).bytes(), phone(), Transport::Udp)), 401);
}

proptest::proptest! {
    #[test]
    fn any_bytes_are_answered_or_dropped_never_a_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
        let mut core = core();
        let _ = core.handle(at(0), &bytes, phone(), Transport::Udp);
    }

    #[test]
    fn mutated_registers_never_panic(cut in 0usize..400, byte in proptest::prelude::any::<u8>()) {
        let mut core = core();
        let mut msg = Register::new("101", 1).bytes();
        let i = cut % msg.len();
        msg[i] = byte;
        let _ = core.handle(at(0), &msg, phone(), Transport::Udp);
    }
}
