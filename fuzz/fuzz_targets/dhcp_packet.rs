//! Any datagram sent to the DHCP port: parse, decide, build. The core never panics, and
//! whatever it answers decodes as a BOOTREPLY for the same transaction.
#![no_main]

use std::net::Ipv4Addr;
use std::sync::OnceLock;

use appliance::dhcp::options::Provisioning;
use appliance::dhcp::scope::Scope;
use appliance::dhcp::{Context, Server};
use dhcproto::v4::{Message, Opcode};
use dhcproto::{Decodable, Decoder};
use libfuzzer_sys::fuzz_target;

/// The example site's scopes, parsed once (parsing per input would be most of the time spent).
fn scopes() -> Vec<Scope> {
    static SCOPES: OnceLock<Vec<Scope>> = OnceLock::new();
    SCOPES
        .get_or_init(|| {
            let doc = appliance::site::from_toml(include_str!("../../examples/site.toml")).expect("example site");
            doc.dhcp_scopes.iter().map(|s| Scope::try_from(s).expect("example scope")).collect()
        })
        .clone()
}

fn server() -> Server {
    let ctx = Context {
        server_ip: Ipv4Addr::new(192, 168, 10, 1),
        port: 67,
        interface: "eth0".into(),
        provisioning: Provisioning {
            url: "https://192.168.10.1/prov/".into(),
            tftp: Some(Ipv4Addr::new(192, 168, 10, 1)),
        },
    };
    Server::new(ctx, scopes(), &[])
}

fuzz_target!(|data: &[u8]| {
    let mut server = server();
    // Twice: the second message meets the state the first one left (an offer, a lease).
    for now in [1_800_000_000, 1_800_000_001] {
        if let Some(reply) = server.handle(now, data).reply {
            let m = Message::decode(&mut Decoder::new(&reply.bytes)).expect("the reply decodes");
            assert_eq!(m.opcode(), Opcode::BootReply);
            assert_eq!(Some(m.xid()), data.get(4..8).map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]])));
        }
    }
});
