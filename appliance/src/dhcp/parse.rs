//! Bytes to a checked `Request`: what the decision steps need, read once. Anything a reply
//! could not be built from (not a BOOTREQUEST, not Ethernet, no message type) is refused here
//! with a reason that the driver counts.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder};

/// Fixed BOOTP header (236 bytes) plus the magic cookie.
const HEADER: usize = 240;
const MAGIC: [u8; 4] = [99, 130, 83, 99];

/// Why a packet got no answer before any decision; the label of the drop counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not decodable as DHCP.
    Malformed,
    /// A BOOTREPLY (another server's answer) or our own traffic.
    NotRequest,
    /// BOOTP without option 53: not served.
    Bootp,
    /// Not Ethernet with a 6-byte hardware address.
    NotEthernet,
}

impl Refused {
    pub fn label(self) -> &'static str {
        match self {
            Refused::Malformed => "malformed",
            Refused::NotRequest => "not_request",
            Refused::Bootp => "bootp",
            Refused::NotEthernet => "not_ethernet",
        }
    }
}

/// A client message, checked.
#[derive(Debug, Clone)]
pub struct Request {
    pub msg: Message,
    pub kind: MessageType,
    /// Normalised `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    pub chaddr: [u8; 6],
    pub ciaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub requested_ip: Option<Ipv4Addr>,
    pub server_id: Option<Ipv4Addr>,
    /// Option 60 as sent (Cisco ends it with a NUL).
    pub vendor_class: Option<Vec<u8>>,
    /// Option 55.
    pub wanted: Vec<u8>,
    pub hostname: String,
    /// Option 82 exactly as received (code, length and value), echoed unchanged in the reply.
    pub relay_info: Option<Vec<u8>>,
    /// Option 82 sub-option 1 (circuit id), the key of the per-circuit rate limit.
    pub circuit_id: Option<Vec<u8>>,
}

pub fn parse(bytes: &[u8]) -> Result<Request, Refused> {
    // Checked by hand first: dhcproto trusts `hlen` when slicing `chaddr`.
    if bytes.len() < HEADER || bytes[236..240] != MAGIC {
        return Err(Refused::Malformed);
    }
    if bytes[0] != 1 {
        return Err(Refused::NotRequest);
    }
    if bytes[1] != 1 || bytes[2] != 6 {
        return Err(Refused::NotEthernet);
    }
    let msg = Message::decode(&mut Decoder::new(&sanitized(bytes))).map_err(|_| Refused::Malformed)?;
    if msg.opcode() != Opcode::BootRequest {
        return Err(Refused::NotRequest);
    }
    let kind = match msg.opts().get(OptionCode::MessageType) {
        Some(DhcpOption::MessageType(t)) => *t,
        _ => return Err(Refused::Bootp),
    };
    let mut chaddr = [0u8; 6];
    chaddr.copy_from_slice(&bytes[28..34]);
    let mac = chaddr.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    let opts = msg.opts();
    let ip_opt = |code| match opts.get(code) {
        Some(DhcpOption::RequestedIpAddress(ip)) | Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
        _ => None,
    };
    let vendor_class = match opts.get(OptionCode::ClassIdentifier) {
        Some(DhcpOption::ClassIdentifier(v)) => Some(v.clone()),
        _ => None,
    };
    let wanted = match opts.get(OptionCode::ParameterRequestList) {
        Some(DhcpOption::ParameterRequestList(list)) => list.iter().map(|c| u8::from(*c)).collect(),
        _ => Vec::new(),
    };
    let hostname = match opts.get(OptionCode::Hostname) {
        Some(DhcpOption::Hostname(h)) => h.chars().filter(|c| c.is_ascii_graphic()).take(64).collect(),
        _ => String::new(),
    };
    let relay_info = raw_option(&bytes[HEADER..], 82);
    let circuit_id = relay_info.as_deref().and_then(|o| sub_option(o.get(2..)?, 1));
    Ok(Request {
        kind,
        mac,
        chaddr,
        ciaddr: msg.ciaddr(),
        giaddr: msg.giaddr(),
        requested_ip: ip_opt(OptionCode::RequestedIpAddress),
        server_id: ip_opt(OptionCode::ServerIdentifier),
        vendor_class,
        wanted,
        hostname,
        relay_info,
        circuit_id,
        msg,
    })
}

/// Any DHCP message (a rival server's OFFER to the probe, say) decoded through `sanitized`.
pub fn decode_message(bytes: &[u8]) -> Option<Message> {
    if bytes.len() < HEADER || bytes[236..240] != MAGIC || bytes[2] > 16 {
        return None;
    }
    Message::decode(&mut Decoder::new(&sanitized(bytes))).ok()
}

/// Options the core reads, with the lengths it accepts (`None`: any).
const KEPT: &[(u8, Option<usize>)] =
    &[(12, None), (50, Some(4)), (53, Some(1)), (54, Some(4)), (55, None), (57, Some(2)), (60, None), (61, None)];

/// The header and only the options the core reads, each once and with a sound length. dhcproto
/// is never shown the rest: some of its option decoders `debug_assert!` a length (a panic in a
/// debug build on a crafted packet, found by the fuzz target), and what is not read cannot
/// mislead.
fn sanitized(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes[..HEADER].to_vec();
    let mut area = &bytes[HEADER..];
    let mut seen = [false; 256];
    while let Some((&code, rest)) = area.split_first() {
        match code {
            0 => area = rest,
            255 => break,
            _ => {
                let Some(len) = rest.first().map(|l| usize::from(*l)) else { break };
                let Some(tlv) = area.get(..2 + len) else { break };
                let sound = KEPT.iter().any(|(c, want)| *c == code && want.is_none_or(|w| w == len));
                if sound && !seen[usize::from(code)] {
                    seen[usize::from(code)] = true;
                    out.extend_from_slice(tlv);
                }
                area = &area[2 + len..];
            }
        }
    }
    out.push(255);
    out
}

/// The first occurrence of option `code` in an options area, as its raw TLV bytes.
fn raw_option(mut area: &[u8], code: u8) -> Option<Vec<u8>> {
    while let Some((&c, rest)) = area.split_first() {
        match c {
            0 => area = rest,
            255 => return None,
            _ => {
                let len = usize::from(*rest.first()?);
                let tlv = area.get(..2 + len)?;
                if c == code {
                    return Some(tlv.to_vec());
                }
                area = &area[2 + len..];
            }
        }
    }
    None
}

/// The value of sub-option `code` in an encapsulated option's value (option 82, 43).
fn sub_option(mut value: &[u8], code: u8) -> Option<Vec<u8>> {
    while value.len() >= 2 {
        let len = usize::from(value[1]);
        let body = value.get(2..2 + len)?;
        if value[0] == code {
            return Some(body.to_vec());
        }
        value = &value[2 + len..];
    }
    None
}
