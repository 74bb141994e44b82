//! SIP over UDP: one socket, one task, one preallocated buffer; no task per packet.

use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::message::{Transport, MAX_MESSAGE};
use super::{ReplyPath, Shared};

pub async fn serve(socket: Arc<UdpSocket>, shared: Arc<Shared>, cancel: CancellationToken) -> anyhow::Result<()> {
    let mut buf = vec![0u8; MAX_MESSAGE + 1];
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
