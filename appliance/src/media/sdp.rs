//! SDP bodies (RFC 8866 syntax, RFC 3264 offer/answer): just enough parsing to anchor the audio
//! stream on the box, and a rewrite that changes only the lines that say where media goes.
//!
//! Why hand-written instead of the `sdp` crate: that crate parses into a structure and writes
//! it back, which normalises spacing, attribute order and line endings. Phones and trunks are
//! picky, and SDES keys (`a=crypto`), `fmtp` strings and vendor attributes must reach the other
//! side exactly as sent. Here the body is a list of lines; every line we do not rewrite is copied
//! byte for byte, including its own line ending (`\r\n` or `\n`).
//!
//! What [`rewrite`] changes, and nothing else:
//! - the session-level `c=` and the anchored section's `c=` get the box's address, unless they
//!   say `0.0.0.0` / `::` (RFC 2543 hold), which passes through so the hold still means hold;
//! - the anchored section's `m=` port becomes ours; its `a=rtcp:` (if any) becomes ours + 1;
//! - every other `m=` section with a non-zero port gets port 0 (declined, RFC 3264 §6): the box
//!   relays one audio stream, and a video stream pointed at the box would go nowhere.
//!
//! The anchored section is the first `m=audio` with a non-zero port. Not handled: ICE
//! (`a=candidate` lines pass through untouched and ICE falls back to `c=`/`m=`), DTLS-SRTP
//! (its handshake is not RTP and never latches), multicast and FQDN connection addresses.

use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("not an SDP body: it must start with `v=0`")]
    NotSdp,
    #[error("line {line}: {reason}")]
    Malformed { line: usize, reason: &'static str },
    #[error("no active audio stream (`m=audio` with a non-zero port)")]
    NoAudio,
    #[error("the audio stream has no connection address (`c=`)")]
    NoConnection,
    #[error("the box's RTP port must not be 0")]
    NoPort,
    #[error("line {line}: unsupported: {what}")]
    Unsupported { line: usize, what: &'static str },
}

/// Which way the audio flows, as the sender of the SDP sees it (RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

/// One `a=rtpmap` (or a static payload type listed on the `m=` line without one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payload {
    pub pt: u8,
    /// As written, e.g. `PCMU`, `opus`, `telephone-event`; empty for a static type without rtpmap.
    pub encoding: String,
    /// RTP clock rate in Hz; 0 when neither an rtpmap nor the static table (RFC 3551) says.
    pub clock_rate: u32,
}

/// Where the sender of an SDP body says it receives audio: the input of `Bridge::expect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// The `c=` address and `m=` port. An unspecified address (`0.0.0.0`) means hold: nothing
    /// is sent there until the phone itself sends (and is latched).
    pub rtp: SocketAddr,
    /// `a=rtcp:` when the SDP has one; `None` means the RFC 3550 default, RTP port + 1.
    pub rtcp: Option<SocketAddr>,
    /// `a=rtcp-mux` (RFC 5761): RTCP may arrive on the RTP port; the relay forwards it there.
    pub rtcp_mux: bool,
    pub direction: Direction,
    pub payloads: Vec<Payload>,
}

/// One line of the body: its text without the line ending, and the ending itself.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    text: &'a [u8],
    ending: &'a [u8],
}

fn lines(body: &[u8]) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (line, after) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..=i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let cut = if line.ends_with(b"\r\n") {
            line.len() - 2
        } else if line.ends_with(b"\n") {
            line.len() - 1
        } else {
            line.len()
        };
        out.push(Line { text: &line[..cut], ending: &line[cut..] });
        rest = after;
    }
    out
}

/// The whole line as text, or an error naming the line (1-based).
fn text<'a>(line: &Line<'a>, index: usize) -> Result<&'a str, SdpError> {
    std::str::from_utf8(line.text).map_err(|_| SdpError::Malformed { line: index + 1, reason: "not UTF-8" })
}

/// The value after `x=`.
fn value<'a>(line: &Line<'a>, index: usize) -> Result<&'a str, SdpError> {
    Ok(&text(line, index)?[2..])
}

/// A parsed `c=` line.
struct Connection {
    addr: IpAddr,
}

fn connection(text: &str, line: usize) -> Result<Connection, SdpError> {
    let mut parts = text.split(' ');
    let (Some("IN"), Some(family), Some(addr), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(SdpError::Malformed { line, reason: "`c=` must be `IN IP4|IP6 <address>`" });
    };
    if addr.contains('/') {
        return Err(SdpError::Unsupported { line, what: "multicast connection address" });
    }
    let addr: IpAddr = match family {
        "IP4" => addr.parse::<std::net::Ipv4Addr>().map(IpAddr::V4),
        "IP6" => addr.parse::<std::net::Ipv6Addr>().map(IpAddr::V6),
        _ => return Err(SdpError::Malformed { line, reason: "address type must be IP4 or IP6" }),
    }
    .map_err(|_| SdpError::Unsupported { line, what: "connection address that is not an IP address" })?;
    Ok(Connection { addr })
}

/// A parsed `m=` line: the byte range of its port within the line, and the port.
struct MediaLine<'a> {
    kind: &'a str,
    port: u16,
    /// Byte offsets of the port token in the line's text.
    port_span: (usize, usize),
    formats: Vec<&'a str>,
}

fn media_line(text: &str, line: usize) -> Result<MediaLine<'_>, SdpError> {
    let bad = SdpError::Malformed { line, reason: "`m=` must be `<media> <port> <proto> <format>...`" };
    let body = &text[2..];
    let mut parts = body.split(' ');
    let kind = parts.next().filter(|k| !k.is_empty()).ok_or(bad.clone())?;
    let port_token = parts.next().ok_or(bad.clone())?;
    let _proto = parts.next().filter(|p| !p.is_empty()).ok_or(bad.clone())?;
    let formats: Vec<&str> = parts.collect();
    if formats.is_empty() || formats.iter().any(|f| f.is_empty()) {
        return Err(bad);
    }
    if port_token.contains('/') {
        return Err(SdpError::Unsupported { line, what: "several ports in one `m=` line" });
    }
    let port: u16 = port_token.parse().map_err(|_| bad.clone())?;
    if !port_token.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    let start = 2 + kind.len() + 1;
    Ok(MediaLine { kind, port, port_span: (start, start + port_token.len()), formats })
}

/// `a=rtcp:<port>[ IN IP4|IP6 <addr>]` (RFC 3605).
fn rtcp_attribute(text: &str, line: usize) -> Result<(u16, Option<IpAddr>), SdpError> {
    let bad = SdpError::Malformed { line, reason: "`a=rtcp:` must be `<port> [IN IP4|IP6 <address>]`" };
    let rest = &text["a=rtcp:".len()..];
    let (port, addr) = match rest.split_once(' ') {
        Some((port, conn)) => (port, Some(connection(conn, line)?.addr)),
        None => (rest, None),
    };
    let port: u16 = port.parse().map_err(|_| bad)?;
    Ok((port, addr))
}

/// `a=rtpmap:<pt> <encoding>/<rate>[/<channels>]`.
fn rtpmap(text: &str) -> Option<Payload> {
    let rest = text.strip_prefix("a=rtpmap:")?;
    let (pt, map) = rest.split_once(' ')?;
    let pt: u8 = pt.parse().ok().filter(|pt| *pt < 128)?;
    let mut parts = map.trim().split('/');
    let encoding = parts.next()?.to_owned();
    let clock_rate = parts.next()?.parse().ok()?;
    Some(Payload { pt, encoding, clock_rate })
}

/// Clock rates of the static payload types (RFC 3551 table 4), 0 for unassigned/dynamic.
pub fn static_clock_rate(pt: u8) -> u32 {
    match pt {
        0 | 3..=5 | 7..=9 | 12 | 13 | 15 | 18 => 8_000,
        6 => 16_000,
        10 | 11 => 44_100,
        16 => 11_025,
        17 => 22_050,
        14 | 25 | 26 | 28 | 31..=34 => 90_000,
        _ => 0,
    }
}

fn direction(text: &[u8]) -> Option<Direction> {
    match text {
        b"a=sendrecv" => Some(Direction::SendRecv),
        b"a=sendonly" => Some(Direction::SendOnly),
        b"a=recvonly" => Some(Direction::RecvOnly),
        b"a=inactive" => Some(Direction::Inactive),
        _ => None,
    }
}

/// What one pass over the body found: the indices of the lines to rewrite and the remote.
struct Plan {
    session_c: Option<usize>,
    media_c: Option<usize>,
    anchored_m: usize,
    port_span: (usize, usize),
    rtcp: Option<(usize, bool)>,
    /// `m=` lines of other sections to decline: (line index, port span).
    decline: Vec<(usize, (usize, usize))>,
    remote: Remote,
}

fn plan(all: &[Line<'_>]) -> Result<Plan, SdpError> {
    if all.first().map(|l| l.text) != Some(b"v=0".as_slice()) {
        return Err(SdpError::NotSdp);
    }
    // Trailing empty lines are tolerated (some phones end the body with an extra CRLF); an
    // empty line in the middle is not SDP.
    let used = all.iter().rposition(|l| !l.text.is_empty()).map_or(0, |i| i + 1);
    let mut session_c: Option<(usize, IpAddr)> = None;
    let mut session_direction = None;
    let mut sections: Vec<usize> = Vec::new();
    for (i, line) in all[..used].iter().enumerate() {
        let t = line.text;
        if t.len() < 2 || !t[0].is_ascii_lowercase() || t[1] != b'=' {
            return Err(SdpError::Malformed { line: i + 1, reason: "expected `<letter>=<value>`" });
        }
        if t[0] == b'm' {
            sections.push(i);
        } else if sections.is_empty() {
            if t[0] == b'c' {
                if session_c.is_some() {
                    return Err(SdpError::Malformed { line: i + 1, reason: "two session-level `c=` lines" });
                }
                session_c = Some((i, connection(value(line, i)?, i + 1)?.addr));
            } else if let Some(d) = direction(t) {
                session_direction = Some(d);
            }
        }
    }
    let mut anchored = None;
    let mut decline = Vec::new();
    for (n, &start) in sections.iter().enumerate() {
        let m = media_line(text(&all[start], start)?, start + 1)?;
        let end = sections.get(n + 1).copied().unwrap_or(used);
        if anchored.is_none() && m.kind == "audio" && m.port != 0 {
            anchored = Some((start, end, m));
        } else if m.port != 0 {
            decline.push((start, m.port_span));
        }
    }
    let (start, end, m) = anchored.ok_or(SdpError::NoAudio)?;
    let mut media_c: Option<(usize, IpAddr)> = None;
    let mut rtcp = None;
    let mut rtcp_mux = false;
    let mut media_direction = None;
    let mut maps: Vec<Payload> = Vec::new();
    for (i, line) in all.iter().enumerate().take(end).skip(start + 1) {
        let t = line.text;
        if t.starts_with(b"c=") {
            if media_c.is_some() {
                return Err(SdpError::Malformed { line: i + 1, reason: "two `c=` lines in one media section" });
            }
            media_c = Some((i, connection(value(line, i)?, i + 1)?.addr));
        } else if t.starts_with(b"a=rtcp:") {
            let (port, addr) = rtcp_attribute(text(line, i)?, i + 1)?;
            rtcp = Some((i, port, addr));
        } else if t == b"a=rtcp-mux" {
            rtcp_mux = true;
        } else if let Some(d) = direction(t) {
            media_direction = Some(d);
        } else if t.starts_with(b"a=rtpmap:") {
            if let Some(p) = rtpmap(text(line, i)?) {
                maps.push(p);
            }
        }
    }
    let addr = media_c.or(session_c).map(|(_, a)| a).ok_or(SdpError::NoConnection)?;
    let payloads = m
        .formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok().filter(|pt| *pt < 128))
        .map(|pt| {
            maps.iter().find(|p| p.pt == pt).cloned().unwrap_or(Payload {
                pt,
                encoding: String::new(),
                clock_rate: static_clock_rate(pt),
            })
        })
        .collect();
    let remote = Remote {
        rtp: SocketAddr::new(addr, m.port),
        rtcp: rtcp.map(|(_, port, a)| SocketAddr::new(a.unwrap_or(addr), port)),
        rtcp_mux,
        direction: media_direction.or(session_direction).unwrap_or(Direction::SendRecv),
        payloads,
    };
    Ok(Plan {
        session_c: session_c.filter(|(_, a)| !a.is_unspecified()).map(|(i, _)| i),
        media_c: media_c.filter(|(_, a)| !a.is_unspecified()).map(|(i, _)| i),
        anchored_m: start,
        port_span: m.port_span,
        rtcp: rtcp.map(|(i, _, a)| (i, a.is_some())),
        decline,
        remote,
    })
}

/// Parses `body` without changing it: where its sender receives audio.
pub fn parse(body: &[u8]) -> Result<Remote, SdpError> {
    Ok(plan(&lines(body))?.remote)
}

fn connection_line(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("c=IN IP4 {v4}"),
        IpAddr::V6(v6) => format!("c=IN IP6 {v6}"),
    }
}

fn with_port(text: &[u8], span: (usize, usize), port: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 5);
    out.extend_from_slice(&text[..span.0]);
    out.extend_from_slice(port.to_string().as_bytes());
    out.extend_from_slice(&text[span.1..]);
    out
}

/// Points `body`'s audio at `box_ip:rtp_port` (RTCP at `rtp_port + 1`) and returns the new body
/// with where the sender itself receives audio (as its SDP said, before the rewrite).
///
/// Idempotent: rewriting the result again with the same address and port gives the same bytes.
pub fn rewrite(body: &[u8], box_ip: IpAddr, rtp_port: u16) -> Result<(Vec<u8>, Remote), SdpError> {
    if rtp_port == 0 {
        return Err(SdpError::NoPort);
    }
    let all = lines(body);
    let plan = plan(&all)?;
    let rtcp_port = rtp_port.wrapping_add(1);
    let mut out = Vec::with_capacity(body.len() + 32);
    for (i, line) in all.iter().enumerate() {
        let replaced: Option<Vec<u8>> = if Some(i) == plan.session_c || Some(i) == plan.media_c {
            Some(connection_line(box_ip).into_bytes())
        } else if i == plan.anchored_m {
            Some(with_port(line.text, plan.port_span, rtp_port))
        } else if let Some((_, has_addr)) = plan.rtcp.filter(|(at, _)| *at == i) {
            let mut text = format!("a=rtcp:{rtcp_port}");
            if has_addr {
                text.push(' ');
                text.push_str(&connection_line(box_ip)[2..]);
            }
            Some(text.into_bytes())
        } else if let Some((_, span)) = plan.decline.iter().find(|(at, _)| *at == i) {
            Some(with_port(line.text, *span, 0))
        } else {
            None
        };
        match replaced {
            Some(text) => out.extend_from_slice(&text),
            None => out.extend_from_slice(line.text),
        }
        out.extend_from_slice(line.ending);
    }
    Ok((out, plan.remote))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    const BOX: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 10, 2));

    const YEALINK: &str = "v=0\r\n\
o=- 20045 20045 IN IP4 192.168.10.51\r\n\
s=SDP data\r\n\
c=IN IP4 192.168.10.51\r\n\
t=0 0\r\n\
m=audio 11780 RTP/SAVP 0 8 9 18 101\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^31\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n";

    #[test]
    fn rewrites_connection_and_port_and_keeps_the_rest() {
        let (out, remote) = rewrite(YEALINK.as_bytes(), BOX, 10_002).unwrap();
        let out = String::from_utf8(out).unwrap();
        let expected = YEALINK.replace("c=IN IP4 192.168.10.51", "c=IN IP4 192.168.10.2").replace("11780", "10002");
        assert_eq!(out, expected);
        assert!(out.contains("o=- 20045 20045 IN IP4 192.168.10.51\r\n"), "o= is the sender's, untouched");
        assert_eq!(remote.rtp, "192.168.10.51:11780".parse().unwrap());
        assert_eq!(remote.rtcp, None);
        assert_eq!(remote.direction, Direction::SendRecv);
        let pts: Vec<(u8, &str, u32)> =
            remote.payloads.iter().map(|p| (p.pt, p.encoding.as_str(), p.clock_rate)).collect();
        assert_eq!(
            pts,
            [
                (0, "PCMU", 8000),
                (8, "PCMA", 8000),
                (9, "G722", 8000),
                (18, "G729", 8000),
                (101, "telephone-event", 8000)
            ]
        );
    }

    #[test]
    fn media_level_connection_rtcp_and_hold() {
        let body = "v=0\n\
o=alice 1 2 IN IP4 10.0.0.5\n\
s=-\n\
c=IN IP4 0.0.0.0\n\
t=0 0\n\
m=audio 4000 RTP/AVP 0 96\n\
c=IN IP4 10.0.0.5\n\
a=rtcp:4005 IN IP4 10.0.0.6\n\
a=rtpmap:96 opus/48000/2\n\
a=sendonly\n\
m=video 5000 RTP/AVP 97\n\
a=rtpmap:97 H264/90000\n";
        let (out, remote) = rewrite(body.as_bytes(), BOX, 12_000).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("\nc=IN IP4 0.0.0.0\n"), "session hold address kept: {out}");
        assert!(out.contains("\nm=audio 12000 RTP/AVP 0 96\nc=IN IP4 192.168.10.2\n"), "{out}");
        assert!(out.contains("\na=rtcp:12001 IN IP4 192.168.10.2\n"), "{out}");
        assert!(out.contains("\nm=video 0 RTP/AVP 97\n"), "video declined: {out}");
        assert!(out.contains("a=sendonly"));
        assert_eq!(remote.rtp, "10.0.0.5:4000".parse().unwrap());
        assert_eq!(remote.rtcp, Some("10.0.0.6:4005".parse().unwrap()));
        assert_eq!(remote.direction, Direction::SendOnly);
        assert_eq!(remote.payloads[1].clock_rate, 48_000);
    }

    #[test]
    fn hold_with_zero_address_passes_through() {
        let body = "v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\na=inactive\r\n";
        let (out, remote) = rewrite(body.as_bytes(), BOX, 12_000).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), body.replace("4000", "12000"));
        assert!(remote.rtp.ip().is_unspecified());
        assert_eq!(remote.direction, Direction::Inactive);
    }

    #[test]
    fn ipv6_and_rtcp_without_address() {
        let body = "v=0\r\no=- 1 1 IN IP6 fd00::5\r\ns=-\r\nc=IN IP6 fd00::5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtcp:4001\r\na=rtcp-mux\r\n";
        let ip: IpAddr = "fd00::2".parse().unwrap();
        let (out, remote) = rewrite(body.as_bytes(), ip, 10_000).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("c=IN IP6 fd00::2\r\nt=0 0\r\nm=audio 10000 RTP/AVP 0\r\na=rtcp:10001\r\n"), "{out}");
        assert_eq!(remote.rtcp, Some("[fd00::5]:4001".parse().unwrap()));
        assert!(remote.rtcp_mux);
    }

    #[test]
    fn refuses_what_it_cannot_anchor() {
        assert_eq!(rewrite(b"", BOX, 1).unwrap_err(), SdpError::NotSdp);
        assert_eq!(rewrite(b"INVITE sip:a SIP/2.0\r\n", BOX, 1).unwrap_err(), SdpError::NotSdp);
        let no_audio = "v=0\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\nm=video 5 RTP/AVP 96\r\n";
        assert_eq!(rewrite(no_audio.as_bytes(), BOX, 1).unwrap_err(), SdpError::NoAudio);
        let no_c = "v=0\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert_eq!(rewrite(no_c.as_bytes(), BOX, 1).unwrap_err(), SdpError::NoConnection);
        let fqdn = "v=0\r\ns=-\r\nc=IN IP4 pbx.example.com\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert!(matches!(rewrite(fqdn.as_bytes(), BOX, 1), Err(SdpError::Unsupported { line: 3, .. })));
        let junk = "v=0\r\ns=-\r\nhello\r\n";
        assert!(matches!(rewrite(junk.as_bytes(), BOX, 1), Err(SdpError::Malformed { line: 3, .. })));
        let gap = "v=0\r\n\r\ns=-\r\n";
        assert!(matches!(rewrite(gap.as_bytes(), BOX, 1), Err(SdpError::Malformed { line: 2, .. })));
    }

    #[test]
    fn trailing_empty_line_is_kept() {
        let body = "v=0\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n\r\n";
        let (out, _) = rewrite(body.as_bytes(), BOX, 10_000).unwrap();
        assert!(out.ends_with(b"RTP/AVP 0\r\n\r\n"));
    }

    /// Attribute lines a phone might add anywhere in the audio section.
    fn extra_line() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a=sendonly".to_owned()),
            Just("a=recvonly".to_owned()),
            Just("a=inactive".to_owned()),
            Just("a=rtcp-mux".to_owned()),
            Just("a=ptime:20".to_owned()),
            (0u8..128, "[A-Za-z0-9-]{1,12}", 8000u32..96000).prop_map(|(pt, e, r)| format!("a=rtpmap:{pt} {e}/{r}")),
            "[a-z]{1,8}:[ -~]{0,40}".prop_map(|s| format!("a={s}")),
            "[A-Za-z0-9+/]{40}".prop_map(|k| format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{k}")),
            (1024u16..65000).prop_map(|p| format!("a=rtcp:{p}")),
        ]
    }

    fn body() -> impl Strategy<Value = (String, Vec<String>)> {
        (
            (1u16..65535, any::<[u8; 4]>(), any::<bool>(), any::<bool>()),
            proptest::collection::vec(extra_line(), 0..8),
            proptest::collection::vec(
                "[a-z]=[ -~]{0,30}".prop_filter("no m= or c=", |s| !s.starts_with(['m', 'c'])),
                0..3,
            ),
            any::<bool>(),
        )
            .prop_map(|((port, ip, media_c, crlf), attrs, session, video)| {
                let ip = std::net::Ipv4Addr::from(ip);
                let mut ls = vec!["v=0".to_owned(), format!("o=- 1 1 IN IP4 {ip}"), "s=-".to_owned()];
                ls.extend(session);
                if !media_c {
                    ls.push(format!("c=IN IP4 {ip}"));
                }
                ls.push("t=0 0".to_owned());
                ls.push(format!("m=audio {port} RTP/AVP 0 8 101"));
                if media_c {
                    ls.push(format!("c=IN IP4 {ip}"));
                }
                // At most one a=rtcp per section.
                let mut seen_rtcp = false;
                for a in attrs {
                    if a.starts_with("a=rtcp:") {
                        if seen_rtcp {
                            continue;
                        }
                        seen_rtcp = true;
                    }
                    ls.push(a);
                }
                if video {
                    ls.push("m=video 9000 RTP/AVP 96".to_owned());
                    ls.push("a=rtpmap:96 H264/90000".to_owned());
                }
                let end = if crlf { "\r\n" } else { "\n" };
                let text = ls.iter().map(|l| format!("{l}{end}")).collect();
                (text, ls)
            })
    }

    proptest! {
        #[test]
        fn rewrite_keeps_other_lines_and_is_idempotent((text, input) in body(), port in (1024u16..32000).prop_map(|p| p & !1)) {
            let (once, remote) = rewrite(text.as_bytes(), BOX, port).unwrap();
            let (twice, again) = rewrite(&once, BOX, port).unwrap();
            prop_assert_eq!(&once, &twice);
            let ip = if remote.rtp.ip().is_unspecified() { remote.rtp.ip() } else { BOX };
            prop_assert_eq!(again.rtp, SocketAddr::new(ip, port));
            let out = String::from_utf8(once).unwrap();
            let end = if text.ends_with("\r\n") { "\r\n" } else { "\n" };
            let output: Vec<&str> = out.split_terminator(end).collect();
            prop_assert_eq!(output.len(), input.len());
            for (before, after) in input.iter().zip(&output) {
                let rewritable = before.starts_with("c=") || before.starts_with("m=") || before.starts_with("a=rtcp:");
                if !rewritable {
                    prop_assert_eq!(before.as_str(), *after);
                }
            }
            let audio = format!("m=audio {port} RTP/AVP 0 8 101");
            prop_assert!(output.contains(&audio.as_str()));
            let c_lines: Vec<&&str> = output.iter().filter(|l| l.starts_with("c=")).collect();
            for c in c_lines {
                prop_assert!(*c == "c=IN IP4 192.168.10.2" || *c == "c=IN IP4 0.0.0.0", "{}", c);
            }
            prop_assert_eq!(remote.rtp.port(), input.iter().find_map(|l| l.strip_prefix("m=audio ")?.split(' ').next()?.parse::<u16>().ok()).unwrap());
        }

        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut with_header = b"v=0\r\n".to_vec();
            with_header.extend_from_slice(&bytes);
            for body in [&bytes, &with_header] {
                if let Ok((once, _)) = rewrite(body, BOX, 10_000) {
                    prop_assert_eq!(rewrite(&once, BOX, 10_000).map(|(b, _)| b), Ok(once));
                }
            }
        }
    }
}
