//! SIP over UDP: one socket, one task, one preallocated buffer; no task per packet. The same
//! socket sends the B2BUA's requests, so phones behind NAT see one address and port.

use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::message::{Transport, MAX_MESSAGE};
use super::{ReplyPath, Shared};

pub async fn serve(socket: Arc<UdpSocket>, shared: Arc<Shared>, cancel: CancellationToken) -> anyhow::Result<()> {
    let mut buf = vec![0u8; MAX_MESSAGE + 1];
    // The B2BUA's messages to phones registered over UDP leave from this socket too.
    shared.set_udp(socket.clone());
    loop {
        let (len, source) = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            received = socket.recv_from(&mut buf) => match received {
                Ok(pair) => pair,
                // ICMP errors from an earlier send show up here on Linux: not fatal.
                Err(e) => {
                    tracing::debug!(error = %e, "UDP receive error");
                    continue;
                }
            },
        };
        let path = ReplyPath::Udp(socket.clone(), source);
        shared.process(&buf[..len], source, Transport::Udp, &path).await;
    }
}
