//! Bytes in, bytes out: the core driven with real DHCP messages, as a client would send them.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode, UnknownOption};
use dhcproto::{Decodable, Decoder, Encodable};
use proptest::prelude::*;

use super::options::Provisioning;
use super::scope::Scope;
use super::{Context, Handled, Lease, LeaseChange, LeaseState, Server};

const BOX: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const URL: &str = "https://10.0.0.1:8443/prov/";

fn scope(name: &str, net: [u8; 3], start: u8, end: u8) -> Scope {
    let ip = |h: u8| Ipv4Addr::new(net[0], net[1], net[2], h);
    Scope {
        name: name.into(),
        interface: None,
        network: ip(0),
        mask: Ipv4Addr::new(255, 255, 255, 0),
        range_start: ip(start),
        range_end: ip(end),
        router: Some(ip(1)),
        dns: vec![ip(1)],
        ntp: vec![ip(1)],
        lease_time: 3600,
        authoritative: false,
        reservations: HashMap::new(),
    }
}

fn ctx(tftp: bool) -> Context {
    Context {
        server_ip: BOX,
        port: 67,
        interface: "lan0".into(),
        provisioning: Provisioning { url: URL.into(), tftp: tftp.then_some(BOX) },
    }
}

fn server() -> Server {
    Server::new(ctx(true), vec![scope("lan", [10, 0, 0], 100, 109), scope("far", [10, 9, 9], 10, 20)], &[])
}

fn mac(n: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 0, n]
}

struct Ask {
    kind: MessageType,
    mac: [u8; 6],
    ciaddr: Ipv4Addr,
    giaddr: Ipv4Addr,
    requested: Option<Ipv4Addr>,
    server_id: Option<Ipv4Addr>,
    class: Option<&'static [u8]>,
    wanted: Vec<u8>,
    extra: Vec<DhcpOption>,
}

fn ask(kind: MessageType, n: u8) -> Ask {
    Ask {
        kind,
        mac: mac(n),
        ciaddr: Ipv4Addr::UNSPECIFIED,
        giaddr: Ipv4Addr::UNSPECIFIED,
        requested: None,
        server_id: None,
        class: None,
        wanted: vec![1, 3, 6, 42, 66],
        extra: Vec::new(),
    }
}

impl Ask {
    fn bytes(&self) -> Vec<u8> {
        let mut m = Message::new_with_id(
            0x1234,
            self.ciaddr,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            self.giaddr,
            &self.mac,
        );
        let o = m.opts_mut();
        o.insert(DhcpOption::MessageType(self.kind));
        if let Some(ip) = self.requested {
            o.insert(DhcpOption::RequestedIpAddress(ip));
        }
        if let Some(ip) = self.server_id {
            o.insert(DhcpOption::ServerIdentifier(ip));
        }
        if let Some(c) = self.class {
            o.insert(DhcpOption::ClassIdentifier(c.to_vec()));
        }
        o.insert(DhcpOption::ParameterRequestList(self.wanted.iter().map(|c| OptionCode::from(*c)).collect()));
        for e in &self.extra {
            o.insert(e.clone());
        }
        m.to_vec().unwrap()
    }
}

fn decode(h: &Handled) -> Message {
    Message::decode(&mut Decoder::new(&h.reply.as_ref().expect("a reply").bytes)).unwrap()
}

fn kind(m: &Message) -> MessageType {
    m.opts().msg_type().unwrap()
}

fn text(m: &Message, code: u8) -> Option<String> {
    match m.opts().get(OptionCode::from(code))? {
        DhcpOption::TFTPServerName(v) | DhcpOption::BootfileName(v) | DhcpOption::VendorExtensions(v) => {
            Some(String::from_utf8_lossy(v).into_owned())
        }
        DhcpOption::Unknown(u) => Some(String::from_utf8_lossy(u.data()).into_owned()),
        other => Some(format!("{other:?}")),
    }
}

/// DISCOVER, OFFER, REQUEST, ACK for client `n`; returns the address.
fn dora(s: &mut Server, n: u8, now: i64) -> Ipv4Addr {
    let offer = decode(&s.handle(now, &ask(MessageType::Discover, n).bytes()));
    assert_eq!(kind(&offer), MessageType::Offer);
    let mut req = ask(MessageType::Request, n);
    req.requested = Some(offer.yiaddr());
    req.server_id = Some(BOX);
    let h = s.handle(now, &req.bytes());
    let ack = decode(&h);
    assert_eq!(kind(&ack), MessageType::Ack);
    assert_eq!(ack.yiaddr(), offer.yiaddr());
    assert!(
        matches!(&h.changes[..], [LeaseChange::Upsert(l)] if l.ip == ack.yiaddr()),
        "the lease is persisted before the ACK"
    );
    ack.yiaddr()
}

#[test]
fn discover_gets_an_offer_with_the_scope_settings_broadcast_to_68() {
    let mut s = server();
    let h = s.handle(1000, &ask(MessageType::Discover, 1).bytes());
    let reply = h.reply.as_ref().unwrap();
    assert_eq!(reply.to, SocketAddrV4::new(Ipv4Addr::BROADCAST, 68));
    let m = decode(&h);
    assert_eq!(kind(&m), MessageType::Offer);
    assert_eq!(m.yiaddr(), Ipv4Addr::new(10, 0, 0, 100));
    assert_eq!(m.xid(), 0x1234);
    assert_eq!(m.chaddr(), &mac(1));
    let o = m.opts();
    assert_eq!(o.get(OptionCode::SubnetMask), Some(&DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0))));
    assert_eq!(o.get(OptionCode::Router), Some(&DhcpOption::Router(vec![BOX])));
    assert_eq!(o.get(OptionCode::ServerIdentifier), Some(&DhcpOption::ServerIdentifier(BOX)));
    assert_eq!(o.get(OptionCode::AddressLeaseTime), Some(&DhcpOption::AddressLeaseTime(3600)));
    assert_eq!(o.get(OptionCode::Renewal), Some(&DhcpOption::Renewal(1800)));
    assert_eq!(o.get(OptionCode::Rebinding), Some(&DhcpOption::Rebinding(3150)));
    assert_eq!(o.get(OptionCode::NtpServers), Some(&DhcpOption::NtpServers(vec![BOX])));
    // An unknown client is not pointed at the phone server, even when it asks for 66.
    assert_eq!(text(&m, 66), None);
    assert!(h.changes.is_empty(), "an offer is not persisted");
}

#[test]
fn two_clients_get_two_addresses_and_the_same_client_keeps_its_own() {
    let mut s = server();
    let a = dora(&mut s, 1, 1000);
    let b = dora(&mut s, 2, 1000);
    assert_ne!(a, b);
    assert_eq!(dora(&mut s, 1, 1100), a);
}

#[test]
fn vendors_get_their_provisioning_options() {
    let mut s = server();
    let offer = |s: &mut Server, n: u8, class: &'static [u8], wanted: Vec<u8>| {
        let mut d = ask(MessageType::Discover, n);
        d.class = Some(class);
        d.wanted = wanted;
        decode(&s.handle(1000, &d.bytes()))
    };
    let yealink = offer(&mut s, 1, b"yealink", vec![1, 3]);
    assert_eq!(text(&yealink, 66).as_deref(), Some(URL), "Yealink reads a URL in 66, asked or not");
    let poly = offer(&mut s, 2, b"Polycom-VVX450", vec![1, 3, 66, 160]);
    assert_eq!(text(&poly, 160).as_deref(), Some(URL));
    assert_eq!(text(&poly, 66).as_deref(), Some(URL));
    let cisco = offer(&mut s, 3, b"Cisco Systems, Inc. IP Phone CP-8841\0", vec![1, 150]);
    assert_eq!(cisco.opts().get(OptionCode::TFTPServerAddress), Some(&DhcpOption::TFTPServerAddress(BOX)));
    assert_eq!(text(&cisco, 66).as_deref(), Some("10.0.0.1"));
    let snom = offer(&mut s, 4, b"snom D785", vec![66, 67]);
    assert_eq!(text(&snom, 66).as_deref(), Some("https://10.0.0.1:8443"));
    assert_eq!(text(&snom, 67).as_deref(), Some("prov/{mac}.xml"));
    let fanvil = offer(&mut s, 5, b"Fanvil X4", vec![43, 66]);
    assert_eq!(text(&fanvil, 43).as_deref(), Some(URL));
    // No option 60: the OUI tells (00:15:65 is Yealink's).
    let mut d = ask(MessageType::Discover, 6);
    d.mac = [0x00, 0x15, 0x65, 1, 2, 3];
    assert_eq!(text(&decode(&s.handle(1000, &d.bytes())), 66).as_deref(), Some(URL));
}

#[test]
fn cisco_without_tftp_on_69_gets_the_https_url_in_66_and_no_150() {
    let mut s = Server::new(ctx(false), vec![scope("lan", [10, 0, 0], 100, 109)], &[]);
    let mut d = ask(MessageType::Discover, 1);
    d.class = Some(b"Cisco Systems, Inc. IP Phone CP-7841\0");
    let m = decode(&s.handle(1000, &d.bytes()));
    assert_eq!(m.opts().get(OptionCode::TFTPServerAddress), None);
    assert_eq!(text(&m, 66).as_deref(), Some(URL));
}

#[test]
fn request_for_another_servers_offer_is_silent_and_frees_ours() {
    // One address: the second client gets it only if the first one's offer was let go.
    let mut s = Server::new(ctx(true), vec![scope("lan", [10, 0, 0], 100, 100)], &[]);
    let offered = decode(&s.handle(1000, &ask(MessageType::Discover, 1).bytes())).yiaddr();
    let mut req = ask(MessageType::Request, 1);
    req.requested = Some(Ipv4Addr::new(192, 168, 1, 50));
    req.server_id = Some(Ipv4Addr::new(192, 168, 1, 1));
    let h = s.handle(1000, &req.bytes());
    assert!(h.reply.is_none());
    assert_eq!(h.dropped, Some("other_server"));
    // The freed address goes to the next client.
    assert_eq!(decode(&s.handle(1000, &ask(MessageType::Discover, 2).bytes())).yiaddr(), offered);
}

#[test]
fn init_reboot_naks_a_foreign_or_taken_address_and_acks_its_own() {
    let mut s = server();
    let a = dora(&mut s, 1, 1000);
    let mut reboot = ask(MessageType::Request, 2);
    reboot.requested = Some(a);
    assert_eq!(kind(&decode(&s.handle(1000, &reboot.bytes()))), MessageType::Nak, "taken by client 1");
    reboot.requested = Some(Ipv4Addr::new(192, 168, 7, 7));
    let h = s.handle(1000, &reboot.bytes());
    assert_eq!(kind(&decode(&h)), MessageType::Nak, "another network");
    assert_eq!(h.reply.unwrap().to, SocketAddrV4::new(Ipv4Addr::BROADCAST, 68));
    let mut own = ask(MessageType::Request, 1);
    own.requested = Some(a);
    assert_eq!(decode(&s.handle(1100, &own.bytes())).yiaddr(), a);
}

#[test]
fn renewing_is_acked_by_unicast_and_extends_the_lease() {
    let mut s = server();
    let a = dora(&mut s, 1, 1000);
    let mut renew = ask(MessageType::Request, 1);
    renew.ciaddr = a;
    let h = s.handle(2800, &renew.bytes());
    assert_eq!(h.reply.as_ref().unwrap().to, SocketAddrV4::new(a, 68));
    let m = decode(&h);
    assert_eq!((kind(&m), m.yiaddr(), m.ciaddr()), (MessageType::Ack, a, a));
    assert!(matches!(&h.changes[..], [LeaseChange::Upsert(l)] if l.expires_at == 2800 + 3600));
    // Someone else renewing that address is refused.
    let mut thief = ask(MessageType::Request, 2);
    thief.ciaddr = a;
    assert_eq!(kind(&decode(&s.handle(2800, &thief.bytes()))), MessageType::Nak);
}

#[test]
fn released_address_comes_back_to_its_client_before_anyone_else_gets_it() {
    let mut s = server();
    let a = dora(&mut s, 1, 1000);
    let mut rel = ask(MessageType::Release, 1);
    rel.ciaddr = a;
    rel.server_id = Some(BOX);
    let h = s.handle(1200, &rel.bytes());
    assert!(h.reply.is_none());
    assert!(matches!(&h.changes[..], [LeaseChange::Upsert(l)] if l.expires_at == 1200));
    let b = dora(&mut s, 2, 1300);
    assert_ne!(a, b, "a never-used address goes first");
    assert_eq!(dora(&mut s, 1, 1400), a);
}

#[test]
fn declined_address_is_not_offered_for_an_hour() {
    let mut s = server();
    let a = dora(&mut s, 1, 1000);
    let mut dec = ask(MessageType::Decline, 1);
    dec.requested = Some(a);
    dec.server_id = Some(BOX);
    let h = s.handle(1000, &dec.bytes());
    assert!(matches!(&h.changes[..], [LeaseChange::Upsert(l)] if l.state == LeaseState::Declined));
    for n in 2..=10 {
        assert_ne!(dora(&mut s, n, 1001), a);
    }
    // The pool (10 addresses) is now full but for the declined one.
    assert_eq!(s.handle(1001, &ask(MessageType::Discover, 11).bytes()).dropped, Some("pool_full"));
    assert_eq!(dora(&mut s, 11, 1000 + 3601), a);
}

#[test]
fn inform_gets_settings_and_provisioning_but_no_address_or_lease() {
    let mut s = server();
    let mut inf = ask(MessageType::Inform, 1);
    inf.ciaddr = Ipv4Addr::new(10, 0, 0, 50);
    inf.class = Some(b"Polycom-VVX411");
    let h = s.handle(1000, &inf.bytes());
    assert_eq!(h.reply.as_ref().unwrap().to, SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 50), 68));
    let m = decode(&h);
    assert_eq!((kind(&m), m.yiaddr()), (MessageType::Ack, Ipv4Addr::UNSPECIFIED));
    assert_eq!(m.opts().get(OptionCode::AddressLeaseTime), None);
    assert_eq!(text(&m, 160).as_deref(), Some(URL));
    assert!(h.changes.is_empty());
}

#[test]
fn bootp_and_garbage_are_dropped_with_a_reason() {
    let mut s = server();
    let mut bootp = Message::new_with_id(
        1,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &mac(1),
    );
    bootp.opts_mut().insert(DhcpOption::Hostname("old".into()));
    assert_eq!(s.handle(1000, &bootp.to_vec().unwrap()).dropped, Some("bootp"));
    assert_eq!(s.handle(1000, b"hello").dropped, Some("malformed"));
    let mut long_hlen = ask(MessageType::Discover, 1).bytes();
    long_hlen[2] = 200;
    assert_eq!(s.handle(1000, &long_hlen).dropped, Some("not_ethernet"));
}

#[test]
fn relayed_request_uses_the_relays_scope_goes_to_the_relay_and_echoes_option_82() {
    let mut s = server();
    let mut d = ask(MessageType::Discover, 1);
    d.giaddr = Ipv4Addr::new(10, 9, 9, 1);
    let mut bytes = d.bytes();
    // Option 82 with a circuit id and a remote id, spliced in before the end.
    let relay = [82u8, 9, 1, 3, b'p', b'1', b'7', 2, 2, 0xab, 0xcd];
    assert_eq!(bytes.pop(), Some(255));
    bytes.extend_from_slice(&relay);
    bytes.push(255);
    let h = s.handle(1000, &bytes);
    let reply = h.reply.as_ref().unwrap();
    assert_eq!(reply.to, SocketAddrV4::new(Ipv4Addr::new(10, 9, 9, 1), 67));
    assert!(reply.bytes.windows(relay.len()).any(|w| w == relay), "option 82 comes back byte for byte");
    let m = decode(&h);
    assert_eq!(m.yiaddr(), Ipv4Addr::new(10, 9, 9, 10));
    assert_eq!(m.giaddr(), Ipv4Addr::new(10, 9, 9, 1));
    // A relay on no scope's network gets nothing.
    d.giaddr = Ipv4Addr::new(172, 16, 0, 1);
    assert_eq!(s.handle(1000, &d.bytes()).dropped, Some("no_scope"));
}

#[test]
fn reservation_wins_and_nobody_else_gets_the_reserved_address() {
    let mut lan = scope("lan", [10, 0, 0], 100, 101);
    lan.reservations.insert("02:00:00:00:00:09".into(), Ipv4Addr::new(10, 0, 0, 100));
    let mut s = Server::new(ctx(true), vec![lan], &[]);
    assert_eq!(dora(&mut s, 1, 1000), Ipv4Addr::new(10, 0, 0, 101));
    assert_eq!(s.handle(1000, &ask(MessageType::Discover, 2).bytes()).dropped, Some("pool_full"));
    assert_eq!(dora(&mut s, 9, 1000), Ipv4Addr::new(10, 0, 0, 100));
}

#[test]
fn a_flood_from_one_mac_is_cut_after_the_budget() {
    let mut s = server();
    let d = ask(MessageType::Discover, 1).bytes();
    let answered = (0..50).filter(|_| s.handle(1000, &d).reply.is_some()).count();
    assert_eq!(answered, super::limit::PER_MAC as usize);
    assert!(s.handle(1001, &d).reply.is_some(), "the next second has a new budget");
}

#[test]
fn stored_leases_survive_a_restart() {
    let lease = Lease {
        ip: Ipv4Addr::new(10, 0, 0, 105),
        mac: "02:00:00:00:00:01".into(),
        scope: "lan".into(),
        state: LeaseState::Bound,
        expires_at: 5000,
        hostname: String::new(),
        vendor: String::new(),
    };
    let mut s = Server::new(ctx(true), vec![scope("lan", [10, 0, 0], 100, 109)], &[lease]);
    assert_eq!(dora(&mut s, 1, 1000), Ipv4Addr::new(10, 0, 0, 105));
    let mut steal = ask(MessageType::Request, 2);
    steal.requested = Some(Ipv4Addr::new(10, 0, 0, 105));
    assert_eq!(kind(&decode(&s.handle(1000, &steal.bytes()))), MessageType::Nak);
}

#[test]
fn unknown_options_from_the_client_do_not_stop_the_answer() {
    let mut s = server();
    let mut d = ask(MessageType::Discover, 1);
    d.extra.push(DhcpOption::Unknown(UnknownOption::new(OptionCode::from(224), vec![1, 2, 3])));
    assert!(s.handle(1000, &d.bytes()).reply.is_some());
}

#[test]
fn options_of_a_wrong_length_are_ignored_not_trusted() {
    let mut s = server();
    let mut bytes = ask(MessageType::Discover, 1).bytes();
    assert_eq!(bytes.pop(), Some(255));
    // Option 155 (bulk lease query end time) must be 4 bytes; dhcproto asserts that in debug
    // builds. Option 80 (rapid commit) must be empty. A message type of 2 bytes is refused.
    bytes.extend_from_slice(&[155, 1, 7, 80, 2, 1, 1, 81, 1, 0, 255]);
    assert!(s.handle(1000, &bytes).reply.is_some(), "the rest of the message is still served");
    let mut two_byte_type = ask(MessageType::Discover, 2).bytes();
    assert_eq!(two_byte_type[240..243], [53, 1, 1], "option 53 comes first");
    two_byte_type.splice(240..243, [53u8, 2, 1, 1]);
    assert_eq!(s.handle(1000, &two_byte_type).dropped, Some("bootp"), "no sound option 53");
}

proptest! {
    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = server().handle(1000, &bytes);
    }

    #[test]
    fn any_header_with_a_valid_cookie_never_panics(head in proptest::collection::vec(any::<u8>(), 236), opts in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut bytes = head;
        bytes.extend_from_slice(&[99, 130, 83, 99]);
        bytes.extend_from_slice(&opts);
        let _ = server().handle(1000, &bytes);
    }

    /// Whatever clients do, no address is ACKed to a MAC while another MAC's ACK for it is live.
    #[test]
    fn no_address_is_ever_acked_to_two_macs(steps in proptest::collection::vec((0u8..14, 0u8..5, 0u8..12, 0i64..400), 1..200)) {
        let mut s = Server::new(ctx(true), vec![scope("lan", [10, 0, 0], 100, 107)], &[]);
        let mut now = 1000;
        let mut held: HashMap<Ipv4Addr, (u8, i64)> = HashMap::new();
        for (client, action, host, dt) in steps {
            now += dt;
            let ip = Ipv4Addr::new(10, 0, 0, 98 + host);
            let mut a = match action {
                0 => ask(MessageType::Discover, client),
                1 => { let mut r = ask(MessageType::Request, client); r.requested = Some(ip); r.server_id = Some(BOX); r }
                2 => { let mut r = ask(MessageType::Request, client); r.requested = Some(ip); r }
                3 => { let mut r = ask(MessageType::Release, client); r.ciaddr = ip; r }
                _ => { let mut r = ask(MessageType::Decline, client); r.requested = Some(ip); r }
            };
            a.wanted = vec![];
            let h = s.handle(now, &a.bytes());
            if let Some(reply) = &h.reply {
                let m = Message::decode(&mut Decoder::new(&reply.bytes)).unwrap();
                if m.opts().msg_type() == Some(MessageType::Ack) {
                    if let Some((other, until)) = held.get(&m.yiaddr()) {
                        prop_assert!(*other == client || *until <= now, "{} ACKed to {client} while {other} holds it", m.yiaddr());
                    }
                    held.insert(m.yiaddr(), (client, now + 3600));
                }
            }
            for c in &h.changes {
                match c {
                    LeaseChange::Upsert(l) if l.state == LeaseState::Declined || l.expires_at <= now => {
                        held.remove(&l.ip);
                    }
                    LeaseChange::Remove(ip) => {
                        held.remove(ip);
                    }
                    LeaseChange::Upsert(_) => {}
                }
            }
        }
    }
}

#[test]
fn the_example_sites_scope_converts_with_its_reservation() {
    let doc = crate::site::from_toml(include_str!("../../../examples/site.toml")).unwrap();
    let scope = Scope::try_from(&doc.dhcp_scopes[0]).unwrap();
    assert_eq!(scope.mask, Ipv4Addr::new(255, 255, 255, 0));
    assert_eq!(scope.network, Ipv4Addr::new(192, 168, 10, 0));
    assert_eq!(scope.reservations.get("80:5e:c0:11:22:33"), Some(&Ipv4Addr::new(192, 168, 10, 50)));
    // The reserved phone gets its address although it lies outside the range.
    let ctx = Context { server_ip: Ipv4Addr::new(192, 168, 10, 1), interface: "eth0".into(), ..ctx(true) };
    let mut s = Server::new(ctx, vec![scope], &[]);
    let mut d = ask(MessageType::Discover, 1);
    d.mac = [0x80, 0x5e, 0xc0, 0x11, 0x22, 0x33];
    assert_eq!(decode(&s.handle(1000, &d.bytes())).yiaddr(), Ipv4Addr::new(192, 168, 10, 50));
}
