//! A small DNS codec (RFC 1035, RFC 2782 SRV, RFC 3596 AAAA): enough to ask a resolver for
//! a trunk's SRV and A records and read its answer. Pure: bytes in, bytes out.
//!
//! Parsing is total: truncated or garbage input is an error, never a panic, and compression
//! pointers must point strictly backwards (so a pointer loop cannot exist) into a name of at
//! most 255 bytes. Names are text in zone-file spelling: labels joined by dots, with `\.`,
//! `\\` and `\DDD` (decimal) for bytes that are not printable ASCII, so any name on the wire
//! has exactly one spelling and `encode` gives back the same wire name. Record data of types
//! we do not read is kept raw.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

pub const TYPE_A: u16 = 1;
pub const TYPE_CNAME: u16 = 5;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_SRV: u16 = 33;
pub const CLASS_IN: u16 = 1;

pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_NXDOMAIN: u8 = 3;

const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;

const MAX_NAME: usize = 255;
const MAX_LABEL: usize = 63;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("message ends inside {0}")]
    Truncated(&'static str),
    #[error("bad compression pointer")]
    Pointer,
    #[error("unsupported label type")]
    LabelType,
    #[error("name longer than 255 bytes")]
    NameTooLong,
    #[error("bad name `{0}`")]
    BadName(String),
    #[error("record data of type {0} has the wrong length")]
    RdLength(u16),
    #[error("more than 65535 records in a section")]
    TooMany,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(String),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    /// Any other type, its data as sent.
    Other(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub data: RData,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub id: u16,
    /// The header's flags word as sent (QR, opcode, AA, TC, RD, RA, Z, rcode).
    pub flags: u16,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
}

impl Message {
    pub fn is_response(&self) -> bool {
        self.flags & FLAG_QR != 0
    }

    /// The answer did not fit in the datagram.
    pub fn truncated(&self) -> bool {
        self.flags & FLAG_TC != 0
    }

    pub fn rcode(&self) -> u8 {
        (self.flags & 0x000f) as u8
    }
}

/// A recursive query for one name and type.
pub fn query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, DnsError> {
    encode(&Message {
        id,
        flags: FLAG_RD,
        questions: vec![Question { name: name.to_owned(), qtype, qclass: CLASS_IN }],
        ..Message::default()
    })
}

// ---- parsing ----

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DnsError> {
        let buf: &'a [u8] = self.buf;
        let end = self.pos.checked_add(n).ok_or(DnsError::Truncated(what))?;
        let s = buf.get(self.pos..end).ok_or(DnsError::Truncated(what))?;
        self.pos = end;
        Ok(s)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, DnsError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, DnsError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A name at the current position (following pointers); the position moves past the
    /// name's bytes in place, not past what the pointers lead to.
    fn name(&mut self) -> Result<String, DnsError> {
        let mut labels: Vec<&[u8]> = Vec::new();
        let mut wire_len = 1; // the final zero
        let mut at = self.pos;
        let mut resume: Option<usize> = None;
        // A pointer must go strictly below the start of the label run it ends, so each jump
        // moves backwards and the walk ends.
        let mut floor = self.pos;
        loop {
            let len = *self.buf.get(at).ok_or(DnsError::Truncated("a name"))?;
            match len & 0xc0 {
                0x00 if len == 0 => {
                    self.pos = resume.unwrap_or(at + 1);
                    break;
                }
                0x00 => {
                    let len = usize::from(len);
                    let label = self.buf.get(at + 1..at + 1 + len).ok_or(DnsError::Truncated("a name"))?;
                    wire_len += len + 1;
                    if wire_len > MAX_NAME {
                        return Err(DnsError::NameTooLong);
                    }
                    labels.push(label);
                    at += len + 1;
                }
                0xc0 => {
                    let low = *self.buf.get(at + 1).ok_or(DnsError::Truncated("a name"))?;
                    let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                    if target >= floor {
                        return Err(DnsError::Pointer);
                    }
                    resume.get_or_insert(at + 2);
                    floor = target;
                    at = target;
                }
                _ => return Err(DnsError::LabelType),
            }
        }
        Ok(spell(&labels))
    }

    fn question(&mut self) -> Result<Question, DnsError> {
        let name = self.name()?;
        Ok(Question { name, qtype: self.u16("a question")?, qclass: self.u16("a question")? })
    }

    fn record(&mut self) -> Result<Record, DnsError> {
        let name = self.name()?;
        let rtype = self.u16("a record")?;
        let class = self.u16("a record")?;
        let ttl = self.u32("a record")?;
        let rdlen = usize::from(self.u16("a record")?);
        let start = self.pos;
        let raw = self.take(rdlen, "record data")?;
        let data = match rtype {
            TYPE_A => {
                let b: [u8; 4] = raw.try_into().map_err(|_| DnsError::RdLength(rtype))?;
                RData::A(Ipv4Addr::from(b))
            }
            TYPE_AAAA => {
                let b: [u8; 16] = raw.try_into().map_err(|_| DnsError::RdLength(rtype))?;
                RData::Aaaa(Ipv6Addr::from(b))
            }
            TYPE_CNAME | TYPE_SRV => {
                // Names inside may be compressed (RFC 2782 says not to, servers do anyway), so
                // read them from the whole message, then check they ended with the data.
                let mut inner = Reader { buf: self.buf, pos: start };
                let data = if rtype == TYPE_SRV {
                    let priority = inner.u16("SRV data")?;
                    let weight = inner.u16("SRV data")?;
                    let port = inner.u16("SRV data")?;
                    if inner.pos > start + rdlen {
                        return Err(DnsError::RdLength(rtype));
                    }
                    RData::Srv { priority, weight, port, target: inner.name()? }
                } else {
                    RData::Cname(inner.name()?)
                };
                if inner.pos != start + rdlen {
                    return Err(DnsError::RdLength(rtype));
                }
                data
            }
            _ => RData::Other(raw.to_vec()),
        };
        Ok(Record { name, rtype, class, ttl, data })
    }
}

/// Reads a whole message. Bytes after the last record are ignored.
pub fn parse(bytes: &[u8]) -> Result<Message, DnsError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let id = r.u16("the header")?;
    let flags = r.u16("the header")?;
    let counts = [r.u16("the header")?, r.u16("the header")?, r.u16("the header")?, r.u16("the header")?];
    let mut m = Message { id, flags, ..Message::default() };
    for _ in 0..counts[0] {
        m.questions.push(r.question()?);
    }
    for (section, count) in [&mut m.answers, &mut m.authority, &mut m.additional].into_iter().zip(&counts[1..]) {
        for _ in 0..*count {
            section.push(r.record()?);
        }
    }
    Ok(m)
}

/// Labels in zone-file spelling (see the module doc); the root is `.`.
fn spell(labels: &[&[u8]]) -> String {
    if labels.is_empty() {
        return ".".into();
    }
    let mut s = String::new();
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        for &b in *label {
            match b {
                b'.' | b'\\' => {
                    s.push('\\');
                    s.push(char::from(b));
                }
                0x21..=0x7e => s.push(char::from(b)),
                _ => {
                    let _ = write!(s, "\\{b:03}");
                }
            }
        }
    }
    s
}

// ---- building ----

/// The wire labels of a name in zone-file spelling (a trailing dot is allowed).
fn labels(name: &str) -> Result<Vec<Vec<u8>>, DnsError> {
    let bad = || DnsError::BadName(name.chars().take(300).collect());
    if name == "." {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut label = Vec::new();
    let mut bytes = name.bytes();
    let mut trailing_dot = false;
    while let Some(b) = bytes.next() {
        trailing_dot = false;
        match b {
            b'.' => {
                if label.is_empty() {
                    return Err(bad());
                }
                out.push(std::mem::take(&mut label));
                trailing_dot = true;
            }
            b'\\' => {
                let c = bytes.next().ok_or_else(bad)?;
                if c.is_ascii_digit() {
                    let d2 = bytes.next().ok_or_else(bad)?;
                    let d3 = bytes.next().ok_or_else(bad)?;
                    if !d2.is_ascii_digit() || !d3.is_ascii_digit() {
                        return Err(bad());
                    }
                    let v = u32::from(c - b'0') * 100 + u32::from(d2 - b'0') * 10 + u32::from(d3 - b'0');
                    label.push(u8::try_from(v).map_err(|_| bad())?);
                } else {
                    label.push(c);
                }
            }
            _ => label.push(b),
        }
        if label.len() > MAX_LABEL {
            return Err(bad());
        }
    }
    if !label.is_empty() {
        out.push(label);
    } else if !trailing_dot {
        return Err(bad());
    }
    if out.iter().map(|l| l.len() + 1).sum::<usize>() + 1 > MAX_NAME {
        return Err(DnsError::NameTooLong);
    }
    Ok(out)
}

fn put_name(out: &mut Vec<u8>, name: &str) -> Result<(), DnsError> {
    for label in labels(name)? {
        out.push(label.len() as u8); // at most 63: checked by `labels`
        out.extend_from_slice(&label);
    }
    out.push(0);
    Ok(())
}

fn put_record(out: &mut Vec<u8>, r: &Record) -> Result<(), DnsError> {
    put_name(out, &r.name)?;
    out.extend_from_slice(&r.rtype.to_be_bytes());
    out.extend_from_slice(&r.class.to_be_bytes());
    out.extend_from_slice(&r.ttl.to_be_bytes());
    let len_at = out.len();
    out.extend_from_slice(&[0, 0]);
    match &r.data {
        RData::A(ip) => out.extend_from_slice(&ip.octets()),
        RData::Aaaa(ip) => out.extend_from_slice(&ip.octets()),
        RData::Cname(name) => put_name(out, name)?,
        RData::Srv { priority, weight, port, target } => {
            for v in [priority, weight, port] {
                out.extend_from_slice(&v.to_be_bytes());
            }
            put_name(out, target)?;
        }
        RData::Other(data) => out.extend_from_slice(data),
    }
    let len = u16::try_from(out.len() - len_at - 2).map_err(|_| DnsError::RdLength(r.rtype))?;
    out[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Writes a message, without name compression.
pub fn encode(m: &Message) -> Result<Vec<u8>, DnsError> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&m.id.to_be_bytes());
    out.extend_from_slice(&m.flags.to_be_bytes());
    for n in [m.questions.len(), m.answers.len(), m.authority.len(), m.additional.len()] {
        out.extend_from_slice(&u16::try_from(n).map_err(|_| DnsError::TooMany)?.to_be_bytes());
    }
    for q in &m.questions {
        put_name(&mut out, &q.name)?;
        out.extend_from_slice(&q.qtype.to_be_bytes());
        out.extend_from_slice(&q.qclass.to_be_bytes());
    }
    for r in m.answers.iter().chain(&m.authority).chain(&m.additional) {
        put_record(&mut out, r)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    /// dnsmasq's answer to `_sip._udp.pbx.test SRV`, with compression pointers into the
    /// question (offset 12) in the answer and the SRV target.
    fn srv_answer() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x85, 0x80, 0, 1, 0, 1, 0, 0, 0, 1];
        m.extend_from_slice(b"\x04_sip\x04_udp\x03pbx\x04test\x00\x00\x21\x00\x01");
        // answer: name = pointer to 12
        m.extend_from_slice(&[0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 60]);
        let rdata_at = m.len();
        m.extend_from_slice(&[0, 0, 0, 10, 0, 50, 0x13, 0xce]); // rdlen later, prio 10, weight 50, port 5070
        m.extend_from_slice(b"\x01a"); // a.<pointer to pbx.test at 12+10>
        m.extend_from_slice(&[0xc0, 22]);
        let rdlen = (m.len() - rdata_at - 2) as u16;
        m[rdata_at..rdata_at + 2].copy_from_slice(&rdlen.to_be_bytes());
        // additional: a.pbx.test A 127.0.0.5, name = pointer to the SRV target
        let target_at = (rdata_at + 8) as u8;
        m.extend_from_slice(&[0xc0, target_at, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 5]);
        m
    }

    #[test]
    fn reads_compressed_srv_answers_with_additional_records() {
        let m = parse(&srv_answer()).unwrap();
        assert_eq!(m.id, 0x1234);
        assert!(m.is_response() && !m.truncated());
        assert_eq!(m.rcode(), RCODE_NOERROR);
        assert_eq!(m.questions, [Question { name: "_sip._udp.pbx.test".into(), qtype: TYPE_SRV, qclass: CLASS_IN }]);
        assert_eq!(m.answers[0].name, "_sip._udp.pbx.test");
        assert_eq!(m.answers[0].data, RData::Srv { priority: 10, weight: 50, port: 5070, target: "a.pbx.test".into() });
        assert_eq!(m.additional[0].name, "a.pbx.test");
        assert_eq!(m.additional[0].data, RData::A(Ipv4Addr::new(127, 0, 0, 5)));
        // Re-encoded without compression, it reads the same.
        assert_eq!(parse(&encode(&m).unwrap()).unwrap(), m);
    }

    /// What dnsmasq 2.90 sent for `--srv-host=_sip._udp.pbx.test,a.pbx.test,5070,10,50` and
    /// `b.pbx.test,5080,20,10` with both hosts' A records (captured on loopback).
    const DNSMASQ: &[u8] = b"\x12\x34\x85\x80\x00\x01\x00\x02\x00\x00\x00\x02\x04_sip\x04_udp\x03pbx\x04test\x00\
        \x00\x21\x00\x01\xc0\x0c\x00\x21\x00\x01\x00\x00\x00\x00\x00\x12\x00\x14\x00\x0a\x13\xd8\x01b\x03pbx\x04test\
        \x00\xc0\x0c\x00\x21\x00\x01\x00\x00\x00\x00\x00\x12\x00\x0a\x00\x32\x13\xce\x01a\x03pbx\x04test\x00\xc0\x54\
        \x00\x01\x00\x01\x00\x00\x00\x00\x00\x04\x7f\x00\x00\x05\xc0\x36\x00\x01\x00\x01\x00\x00\x00\x00\x00\x04\x7f\x00\x00\x06";

    #[test]
    fn reads_a_real_dnsmasq_answer() {
        let m = parse(DNSMASQ).unwrap();
        assert_eq!(m.answers.len(), 2);
        assert_eq!(m.answers[0].data, RData::Srv { priority: 20, weight: 10, port: 5080, target: "b.pbx.test".into() });
        assert_eq!(m.answers[1].data, RData::Srv { priority: 10, weight: 50, port: 5070, target: "a.pbx.test".into() });
        let add: Vec<(&str, &RData)> = m.additional.iter().map(|r| (r.name.as_str(), &r.data)).collect();
        assert_eq!(
            add,
            [
                ("a.pbx.test", &RData::A(Ipv4Addr::new(127, 0, 0, 5))),
                ("b.pbx.test", &RData::A(Ipv4Addr::new(127, 0, 0, 6)))
            ]
        );
    }

    #[test]
    fn queries_are_recursive_and_well_formed() {
        let q = query(7, "_sips._tcp.example.com.", TYPE_SRV).unwrap();
        assert_eq!(&q[..12], &[0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&q[12..], b"\x05_sips\x04_tcp\x07example\x03com\x00\x00\x21\x00\x01");
        assert!(query(1, "a..b", TYPE_A).is_err());
        assert!(query(1, "", TYPE_A).is_err());
        assert!(query(1, &"x".repeat(64), TYPE_A).is_err());
        assert!(query(1, &["abc"; 64].join("."), TYPE_A).is_err());
        let q = query(1, ".", TYPE_A).unwrap();
        assert_eq!(parse(&q).unwrap().questions[0].name, ".");
    }

    #[test]
    fn loops_forward_pointers_and_truncation_are_errors() {
        let mut looped = vec![0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
        looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(parse(&looped), Err(DnsError::Pointer));
        let mut two = vec![0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
        two.extend_from_slice(&[1, b'a', 0xc0, 12, 0, 1, 0, 1]); // a → back to itself
        assert_eq!(parse(&two), Err(DnsError::Pointer));
        let full = srv_answer();
        for n in 0..full.len() {
            assert!(parse(&full[..n]).is_err(), "cut at {n}");
        }
        let mut odd = full.clone();
        odd[12] = 0x40;
        assert_eq!(parse(&odd), Err(DnsError::LabelType));
    }

    #[test]
    fn odd_bytes_in_labels_have_one_spelling() {
        let m = Message {
            questions: vec![Question { name: r"a\.b\\c\000\255.x".into(), qtype: 1, qclass: 1 }],
            ..Message::default()
        };
        let wire = encode(&m).unwrap();
        assert_eq!(&wire[12..], b"\x07a.b\\c\x00\xff\x01x\x00\x00\x01\x00\x01");
        assert_eq!(parse(&wire).unwrap(), m);
        assert_eq!(labels(r"a\.").unwrap(), [b"a.".to_vec()]);
        assert_eq!(labels("a.b.").unwrap(), [b"a".to_vec(), b"b".to_vec()]);
        assert!(labels(r"a\256").is_err() && labels(r"a\2").is_err() && labels("a\\").is_err());
    }

    fn name() -> impl Strategy<Value = String> {
        prop::collection::vec("[a-z0-9_-]{1,12}", 1..5).prop_map(|l| l.join("."))
    }

    fn record() -> impl Strategy<Value = Record> {
        let data = prop_oneof![
            any::<[u8; 4]>().prop_map(|b| RData::A(Ipv4Addr::from(b))),
            any::<[u8; 16]>().prop_map(|b| RData::Aaaa(Ipv6Addr::from(b))),
            name().prop_map(RData::Cname),
            (any::<u16>(), any::<u16>(), any::<u16>(), name())
                .prop_map(|(priority, weight, port, target)| RData::Srv { priority, weight, port, target }),
            prop::collection::vec(any::<u8>(), 0..20).prop_map(RData::Other),
        ];
        (name(), any::<u32>(), data).prop_map(|(name, ttl, data)| {
            let rtype = match &data {
                RData::A(_) => TYPE_A,
                RData::Aaaa(_) => TYPE_AAAA,
                RData::Cname(_) => TYPE_CNAME,
                RData::Srv { .. } => TYPE_SRV,
                RData::Other(_) => 99,
            };
            Record { name, rtype, class: CLASS_IN, ttl, data }
        })
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(m) = parse(&bytes) {
                // Whatever parses re-encodes and reads the same.
                let again = encode(&m).unwrap();
                prop_assert_eq!(parse(&again).unwrap(), m);
            }
        }

        #[test]
        fn headers_with_garbage_never_panic(tail in prop::collection::vec(any::<u8>(), 0..300), counts in any::<[u8; 4]>()) {
            let mut bytes = vec![0, 1, 0x81, 0x80, 0, counts[0] % 4, 0, counts[1] % 4, 0, counts[2] % 4, 0, counts[3] % 4];
            bytes.extend_from_slice(&srv_answer()[12..]);
            bytes.extend_from_slice(&tail);
            let _ = parse(&bytes);
        }

        #[test]
        fn build_then_parse_round_trips(id in any::<u16>(), flags in any::<u16>(), q in name(),
            answers in prop::collection::vec(record(), 0..4), additional in prop::collection::vec(record(), 0..4)) {
            let m = Message {
                id, flags,
                questions: vec![Question { name: q, qtype: TYPE_SRV, qclass: CLASS_IN }],
                answers, authority: Vec::new(), additional,
            };
            prop_assert_eq!(parse(&encode(&m).unwrap()).unwrap(), m);
        }

        #[test]
        fn queries_round_trip(id in any::<u16>(), q in name(), qtype in any::<u16>()) {
            let m = parse(&query(id, &q, qtype).unwrap()).unwrap();
            prop_assert_eq!(m.id, id);
            prop_assert_eq!(&m.questions[0].name, &q);
            prop_assert_eq!(m.questions[0].qtype, qtype);
        }
    }
}
