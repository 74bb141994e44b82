//! SIP messages in and out, on rsip: parsing a request with the checks RFC 3261 §8.2 asks
//! for, and building responses that copy what a response must copy (Via with `received` and
//! `rport` per RFC 3581, From, To with our tag, Call-ID, CSeq).

use std::net::SocketAddr;

use rsip::headers::{self, Header, UntypedHeader};
use rsip::prelude::{HeadersExt, ToTypedHeader};

/// Largest message accepted on any transport.
pub const MAX_MESSAGE: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    pub fn reliable(self) -> bool {
        self != Transport::Udp
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("not a SIP message")]
    Unparsable,
    #[error("missing or malformed {0} header")]
    Header(&'static str),
    #[error("CSeq method does not match the request method")]
    CseqMethod,
    #[error("message larger than {MAX_MESSAGE} bytes")]
    TooLarge,
}

/// What every response to a request repeats, taken from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyBase {
    pub via: Vec<String>,
    pub from: String,
    pub to: String,
    pub call_id: String,
    pub cseq: String,
}

/// The request parsed, or why not; `Ignore` for responses and junk we must not answer.
pub enum Parsed {
    Request(Box<rsip::Request>),
    Malformed(MessageError, Option<ReplyBase>),
    Ignore,
}

pub fn parse(bytes: &[u8]) -> Parsed {
    if bytes.len() > MAX_MESSAGE {
        return Parsed::Malformed(MessageError::TooLarge, salvage(bytes));
    }
    if bytes.starts_with(b"SIP/2.0 ") {
        // A response to a request we never sent: nothing to answer.
        return Parsed::Ignore;
    }
    match rsip::Request::try_from(bytes) {
        Ok(req) => match check(&req) {
            Ok(()) => Parsed::Request(Box::new(req)),
            Err(e) => Parsed::Malformed(e, salvage(bytes)),
        },
        Err(_) => match salvage(bytes) {
            Some(base) => Parsed::Malformed(MessageError::Unparsable, Some(base)),
            None => Parsed::Ignore,
        },
    }
}

/// The mandatory headers (RFC 3261 §8.1.1) exist and parse.
fn check(req: &rsip::Request) -> Result<(), MessageError> {
    let via = req.via_header().map_err(|_| MessageError::Header("Via"))?;
    let via = top_value(via.value());
    rsip::headers::Via::new(via).typed().map_err(|_| MessageError::Header("Via"))?;
    req.from_header().ok().and_then(|h| h.typed().ok()).ok_or(MessageError::Header("From"))?;
    req.to_header().ok().and_then(|h| h.typed().ok()).ok_or(MessageError::Header("To"))?;
    req.call_id_header().ok().filter(|h| !h.value().trim().is_empty()).ok_or(MessageError::Header("Call-ID"))?;
    let cseq = req.cseq_header().ok().and_then(|h| h.typed().ok()).ok_or(MessageError::Header("CSeq"))?;
    if cseq.method != req.method {
        return Err(MessageError::CseqMethod);
    }
    Ok(())
}

/// The first value of a header line that may hold a comma-separated list.
pub fn top_value(value: &str) -> &str {
    split_list(value).into_iter().next().unwrap_or(value)
}

/// Splits `a, "b, c" <d>, e` at commas outside quotes and angle brackets.
pub fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut start) = (false, false, 0);
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// Finds the headers a 400 needs in bytes that did not parse as a whole.
fn salvage(bytes: &[u8]) -> Option<ReplyBase> {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_MESSAGE)]);
    let head = text.split("\r\n\r\n").next()?;
    let mut lines = head.split("\r\n");
    let start = lines.next()?;
    if !start.ends_with("SIP/2.0") {
        return None;
    }
    let (mut via, mut from, mut to, mut call_id, mut cseq) = (Vec::new(), None, None, None, None);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim().to_owned();
        match name.trim().to_ascii_lowercase().as_str() {
            "via" | "v" => via.push(value),
            "from" | "f" => from = Some(value),
            "to" | "t" => to = Some(value),
            "call-id" | "i" => call_id = Some(value),
            "cseq" => cseq = Some(value),
            _ => {}
        }
    }
    (!via.is_empty()).then_some(())?;
    Some(ReplyBase { via, from: from?, to: to?, call_id: call_id?, cseq: cseq? })
}

impl ReplyBase {
    /// Copies the headers of `req`, marking the top Via with where it really came from.
    pub fn of(req: &rsip::Request, source: SocketAddr) -> ReplyBase {
        let mut via: Vec<String> = Vec::new();
        for h in req.headers.iter() {
            if let Header::Via(v) = h {
                via.extend(split_list(v.value()).into_iter().map(str::to_owned));
            }
        }
        if let Some(top) = via.first_mut() {
            *top = mark_received(top, source);
        }
        let value = |h: Option<String>| h.unwrap_or_default();
        ReplyBase {
            via,
            from: value(req.from_header().ok().map(|h| h.value().to_owned())),
            to: value(req.to_header().ok().map(|h| h.value().to_owned())),
            call_id: value(req.call_id_header().ok().map(|h| h.value().to_owned())),
            cseq: value(req.cseq_header().ok().map(|h| h.value().to_owned())),
        }
    }

    /// A response with `extra` headers (name, value) and no body. `to_tag` is added to To
    /// unless it has one (RFC 3261 §8.2.6.2).
    pub fn response(&self, code: u16, reason: &str, to_tag: &str, extra: &[(&str, String)]) -> Vec<u8> {
        let mut h: Vec<Header> = self.via.iter().map(|v| Header::Via(headers::Via::new(v.clone()))).collect();
        h.push(Header::From(headers::From::new(self.from.clone())));
        let to = if self.to.to_ascii_lowercase().contains(";tag=") || to_tag.is_empty() {
            self.to.clone()
        } else {
            format!("{};tag={to_tag}", self.to)
        };
        h.push(Header::To(headers::To::new(to)));
        h.push(Header::CallId(headers::CallId::new(self.call_id.clone())));
        h.push(Header::CSeq(headers::CSeq::new(self.cseq.clone())));
        for (name, value) in extra {
            h.push(Header::Other((*name).to_owned(), value.clone()));
        }
        h.push(Header::Server(headers::Server::new(concat!("Outpost/", env!("CARGO_PKG_VERSION")))));
        h.push(Header::ContentLength(headers::ContentLength::new("0")));
        let response = rsip::Response {
            // `Other` carries our own reason phrase ("Bad Request: missing Call-ID header").
            status_code: rsip::StatusCode::Other(code, reason.to_owned()),
            version: rsip::Version::V2,
            headers: h.into(),
            body: Vec::new(),
        };
        response.to_string().into_bytes()
    }
}

/// Adds `received` (and fills an empty `rport`) on a Via value, per RFC 3261 §18.2.1 and
/// RFC 3581: responses then find a phone behind NAT.
fn mark_received(via: &str, source: SocketAddr) -> String {
    let mut parts: Vec<String> = via.split(';').map(|p| p.trim().to_owned()).collect();
    let mut wants_rport = false;
    parts.retain(|p| {
        let name = p.split('=').next().unwrap_or_default().trim().to_ascii_lowercase();
        if name == "rport" {
            wants_rport = true;
        }
        name != "rport" && name != "received"
    });
    let sent_by_host = parts
        .first()
        .and_then(|p| p.split_whitespace().nth(1))
        .map(|h| match h.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default().to_owned(),
            None => h.split(':').next().unwrap_or_default().to_owned(),
        })
        .unwrap_or_default();
    if wants_rport || sent_by_host != source.ip().to_string() {
        parts.push(format!("received={}", source.ip()));
    }
    if wants_rport {
        parts.push(format!("rport={}", source.port()));
    }
    parts.join(";")
}

#[cfg(test)]
mod tests;
