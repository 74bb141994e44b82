//! A minimal TFTP client (RFC 1350, octet mode, 512-byte blocks): what a phone's boot ROM does.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum TftpError {
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    #[error("server error {code}: {message}")]
    Server { code: u16, message: String },
    #[error("protocol: {0}")]
    Protocol(&'static str),
}

/// Fetches `file` from `server`.
pub fn get(server: SocketAddr, file: &str) -> Result<Vec<u8>, TftpError> {
    let socket = UdpSocket::bind(if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })?;
    socket.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut rrq = vec![0, 1];
    rrq.extend_from_slice(file.as_bytes());
    rrq.extend_from_slice(b"\0octet\0");
    socket.send_to(&rrq, server)?;
    let mut data = Vec::new();
    let mut expected: u16 = 1;
    let mut peer = None;
    let mut buf = [0u8; 516];
    let mut tries = 0;
    loop {
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if tries < 3 && matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                tries += 1;
                match peer {
                    None => socket.send_to(&rrq, server)?,
                    Some(p) => socket.send_to(&ack(expected.wrapping_sub(1)), p)?,
                };
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        tries = 0;
        // The server answers from a new port: the transfer is bound to it (TID).
        let peer = *peer.get_or_insert(from);
        if from != peer || n < 4 {
            continue;
        }
        match u16::from_be_bytes([buf[0], buf[1]]) {
            3 => {
                let block = u16::from_be_bytes([buf[2], buf[3]]);
                if block == expected {
                    data.extend_from_slice(&buf[4..n]);
                    expected = expected.wrapping_add(1);
                }
                socket.send_to(&ack(block), peer)?;
                if block == expected.wrapping_sub(1) && n < 516 {
                    return Ok(data);
                }
            }
            5 => {
                let code = u16::from_be_bytes([buf[2], buf[3]]);
                let message = String::from_utf8_lossy(&buf[4..n]).trim_end_matches('\0').to_owned();
                return Err(TftpError::Server { code, message });
            }
            _ => return Err(TftpError::Protocol("unexpected TFTP packet")),
        }
    }
}

fn ack(block: u16) -> [u8; 4] {
    let b = block.to_be_bytes();
    [0, 4, b[0], b[1]]
}
