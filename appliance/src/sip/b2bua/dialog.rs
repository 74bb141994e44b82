//! The B2BUA's message handling on either side: reading the few headers it needs from raw
//! bytes (requests and responses alike, compact forms included), and writing the requests and
//! responses of its own dialogs. Each side gets the B2BUA's own identifiers: a new Call-ID and
//! tags towards B, our To tag towards A, and the box as Contact on both.

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::sip::message::{split_list, ReplyBase, Transport};

/// Where a message goes: an address, over the transport a phone registered (or called) on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dest {
    pub transport: Transport,
    pub addr: SocketAddr,
}

impl Dest {
    /// Reads a binding's `source` (`udp:192.168.10.50:5062`).
    pub fn parse(source: &str) -> Option<Dest> {
        let (transport, addr) = source.split_once(':')?;
        let transport = match transport {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            _ => return None,
        };
        Some(Dest { transport, addr: addr.parse().ok()? })
    }

    pub fn via_transport(self) -> &'static str {
        match self.transport {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }
}

/// The head of a SIP message: start line and headers, unparsed values.
pub struct Head<'a> {
    pub start: &'a str,
    lines: Vec<(&'a str, &'a str)>,
    pub body: &'a [u8],
}

fn long_name(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    match lower.as_str() {
        "v" => "via",
        "f" => "from",
        "t" => "to",
        "i" => "call-id",
        "m" => "contact",
        "l" => "content-length",
        "c" => "content-type",
        "k" => "supported",
        _ => return lower,
    }
    .to_owned()
}

impl<'a> Head<'a> {
    pub fn parse(bytes: &'a [u8]) -> Option<Head<'a>> {
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&bytes[..end]).ok()?;
        let mut it = head.split("\r\n");
        let start = it.next()?;
        let mut lines: Vec<(&str, &str)> = Vec::new();
        for line in it {
            if line.starts_with([' ', '\t']) {
                continue; // folded lines are obsolete; the B2BUA does not need them
            }
            let (name, value) = line.split_once(':')?;
            lines.push((name, value.trim()));
        }
        Some(Head { start, lines, body: &bytes[end + 4..] })
    }

    /// Every value of a header, comma-separated lists split.
    pub fn all(&self, name: &str) -> Vec<&'a str> {
        self.lines.iter().filter(|(n, _)| long_name(n) == name).flat_map(|(_, v)| split_list(v)).collect()
    }

    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.lines.iter().find(|(n, _)| long_name(n) == name).map(|(_, v)| *v)
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        self.start.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, &'a str)> {
        let mut it = self.get("cseq")?.split_whitespace();
        Some((it.next()?.parse().ok()?, it.next()?))
    }

    pub fn top_branch(&self) -> Option<&'a str> {
        let via = *self.all("via").first()?;
        param(via, "branch")
    }
}

/// A `;name=value` parameter of a header value (outside its `<uri>`).
pub fn param<'v>(value: &'v str, name: &str) -> Option<&'v str> {
    let tail = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value,
    };
    tail.split(';').skip(usize::from(!value.contains('>'))).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// The URI inside a name-addr (`"A" <sip:101@h>;tag=x` gives `sip:101@h`) or an addr-spec.
pub fn uri_of(value: &str) -> &str {
    match value.find('<') {
        Some(start) => value[start + 1..].split('>').next().unwrap_or_default(),
        None => value.split(';').next().unwrap_or_default(),
    }
    .trim()
}

/// The user part of a SIP URI (`sip:101@h;x` gives `101`).
pub fn user_of(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix("sips:").or_else(|| uri.strip_prefix("sip:"))?;
    let (user, _) = rest.split_once('@')?;
    user.split(';').next()
}

/// The host part of a SIP URI, without port.
pub fn host_of(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix("sips:").or_else(|| uri.strip_prefix("sip:"))?;
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = host.split([';', '?']).next()?;
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next();
    }
    host.split(':').next()
}

/// Headers a mid-call request or its answer carries end to end through the box: what
/// Session-Timers (RFC 4028) need for a refresh to mean the same on the other side.
pub fn end_to_end(head: &Head<'_>) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (name, wire) in [
        ("session-expires", "Session-Expires"),
        ("min-se", "Min-SE"),
        ("supported", "Supported"),
        ("require", "Require"),
    ] {
        if let Some(v) = head.get(name) {
            out.push((wire, v.to_owned()));
        }
    }
    out
}

/// An INVITE's transaction key for the server side: branch and sent-by of the top Via. CANCEL
/// and the ACK of a non-2xx carry the same, so they find the INVITE's transaction.
pub fn server_key(head: &Head<'_>) -> Option<String> {
    let via = *head.all("via").first()?;
    let sent_by = via.split(';').next()?.split_whitespace().nth(1)?;
    let branch = param(via, "branch")?;
    Some(format!("{branch}|{sent_by}"))
}

/// A request of one of our dialogs (or transactions), written out.
pub struct Request<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub via: String,
    pub from: &'a str,
    pub to: &'a str,
    pub call_id: &'a str,
    pub cseq: u32,
    pub contact: Option<&'a str>,
    pub extra: Vec<(&'static str, String)>,
    pub body: &'a [u8],
    pub content_type: Option<&'a str>,
}

impl Request<'_> {
    pub fn bytes(&self) -> Vec<u8> {
        let mut s = format!("{} {} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\n", self.method, self.uri, self.via);
        let _ = write!(
            s,
            "From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} {}\r\n",
            self.from, self.to, self.call_id, self.cseq, self.method
        );
        if let Some(contact) = self.contact {
            let _ = write!(s, "Contact: {contact}\r\n");
        }
        for (name, value) in &self.extra {
            let _ = write!(s, "{name}: {value}\r\n");
        }
        finish(s, self.body, self.content_type)
    }
}

fn finish(mut s: String, body: &[u8], content_type: Option<&str>) -> Vec<u8> {
    s.push_str(concat!("User-Agent: Outpost/", env!("CARGO_PKG_VERSION"), "\r\n"));
    if let (Some(ct), false) = (content_type, body.is_empty()) {
        let _ = write!(s, "Content-Type: {ct}\r\n");
    }
    let _ = write!(s, "Content-Length: {}\r\n\r\n", body.len());
    let mut out = s.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A response to a request from A (or from B, for its in-dialog requests), with our tag,
/// Contact, extra headers and body.
pub struct Response<'a> {
    pub base: &'a ReplyBase,
    pub code: u16,
    pub reason: &'a str,
    pub to_tag: &'a str,
    pub contact: Option<&'a str>,
    pub extra: Vec<(&'static str, String)>,
    pub body: &'a [u8],
    pub content_type: Option<&'a str>,
}

impl Response<'_> {
    pub fn bytes(&self) -> Vec<u8> {
        let mut s = format!("SIP/2.0 {} {}\r\n", self.code, self.reason);
        for via in &self.base.via {
            let _ = write!(s, "Via: {via}\r\n");
        }
        let to = if param(&self.base.to, "tag").is_some() || self.code == 100 {
            self.base.to.clone()
        } else {
            format!("{};tag={}", self.base.to, self.to_tag)
        };
        let _ = write!(
            s,
            "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n",
            self.base.from, self.base.call_id, self.base.cseq
        );
        if let Some(contact) = self.contact {
            let _ = write!(s, "Contact: {contact}\r\n");
        }
        for (name, value) in &self.extra {
            let _ = write!(s, "{name}: {value}\r\n");
        }
        finish(s, self.body, self.content_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESP: &[u8] = b"SIP/2.0 180 Ringing\r\nv: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx;rport=5060\r\n\
        f: <sip:101@acme>;tag=a\r\nt: \"Bo\" <sip:102@acme>;tag=b\r\ni: c1\r\nCSeq: 1 INVITE\r\n\
        m: <sip:102@10.0.0.9:5070>\r\nl: 3\r\n\r\nabc";

    #[test]
    fn heads_read_compact_headers_params_and_bodies() {
        let h = Head::parse(RESP).unwrap();
        assert_eq!(h.status(), Some(180));
        assert_eq!(h.top_branch(), Some("z9hG4bKx"));
        assert_eq!(h.cseq(), Some((1, "INVITE")));
        assert_eq!(param(h.get("to").unwrap(), "tag"), Some("b"));
        assert_eq!(param(h.get("from").unwrap(), "tag"), Some("a"));
        assert_eq!(uri_of(h.get("contact").unwrap()), "sip:102@10.0.0.9:5070");
        assert_eq!(h.body, b"abc");
        assert_eq!(param("<sip:x@y;transport=udp>", "tag"), None, "URI parameters are not header parameters");
        assert_eq!(user_of("sip:102@acme.pbx.local:5060"), Some("102"));
        assert_eq!(host_of("sip:102@acme.pbx.local:5060;user=phone"), Some("acme.pbx.local"));
        assert_eq!(host_of("sip:[::1]:5060"), Some("::1"));
        assert_eq!(Dest::parse("tcp:10.0.0.5:5062").unwrap().transport, Transport::Tcp);
        assert!(Dest::parse("udp:nowhere").is_none());
    }

    #[test]
    fn requests_and_responses_round_trip_through_rsip() {
        let r = Request {
            method: "INVITE",
            uri: "sip:102@10.0.0.9:5070",
            via: "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKq;rport".into(),
            from: "<sip:101@acme>;tag=x",
            to: "<sip:102@acme>",
            call_id: "b-1",
            cseq: 1,
            contact: Some("<sip:10.0.0.1:5060>"),
            extra: vec![],
            body: b"v=0\r\n",
            content_type: Some("application/sdp"),
        };
        let bytes = r.bytes();
        assert!(rsip::Request::try_from(bytes.as_slice()).is_ok(), "{}", String::from_utf8_lossy(&bytes));
        let head = Head::parse(&bytes).unwrap();
        assert_eq!(head.body, b"v=0\r\n");
        let base = ReplyBase {
            via: vec!["SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKa".into()],
            from: "<sip:101@acme>;tag=a".into(),
            to: "<sip:102@acme>".into(),
            call_id: "a-1".into(),
            cseq: "1 INVITE".into(),
        };
        let resp = Response {
            base: &base,
            code: 486,
            reason: "Busy Here",
            to_tag: "t",
            contact: None,
            extra: vec![("Reason", "SIP;cause=486".into())],
            body: b"",
            content_type: None,
        };
        let text = String::from_utf8(resp.bytes()).unwrap();
        assert!(text.contains("To: <sip:102@acme>;tag=t\r\n"), "{text}");
        assert!(rsip::Response::try_from(text.as_str()).is_ok());
    }
}
