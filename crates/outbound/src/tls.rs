//! Client TLS that completes the handshake even when the certificate does
//! not verify, and says whether it did. Signatures over the handshake are
//! always checked; only the certificate's trust and name are recorded rather
//! than enforced, because the caller decides per message what an unverified
//! channel may carry (a PHI-free notification: yes; PHI: never).

use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::client::OutboundError;

/// Trust anchors for verifying MX certificates. Cheap to clone.
#[derive(Clone)]
pub struct TlsClient {
    roots: Arc<RootCertStore>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

#[derive(Debug)]
pub(crate) struct Verdict {
    pub(crate) verified: bool,
    pub(crate) error: Option<String>,
}

#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    verdict: Arc<Mutex<Verdict>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        let mut v = self.verdict.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(_) => *v = Verdict { verified: true, error: None },
            Err(e) => *v = Verdict { verified: false, error: Some(e.to_string()) },
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

impl TlsClient {
    /// The Mozilla root set plus the CA certificates in `extra_ca_files` (PEM).
    pub fn new(extra_ca_files: &[impl AsRef<Path>]) -> Result<Self, OutboundError> {
        let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        for path in extra_ca_files {
            let path = path.as_ref();
            let pem = std::fs::read(path).map_err(|e| OutboundError::Config(format!("{}: {e}", path.display())))?;
            for cert in rustls_pemfile::certs(&mut &pem[..]) {
                let cert = cert.map_err(|e| OutboundError::Config(format!("{}: {e}", path.display())))?;
                roots.add(cert).map_err(|e| OutboundError::Config(format!("{}: {e}", path.display())))?;
            }
        }
        Ok(Self { roots: Arc::new(roots), provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()) })
    }

    /// A client config for one connection, and the verdict it will record.
    pub(crate) fn for_connection(&self) -> Result<(Arc<ClientConfig>, Arc<Mutex<Verdict>>), OutboundError> {
        let inner = WebPkiServerVerifier::builder_with_provider(self.roots.clone(), self.provider.clone())
            .build()
            .map_err(|e| OutboundError::Config(e.to_string()))?;
        let verdict = Arc::new(Mutex::new(Verdict { verified: false, error: Some("no certificate seen".into()) }));
        let verifier = Arc::new(RecordingVerifier { inner, verdict: verdict.clone() });
        let config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| OutboundError::Config(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok((Arc::new(config), verdict))
    }
}
