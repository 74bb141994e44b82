//! The TFTP driver: `async-tftp` with a handler that builds each file on request (no
//! directory on disk) and refuses every write.
//!
//! TFTP has no authentication and no encryption, so it serves only what holds no secret: the
//! vendor's common file (a bootstrap that points the phone at HTTPS) and device files rendered
//! without credentials. A DHCP scope may allow credentials over TFTP for its network
//! (`allow_secrets_over_tftp`, for phones that cannot do HTTPS); the daemon warns at start
//! when one does. MACs asked for that the inventory does not list are recorded as discovered
//! devices, and count toward the same scan guard as HTTPS.
//!
//! `async-tftp` runs on async-io's reactor, which works under any executor: the server is a
//! future polled by a tokio task, and dropping it (on cancellation) ends every transfer.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_tftp::packet;
use async_tftp::server::{Handler, TftpServerBuilder};
use futures_lite::io::{Cursor, Sink};
use tokio_util::sync::CancellationToken;

use super::decide::{decide, tftp_may_carry_secrets, Decision};
use super::service::Provisioner;

/// Largest block: 1468 bytes fit a 1500-byte Ethernet frame (what U-Boot and phones ask for).
const MAX_BLOCK_SIZE: u16 = 1468;
const MAX_WINDOW: u16 = 8;
/// A spoofed request makes us send to its victim: few retries keep that small.
const MAX_RETRIES: u32 = 5;
const TIMEOUT: Duration = Duration::from_secs(3);

/// Serves TFTP on `socket` until `cancel`.
pub async fn serve(
    socket: std::net::UdpSocket,
    prov: Arc<Provisioner>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let server = TftpServerBuilder::with_handler(Files { prov })
        .std_socket(socket)?
        .block_size_limit(MAX_BLOCK_SIZE)
        .window_size_limit(MAX_WINDOW)
        .max_send_retries(MAX_RETRIES)
        .timeout(TIMEOUT)
        .build()
        .await?;
    tokio::select! {
        () = cancel.cancelled() => Ok(()),
        result = server.serve() => Ok(result?),
    }
}

/// Says loudly when a DHCP scope lets TFTP carry credentials (in clear, to anyone on the LAN).
pub fn warn_if_secrets_allowed(doc: &crate::site::SiteDoc) {
    for scope in doc.dhcp_scopes.iter().filter(|s| s.allow_secrets_over_tftp) {
        tracing::warn!(
            scope = %scope.name,
            network = %scope.network,
            "DHCP scope allows SIP credentials over TFTP: anyone on that network can read them"
        );
    }
}

struct Files {
    prov: Arc<Provisioner>,
}

impl Handler for Files {
    type Reader = Cursor<Vec<u8>>;
    type Writer = Sink;

    async fn read_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
    ) -> Result<(Self::Reader, Option<u64>), packet::Error> {
        let body = read(&self.prov, *client, path.to_str().unwrap_or_default()).await?;
        let size = body.len() as u64;
        Ok((Cursor::new(body), Some(size)))
    }

    async fn write_req_open(
        &mut self,
        client: &SocketAddr,
        path: &Path,
        _size: Option<u64>,
    ) -> Result<Self::Writer, packet::Error> {
        tracing::info!(%client, path = %path.display(), "TFTP write refused (read-only)");
        self.prov.count("tftp", "write_refused");
        Err(packet::Error::PermissionDenied)
    }
}

/// Looks like an attempt to leave the directory: answered "access violation". One leading
/// slash is how many phones write a file at the root (Cisco asks for `/spa<mac>.xml`).
fn escapes(path: &str) -> bool {
    let rest = path.strip_prefix('/').unwrap_or(path);
    rest.contains('/') || path.contains("..") || path.contains('\\') || path.contains('\0')
}

async fn read(prov: &Provisioner, client: SocketAddr, path: &str) -> Result<Vec<u8>, packet::Error> {
    let ip = client.ip();
    if prov.banned(ip).is_some() {
        prov.count("tftp", "banned");
        return Err(packet::Error::PermissionDenied);
    }
    let doc = prov.doc().await.map_err(|e| {
        tracing::error!(error = %e, "TFTP: cannot read the site config");
        packet::Error::UnknownError
    })?;
    let secrets = tftp_may_carry_secrets(&doc, ip);
    let name = path.strip_prefix('/').unwrap_or(path);
    match decide(&doc, &prov.endpoint, name, None, secrets) {
        Decision::Found { rendered, phone } => {
            let kind = if phone.is_some() { "device" } else { "common" };
            prov.count("tftp", kind);
            tracing::info!(%client, path, kind, secrets, "TFTP file served");
            if let Some(phone) = phone.as_deref() {
                prov.fetched(&phone.mac, "tftp", ip).await;
            }
            Ok(rendered.body)
        }
        Decision::NoSuchFile if escapes(path) => {
            prov.count("tftp", "refused");
            tracing::warn!(%client, path, "TFTP path outside the served files refused");
            Err(packet::Error::PermissionDenied)
        }
        Decision::NoSuchFile | Decision::MacMismatch { .. } => {
            prov.count("tftp", "not_found");
            tracing::debug!(%client, path, "TFTP: no such file");
            Err(packet::Error::FileNotFound)
        }
        Decision::Unknown { mac, vendor, model } => {
            prov.count("tftp", "unknown_device");
            tracing::info!(%client, %mac, "TFTP request from a device not in the inventory: recorded as discovered");
            prov.seen(&mac, vendor, model.as_deref(), "tftp").await;
            prov.strike(ip, &mac, "tftp");
            Err(packet::Error::FileNotFound)
        }
        Decision::Failed(e) => {
            prov.count("tftp", "error");
            tracing::error!(%client, path, error = %e, "TFTP: cannot build the file");
            Err(packet::Error::UnknownError)
        }
    }
}
