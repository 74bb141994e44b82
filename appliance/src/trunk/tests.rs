//! The manager on virtual time, with responses written by hand: probes answered and not,
//! failover between targets, registration with a digest challenge, survivable mode.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;

use super::*;
use crate::sip::digest::{challenge, parse_authorization, Algorithm, Nonces};

const ME: &str = "192.168.10.2:5060";

const DOC: &str = r#"
schema = 1
[site]
name = "trunk tests"
[[tenants]]
name = "acme"
domains = ["acme.pbx.local"]
[[tenants.trunks]]
name = "cloud"
role = "cloud"
host = "198.51.100.7"
transport = "udp"
[[tenants.trunks]]
name = "carrier"
role = "fallback"
host = "sip.carrier.test"
transport = "udp"
username = "acme1"
secret = "s3cret"
"#;

struct Clock(Instant);

impl Clock {
    fn ms(&self, ms: u64) -> Now {
        Now { at: self.0 + Duration::from_millis(ms), unix: 1_700_000_000 + (ms / 1000) as i64 }
    }
}

fn doc(text: &str) -> SiteDoc {
    toml::from_str(text).unwrap()
}

fn cloud() -> TrunkKey {
    TrunkKey::new("acme", "cloud")
}

fn carrier() -> TrunkKey {
    TrunkKey::new("acme", "carrier")
}

fn setup(text: &str) -> (Clock, Trunks) {
    let clock = Clock(Instant::now());
    let mut t = Trunks::new(ME.parse().unwrap(), 42);
    t.sync(clock.ms(0), &doc(text));
    (clock, t)
}

fn method(o: &Outgoing) -> String {
    String::from_utf8_lossy(&o.bytes).split(' ').next().unwrap().to_owned()
}

/// The peer's answer to one of our requests.
fn reply(req: &[u8], code: u16, reason: &str, extra: &str) -> Vec<u8> {
    let h = Head::parse(req).unwrap();
    format!(
        "SIP/2.0 {code} {reason}\r\nVia: {};received=203.0.113.9\r\nFrom: {}\r\nTo: {};tag=peer\r\nCall-ID: {}\r\n\
         CSeq: {}\r\n{extra}Content-Length: 0\r\n\r\n",
        h.get("via").unwrap(),
        h.get("from").unwrap(),
        h.get("to").unwrap(),
        h.get("call-id").unwrap(),
        h.get("cseq").unwrap()
    )
    .into_bytes()
}

fn state(t: &Trunks, key: &TrunkKey) -> State {
    t.status().into_iter().find(|s| s.key == *key).unwrap().state
}

#[test]
fn a_probe_answered_is_up_and_silence_is_down_and_survivable() {
    let (clock, mut t) = setup(DOC);
    assert!(t.usable(&cloud()), "unknown with an address: usable at once");
    assert!(!t.usable(&carrier()), "not resolved yet");
    assert_eq!(
        t.lookups(),
        [(carrier(), Lookup { host: "sip.carrier.test".into(), port: None, transport: Transport::Udp })]
    );
    assert_eq!(t.deadline(), Some(clock.ms(0).at), "the carrier waits for DNS; the cloud trunk probes now");
    let out = t.on_timer(clock.ms(0));
    assert_eq!(out.len(), 1);
    assert_eq!(method(&out[0]), "OPTIONS");
    assert_eq!(out[0].to, Dest { transport: Transport::Udp, addr: "198.51.100.7:5060".parse().unwrap() });
    assert_eq!(t.on_response(clock.ms(40), &reply(&out[0].bytes, 200, "OK", "")), (true, vec![]));
    assert_eq!(state(&t, &cloud()), State::Up);
    assert_eq!(t.status()[1].last_rtt_ms, Some(40));
    let ev = t.events();
    assert_eq!(ev.len(), 1);
    assert_eq!((ev[0].kind, ev[0].reason.as_str()), (EventKind::TrunkUp, "first probe answered"));
    assert!(!t.on_response(clock.ms(50), &reply(&out[0].bytes, 200, "OK", "")).0, "answered already");

    // From now on nothing answers.
    let mut sent = Vec::new();
    let mut down_at = None;
    for ms in (100..12_000).step_by(100) {
        let now = clock.ms(ms);
        for o in t.on_timer(now) {
            sent.push((ms, method(&o)));
        }
        assert!(t.deadline().unwrap() > now.at, "nothing left due at {ms}");
        if down_at.is_none() && state(&t, &cloud()) == State::Down {
            down_at = Some(ms);
        }
    }
    assert_eq!(down_at, Some(8_000), "the probes of 2, 4 and 6 s missed: down 8 s after the last answer");
    let first: Vec<u64> = sent.iter().filter(|(ms, _)| *ms < 4_000).map(|(ms, _)| *ms).collect();
    assert_eq!(first, [2_000, 2_500, 3_500], "a probe and its UDP retransmissions");
    let ev = t.events();
    let kinds: Vec<EventKind> = ev.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::TrunkDown, EventKind::SurvivableEnter]);
    assert_eq!(ev[0].reason, "3 probes missed (no answer from 198.51.100.7:5060)");
    assert_eq!(ev[1].reason, "cloud trunk acme/cloud down: 3 probes missed (no answer from 198.51.100.7:5060)");
    assert_eq!(ev[1].unix, 1_700_000_008);
    assert!(t.survivable() && t.mode().survivable && !t.usable(&cloud()));
    assert_eq!(t.mode().since_unix, Some(1_700_000_008));
}

#[test]
fn a_missed_probe_fails_over_to_the_next_target() {
    let (clock, mut t) = setup(&DOC.replace("username = \"acme1\"\n", ""));
    let (a, b): (SocketAddr, SocketAddr) = ("203.0.113.1:5060".parse().unwrap(), "203.0.113.2:5070".parse().unwrap());
    t.set_targets(&carrier(), vec![a, b]);
    assert_eq!(t.target(&carrier()).unwrap().addr, a);
    let first: Vec<Outgoing> = t.on_timer(clock.ms(0)).into_iter().filter(|o| o.to.addr == a).collect();
    assert_eq!(first.len(), 1, "the probe goes to the first target; no REGISTER without a username");
    // At 2 s the probe to a times out, and the next one goes to b.
    let to_b: Vec<Outgoing> = t.on_timer(clock.ms(2_000)).into_iter().filter(|o| o.to.addr == b).collect();
    assert_eq!(to_b.len(), 1);
    assert_eq!(t.target(&carrier()).unwrap().addr, b, "calls go to b now");
    assert!(t.on_timer(clock.ms(2_001)).is_empty());
    assert!(t.on_response(clock.ms(2_030), &reply(&to_b[0].bytes, 404, "Not Found", "")).0);
    assert_eq!(state(&t, &carrier()), State::Up, "404 to OPTIONS: alive");
    assert_eq!(t.target(&carrier()).unwrap().addr, b, "the answering target stays current");
    let order: Vec<SocketAddr> = t.targets(&carrier()).iter().map(|d| d.addr).collect();
    assert_eq!(order, [b, a], "the current target first, for a call's own failover");
    assert_eq!(t.from_source("203.0.113.2:5999".parse().unwrap()), Some(carrier()), "same IP, other port");
    assert_eq!(t.from_source("198.51.100.7:5060".parse().unwrap()), Some(cloud()));
    assert_eq!(t.from_source("192.0.2.1:5060".parse().unwrap()), None);
    // DNS not answering keeps the targets; DNS saying "no such host" does not.
    t.set_lookup_result(&carrier(), Err(ResolveError::Timeout(Duration::from_secs(2))));
    assert_eq!(t.target(&carrier()).unwrap().addr, b);
    t.set_lookup_result(&carrier(), Err(ResolveError::NotFound("sip.carrier.test".into())));
    assert_eq!(t.target(&carrier()), None);
    t.set_lookup_result(&carrier(), Ok(vec![a, b]));
    assert_eq!(t.target(&carrier()).unwrap().addr, a);
    t.set_targets(&carrier(), vec![b]);
    assert_eq!(t.target(&carrier()).unwrap().addr, b);
    // New DNS answers keep the current target when it is still there.
    t.set_targets(&carrier(), vec![a, "203.0.113.3:5060".parse().unwrap(), b]);
    assert_eq!(t.target(&carrier()).unwrap().addr, b);
}

#[test]
fn a_registration_is_challenged_answered_accepted_and_refreshed() {
    let (clock, mut t) = setup(DOC);
    let carrier_addr: SocketAddr = "203.0.113.1:5060".parse().unwrap();
    t.set_targets(&carrier(), vec![carrier_addr]);
    let out = t.on_timer(clock.ms(0));
    let reg: Vec<&Outgoing> = out.iter().filter(|o| method(o) == "REGISTER").collect();
    assert_eq!(reg.len(), 1);
    assert_eq!(reg[0].to.addr, carrier_addr);
    let first = reg[0].bytes.clone();
    let text = String::from_utf8(first.clone()).unwrap();
    assert!(text.starts_with("REGISTER sip:sip.carrier.test SIP/2.0\r\n"), "{text}");
    assert!(text.contains("From: <sip:acme1@sip.carrier.test>;tag="), "{text}");
    assert!(text.contains("To: <sip:acme1@sip.carrier.test>\r\n"), "{text}");
    assert!(text.contains("Contact: <sip:acme1@192.168.10.2:5060>\r\n") && text.contains("Expires: 300\r\n"));
    assert!(rsip::Request::try_from(first.as_slice()).is_ok());
    assert_eq!(t.status()[0].registration, RegState::Trying);

    // The carrier challenges, with SHA-256 and MD5 as phones see from the box itself.
    let nonces = Nonces::new(&[3; 32], 300);
    let client: IpAddr = [203, 0, 113, 9].into();
    let nonce = nonces.make(1_700_000_000, client);
    let md5 = challenge("sip.carrier.test", &nonce, Algorithm::Md5, false);
    let sha = challenge("sip.carrier.test", &nonce, Algorithm::Sha256, false);
    let chall = format!("WWW-Authenticate: {md5}\r\nWWW-Authenticate: {sha}\r\n");
    let (ours, out) = t.on_response(clock.ms(30), &reply(&first, 401, "Unauthorized", &chall));
    assert!(ours);
    assert_eq!(out.len(), 1);
    let second = out[0].bytes.clone();
    let h2 = Head::parse(&second).unwrap();
    let h1 = Head::parse(&first).unwrap();
    assert_eq!(h2.get("call-id"), h1.get("call-id"), "one Call-ID for the registration");
    assert_eq!(h2.cseq(), Some((2, "REGISTER")));
    assert_ne!(h2.top_branch(), h1.top_branch());
    let creds = parse_authorization(h2.get("authorization").unwrap()).unwrap();
    assert_eq!(creds.algorithm().unwrap(), Algorithm::Sha256, "the stronger challenge is answered");
    assert_eq!((creds.uri.as_str(), creds.nc.as_deref()), ("sip:sip.carrier.test", Some("00000001")));
    assert!(creds.verify("REGISTER", "s3cret"));

    let ok = reply(&second, 200, "OK", "Contact: <sip:acme1@192.168.10.2:5060>;expires=120\r\nExpires: 300\r\n");
    assert_eq!(t.on_response(clock.ms(60), &ok), (true, vec![]));
    assert_eq!(t.status()[0].registration, RegState::Registered { until_unix: 1_700_000_120 });
    let ev = t.events();
    let reg_ev: Vec<&TrunkEvent> = ev.iter().filter(|e| e.kind == EventKind::Registered).collect();
    assert_eq!(reg_ev.len(), 1);
    assert_eq!(reg_ev[0].reason, "registered for 120 s");

    // The refresh goes out at 80 % of the 120 s granted, same Call-ID, next CSeq.
    let mut refresh = None;
    for s in 1..=100 {
        let now = clock.ms(s * 1_000);
        for o in t.on_timer(now) {
            if method(&o) == "OPTIONS" {
                let _ = t.on_response(now, &reply(&o.bytes, 200, "OK", ""));
            } else if refresh.is_none() {
                refresh = Some((s, o.bytes));
            }
        }
    }
    let (s, bytes) = refresh.unwrap();
    assert_eq!(s, 97, "due at 96.06 s, sent by the first timer after it");
    let h3 = Head::parse(&bytes).unwrap();
    assert_eq!(h3.get("call-id"), h1.get("call-id"));
    assert_eq!(h3.cseq(), Some((3, "REGISTER")));
    assert_eq!(
        t.status()[0].registration,
        RegState::Registered { until_unix: 1_700_000_120 },
        "still, while refreshing"
    );
}

#[test]
fn wrong_credentials_fail_and_are_retried_with_backoff() {
    let (clock, mut t) = setup(&DOC.replace("transport = \"udp\"\nusername", "transport = \"tcp\"\nusername"));
    t.set_targets(&carrier(), vec!["203.0.113.1:5060".parse().unwrap()]);
    let first = t.on_timer(clock.ms(0)).into_iter().find(|o| method(o) == "REGISTER").unwrap();
    let text = String::from_utf8(first.bytes.clone()).unwrap();
    assert!(text.contains("Contact: <sip:acme1@192.168.10.2:5060;transport=tcp>\r\n"), "{text}");
    assert!(text.contains("Via: SIP/2.0/TCP 192.168.10.2:5060;branch="), "{text}");
    assert_eq!(first.to.transport, Transport::Tcp);
    let chall = "WWW-Authenticate: Digest realm=\"c\", nonce=\"n1\", qop=\"auth\"\r\n";
    let (_, out) = t.on_response(clock.ms(10), &reply(&first.bytes, 401, "Unauthorized", chall));
    let (ours, out) = t.on_response(clock.ms(20), &reply(&out[0].bytes, 401, "Unauthorized", chall));
    assert!(ours && out.is_empty());
    let reason = "401: wrong username or password".to_owned();
    assert_eq!(t.status()[0].registration, RegState::Failed { reason: reason.clone(), retry_at: 1_700_000_002 });
    let failed = |t: &mut Trunks| t.events().iter().filter(|e| e.kind == EventKind::RegistrationFailed).count();
    assert_eq!(failed(&mut t), 1);
    // Retried after 2 s, then 4 s later, then 8 s: the same failure is not told again.
    let mut tries = Vec::new();
    for ms in (100..20_000).step_by(100) {
        for o in t.on_timer(clock.ms(ms)).into_iter().filter(|o| method(o) == "REGISTER") {
            tries.push(ms);
            let (_, out) = t.on_response(clock.ms(ms), &reply(&o.bytes, 401, "Unauthorized", chall));
            t.on_response(clock.ms(ms), &reply(&out[0].bytes, 401, "Unauthorized", chall));
        }
    }
    assert_eq!(tries, [2_100, 6_100, 14_100], "failed at 20 ms; timers every 100 ms");
    assert_eq!(failed(&mut t), 0);
}

#[test]
fn failed_calls_unresolvable_hosts_and_config_changes() {
    let text = DOC.replace("name = \"trunk tests\"", "name = \"x\"\n[site.survivable]\nfail_back_when_idle = true");
    let (clock, mut t) = setup(&text);
    t.call_failed(clock.ms(100), &cloud(), "503");
    assert_eq!(state(&t, &cloud()), State::Down);
    let ev = t.events();
    assert_eq!(ev[0].reason, "503 on a call");
    assert_eq!(ev[1].kind, EventKind::SurvivableEnter);
    // The same document again changes nothing.
    t.sync(clock.ms(200), &doc(&text));
    assert_eq!(state(&t, &cloud()), State::Down);
    assert!(t.events().is_empty());

    // DNS says the carrier does not exist: every due probe is a miss.
    t.set_targets(&carrier(), vec![]);
    for ms in [300, 2_300, 4_300] {
        t.on_timer(clock.ms(ms));
    }
    assert_eq!(state(&t, &carrier()), State::Down);
    let st = &t.status()[0];
    assert_eq!(st.reason, "3 probes missed (no address for sip.carrier.test)");
    assert!(matches!(st.registration, RegState::Failed { ref reason, .. } if reason == "no address for the trunk"));

    // The cloud comes back: up only after its hold-down, and back to normal only when the
    // fallback calls are over.
    t.set_fallback_calls(clock.ms(5_000), 1);
    let mut ms = 5_000;
    while ms < 60_000 {
        for o in t.on_timer(clock.ms(ms)) {
            if o.to.addr.port() == 5060 && o.to.addr.ip() == IpAddr::from([198, 51, 100, 7]) && method(&o) == "OPTIONS"
            {
                t.on_response(clock.ms(ms + 10), &reply(&o.bytes, 200, "OK", ""));
            }
        }
        ms += 500;
    }
    assert_eq!(state(&t, &cloud()), State::Up);
    assert!(t.survivable(), "a call is up on a fallback trunk");
    t.set_fallback_calls(clock.ms(ms), 0);
    assert!(!t.survivable());
    assert_eq!(t.mode().reason, "cloud trunks up, no call on a fallback trunk");

    // A new address starts the cloud trunk over; a removed trunk is gone.
    let moved = text.replace("198.51.100.7", "198.51.100.8");
    let cut = moved.find("[[tenants.trunks]]\nname = \"carrier\"").unwrap();
    t.sync(clock.ms(ms), &doc(&moved[..cut]));
    let st = t.status();
    assert_eq!(st.len(), 1);
    assert_eq!((st[0].state, st[0].current), (State::Unknown, Some("198.51.100.8:5060".parse().unwrap())));
    assert!(t.lookups().is_empty());
    assert!(!t.survivable(), "unknown at (re)start does not make the site survivable");
}
