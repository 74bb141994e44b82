//! SIP over TCP and TLS: one task per connection, framed by Content-Length, with CRLF
//! keepalives answered, an idle timeout, and bounds on connections per address and in total.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::framing::{self, Frame};
use super::message::{Transport, MAX_MESSAGE};
use super::{ReplyPath, Shared};

const MAX_CONNECTIONS: usize = 8192;

/// Open connections per source address.
#[derive(Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

impl PerIp {
    fn enter(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<PerIpGuard> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PerIpGuard(self.clone(), ip))
    }
}

struct PerIpGuard(Arc<PerIp>, IpAddr);

impl Drop for PerIpGuard {
    fn drop(&mut self) {
        let mut map = self.0 .0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.1);
            }
        }
    }
}

/// A connection's outgoing queue: what the rest of the box sends on it, and what its writer reads.
pub(super) type Channel = (mpsc::Sender<Vec<u8>>, mpsc::Receiver<Vec<u8>>);

pub struct Limits {
    pub per_ip: usize,
    pub idle: Duration,
}

/// Accepts TCP (or, with `tls`, TLS) connections until cancelled.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    limits: Arc<Limits>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let per_ip = Arc::new(PerIp::default());
    loop {
        let (tcp, peer) = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "SIP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "too many SIP connections: refusing");
            continue;
        };
        let Some(guard) = per_ip.enter(peer.ip(), limits.per_ip) else {
            tracing::info!(%peer, "too many SIP connections from this address: refusing");
            continue;
        };
        let (shared, limits, cancel, tls) = (shared.clone(), limits.clone(), cancel.clone(), tls.clone());
        tokio::spawn(async move {
            let _held = (slot, guard);
            let _ = tcp.set_nodelay(true);
            match tls {
                None => connection(tcp, peer, Transport::Tcp, shared, &limits, cancel, None).await,
                Some(acceptor) => match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => connection(stream, peer, Transport::Tls, shared, &limits, cancel, None).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "SIP TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "SIP TLS handshake timed out"),
                },
            }
        });
    }
}

/// Runs one connection. `channel`: the queue of a connection the box opened (already
/// registered, holding what was sent while it connected); accepted ones get a new one.
pub(super) async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    transport: Transport,
    shared: Arc<Shared>,
    limits: &Limits,
    cancel: CancellationToken,
    channel: Option<Channel>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (tx, mut rx) = channel.unwrap_or_else(|| mpsc::channel::<Vec<u8>>(64));
    let writer_task = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });
    let path = ReplyPath::Stream(tx.clone());
    // Requests to a phone registered over this connection go back on it.
    shared.stream_opened(peer, tx.clone());
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 8192];
    'conn: loop {
        let read = tokio::select! {
            () = cancel.cancelled() => break,
            r = tokio::time::timeout(limits.idle, reader.read(&mut chunk)) => r,
        };
        let n = match read {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Err(_) => {
                tracing::debug!(%peer, "idle SIP connection closed");
                break;
            }
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match framing::next(&buf) {
                Frame::Incomplete => break,
                Frame::Ping(n) => {
                    buf.drain(..n);
                    let _ = tx.send(b"\r\n".to_vec()).await;
                }
                Frame::Skip(n) => {
                    buf.drain(..n);
                }
                Frame::Message(n) => {
                    let message: Vec<u8> = buf.drain(..n).collect();
                    shared.process(&message, peer, transport, &path).await;
                }
                Frame::Invalid(why) => {
                    tracing::info!(%peer, reason = why, "closing an unframeable SIP stream");
                    shared.metrics.inc(
                        "outpost_sip_requests_total",
                        &[("transport", transport.name()), ("outcome", "malformed")],
                    );
                    break 'conn;
                }
            }
        }
        if buf.len() > MAX_MESSAGE {
            break;
        }
    }
    shared.stream_closed(peer);
    drop(path);
    drop(tx);
    let _ = writer_task.await;
}
