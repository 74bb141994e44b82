//! The box's TLS identity: a self-signed certificate made on first start and kept in the data
//! directory, used by HTTPS (and later SIP-TLS). Clients pin it by its SHA-256 fingerprint,
//! which the startup banner prints.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ring::digest;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}: no usable certificate or key in it")]
    Pem(String),
    #[error("generating the certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

pub struct Identity {
    pub cert_path: PathBuf,
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// Loads `dir/cert.pem` and `dir/key.pem`, generating both the first time. A pair that
    /// cannot be used (a box that lost power while an older version wrote it) is set aside as
    /// `*.damaged` and made anew, with a warning: a box without its HTTPS identity would never
    /// start again, and clients meet a new fingerprint either way.
    pub fn load_or_create(dir: &Path, hostname: &str) -> Result<Identity, TlsError> {
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        if !cert_path.exists() || !key_path.exists() {
            generate(dir, &cert_path, &key_path, hostname)?;
            return Self::load(cert_path, &key_path);
        }
        match Self::load(cert_path.clone(), &key_path) {
            Err(TlsError::Pem(damaged)) => {
                tracing::warn!(%damaged, "the TLS identity is damaged: set aside as *.damaged, making a new one");
                for path in [&cert_path, &key_path] {
                    let aside = path.with_extension("pem.damaged");
                    fs::rename(path, &aside)
                        .map_err(|source| TlsError::Io { path: aside.display().to_string(), source })?;
                }
                generate(dir, &cert_path, &key_path, hostname)?;
                Self::load(cert_path, &key_path)
            }
            loaded => loaded,
        }
    }

    fn load(cert_path: PathBuf, key_path: &Path) -> Result<Identity, TlsError> {
        let shown = |p: &Path| p.display().to_string();
        let read = |p: &Path| fs::read(p).map_err(|source| TlsError::Io { path: shown(p), source });
        let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut read(&cert_path)?.as_slice())
            .collect::<Result<_, _>>()
            .map_err(|_| TlsError::Pem(shown(&cert_path)))?;
        let key = rustls_pemfile::private_key(&mut read(key_path)?.as_slice())
            .ok()
            .flatten()
            .ok_or_else(|| TlsError::Pem(shown(key_path)))?;
        if certs.is_empty() {
            return Err(TlsError::Pem(shown(&cert_path)));
        }
        Ok(Identity { cert_path, certs, key })
    }

    /// SHA-256 of the leaf certificate, as `AB:CD:…`, the way browsers show it.
    pub fn fingerprint(&self) -> String {
        let der = self.certs.first().map(|c| c.as_ref()).unwrap_or_default();
        let d = digest::digest(&digest::SHA256, der);
        d.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
    }

    /// A rustls server config (ring provider) offering HTTP/2 and HTTP/1.1.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.certs.clone(), self.key.clone_key())?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl Identity {
    /// The acceptor for SIP over TLS (port 5061): the same certificate, no ALPN.
    pub fn sip_acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.certs.clone(), self.key.clone_key())?;
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

fn generate(dir: &Path, cert_path: &Path, key_path: &Path, hostname: &str) -> Result<(), TlsError> {
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| TlsError::Io { path, source }
    };
    fs::create_dir_all(dir).map_err(io(dir))?;
    let mut names = vec![hostname.to_owned(), "localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    names.dedup();
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(names)?;
    params.distinguished_name.push(rcgen::DnType::CommonName, format!("Outpost {hostname}"));
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "Outpost appliance");
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2049, 12, 31);
    let cert = params.self_signed(&key)?;
    // Key first, private from the start: never a moment where it is readable by others. Each
    // file whole or not at all: a power cut right after the first start must not leave one
    // empty (`load_or_create` checks both exist).
    crate::durable::write(key_path, key.serialize_pem().as_bytes(), 0o600).map_err(io(key_path))?;
    crate::durable::write(cert_path, cert.pem().as_bytes(), 0o644).map_err(io(cert_path))?;
    tracing::info!(path = %cert_path.display(), "generated a self-signed TLS certificate");
    Ok(())
}

/// The machine's host name, for the certificate and the banner.
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "outpost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_kept_across_starts_and_a_damaged_one_is_made_anew() {
        let dir = tempfile::tempdir().unwrap();
        let first = Identity::load_or_create(dir.path(), "outpost").unwrap().fingerprint();
        assert_eq!(Identity::load_or_create(dir.path(), "outpost").unwrap().fingerprint(), first);
        // What a power cut left with the old, unsynced write: the name, no bytes.
        fs::write(dir.path().join("cert.pem"), b"").unwrap();
        let again = Identity::load_or_create(dir.path(), "outpost").unwrap();
        assert_ne!(again.fingerprint(), first, "a new identity");
        assert!(again.server_config().is_ok());
        assert_eq!(fs::read(dir.path().join("cert.pem.damaged")).unwrap(), b"");
        assert!(dir.path().join("key.pem.damaged").exists(), "the old key is kept aside, not lost");
    }
}
