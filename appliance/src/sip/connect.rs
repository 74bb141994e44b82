//! Connections the box opens itself: towards TCP and TLS trunks (phones open theirs). The
//! first message to a trunk without a connection opens one; messages sent meanwhile queue on
//! its channel; the connection then runs like an accepted one (framing, keepalives), so the
//! trunk's answers and requests come back on it. TLS checks the trunk's certificate against
//! the system's CAs (and `[sip] trunk_ca_file`) for the trunk's host name.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

use super::b2bua::dialog::Dest;
use super::message::Transport;
use super::stream::{connection, Limits};
use super::Shared;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot read the trunk CA file {path}: {source}")]
    CaFile { path: String, source: std::io::Error },
    #[error("no CA certificate could be loaded for TLS trunks")]
    NoRoots,
}

/// The TLS client for trunks: the system's roots plus those of `extra`.
pub fn tls_connector(extra: Option<&Path>) -> Result<TlsConnector, ConnectError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = extra {
        let err = |source| ConnectError::CaFile { path: path.display().to_string(), source };
        let pem = std::fs::read(path).map_err(err)?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let _ = roots.add(cert.map_err(err)?);
        }
    }
    if roots.is_empty() {
        return Err(ConnectError::NoRoots);
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|_| ConnectError::NoRoots)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Opens a connection to `dest` (a trunk reached as `host`), returning the channel its
/// messages go on. The connection is registered as open at once, so that what follows queues.
pub fn open(shared: &Arc<Shared>, dest: Dest, host: String) -> mpsc::Sender<Vec<u8>> {
    let (tx, rx) = mpsc::channel::<Vec<u8>>(64);
    shared.stream_opened(dest.addr, tx.clone());
    let (shared, out) = (shared.clone(), tx.clone());
    tokio::spawn(async move {
        let peer = dest.addr;
        let limits = Limits { per_ip: 1, idle: Duration::from_secs(600) };
        let cancel = CancellationToken::new();
        let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(peer)).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return failed(&shared, peer, &e.to_string()),
            Err(_) => return failed(&shared, peer, "connect timed out"),
        };
        let _ = tcp.set_nodelay(true);
        tracing::info!(%peer, transport = dest.transport.name(), "connected to a trunk");
        match dest.transport {
            Transport::Tls => {
                let Some(connector) = shared.trunk_tls.clone() else {
                    return failed(&shared, peer, "no TLS client (no CA certificates)");
                };
                let name = match host.parse::<std::net::IpAddr>() {
                    Ok(ip) => ServerName::IpAddress(ip.into()),
                    Err(_) => match ServerName::try_from(host.clone()) {
                        Ok(n) => n,
                        Err(_) => return failed(&shared, peer, "the trunk's host is not a valid TLS name"),
                    },
                };
                match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp)).await {
                    Ok(Ok(tls)) => {
                        connection(tls, peer, Transport::Tls, shared, &limits, cancel, Some((out, rx))).await
                    }
                    Ok(Err(e)) => failed(&shared, peer, &format!("TLS: {e}")),
                    Err(_) => failed(&shared, peer, "TLS handshake timed out"),
                }
            }
            _ => connection(tcp, peer, Transport::Tcp, shared, &limits, cancel, Some((out, rx))).await,
        }
    });
    tx
}

fn failed(shared: &Shared, peer: SocketAddr, why: &str) {
    tracing::warn!(%peer, reason = why, "cannot connect to a trunk");
    shared.stream_closed(peer);
}
