//! Message boundaries on stream transports (TCP, TLS): headers end at an empty line, the body is
//! `Content-Length` bytes (RFC 3261 §18.3). A double CRLF between messages is a keepalive ping
//! that is answered with a single CRLF (RFC 5626 §4.4.1).

use super::message::MAX_MESSAGE;

#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole message is the first `n` bytes.
    Message(usize),
    /// A keepalive ping of `n` bytes: answer `\r\n`.
    Ping(usize),
    /// Stray line ends (a pong, or padding) of `n` bytes: skip them.
    Skip(usize),
    /// Need more bytes.
    Incomplete,
    /// The stream cannot be framed any more: close it.
    Invalid(&'static str),
}

pub fn next(buf: &[u8]) -> Frame {
    if buf.starts_with(b"\r\n\r\n") {
        return Frame::Ping(4);
    }
    if buf.starts_with(b"\r\n") {
        // Either half a ping or a lone pong: wait for two more bytes before deciding.
        return if buf.len() >= 4 { Frame::Skip(2) } else { Frame::Incomplete };
    }
    let Some(end) = find(buf, b"\r\n\r\n") else {
        return if buf.len() > MAX_MESSAGE { Frame::Invalid("headers too long") } else { Frame::Incomplete };
    };
    let head = &buf[..end];
    let mut length = None;
    for line in head.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let value = std::str::from_utf8(line[colon + 1..].trim_ascii()).ok().and_then(|v| v.parse::<usize>().ok());
            match value {
                Some(v) => length = Some(v),
                None => return Frame::Invalid("bad Content-Length"),
            }
        }
    }
    // On a stream a message without Content-Length cannot be delimited (RFC 3261 §18.3).
    let Some(length) = length else { return Frame::Invalid("no Content-Length on a stream transport") };
    let total = end + 4 + length;
    if total > MAX_MESSAGE {
        return Frame::Invalid("message too large");
    }
    if buf.len() < total {
        Frame::Incomplete
    } else {
        Frame::Message(total)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 4\r\n\r\nbody";

    #[test]
    fn messages_are_cut_by_content_length() {
        assert_eq!(next(MSG), Frame::Message(MSG.len()));
        let mut two = MSG.to_vec();
        two.extend_from_slice(MSG);
        assert_eq!(next(&two), Frame::Message(MSG.len()));
        assert_eq!(next(&MSG[..MSG.len() - 1]), Frame::Incomplete);
        assert_eq!(next(&MSG[..10]), Frame::Incomplete);
    }

    #[test]
    fn keepalives_are_recognised() {
        assert_eq!(next(b"\r\n\r\nOPTIONS"), Frame::Ping(4));
        assert_eq!(next(b"\r\n"), Frame::Incomplete);
        assert_eq!(next(b"\r\nOPTIONS"), Frame::Skip(2));
    }

    #[test]
    fn unframeable_streams_are_refused() {
        assert_eq!(next(b"OPTIONS sip:x SIP/2.0\r\n\r\n"), Frame::Invalid("no Content-Length on a stream transport"));
        assert_eq!(next(b"OPTIONS sip:x SIP/2.0\r\nl: x\r\n\r\n"), Frame::Invalid("bad Content-Length"));
        assert_eq!(next(b"OPTIONS sip:x SIP/2.0\r\nl: 99999999\r\n\r\n"), Frame::Invalid("message too large"));
        assert_eq!(next(&vec![b'a'; MAX_MESSAGE + 1]), Frame::Invalid("headers too long"));
    }

    proptest::proptest! {
        #[test]
        fn framing_never_panics_and_never_overreaches(buf in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            match next(&buf) {
                Frame::Message(n) | Frame::Ping(n) | Frame::Skip(n) => proptest::prop_assert!(n <= buf.len() && n > 0),
                Frame::Incomplete | Frame::Invalid(_) => {}
            }
        }
    }
}
