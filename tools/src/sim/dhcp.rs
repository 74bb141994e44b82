//! A phone's DHCP client: DISCOVER with the vendor's option 60, REQUEST the offer, and read
//! from the ACK where the provisioning server is (options 66, 67, 150, 160, 43).
//!
//! Many simulated phones share one socket on port 68 (only one may bind it): a reader thread
//! hands each reply to the phone whose transaction id it carries. The socket is bound to an
//! interface, as a phone on that wire, and sends to the broadcast address with the broadcast
//! flag set, so replies come back by broadcast whatever the phone's address.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};

use super::habits::Identity;

#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    #[error("no {0} from any DHCP server")]
    Timeout(&'static str),
    #[error("the server refused the request (NAK)")]
    Nak,
    #[error("cannot encode: {0}")]
    Encode(String),
    #[error("`{0}` is not a MAC address")]
    Mac(String),
}

/// What the ACK gave: the address and where to fetch the files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lease {
    pub ip: Option<Ipv4Addr>,
    /// Option 1, as a prefix length.
    pub prefix: Option<u32>,
    pub server: Option<Ipv4Addr>,
    /// Option 66: a host name or address, or a URL.
    pub tftp_server_name: Option<String>,
    /// Option 67.
    pub bootfile: Option<String>,
    /// Option 150 (Cisco).
    pub tftp_server_address: Option<Ipv4Addr>,
    /// Option 160 (Poly): a URL.
    pub provisioning_url: Option<String>,
    /// Option 43, raw.
    pub vendor_specific: Option<Vec<u8>>,
}

/// Where a phone of `vendor` looks first, as its firmware does: Poly 160, then 66 (a URL or a
/// TFTP server), then 150 (Cisco).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Url(String),
    Tftp(String),
}

impl Lease {
    pub fn source(&self) -> Option<Source> {
        if let Some(url) = &self.provisioning_url {
            return Some(Source::Url(url.clone()));
        }
        if let Some(name) = &self.tftp_server_name {
            if let Some(host) = name.strip_prefix("tftp://") {
                return Some(Source::Tftp(host.trim_end_matches('/').to_owned()));
            }
            if name.starts_with("https://") || name.starts_with("http://") {
                return Some(Source::Url(name.clone()));
            }
            return Some(Source::Tftp(name.clone()));
        }
        self.tftp_server_address.map(|ip| Source::Tftp(ip.to_string()))
    }
}

fn mac_bytes(mac: &str) -> Result<Vec<u8>, DhcpError> {
    let hex: String = mac.chars().filter(char::is_ascii_hexdigit).collect();
    if hex.len() != 12 {
        return Err(DhcpError::Mac(mac.to_owned()));
    }
    (0..6).map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).map_err(|_| DhcpError::Mac(mac.to_owned()))).collect()
}

const ASKED: [OptionCode; 9] = [
    OptionCode::SubnetMask,
    OptionCode::Router,
    OptionCode::DomainNameServer,
    OptionCode::NtpServers,
    OptionCode::TFTPServerName,
    OptionCode::BootfileName,
    OptionCode::TFTPServerAddress,
    OptionCode::VendorExtensions,
    OptionCode::Unknown(160),
];

/// A DISCOVER (no `offer`) or a REQUEST for `offer`'s address from its server.
pub fn request(phone: &Identity, xid: u32, offer: Option<&Lease>) -> Result<Vec<u8>, DhcpError> {
    let chaddr = mac_bytes(&phone.mac)?;
    let zero = Ipv4Addr::UNSPECIFIED;
    let mut msg = Message::new_with_id(xid, zero, zero, zero, zero, &chaddr);
    msg.set_flags(Flags::default().set_broadcast());
    let opts = msg.opts_mut();
    match offer {
        None => {
            opts.insert(DhcpOption::MessageType(MessageType::Discover));
        }
        Some(lease) => {
            opts.insert(DhcpOption::MessageType(MessageType::Request));
            if let Some(ip) = lease.ip {
                opts.insert(DhcpOption::RequestedIpAddress(ip));
            }
            if let Some(server) = lease.server {
                opts.insert(DhcpOption::ServerIdentifier(server));
            }
        }
    }
    opts.insert(DhcpOption::ClassIdentifier(phone.vendor_class()));
    opts.insert(DhcpOption::ParameterRequestList(ASKED.to_vec()));
    let mut out = Vec::with_capacity(400);
    msg.encode(&mut Encoder::new(&mut out)).map_err(|e| DhcpError::Encode(e.to_string()))?;
    Ok(out)
}

/// Reads a server's reply: its type and what it offers.
pub fn read_reply(bytes: &[u8]) -> Option<(u32, MessageType, Lease)> {
    let msg = Message::decode(&mut Decoder::new(bytes)).ok()?;
    if msg.opcode() != Opcode::BootReply {
        return None;
    }
    let opts = msg.opts();
    let kind = match opts.get(OptionCode::MessageType) {
        Some(DhcpOption::MessageType(t)) => *t,
        _ => return None,
    };
    let text = |code| match opts.get(code) {
        Some(DhcpOption::TFTPServerName(b)) | Some(DhcpOption::BootfileName(b)) => {
            Some(String::from_utf8_lossy(b).trim_end_matches('\0').to_owned())
        }
        Some(DhcpOption::Unknown(o)) => Some(String::from_utf8_lossy(o.data()).trim_end_matches('\0').to_owned()),
        _ => None,
    };
    let lease = Lease {
        ip: Some(msg.yiaddr()).filter(|ip| !ip.is_unspecified()),
        prefix: match opts.get(OptionCode::SubnetMask) {
            Some(DhcpOption::SubnetMask(mask)) => Some(u32::from(*mask).count_ones()),
            _ => None,
        },
        server: match opts.get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(ip)) => Some(*ip),
            _ => None,
        },
        tftp_server_name: text(OptionCode::TFTPServerName),
        bootfile: text(OptionCode::BootfileName),
        tftp_server_address: match opts.get(OptionCode::TFTPServerAddress) {
            Some(DhcpOption::TFTPServerAddress(ip)) => Some(*ip),
            _ => None,
        },
        provisioning_url: text(OptionCode::Unknown(160)),
        vendor_specific: match opts.get(OptionCode::VendorExtensions) {
            Some(DhcpOption::VendorExtensions(b)) => Some(b.clone()),
            _ => None,
        },
    };
    Some((msg.xid(), kind, lease))
}

type Waiters = Arc<Mutex<HashMap<u32, Sender<(MessageType, Lease)>>>>;

/// The shared DHCP socket of the simulated phones on one interface.
pub struct Client {
    socket: UdpSocket,
    waiters: Waiters,
    interface: String,
}

impl Client {
    /// Binds port 68 on `interface` (needs root or CAP_NET_RAW; run it in a namespace).
    pub fn bind(interface: &str) -> Result<Client, DhcpError> {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        socket.set_broadcast(true)?;
        socket.bind_device(Some(interface.as_bytes()))?;
        socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 68)).into())?;
        let socket: UdpSocket = socket.into();
        let waiters: Waiters = Arc::default();
        let (reader, to) = (socket.try_clone()?, waiters.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while let Ok((n, _)) = reader.recv_from(&mut buf) {
                let Some((xid, kind, lease)) = read_reply(&buf[..n]) else { continue };
                let waiters = to.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(tx) = waiters.get(&xid) {
                    let _ = tx.send((kind, lease));
                }
            }
        });
        Ok(Client { socket, waiters, interface: interface.to_owned() })
    }

    /// Puts the leased address on the interface, as the phone's network stack would (with
    /// `ip`; many simulated phones share one interface, each with its own address).
    pub fn assign(&self, lease: &Lease) -> Result<(), DhcpError> {
        let Some(ip) = lease.ip else { return Err(DhcpError::Nak) };
        let out = std::process::Command::new("ip")
            .args(["addr", "replace", &format!("{ip}/{}", lease.prefix.unwrap_or(24)), "dev", &self.interface])
            .output()?;
        if !out.status.success() {
            return Err(DhcpError::Io(std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_owned())));
        }
        Ok(())
    }

    /// DISCOVER → OFFER → REQUEST → ACK for `phone`, retransmitting every second.
    pub fn lease(&self, phone: &Identity, xid: u32, timeout: Duration) -> Result<Lease, DhcpError> {
        let (tx, rx) = channel();
        self.waiters.lock().unwrap_or_else(|p| p.into_inner()).insert(xid, tx);
        let result = self.exchange(phone, xid, timeout, &rx);
        self.waiters.lock().unwrap_or_else(|p| p.into_inner()).remove(&xid);
        result
    }

    fn exchange(
        &self,
        phone: &Identity,
        xid: u32,
        timeout: Duration,
        rx: &Receiver<(MessageType, Lease)>,
    ) -> Result<Lease, DhcpError> {
        let offer = self.ask(&request(phone, xid, None)?, &[MessageType::Offer], timeout, rx, "OFFER")?;
        let ack =
            self.ask(&request(phone, xid, Some(&offer))?, &[MessageType::Ack, MessageType::Nak], timeout, rx, "ACK")?;
        if ack.ip.is_none() {
            return Err(DhcpError::Nak);
        }
        Ok(ack)
    }

    fn ask(
        &self,
        packet: &[u8],
        want: &[MessageType],
        timeout: Duration,
        rx: &Receiver<(MessageType, Lease)>,
        what: &'static str,
    ) -> Result<Lease, DhcpError> {
        let deadline = Instant::now() + timeout;
        let broadcast = SocketAddr::from((Ipv4Addr::BROADCAST, 67));
        while Instant::now() < deadline {
            self.socket.send_to(packet, broadcast)?;
            let resend = Instant::now() + Duration::from_secs(1);
            while let Some(left) = resend.min(deadline).checked_duration_since(Instant::now()) {
                match rx.recv_timeout(left) {
                    Ok((MessageType::Nak, _)) => return Err(DhcpError::Nak),
                    Ok((kind, lease)) if want.contains(&kind) => return Ok(lease),
                    Ok(_) => continue,
                    Err(_) => break,
                }
            }
        }
        Err(DhcpError::Timeout(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use appliance::site::Vendor;

    fn reply(kind: MessageType, xid: u32, opts: Vec<DhcpOption>) -> Vec<u8> {
        let mut msg = Message::new_with_id(
            xid,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::new(10, 0, 0, 100),
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            &[1, 2, 3, 4, 5, 6],
        );
        msg.set_opcode(Opcode::BootReply);
        msg.opts_mut().insert(DhcpOption::MessageType(kind));
        for o in opts {
            msg.opts_mut().insert(o);
        }
        msg.to_vec().unwrap()
    }

    #[test]
    fn a_discover_carries_the_vendor_class_and_asks_for_the_provisioning_options() {
        let phone = Identity { vendor: Vendor::Cisco, mac: "00:1e:7a:01:02:03".into() };
        let bytes = request(&phone, 7, None).unwrap();
        let msg = Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(&msg.chaddr()[..6], &[0x00, 0x1e, 0x7a, 1, 2, 3]);
        assert_eq!(
            msg.opts().get(OptionCode::ClassIdentifier),
            Some(&DhcpOption::ClassIdentifier(phone.vendor_class()))
        );
        assert!(msg.flags().broadcast());
    }

    #[test]
    fn where_each_option_sends_the_phone() {
        let poly = reply(
            MessageType::Ack,
            9,
            vec![
                DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 0, 1)),
                DhcpOption::Unknown(dhcproto::v4::UnknownOption::new(
                    OptionCode::Unknown(160),
                    b"https://10.0.0.1/prov/".to_vec(),
                )),
                DhcpOption::TFTPServerName(b"10.0.0.1\0".to_vec()),
            ],
        );
        let (xid, kind, lease) = read_reply(&poly).unwrap();
        assert_eq!((xid, kind, lease.ip), (9, MessageType::Ack, Some(Ipv4Addr::new(10, 0, 0, 100))));
        assert_eq!(lease.source(), Some(Source::Url("https://10.0.0.1/prov/".into())));
        let yealink = reply(MessageType::Ack, 1, vec![DhcpOption::TFTPServerName(b"10.0.0.1".to_vec())]);
        assert_eq!(read_reply(&yealink).unwrap().2.source(), Some(Source::Tftp("10.0.0.1".into())));
        let cisco = reply(MessageType::Ack, 1, vec![DhcpOption::TFTPServerAddress(Ipv4Addr::new(10, 0, 0, 1))]);
        assert_eq!(read_reply(&cisco).unwrap().2.source(), Some(Source::Tftp("10.0.0.1".into())));
        assert_eq!(read_reply(b"not dhcp"), None);
    }
}
