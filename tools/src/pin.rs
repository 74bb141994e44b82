//! Certificate pinning for the box's self-signed HTTPS certificate.
//!
//! A box is reached by whatever address the admin has (a DHCP lease, a VPN, a console cable's
//! link-local address), so host-name checks would fail or push people towards an "insecure"
//! switch. Instead the admin hands us the box's certificate file, and we accept a server only
//! if it presents exactly that certificate. Handshake signatures are still verified, so a peer
//! that merely copied the public certificate cannot pass.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, OtherError, SignatureScheme};

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("cannot read the certificate file {}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} holds no PEM certificate (expected the box's tls/cert.pem)", .0.display())]
    Empty(PathBuf),
    #[error("cannot set up TLS")]
    Tls(#[from] rustls::Error),
}

/// Why a handshake was refused; shown to the admin through the TLS error.
#[derive(Debug, thiserror::Error)]
#[error("the server's certificate is not the one in {0} (wrong box, or its certificate changed)")]
pub struct NotPinned(String);

/// Accepts a server only if its end-entity certificate is byte-for-byte one of the pinned ones.
#[derive(Debug)]
pub struct PinnedCert {
    pinned: Vec<CertificateDer<'static>>,
    file: String,
    provider: Arc<CryptoProvider>,
}

impl PinnedCert {
    /// Loads every certificate of a PEM file; a file with several lets a box roll its key.
    pub fn load(path: &Path, provider: Arc<CryptoProvider>) -> Result<PinnedCert, PinError> {
        let read = |source| PinError::Read { path: path.to_owned(), source };
        let pem = std::fs::read(path).map_err(read)?;
        let pinned = rustls_pemfile::certs(&mut pem.as_slice()).collect::<Result<Vec<_>, _>>().map_err(read)?;
        if pinned.is_empty() {
            return Err(PinError::Empty(path.to_owned()));
        }
        Ok(PinnedCert { pinned, file: path.display().to_string(), provider })
    }
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pinned.iter().any(|cert| cert.as_ref() == end_entity.as_ref()) {
            Ok(ServerCertVerified::assertion())
        } else {
            let why = OtherError(Arc::new(NotPinned(self.file.clone())));
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(why)))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS client configuration (ring provider) that trusts only the certificate(s) in `cacert`.
pub fn client_config(cacert: &Path) -> Result<ClientConfig, PinError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = PinnedCert::load(cacert, provider.clone())?;
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(dir: &Path, name: &str) -> (PathBuf, CertificateDer<'static>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["outpost.local".into()]).unwrap().self_signed(&key).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, cert.pem()).unwrap();
        (path, cert.der().clone())
    }

    fn check(verifier: &PinnedCert, cert: &CertificateDer<'_>) -> Result<ServerCertVerified, rustls::Error> {
        let name = ServerName::try_from("192.0.2.1").unwrap();
        verifier.verify_server_cert(cert, &[], &name, &[], UnixTime::now())
    }

    #[test]
    fn only_the_pinned_certificate_is_accepted_whatever_the_address() {
        let dir = tempfile::tempdir().unwrap();
        let (ours, our_der) = self_signed(dir.path(), "ours.pem");
        let (_, other_der) = self_signed(dir.path(), "other.pem");
        let verifier = PinnedCert::load(&ours, Arc::new(rustls::crypto::ring::default_provider())).unwrap();
        assert!(check(&verifier, &our_der).is_ok());
        let refused = check(&verifier, &other_der).unwrap_err();
        let rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(why))) = refused else {
            panic!("{refused:?}");
        };
        assert!(why.to_string().contains("not the one in"), "{why}");
    }

    #[test]
    fn a_file_without_certificates_is_refused_up_front() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        assert!(matches!(client_config(&path), Err(PinError::Empty(_))));
        assert!(matches!(client_config(&dir.path().join("missing.pem")), Err(PinError::Read { .. })));
    }
}
