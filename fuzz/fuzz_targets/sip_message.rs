//! Any datagram sent to the SIP port: decode, handle, encode. The core never panics, and
//! whatever it answers is itself a well-formed SIP response.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use appliance::sip::core::{Now, SipCore};
use appliance::sip::defence::DefenceConfig;
use appliance::sip::directory::Directory;
use appliance::sip::message::Transport;
use appliance::sip::registrar::RegistrarConfig;
use libfuzzer_sys::fuzz_target;

fn directory() -> Arc<Directory> {
    static DIR: OnceLock<Arc<Directory>> = OnceLock::new();
    DIR.get_or_init(|| {
        let doc = appliance::site::from_toml(include_str!("../../examples/site.toml")).expect("example site");
        Arc::new(Directory::from_doc(&doc))
    })
    .clone()
}

fuzz_target!(|data: &[u8]| {
    let mut core = SipCore::new(directory(), Vec::new(), &[1; 32], RegistrarConfig::default(), DefenceConfig::default());
    let source: SocketAddr = "192.0.2.1:5060".parse().expect("address");
    let now = Now { at: std::time::Instant::now(), unix: 1_800_000_000 };
    for transport in [Transport::Udp, Transport::Tcp] {
        if let Some(reply) = core.handle(now, data, source, transport).reply {
            assert!(rsip::Response::try_from(reply.as_slice()).is_ok(), "unparsable reply: {}", String::from_utf8_lossy(&reply));
        }
    }
});
