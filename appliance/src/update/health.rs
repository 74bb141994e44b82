//! Is the box healthy? The same probes decide three things: when the daemon tells systemd it
//! is ready, whether it pets the watchdog, and whether a fresh slot is marked good.
//!
//! Healthy = SIP answers OPTIONS with 200 on its UDP port and the API port accepts a TCP
//! connection. Both listeners are bound only after the store has been opened and migrated
//! (`daemon::run`), so they also say "store opened". The probes go through the real sockets
//! from outside the daemon's tasks, so a wedged runtime fails them too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crate::config::Config;

/// What to probe.
#[derive(Clone, Debug)]
pub struct Probes {
    pub sip_udp: Option<SocketAddr>,
    pub api: SocketAddr,
    pub timeout: Duration,
}

impl Probes {
    /// The daemon's own listeners, reached over loopback when they listen on all addresses.
    pub fn of(config: &Config) -> Self {
        Self { sip_udp: config.sip.udp.map(loopback), api: loopback(config.api), timeout: Duration::from_secs(2) }
    }

    /// Runs every probe; `Err` says which failed and why.
    pub fn check(&self) -> Result<(), String> {
        if let Some(sip) = self.sip_udp {
            match sip_options(sip, self.timeout) {
                Ok(200) => {}
                Ok(code) => return Err(format!("SIP OPTIONS to {sip} answered {code}")),
                Err(e) => return Err(format!("SIP OPTIONS to {sip}: {e}")),
            }
        }
        TcpStream::connect_timeout(&self.api, self.timeout).map_err(|e| format!("API {}: {e}", self.api))?;
        Ok(())
    }

    /// Probes until healthy or `deadline`; the last failure when it never was.
    pub fn wait(&self, deadline: Instant) -> Result<(), String> {
        loop {
            let result = self.check();
            if result.is_ok() || Instant::now() >= deadline {
                return result;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// `0.0.0.0:p` → `127.0.0.1:p` (and `[::]` → `[::1]`): where a local probe reaches it.
fn loopback(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port()),
        _ => addr,
    }
}

/// The OPTIONS request of a probe from `local` to `target`.
pub fn options_request(local: SocketAddr, target: SocketAddr, nonce: u64) -> String {
    format!(
        "OPTIONS sip:{target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-health-{nonce:x}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:health@{local}>;tag=h{nonce:x}\r\nTo: <sip:{target}>\r\n\
         Call-ID: health-{nonce:x}@{local}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

/// The status code of a SIP response (`SIP/2.0 200 OK` → 200).
pub fn status_code(response: &[u8]) -> Option<u16> {
    let line = response.split(|b| *b == b'\r' || *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    (words.next()? == "SIP/2.0").then_some(())?;
    words.next()?.parse().ok()
}

/// Sends an OPTIONS and returns the final response's status code (provisional ones skipped).
///
/// The socket is connected, so a port nobody listens on yet fails at once (ICMP port
/// unreachable) instead of after `timeout`; and the request is sent again every 250 ms, as a
/// SIP client would over UDP, so one datagram lost or unread during start-up costs a
/// retransmission, not the whole timeout. Both made the box's first boot seconds slower.
pub fn sip_options(target: SocketAddr, timeout: Duration) -> std::io::Result<u16> {
    const RESEND: Duration = Duration::from_millis(250);
    let bind: SocketAddr =
        if target.is_ipv4() { (Ipv4Addr::LOCALHOST, 0).into() } else { (Ipv6Addr::LOCALHOST, 0).into() };
    let sock = UdpSocket::bind(bind)?;
    sock.connect(target)?;
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let request = options_request(sock.local_addr()?, target, nonce);
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + timeout;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        sock.send(request.as_bytes())?;
        let resend_at = (now + RESEND).min(deadline);
        // Answers (a 100 Trying first, say) until it is time to send again.
        loop {
            let wait = resend_at.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                break;
            }
            sock.set_read_timeout(Some(wait))?;
            match sock.recv(&mut buf) {
                Ok(n) => match status_code(&buf[..n]) {
                    Some(code) if code >= 200 => return Ok(code),
                    _ => {}
                },
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break,
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        assert_eq!(status_code(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n"), Some(200));
        assert_eq!(status_code(b"SIP/2.0 100 Trying\r\n"), Some(100));
        assert_eq!(status_code(b"OPTIONS sip:x SIP/2.0\r\n"), None);
        assert_eq!(status_code(b""), None);
    }

    #[test]
    fn the_request_is_well_formed() {
        let req = options_request("127.0.0.1:40000".parse().unwrap(), "127.0.0.1:5060".parse().unwrap(), 255);
        assert!(req.starts_with("OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\n"));
        assert!(req.contains("branch=z9hG4bK-health-ff\r\n") && req.ends_with("Content-Length: 0\r\n\r\n"));
        assert_eq!(loopback("0.0.0.0:5060".parse().unwrap()), "127.0.0.1:5060".parse().unwrap());
    }

    #[test]
    fn a_lost_request_is_sent_again_and_a_closed_port_fails_at_once() {
        // A server that ignores the first OPTIONS (as a socket not read yet would) and answers
        // the second with a 100 then a 200.
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap();
        let answering = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let (_, _) = server.recv_from(&mut buf).unwrap();
            let (_, from) = server.recv_from(&mut buf).unwrap();
            server.send_to(b"SIP/2.0 100 Trying\r\n\r\n", from).unwrap();
            server.send_to(b"SIP/2.0 200 OK\r\n\r\n", from).unwrap();
        });
        assert_eq!(sip_options(target, Duration::from_secs(10)).unwrap(), 200);
        answering.join().unwrap();

        let closed = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let err = sip_options(closed, Duration::from_secs(10)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    }
}
