//! The DHCP service: one UDP socket bound to the LAN interface, one task. Before serving it
//! probes the segment for another server; then it reads messages in batches, hands each to the
//! core, writes the batch's lease changes in one transaction (group commit) and only then sends
//! the replies, so that no client is told about a lease the disk does not have.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, OptionCode};
use dhcproto::Encodable;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::decide::{Context, Handled, Server};
use super::scope::Scope;
use super::status::{DhcpShared, DhcpStatus};
use super::DhcpError;
use crate::metrics::{Kind, Metrics};
use crate::store::{unix_now, Store};

/// Messages handled before their lease changes are written together.
const BATCH: usize = 64;
/// How often the site config is checked for changed scopes.
const RELOAD_EVERY: Duration = Duration::from_secs(10);
/// How often the probe repeats its DISCOVER.
const PROBE_RESEND: Duration = Duration::from_secs(1);
/// How long a refused server waits before probing again.
const REPROBE_EVERY: Duration = Duration::from_secs(60);
/// A MAC already put in the discovered-devices list is recorded again after this long.
const SEEN_AGAIN_AFTER: i64 = 3600;
/// Sightings written per second at most: a flood of made-up MACs must not fill the admin's
/// discovered list or the disk. Those left out are recorded at their next message.
const SIGHTINGS_PER_SECOND: u32 = 20;

/// Which MACs were recently put in the discovered-devices list, and the budget of this second.
#[derive(Default)]
struct Sightings {
    recorded: HashMap<String, i64>,
    second: i64,
    written: u32,
}

/// Everything the service needs; cloned into each (re)start.
#[derive(Clone)]
pub struct Service {
    pub store: Store,
    pub metrics: Metrics,
    pub shared: Arc<DhcpShared>,
    pub ctx: Context,
    /// The box's MAC on the interface: the probe's chaddr, and how our own probe is recognised.
    pub mac: [u8; 6],
    /// How long the probe listens for another server's OFFER; zero skips it.
    pub probe_wait: Duration,
}

/// Declares the DHCP metrics so that they show at zero from the start.
pub fn describe(metrics: &Metrics) {
    metrics.describe("outpost_dhcp_requests_total", Kind::Counter, "DHCP messages received, by type.");
    metrics.describe("outpost_dhcp_replies_total", Kind::Counter, "DHCP replies sent, by type.");
    metrics.describe("outpost_dhcp_dropped_total", Kind::Counter, "DHCP messages not answered, by reason.");
    metrics.describe("outpost_dhcp_leases", Kind::Gauge, "Live DHCP leases.");
}

/// The IPv4 address and MAC of `interface`, read from `ip` and sysfs (no unsafe `getifaddrs`).
pub async fn interface_info(interface: &str) -> Result<(Ipv4Addr, [u8; 6]), DhcpError> {
    let bad = |reason: String| DhcpError::Interface { interface: interface.to_owned(), reason };
    let out = tokio::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", interface])
        .output()
        .await
        .map_err(|e| bad(format!("cannot run `ip`: {e}")))?;
    if !out.status.success() {
        return Err(bad(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let ip = text
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|cidr| cidr.split('/').next())
        .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
        .ok_or_else(|| bad("has no IPv4 address".into()))?;
    let mac_text = tokio::fs::read_to_string(format!("/sys/class/net/{interface}/address"))
        .await
        .map_err(|e| bad(format!("no MAC address: {e}")))?;
    let mut mac = [0u8; 6];
    let parts: Vec<u8> = mac_text.trim().split(':').filter_map(|h| u8::from_str_radix(h, 16).ok()).collect();
    if parts.len() == 6 {
        mac.copy_from_slice(&parts);
    }
    Ok((ip, mac))
}

/// The LAN interface a scope of the site names, for a box whose `outpost.toml` names none: the
/// first scope whose `interface` is an interface this host has (under `sys_net`, which is
/// `/sys/class/net`). The setup page and the DHCP page set it; a relay's subnet in that field
/// is no interface and is passed over.
pub fn interface_from_site(doc: &crate::site::SiteDoc, sys_net: &std::path::Path) -> Option<String> {
    doc.dhcp_scopes.iter().filter_map(|s| s.interface.as_deref()).find_map(|name| {
        let plain = !name.is_empty() && name.len() <= 15 && !name.contains('/') && name != "." && name != "..";
        (plain && sys_net.join(name).exists()).then(|| name.to_owned())
    })
}

/// A UDP socket on `0.0.0.0:port` that sends and receives only on `interface`, and may
/// broadcast. `shared`: the port may be bound by others too (the probe's client port, which a
/// DHCP client of the box itself may hold); the server's own port is not, so that a second
/// server on the same interface is a start-up error.
pub fn bind(interface: &str, port: u16, shared: bool) -> Result<UdpSocket, DhcpError> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(shared)?;
    socket.set_broadcast(true)?;
    socket.bind_device(Some(interface.as_bytes()))?;
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    socket.set_nonblocking(true)?;
    Ok(UdpSocket::from_std(socket.into())?)
}

/// The site's scopes in their validated form; a scope that does not convert is logged and left
/// out (the site validation makes that unlikely).
pub fn scopes(store: &Store) -> Result<(u64, Vec<Scope>), DhcpError> {
    let doc = store.export_site()?;
    let revision = store.revision()?;
    let mut scopes = Vec::new();
    for s in &doc.dhcp_scopes {
        match Scope::try_from(s) {
            Ok(scope) => scopes.push(scope),
            Err(e) => tracing::warn!(error = %e, "DHCP scope left out"),
        }
    }
    Ok((revision, scopes))
}

/// Runs the service until `token` is cancelled.
pub async fn run(service: Service, socket: Arc<UdpSocket>, token: CancellationToken) -> anyhow::Result<()> {
    let interface = service.ctx.interface.clone();
    loop {
        let (_, scopes) = scopes(&service.store)?;
        let authoritative = scopes.iter().any(|s| {
            s.authoritative && (s.interface.as_deref() == Some(&interface) || s.contains(service.ctx.server_ip))
        });
        service.shared.set(DhcpStatus::Probing { interface: interface.clone() });
        let rival = if service.probe_wait.is_zero() { None } else { probe(&service).await };
        match rival {
            Some(other) if !authoritative => {
                tracing::warn!(
                    %interface, other_server = %other,
                    "another DHCP server answers on this segment: not serving DHCP (set `authoritative = true` on the scope to serve anyway)"
                );
                service.shared.set(DhcpStatus::Refused {
                    interface: interface.clone(),
                    other_server: other,
                    seen_at: unix_now(),
                });
                tokio::select! {
                    () = token.cancelled() => return Ok(()),
                    () = tokio::time::sleep(REPROBE_EVERY) => continue,
                }
            }
            Some(other) => {
                tracing::warn!(%interface, other_server = %other, "another DHCP server answers on this segment; serving anyway (authoritative scope)");
            }
            None => {}
        }
        return serve(&service, &socket, token).await;
    }
}

/// Sends DISCOVERs from the box for `probe_wait` and listens for an OFFER from someone else.
/// Returns that server's identifier. A probe that cannot run (the client port is taken) is
/// logged and counts as "nobody else".
async fn probe(service: &Service) -> Option<Ipv4Addr> {
    let interface = &service.ctx.interface;
    let socket = match bind(interface, service.ctx.port.wrapping_add(1), true) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot probe for another DHCP server");
            return None;
        }
    };
    let xid = u32::from_be_bytes(crate::store::secrets::random_bytes::<4>().unwrap_or([1, 2, 3, 4]));
    let mut msg = Message::default();
    msg.set_xid(xid).set_chaddr(&service.mac).set_flags(Flags::default().set_broadcast());
    msg.opts_mut().insert(DhcpOption::MessageType(MessageType::Discover));
    msg.opts_mut().insert(DhcpOption::ClassIdentifier(b"outpost-probe".to_vec()));
    let Ok(bytes) = msg.to_vec() else { return None };
    let to = SocketAddrV4::new(Ipv4Addr::BROADCAST, service.ctx.port);
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + service.probe_wait;
    // Sent again every second: dnsmasq, for one, answers a first DISCOVER only after its ping
    // check of the address, and a retransmission right away.
    let mut resend = tokio::time::interval(PROBE_RESEND);
    loop {
        let received = tokio::select! {
            () = tokio::time::sleep_until(deadline) => return None,
            _ = resend.tick() => {
                if let Err(e) = socket.send_to(&bytes, to).await {
                    tracing::warn!(error = %e, "cannot send the DHCP probe");
                    return None;
                }
                continue;
            }
            r = socket.recv_from(&mut buf) => r,
        };
        let Ok((n, from)) = received else { continue };
        let Some(reply) = super::parse::decode_message(&buf[..n]) else { continue };
        if reply.xid() != xid || !reply.opts().has_msg_type(MessageType::Offer) {
            continue;
        }
        let id = match reply.opts().get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(id)) => *id,
            _ => match from {
                SocketAddr::V4(a) => *a.ip(),
                SocketAddr::V6(_) => continue,
            },
        };
        if id != service.ctx.server_ip {
            return Some(id);
        }
    }
}

async fn serve(service: &Service, socket: &UdpSocket, token: CancellationToken) -> anyhow::Result<()> {
    let store = &service.store;
    let (mut revision, scopes) = scopes(store)?;
    let leases = store.call(|s| s.leases()).await.context("cannot load DHCP leases")?;
    let mut server = Server::new(service.ctx.clone(), scopes, &leases);
    let names: Vec<String> = server.pools().iter().map(|p| p.scope.name.clone()).collect();
    service.shared.set(DhcpStatus::Serving {
        interface: service.ctx.interface.clone(),
        address: service.ctx.server_ip,
        scopes: names,
    });
    tracing::info!(interface = %service.ctx.interface, address = %service.ctx.server_ip, leases = leases.len(), "DHCP serving");
    let mut seen = Sightings::default();
    let mut reload = tokio::time::interval(RELOAD_EVERY);
    let mut gauge_at = 0;
    let mut buf = vec![0u8; 4096];
    loop {
        let first = tokio::select! {
            () = token.cancelled() => return Ok(()),
            _ = reload.tick() => {
                let current = store.call(|s| s.revision()).await?;
                if current != revision {
                    let (r, scopes) = self::scopes(store)?;
                    let leases = store.call(|s| s.leases()).await?;
                    server = Server::new(service.ctx.clone(), scopes, &leases);
                    revision = r;
                    tracing::info!(revision, "DHCP scopes reloaded");
                }
                continue;
            }
            r = socket.recv_from(&mut buf) => r,
        };
        let now = unix_now();
        let mut batch: Vec<Handled> = Vec::new();
        let mut next = Some(first);
        while let Some(received) = next.take() {
            match received {
                Ok((n, _from)) => {
                    let packet = &buf[..n];
                    // Our own probe, looped back by the kernel.
                    if packet.get(28..34) == Some(&service.mac[..]) {
                        continue;
                    }
                    batch.push(server.handle(now, packet));
                }
                Err(e) => tracing::debug!(error = %e, "DHCP receive failed"),
            }
            if batch.len() < BATCH {
                match socket.try_recv_from(&mut buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    other => next = Some(other),
                }
            }
        }
        commit_and_reply(service, socket, batch, &mut seen, now).await;
        if now != gauge_at {
            gauge_at = now;
            let live: usize = server.pools().iter().map(|p| p.live(now)).sum();
            service.metrics.set("outpost_dhcp_leases", &[], live as f64);
        }
    }
}

/// Persists a batch's changes and sightings in one transaction, then sends its replies. When the
/// write fails nothing is sent: the clients retry, and the log says why.
async fn commit_and_reply(service: &Service, socket: &UdpSocket, batch: Vec<Handled>, seen: &mut Sightings, now: i64) {
    if seen.second != now {
        seen.second = now;
        seen.written = 0;
    }
    let metrics = &service.metrics;
    let mut changes = Vec::new();
    let mut sightings = Vec::new();
    let mut replies = Vec::new();
    for handled in batch {
        if let Some(kind) = handled.kind {
            metrics.inc("outpost_dhcp_requests_total", &[("type", kind)]);
        }
        if let Some(reason) = handled.dropped {
            metrics.inc("outpost_dhcp_dropped_total", &[("reason", reason)]);
        }
        if let Some((mac, vendor)) = handled.seen {
            let due = seen.recorded.get(&mac).is_none_or(|at| now - at >= SEEN_AGAIN_AFTER);
            if due && seen.written < SIGHTINGS_PER_SECOND {
                if seen.recorded.len() > 100_000 {
                    seen.recorded.clear();
                }
                seen.recorded.insert(mac.clone(), now);
                seen.written += 1;
                sightings.push((mac, vendor.map_or("", |v| v.as_str())));
            }
        }
        changes.extend(handled.changes);
        replies.extend(handled.reply);
    }
    if !changes.is_empty() || !sightings.is_empty() {
        let written = service
            .store
            .call(move |s| {
                s.apply_lease_changes(&changes)?;
                for (mac, vendor) in &sightings {
                    s.record_seen(mac, vendor, "", "dhcp")?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = written {
            tracing::error!(error = %e, replies = replies.len(), "cannot persist DHCP leases; replies not sent");
            metrics.add("outpost_dhcp_dropped_total", &[("reason", "store_failed")], replies.len() as f64);
            return;
        }
    }
    for reply in replies {
        match socket.send_to(&reply.bytes, reply.to).await {
            Ok(_) => metrics.inc("outpost_dhcp_replies_total", &[("type", reply.kind)]),
            Err(e) => {
                tracing::debug!(error = %e, to = %reply.to, "DHCP send failed");
                metrics.inc("outpost_dhcp_dropped_total", &[("reason", "send_failed")]);
            }
        }
    }
}

#[cfg(test)]
mod site_interface_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_first_scope_naming_an_interface_this_host_has_chooses_it() {
        let sys = tempfile::tempdir().unwrap();
        std::fs::create_dir(sys.path().join("eth1")).unwrap();
        let doc: crate::site::SiteDoc = serde_json::from_value(serde_json::json!({"schema": 1, "dhcp_scopes": [
            {"name": "relayed", "interface": "10.9.0.0/24", "network": "10.9.0.0/24", "range_start": "10.9.0.10", "range_end": "10.9.0.20"},
            {"name": "gone", "interface": "eth7", "network": "10.8.0.0/24", "range_start": "10.8.0.10", "range_end": "10.8.0.20"},
            {"name": "lan", "interface": "eth1", "network": "10.7.0.0/24", "range_start": "10.7.0.10", "range_end": "10.7.0.20"}
        ]}))
        .unwrap();
        assert_eq!(interface_from_site(&doc, sys.path()), Some("eth1".to_owned()));
        assert_eq!(interface_from_site(&crate::site::SiteDoc::default(), sys.path()), None);
    }
}
