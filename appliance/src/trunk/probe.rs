//! One OPTIONS probe in flight: the request (own branch and Call-ID, `From:
//! sip:outpost@<box>`), its UDP retransmissions (RFC 3261 timer E: 500 ms doubling to 4 s,
//! within the probe timeout) and matching its response by branch.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::sip::b2bua::dialog::{Dest, Head, Request};
use crate::sip::b2bua::Outgoing;
use crate::sip::message::Transport;

pub(crate) const T1: Duration = Duration::from_millis(500);
pub(crate) const T2: Duration = Duration::from_secs(4);

/// The identifiers of one request, fresh per probe.
pub struct Ids {
    pub branch: String,
    pub call_id: String,
    pub tag: String,
}

/// The Via of a request we send from `me` (RFC 3581 `rport` asked for).
pub fn via(transport: Transport, me: SocketAddr, branch: &str) -> String {
    let t = match transport {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
        Transport::Tls => "TLS",
    };
    format!("SIP/2.0/{t} {me};branch={branch};rport")
}

/// An OPTIONS request to `domain` (the trunk's), sent to `dest`.
pub fn options(me: SocketAddr, dest: Dest, domain: &str, ids: &Ids) -> Vec<u8> {
    let uri = format!("sip:{domain}");
    let from = format!("<sip:outpost@{me}>;tag={}", ids.tag);
    let to = format!("<{uri}>");
    Request {
        method: "OPTIONS",
        uri: &uri,
        via: via(dest.transport, me, &ids.branch),
        from: &from,
        to: &to,
        call_id: &ids.call_id,
        cseq: 1,
        contact: None,
        extra: vec![("Accept", "application/sdp".into())],
        body: b"",
        content_type: None,
    }
    .bytes()
}

#[derive(Debug, Clone)]
pub struct Probe {
    pub branch: String,
    pub dest: Dest,
    pub sent_at: Instant,
    pub timeout_at: Instant,
    /// The next retransmission and the interval after it (UDP only).
    retx: Option<(Instant, Duration)>,
    bytes: Vec<u8>,
}

impl Probe {
    /// A probe sent now; the `Outgoing` is its first transmission.
    pub fn start(
        now: Instant,
        me: SocketAddr,
        dest: Dest,
        domain: &str,
        ids: &Ids,
        timeout: Duration,
    ) -> (Probe, Outgoing) {
        let bytes = options(me, dest, domain, ids);
        let retx = (dest.transport == Transport::Udp).then_some((now + T1, T1 * 2));
        let probe = Probe {
            branch: ids.branch.clone(),
            dest,
            sent_at: now,
            timeout_at: now + timeout,
            retx,
            bytes: bytes.clone(),
        };
        (probe, Outgoing { to: dest, bytes })
    }

    /// A retransmission, when one is due.
    pub fn retransmit(&mut self, now: Instant) -> Option<Outgoing> {
        let (at, next) = self.retx?;
        if now < at || now >= self.timeout_at {
            return None;
        }
        self.retx = Some((now + next, (next * 2).min(T2)));
        Some(Outgoing { to: self.dest, bytes: self.bytes.clone() })
    }

    pub fn timed_out(&self, now: Instant) -> bool {
        now >= self.timeout_at
    }

    pub fn deadline(&self) -> Instant {
        match self.retx {
            Some((at, _)) if at < self.timeout_at => at,
            _ => self.timeout_at,
        }
    }

    /// Whether `head` (a response) answers this probe.
    pub fn matches(&self, head: &Head<'_>) -> bool {
        head.top_branch() == Some(self.branch.as_str()) && head.cseq().is_some_and(|(_, m)| m == "OPTIONS")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_probe_is_a_valid_options_retransmitted_within_its_timeout() {
        let me: SocketAddr = "192.168.10.2:5060".parse().unwrap();
        let dest = Dest { transport: Transport::Udp, addr: "198.51.100.7:5060".parse().unwrap() };
        let ids = Ids { branch: "z9hG4bKp1".into(), call_id: "c1".into(), tag: "t1".into() };
        let t0 = Instant::now();
        let (mut p, out) = Probe::start(t0, me, dest, "sip.carrier.test", &ids, Duration::from_secs(2));
        let req = rsip::Request::try_from(out.bytes.as_slice()).unwrap();
        assert_eq!(req.method, rsip::Method::Options);
        let text = String::from_utf8(out.bytes.clone()).unwrap();
        assert!(text.starts_with("OPTIONS sip:sip.carrier.test SIP/2.0\r\n"), "{text}");
        assert!(text.contains("Max-Forwards: 70\r\n") && text.contains("From: <sip:outpost@192.168.10.2:5060>;tag=t1"));
        let sent: Vec<u64> = (0..40)
            .map(|i| t0 + Duration::from_millis(i * 100))
            .filter_map(|t| p.retransmit(t).map(|_| t.duration_since(t0).as_millis() as u64))
            .collect();
        assert_eq!(sent, [500, 1500], "then the 2 s timeout comes first");
        assert!(p.timed_out(t0 + Duration::from_secs(2)));
        let resp = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.168.10.2:5060;branch=z9hG4bKp1;rport=5060\r\nCSeq: 1 OPTIONS\r\n\r\n"
            .to_owned();
        assert!(p.matches(&Head::parse(resp.as_bytes()).unwrap()));
        let other = resp.replace("z9hG4bKp1", "z9hG4bKp2");
        assert!(!p.matches(&Head::parse(other.as_bytes()).unwrap()));
        let tcp = Dest { transport: Transport::Tcp, ..dest };
        let (mut p, _) = Probe::start(t0, me, tcp, "x", &ids, Duration::from_secs(2));
        assert!(p.retransmit(t0 + Duration::from_secs(1)).is_none(), "no retransmissions on TCP");
        assert_eq!(p.deadline(), t0 + Duration::from_secs(2));
    }
}
