//! The embedded broker: `rumqttd` on a loopback port, reached only by the fleet's own MQTT
//! link and by the `gateway`, which is what boxes connect to (per-box ACL, TLS).
//!
//! rumqttd is built without its TLS feature (it pins rustls 0.22); TLS is the gateway's, with
//! the workspace's rustls 0.23. rumqttd accepts only the random `secret` of this process as
//! password, so another local process cannot bypass the gateway on the loopback port.
//!
//! # Layout
//! - `acl`: the pure decision (may this box connect / publish / subscribe?).
//! - `gateway`: the listener, TLS and the packet-by-packet check.
//! - `verified`: box passwords checked recently (a reconnect costs a SHA-256, not PBKDF2).
//! - here: rumqttd's config and start, the TLS server config, the self-signed certificate.

pub mod acl;
pub mod gateway;
pub mod verified;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("the embedded broker: {0}")]
    Start(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{path}: {error}")]
    File { path: PathBuf, error: std::io::Error },
}

/// The internal broker, as the fleet's link and the gateway reach it.
pub struct Embedded {
    pub addr: SocketAddr,
    /// The only password rumqttd accepts (random per process, never logged).
    pub secret: Arc<str>,
}

/// Client id and username of the fleet's own link on the internal broker: not a valid box id
/// (it starts with `_`), so no box can take over its session through the gateway.
pub const FLEET_CLIENT: &str = "_outpost-fleet";

/// Starts rumqttd in its own threads (it runs its own runtimes) on a free loopback port and
/// waits until it accepts connections.
pub fn start() -> Result<Embedded, BrokerError> {
    let secret: Arc<str> =
        cloud_sync::password::random_password(32).map_err(|e| BrokerError::Start(e.to_string()))?.into();
    // rumqttd binds by itself and cannot report the port it got: take a free one.
    let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| BrokerError::Start(format!("no free loopback port: {e}")))?
        .port();
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let mut connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 10_000,
        max_payload_size: gateway::MAX_PACKET,
        max_inflight_count: 100,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let expected = secret.clone();
    connections.set_auth_handler(move |_client: String, _user: String, password: String| {
        let ok = cloud_sync::password::same(password.as_bytes(), expected.as_bytes());
        async move { ok }
    });
    let server = rumqttd::ServerSettings {
        name: "internal".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 0,
        connections,
    };
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 100_010,
            max_outgoing_packet_count: 200,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 4,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(HashMap::from([("internal".to_owned(), server)])),
        ..Default::default()
    };
    std::thread::Builder::new()
        .name("rumqttd".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "the embedded broker stopped");
            }
        })
        .map_err(|e| BrokerError::Start(e.to_string()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            return Err(BrokerError::Start(format!("not listening on {addr} after 10 s")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    tracing::info!(%addr, "embedded broker listening (internal)");
    Ok(Embedded { addr, secret })
}

/// The gateway's TLS config from PEM files.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, BrokerError> {
    let read = |p: &Path| std::fs::read(p).map_err(|error| BrokerError::File { path: p.to_owned(), error });
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BrokerError::Tls(format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(BrokerError::Tls(format!("{}: no certificate", cert.display())));
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| BrokerError::Tls(format!("{}: {e}", key.display())))?
        .ok_or_else(|| BrokerError::Tls(format!("{}: no private key", key.display())))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| BrokerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| BrokerError::Tls(e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// `<data>/mqtt-cert.pem` and `mqtt-key.pem`, made self-signed on first start (kept after, so
/// boxes that pinned it as their `ca_file` keep trusting it). The names are those a box may
/// dial: `localhost`, the loopback addresses, the listen address unless unspecified, the
/// host name, and `extra_names`.
pub fn self_signed(data: &Path, listen: IpAddr, extra_names: &[String]) -> Result<(PathBuf, PathBuf), BrokerError> {
    let cert = data.join("mqtt-cert.pem");
    let key = data.join("mqtt-key.pem");
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    if !listen.is_unspecified() {
        names.push(listen.to_string());
    }
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            names.push(host.to_owned());
        }
    }
    names.extend(extra_names.iter().cloned());
    names.sort();
    names.dedup();
    let made = rcgen::generate_simple_self_signed(names).map_err(|e| BrokerError::Tls(e.to_string()))?;
    let write = |p: &Path, text: String| {
        std::fs::write(p, text).map_err(|error| BrokerError::File { path: p.to_owned(), error })
    };
    write(&key, made.key_pair.serialize_pem())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600));
    }
    write(&cert, made.cert.pem())?;
    tracing::info!(cert = %cert.display(), "made a self-signed certificate for the MQTT gateway: give it to boxes as [cloud] ca_file");
    Ok((cert, key))
}
