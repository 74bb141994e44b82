//! The steps of each message, in one place: parse, limit, pick the scope, decide, build.
//! No sockets, no clock, no database: `Server::handle` is told `now` and returns the reply,
//! where it goes, and the lease changes that must be on disk before it is sent.

use std::net::{Ipv4Addr, SocketAddrV4};

use dhcproto::v4::{DhcpOption, DhcpOptions, Flags, Message, MessageType, Opcode};
use dhcproto::Encodable;

use super::limit::{Limiter, PER_CIRCUIT, PER_MAC, PER_RELAY};
use super::options::{self, Provisioning};
use super::parse::{self, Request};
use super::pool::Pool;
use super::scope::Scope;
use super::{Lease, LeaseChange};
use crate::provision::identify;
use crate::site::Vendor;

/// What the core knows about the box.
#[derive(Debug, Clone)]
pub struct Context {
    /// The box's address on the served interface: the server identifier, and where phones go.
    pub server_ip: Ipv4Addr,
    /// The port the server listens on; clients answer on the next one (67/68).
    pub port: u16,
    /// The interface served directly (non-relayed clients), to pick its scope.
    pub interface: String,
    pub provisioning: Provisioning,
}

/// A reply and where to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub to: SocketAddrV4,
    /// `offer`, `ack`, `nak`: the label of the reply counter.
    pub kind: &'static str,
}

/// The result of one message.
#[derive(Debug, Default)]
pub struct Handled {
    pub reply: Option<Reply>,
    /// To persist before the reply goes out.
    pub changes: Vec<LeaseChange>,
    /// The client, for the discovered-devices list: (mac, vendor).
    pub seen: Option<(String, Option<Vendor>)>,
    /// Why nothing was answered, when nothing was: the label of the drop counter.
    pub dropped: Option<&'static str>,
    /// The message type, for the request counter.
    pub kind: Option<&'static str>,
}

impl Handled {
    fn dropped(reason: &'static str) -> Handled {
        Handled { dropped: Some(reason), ..Handled::default() }
    }
}

pub struct Server {
    ctx: Context,
    pools: Vec<Pool>,
    /// The pool of non-relayed clients, when a scope covers the interface.
    local: Option<usize>,
    limiter: Limiter,
}

impl Server {
    /// A server for `scopes`, with the `leases` the store kept.
    pub fn new(ctx: Context, scopes: Vec<Scope>, leases: &[Lease]) -> Server {
        let local = scopes
            .iter()
            .position(|s| s.interface.as_deref() == Some(ctx.interface.as_str()))
            .or_else(|| scopes.iter().position(|s| s.contains(ctx.server_ip)));
        let mut pools: Vec<Pool> = scopes.into_iter().map(Pool::new).collect();
        for lease in leases {
            if let Some(pool) = pools.iter_mut().find(|p| p.scope.name == lease.scope) {
                pool.load(lease);
            }
        }
        Server { ctx, pools, local, limiter: Limiter::default() }
    }

    /// The scope that serves the interface directly.
    pub fn local_scope(&self) -> Option<&Scope> {
        self.local.map(|i| &self.pools[i].scope)
    }

    pub fn pools(&self) -> &[Pool] {
        &self.pools
    }

    /// One message in, at most one reply out.
    pub fn handle(&mut self, now: i64, bytes: &[u8]) -> Handled {
        let req = match parse::parse(bytes) {
            Ok(req) => req,
            Err(refused) => return Handled::dropped(refused.label()),
        };
        let kind = kind_label(req.kind);
        let vendor = req
            .vendor_class
            .as_deref()
            .and_then(identify::vendor_by_class)
            .or_else(|| identify::vendor_by_mac(&req.mac));
        let mut handled = self.decide(now, &req, vendor);
        handled.kind = Some(kind);
        handled.seen = Some((req.mac.clone(), vendor));
        handled
    }

    fn decide(&mut self, now: i64, req: &Request, vendor: Option<Vendor>) -> Handled {
        if !self.limiter.allow(&req.chaddr, PER_MAC, now) {
            return Handled::dropped("rate_limited");
        }
        if !req.giaddr.is_unspecified() {
            let mut key = req.giaddr.octets().to_vec();
            key.extend(req.circuit_id.iter().flatten());
            let budget = if req.circuit_id.is_some() { PER_CIRCUIT } else { PER_RELAY };
            if !self.limiter.allow(&key, budget, now) {
                return Handled::dropped("rate_limited");
            }
        }
        let pool = if req.giaddr.is_unspecified() {
            self.local
        } else {
            self.pools.iter().position(|p| p.scope.contains(req.giaddr))
        };
        let Some(pool) = pool else { return Handled::dropped("no_scope") };
        let vendor_name = vendor.map_or("", Vendor::as_str);
        let pool = &mut self.pools[pool];
        let ctx = &self.ctx;
        let server = ctx.server_ip;
        let for_us = req.server_id.is_none_or(|id| id == server);
        match req.kind {
            MessageType::Discover => match pool.choose(&req.mac, req.requested_ip, now) {
                Some(ip) => {
                    pool.offer(ip, &req.mac, vendor_name, now);
                    reply(ctx, req, &pool.scope, vendor, MessageType::Offer, ip, Vec::new())
                }
                None => Handled::dropped("pool_full"),
            },
            MessageType::Request => {
                if !for_us {
                    // SELECTING another server's offer: ours is free again.
                    pool.forget_offer(&req.mac);
                    return Handled::dropped("other_server");
                }
                // SELECTING and INIT-REBOOT name the address in option 50; RENEWING and
                // REBINDING in ciaddr.
                let Some(ip) = req.requested_ip.or((!req.ciaddr.is_unspecified()).then_some(req.ciaddr)) else {
                    return Handled::dropped("malformed");
                };
                if req.server_id.is_none() && !pool.scope.contains(ip) {
                    // A client back from another network (INIT-REBOOT) or one that is wrong:
                    // a NAK sends it to DISCOVER.
                    return reply(ctx, req, &pool.scope, vendor, MessageType::Nak, Ipv4Addr::UNSPECIFIED, Vec::new());
                }
                let reserved = pool.scope.reservations.get(&req.mac).copied();
                let wrong_reservation = reserved.is_some_and(|r| r != ip && pool.free_for(r, &req.mac, now));
                if wrong_reservation || !pool.free_for(ip, &req.mac, now) {
                    return reply(ctx, req, &pool.scope, vendor, MessageType::Nak, Ipv4Addr::UNSPECIFIED, Vec::new());
                }
                let expires = now + i64::from(pool.scope.lease_time);
                let changes = pool.bind(ip, &req.mac, expires, &req.hostname, vendor_name);
                reply(ctx, req, &pool.scope, vendor, MessageType::Ack, ip, changes)
            }
            MessageType::Release => {
                if !for_us {
                    return Handled::dropped("other_server");
                }
                match pool.release(req.ciaddr, &req.mac, now) {
                    Some(change) => Handled { changes: vec![change], ..Handled::default() },
                    None => Handled::dropped("unknown_lease"),
                }
            }
            MessageType::Decline => {
                let Some(ip) = req.requested_ip.filter(|_| for_us) else { return Handled::dropped("other_server") };
                match pool.decline(ip, &req.mac, now) {
                    Some(change) => Handled { changes: vec![change], ..Handled::default() },
                    None => Handled::dropped("unknown_lease"),
                }
            }
            MessageType::Inform => {
                reply(ctx, req, &pool.scope, vendor, MessageType::Ack, Ipv4Addr::UNSPECIFIED, Vec::new())
            }
            _ => Handled::dropped("unexpected_type"),
        }
    }
}

fn kind_label(kind: MessageType) -> &'static str {
    match kind {
        MessageType::Discover => "discover",
        MessageType::Request => "request",
        MessageType::Release => "release",
        MessageType::Decline => "decline",
        MessageType::Inform => "inform",
        _ => "other",
    }
}

/// Builds the reply of type `kind` giving `yiaddr`, and where it goes (RFC 2131 §4.1).
fn reply(
    ctx: &Context,
    req: &Request,
    scope: &Scope,
    vendor: Option<Vendor>,
    kind: MessageType,
    yiaddr: Ipv4Addr,
    changes: Vec<LeaseChange>,
) -> Handled {
    let inform = req.kind == MessageType::Inform;
    let mut m = Message::default();
    m.set_opcode(Opcode::BootReply)
        .set_xid(req.msg.xid())
        .set_flags(req.msg.flags())
        .set_hops(req.msg.hops())
        .set_giaddr(req.giaddr)
        .set_chaddr(&req.chaddr)
        .set_yiaddr(yiaddr);
    if inform || matches!(kind, MessageType::Ack) {
        m.set_ciaddr(req.ciaddr);
    }
    let mut opts = DhcpOptions::new();
    opts.insert(DhcpOption::MessageType(kind));
    if kind == MessageType::Nak {
        opts.insert(DhcpOption::ServerIdentifier(ctx.server_ip));
    } else {
        m.set_siaddr(ctx.server_ip);
        options::network(&mut opts, scope, ctx.server_ip, !inform);
        options::provisioning(&mut opts, vendor, &req.wanted, &ctx.provisioning);
    }
    m.set_opts(opts);
    if kind == MessageType::Nak && !req.giaddr.is_unspecified() {
        // The relay must broadcast a NAK: the client may hold an address that is wrong here.
        m.set_flags(Flags::default().set_broadcast());
    }
    let Ok(mut bytes) = m.to_vec() else { return Handled::dropped("encode_failed") };
    if let Some(relay) = &req.relay_info {
        // RFC 3046: the relay's option comes back as it was sent, last before the end.
        if bytes.last() == Some(&255) {
            bytes.pop();
            bytes.extend_from_slice(relay);
            bytes.push(255);
        }
    }
    let client_port = ctx.port.wrapping_add(1);
    let to = if !req.giaddr.is_unspecified() {
        SocketAddrV4::new(req.giaddr, ctx.port)
    } else if kind != MessageType::Nak && !req.ciaddr.is_unspecified() {
        SocketAddrV4::new(req.ciaddr, client_port)
    } else {
        // Without ARP entries for a client that has no address yet, broadcast is what works.
        SocketAddrV4::new(Ipv4Addr::BROADCAST, client_port)
    };
    let label = match kind {
        MessageType::Offer => "offer",
        MessageType::Nak => "nak",
        _ => "ack",
    };
    Handled { reply: Some(Reply { bytes, to, kind: label }), changes, ..Handled::default() }
}
