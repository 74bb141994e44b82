//! A trunk's addresses, per RFC 3263 §4: an IP literal is itself; a name with a port has its
//! A records; a name without a port has the SRV records of `_sip._udp`, `_sip._tcp` or
//! `_sips._tcp` (by transport), each target's A records in SRV order, and without SRV records
//! its A records on the default port (5060, 5061 for TLS). An SRV query the server fails
//! (SERVFAIL, REFUSED) counts as "no SRV records"; one nobody answers fails the lookup.
//!
//! SRV order is deterministic: priority ascending, then weight descending, then target name.
//! RFC 2782's weighted random pick spreads many clients over the servers of a priority; one
//! box gains nothing from that and loses a stable "current target", so it takes the heaviest
//! first (weight 0, "almost never", ends up last). Only A records are asked for: the box
//! lives on an IPv4 LAN (AAAA answers in the additional section are used if present).
//!
//! The pure part (`literal`, `order`, `select`, `parse_resolv_conf`) is separate from the
//! tokio driver (`lookup`): one UDP query per name and server, 2 s per server, servers in
//! turn. A truncated answer is used as far as it goes (SIP SRV sets fit in 512 bytes).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

use super::dns::{self, DnsError, Message, RData, Record};
use crate::sip::message::Transport;

/// How long one server has to answer one query.
pub const SERVER_TIMEOUT: Duration = Duration::from_secs(2);

/// What to resolve for one trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub host: String,
    pub port: Option<u16>,
    pub transport: Transport,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("no DNS server configured")]
    NoNameservers,
    #[error("no DNS server answered within {0:?}")]
    Timeout(Duration),
    #[error("DNS server answered rcode {0}")]
    Server(u8),
    #[error("`{0}` has no address")]
    NotFound(String),
    #[error("bad DNS message: {0}")]
    Dns(#[from] DnsError),
    #[error("DNS socket: {0}")]
    Io(String),
}

pub fn default_port(transport: Transport) -> u16 {
    match transport {
        Transport::Tls => 5061,
        Transport::Udp | Transport::Tcp => 5060,
    }
}

/// An IP literal host (`192.0.2.1`, `::1`, `[::1]`) as the one address to use.
pub fn literal(host: &str, port: Option<u16>, transport: Transport) -> Option<SocketAddr> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let ip: IpAddr = bare.parse().ok()?;
    Some(SocketAddr::new(ip, port.unwrap_or_else(|| default_port(transport))))
}

/// The SRV name for a transport (RFC 3263 §4.1).
pub fn srv_name(host: &str, transport: Transport) -> String {
    let host = host.trim_end_matches('.');
    match transport {
        Transport::Udp => format!("_sip._udp.{host}"),
        Transport::Tcp => format!("_sip._tcp.{host}"),
        Transport::Tls => format!("_sips._tcp.{host}"),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// The SRV records of an answer, in the order they are tried (see the module doc). A target
/// of `.` means "no such service here" (RFC 2782) and is dropped.
pub fn order(answer: &Message) -> Vec<Srv> {
    let mut srv: Vec<Srv> = answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::Srv { priority, weight, port, target } if target != "." => {
                Some(Srv { priority: *priority, weight: *weight, port: *port, target: target.clone() })
            }
            _ => None,
        })
        .collect();
    srv.sort_by(|a, b| a.priority.cmp(&b.priority).then(b.weight.cmp(&a.weight)).then_with(|| a.target.cmp(&b.target)));
    srv
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.').eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// The addresses of `name` among `records`, following CNAMEs (a few steps at most).
pub fn addresses(records: &[Record], name: &str) -> Vec<IpAddr> {
    let mut name = name.to_owned();
    for _ in 0..8 {
        let ips: Vec<IpAddr> = records
            .iter()
            .filter(|r| same_name(&r.name, &name))
            .filter_map(|r| match r.data {
                RData::A(ip) => Some(IpAddr::V4(ip)),
                RData::Aaaa(ip) => Some(IpAddr::V6(ip)),
                _ => None,
            })
            .collect();
        if !ips.is_empty() {
            return ips;
        }
        let alias = records.iter().find_map(|r| match &r.data {
            RData::Cname(to) if same_name(&r.name, &name) => Some(to.clone()),
            _ => None,
        });
        match alias {
            Some(to) => name = to,
            None => break,
        }
    }
    Vec::new()
}

/// Targets in order: each SRV record's addresses (from `addrs`) on its port, no duplicates.
pub fn select(srv: &[Srv], mut addrs: impl FnMut(&str) -> Vec<IpAddr>) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for s in srv {
        for ip in addrs(&s.target) {
            let a = SocketAddr::new(ip, s.port);
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

/// `nameserver` lines of a resolv.conf, on port 53 (zone ids and junk are skipped).
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let line = line.split(['#', ';']).next()?;
            let mut words = line.split_whitespace();
            (words.next()? == "nameserver").then_some(())?;
            let ip: IpAddr = words.next()?.parse().ok()?;
            Some(SocketAddr::new(ip, 53))
        })
        .collect()
}

/// The system's DNS servers; without any, the local one (as the C library does).
pub fn system_nameservers() -> Vec<SocketAddr> {
    let found = std::fs::read_to_string("/etc/resolv.conf").map(|t| parse_resolv_conf(&t)).unwrap_or_default();
    if found.is_empty() {
        vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53)]
    } else {
        found
    }
}

// ---- the driver ----

/// A trunk's targets in the order to try them. `Err(NotFound)` means DNS says there is no
/// address (the trunk is unresolvable); other errors mean DNS could not be asked, and a
/// driver should keep the targets it had.
pub async fn lookup(
    host: &str,
    port: Option<u16>,
    transport: Transport,
    nameservers: &[SocketAddr],
) -> Result<Vec<SocketAddr>, ResolveError> {
    if let Some(addr) = literal(host, port, transport) {
        return Ok(vec![addr]);
    }
    let found = match port {
        Some(port) => a_lookup(host, nameservers).await?.into_iter().map(|ip| SocketAddr::new(ip, port)).collect(),
        None => {
            let answer = match ask(&srv_name(host, transport), dns::TYPE_SRV, nameservers).await {
                Ok(m) => m,
                // Some resolvers (and middleboxes) fail SRV queries they do not understand
                // while answering A: treat that as "no SRV records".
                Err(ResolveError::Server(_)) => Message::default(),
                Err(e) => return Err(e),
            };
            let srv = order(&answer);
            if srv.is_empty() {
                let port = default_port(transport);
                a_lookup(host, nameservers).await?.into_iter().map(|ip| SocketAddr::new(ip, port)).collect()
            } else {
                let mut ips = Vec::new();
                for s in &srv {
                    let mut found = addresses(&answer.additional, &s.target);
                    if found.is_empty() {
                        // Not in the additional section: ask. One target failing is no reason
                        // to lose the others.
                        found = a_lookup(&s.target, nameservers).await.unwrap_or_default();
                    }
                    ips.push((s.target.clone(), found));
                }
                select(&srv, |t| ips.iter().find(|(n, _)| n == t).map(|(_, f)| f.clone()).unwrap_or_default())
            }
        }
    };
    if found.is_empty() {
        return Err(ResolveError::NotFound(host.to_owned()));
    }
    tracing::debug!(host, ?found, "trunk host resolved");
    Ok(found)
}

async fn a_lookup(host: &str, nameservers: &[SocketAddr]) -> Result<Vec<IpAddr>, ResolveError> {
    let answer = ask(host, dns::TYPE_A, nameservers).await?;
    Ok(addresses(&answer.answers, host))
}

/// The answer of the first server that gives one (NXDOMAIN is an answer).
async fn ask(name: &str, qtype: u16, nameservers: &[SocketAddr]) -> Result<Message, ResolveError> {
    let mut last = ResolveError::NoNameservers;
    for &server in nameservers {
        match ask_one(name, qtype, server).await {
            Ok(m) if matches!(m.rcode(), dns::RCODE_NOERROR | dns::RCODE_NXDOMAIN) => return Ok(m),
            Ok(m) => last = ResolveError::Server(m.rcode()),
            Err(e) => last = e,
        }
        tracing::debug!(name, %server, error = %last, "DNS server did not answer");
    }
    Err(last)
}

fn query_id() -> u16 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 2];
    // Unpredictable ids make off-path spoofing harder; a failed RNG still leaves the random
    // source port.
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    u16::from_be_bytes(b)
}

async fn ask_one(name: &str, qtype: u16, server: SocketAddr) -> Result<Message, ResolveError> {
    let io = |e: std::io::Error| ResolveError::Io(e.to_string());
    let id = query_id();
    let q = dns::query(id, name, qtype)?;
    let bind: SocketAddr = if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let sock = UdpSocket::bind(bind).await.map_err(io)?;
    // Connected: datagrams from anyone but the server are dropped by the kernel.
    sock.connect(server).await.map_err(io)?;
    sock.send(&q).await.map_err(io)?;
    let wait = async {
        let mut buf = vec![0u8; 4096];
        loop {
            let n = sock.recv(&mut buf).await.map_err(io)?;
            let Some(bytes) = buf.get(..n) else { continue };
            let Ok(m) = dns::parse(bytes) else { continue };
            let ours = m.id == id
                && m.is_response()
                && m.questions.first().is_some_and(|q| same_name(&q.name, name) && q.qtype == qtype);
            if ours {
                return Ok(m);
            }
        }
    };
    tokio::time::timeout(SERVER_TIMEOUT, wait).await.map_err(|_| ResolveError::Timeout(SERVER_TIMEOUT))?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::trunk::dns::CLASS_IN;

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Record {
        Record {
            name: "_sip._udp.pbx.test".into(),
            rtype: dns::TYPE_SRV,
            class: CLASS_IN,
            ttl: 60,
            data: RData::Srv { priority, weight, port, target: target.into() },
        }
    }

    fn a(name: &str, ip: [u8; 4]) -> Record {
        Record { name: name.into(), rtype: dns::TYPE_A, class: CLASS_IN, ttl: 60, data: RData::A(ip.into()) }
    }

    #[test]
    fn srv_order_is_priority_then_heaviest_first() {
        let m = Message {
            answers: vec![
                srv(20, 100, 5060, "d.test"),
                srv(10, 0, 5060, "c.test"),
                srv(10, 60, 5062, "b.test"),
                srv(10, 60, 5061, "a.test"),
                srv(5, 0, 0, "."),
            ],
            ..Message::default()
        };
        let names: Vec<String> = order(&m).into_iter().map(|s| s.target).collect();
        assert_eq!(names, ["a.test", "b.test", "c.test", "d.test"]);
        let targets = select(&order(&m), |t| match t {
            "a.test" => vec![[10, 0, 0, 1].into(), [10, 0, 0, 2].into()],
            "b.test" => vec![],
            _ => vec![[10, 0, 0, 3].into()],
        });
        let want: Vec<SocketAddr> =
            ["10.0.0.1:5061", "10.0.0.2:5061", "10.0.0.3:5060"].iter().map(|s| s.parse().unwrap()).collect();
        assert_eq!(targets, want, "c and d share an address: listed once");
    }

    #[test]
    fn addresses_follow_cnames_and_ignore_others() {
        let cname = Record {
            name: "sip.carrier.test".into(),
            rtype: dns::TYPE_CNAME,
            class: CLASS_IN,
            ttl: 60,
            data: RData::Cname("edge.carrier.test".into()),
        };
        let recs = vec![cname, a("EDGE.carrier.test.", [192, 0, 2, 7]), a("other.test", [192, 0, 2, 9])];
        assert_eq!(addresses(&recs, "sip.carrier.test"), [IpAddr::from([192, 0, 2, 7])]);
        assert!(addresses(&recs, "nothing.test").is_empty());
    }

    #[test]
    fn literals_srv_names_and_resolv_conf() {
        assert_eq!(literal("192.0.2.1", None, Transport::Udp), Some("192.0.2.1:5060".parse().unwrap()));
        assert_eq!(literal("[::1]", None, Transport::Tls), Some("[::1]:5061".parse().unwrap()));
        assert_eq!(literal("::1", Some(5080), Transport::Tcp), Some("[::1]:5080".parse().unwrap()));
        assert_eq!(literal("pbx.test", None, Transport::Udp), None);
        assert_eq!(srv_name("pbx.test.", Transport::Tls), "_sips._tcp.pbx.test");
        assert_eq!(srv_name("pbx.test", Transport::Tcp), "_sip._tcp.pbx.test");
        let conf = "# generated\nsearch lan\nnameserver 192.168.1.1 # router\nnameserver fe80::1%eth0\n\
                    nameserver ::1\n  nameserver   10.0.0.53\noptions ndots:1\nnameserver\n;nameserver 9.9.9.9\n";
        let want: Vec<SocketAddr> =
            ["192.168.1.1:53", "[::1]:53", "10.0.0.53:53"].iter().map(|s| s.parse().unwrap()).collect();
        assert_eq!(parse_resolv_conf(conf), want);
        assert!(!system_nameservers().is_empty());
    }

    /// A DNS server on loopback that answers from a table, NXDOMAIN for the rest.
    async fn fake_server(table: Vec<(String, Vec<Record>, Vec<Record>)>) -> SocketAddr {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 600];
            loop {
                let Ok((n, from)) = sock.recv_from(&mut buf).await else { return };
                let q = dns::parse(&buf[..n]).unwrap();
                let name = q.questions[0].name.clone();
                let hit = table.iter().find(|(n, _, _)| same_name(n, &name));
                let mut m = Message { id: q.id, flags: 0x8180, questions: q.questions.clone(), ..Message::default() };
                match hit {
                    Some((_, ans, add)) => {
                        m.answers.clone_from(ans);
                        m.additional.clone_from(add);
                    }
                    None => m.flags |= u16::from(dns::RCODE_NXDOMAIN),
                }
                let _ = sock.send_to(&dns::encode(&m).unwrap(), from).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn lookup_follows_rfc3263_against_a_loopback_server() {
        let table = vec![
            (
                "_sip._udp.pbx.test".to_owned(),
                vec![srv(10, 50, 5070, "a.pbx.test"), srv(20, 10, 5080, "b.pbx.test")],
                vec![a("a.pbx.test", [127, 0, 0, 5])],
            ),
            ("b.pbx.test".to_owned(), vec![a("b.pbx.test", [127, 0, 0, 6])], vec![]),
            ("plain.test".to_owned(), vec![a("plain.test", [127, 0, 0, 7])], vec![]),
            (
                "_sip._udp.gone.test".to_owned(),
                vec![Record { name: "_sip._udp.gone.test".into(), ..srv(0, 0, 0, ".") }],
                vec![],
            ),
        ];
        let server = fake_server(table).await;
        let ns = [server];
        let got = lookup("pbx.test", None, Transport::Udp, &ns).await.unwrap();
        assert_eq!(got, ["127.0.0.5:5070".parse().unwrap(), "127.0.0.6:5080".parse().unwrap()]);
        let got = lookup("plain.test", None, Transport::Udp, &ns).await.unwrap();
        assert_eq!(got, ["127.0.0.7:5060".parse::<SocketAddr>().unwrap()], "no SRV: A on the default port");
        let got = lookup("pbx.test", Some(5090), Transport::Udp, &ns).await;
        assert_eq!(got, Err(ResolveError::NotFound("pbx.test".into())), "a port: only A records of the name");
        let got = lookup("b.pbx.test", Some(5090), Transport::Tcp, &ns).await.unwrap();
        assert_eq!(got, ["127.0.0.6:5090".parse::<SocketAddr>().unwrap()]);
        let got = lookup("nowhere.test", None, Transport::Tls, &ns).await;
        assert_eq!(got, Err(ResolveError::NotFound("nowhere.test".into())));
        let got = lookup("10.1.1.1", None, Transport::Tls, &[]).await.unwrap();
        assert_eq!(got, ["10.1.1.1:5061".parse::<SocketAddr>().unwrap()]);
        assert_eq!(lookup("x.test", None, Transport::Udp, &[]).await, Err(ResolveError::NoNameservers));
    }

    #[tokio::test]
    async fn a_silent_server_times_out_and_the_next_one_answers() {
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server = fake_server(vec![("plain.test".to_owned(), vec![a("plain.test", [127, 0, 0, 7])], vec![])]).await;
        let ns = [silent.local_addr().unwrap(), server];
        let got = lookup("plain.test", Some(5060), Transport::Udp, &ns).await.unwrap();
        assert_eq!(got, ["127.0.0.7:5060".parse::<SocketAddr>().unwrap()]);
        let got = lookup("plain.test", Some(5060), Transport::Udp, &ns[..1]).await;
        assert_eq!(got, Err(ResolveError::Timeout(SERVER_TIMEOUT)));
    }

    /// Against a real dnsmasq on loopback; skipped (passes) where dnsmasq is not installed.
    #[tokio::test]
    async fn lookup_against_dnsmasq() {
        let Some(bin) =
            ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"].into_iter().find(|p| std::path::Path::new(p).exists())
        else {
            eprintln!("dnsmasq not installed: skipped");
            return;
        };
        let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = match tokio::process::Command::new(bin)
            .args([
                "--no-daemon",
                &format!("--port={port}"),
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
                "--pid-file=",
                "--user=",
                "--local=/test/",
                "--srv-host=_sip._udp.pbx.test,a.pbx.test,5070,10,50",
                "--srv-host=_sip._udp.pbx.test,b.pbx.test,5080,20,10",
                "--host-record=a.pbx.test,127.0.0.5",
                "--host-record=b.pbx.test,127.0.0.6",
                "--host-record=plain.test,127.0.0.7",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("dnsmasq did not start ({e}): skipped");
                return;
            }
        };
        let ns = [SocketAddr::from(([127, 0, 0, 1], port))];
        let mut got = Err(ResolveError::NoNameservers);
        for _ in 0..50 {
            got = lookup("pbx.test", None, Transport::Udp, &ns).await;
            if got.is_ok() {
                break;
            }
            if child.try_wait().ok().flatten().is_some() {
                eprintln!("dnsmasq exited (port taken, or not allowed here): skipped");
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(got.unwrap(), ["127.0.0.5:5070".parse().unwrap(), "127.0.0.6:5080".parse().unwrap()]);
        let got = lookup("plain.test", None, Transport::Udp, &ns).await.unwrap();
        assert_eq!(got, ["127.0.0.7:5060".parse::<SocketAddr>().unwrap()]);
        let got = lookup("a.pbx.test", Some(5099), Transport::Udp, &ns).await.unwrap();
        assert_eq!(got, ["127.0.0.5:5099".parse::<SocketAddr>().unwrap()]);
        let _ = child.kill().await;
    }
}
