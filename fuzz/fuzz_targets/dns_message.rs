//! Any datagram a DNS server (or an attacker racing it) might send back: the parser never
//! panics, and what it reads re-encodes to a message that reads the same (decode, encode,
//! decode, compare). The RFC 3263 selection over it never panics either.
#![no_main]

use appliance::trunk::dns;
use appliance::trunk::resolve;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = dns::parse(data) else { return };
    let bytes = dns::encode(&msg).expect("a parsed message re-encodes");
    let again = dns::parse(&bytes).expect("a re-encoded message parses");
    assert_eq!(msg, again, "decode, encode, decode: the same message");
    let srv = resolve::order(&msg);
    let targets = resolve::select(&srv, |name| resolve::addresses(&msg.additional, name));
    assert!(targets.len() <= msg.additional.len() * srv.len().max(1));
    for q in &msg.questions {
        let _ = resolve::addresses(&msg.answers, &q.name);
    }
});
