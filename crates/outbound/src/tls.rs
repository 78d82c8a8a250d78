//! Client TLS that completes the handshake even when the certificate does
//! not verify, and says whether it did. Signatures over the handshake are
//! always checked; only the certificate's trust and name are recorded rather
//! than enforced, because the caller decides per message what an unverified
//! channel may carry (a PHI-free notification: yes; PHI: never).
//!
//! With usable DANE TLSA records for the connection, DANE decides instead of
//! WebPKI (RFC 7672 §2.2): a match verifies even a self-signed certificate,
//! no match fails even a publicly trusted one (see [`crate::dane`]).

use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::dane::{self, DaneVerdict, Tlsa};

/// Trust anchors for verifying MX certificates. Cheap to clone.
#[derive(Clone)]
pub struct TlsClient {
    roots: Arc<RootCertStore>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

#[derive(Debug)]
pub(crate) struct Verdict {
    pub(crate) verified: bool,
    /// Verified by a DANE TLSA match (rather than WebPKI).
    pub(crate) dane: bool,
    pub(crate) error: Option<String>,
}

#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    /// Authenticated TLSA records of this MX (empty: DANE does not apply).
    tlsa: Vec<Tlsa>,
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
        let dane = dane::authenticate(&self.tlsa, end_entity, intermediates, server_name, now, &self.provider);
        let verdict = match dane {
            DaneVerdict::Authenticated => Verdict { verified: true, dane: true, error: None },
            DaneVerdict::Failed(why) => Verdict { verified: false, dane: false, error: Some(why.to_owned()) },
            DaneVerdict::NotApplicable => {
                match self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
                    Ok(_) => Verdict { verified: true, dane: false, error: None },
                    Err(e) => Verdict { verified: false, dane: false, error: Some(e.to_string()) },
                }
            }
        };
        *self.verdict.lock().unwrap_or_else(|p| p.into_inner()) = verdict;
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

/// The Mozilla root set plus the CA certificates in `extra_ca_files` (PEM):
/// the one trust store for MX connections and for MTA-STS/WKD fetches. The
/// error names the file.
pub fn trust_roots(extra_ca_files: &[impl AsRef<Path>]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for path in extra_ca_files {
        let path = path.as_ref();
        let named = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let pem = std::fs::read(path).map_err(|e| named(&e))?;
        for cert in rustls_pemfile::certs(&mut &pem[..]) {
            let cert = cert.map_err(|e| named(&e))?;
            roots.add(cert).map_err(|e| named(&e))?;
        }
    }
    Ok(roots)
}

/// The trust roots or a client configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsConfigError(pub String);

impl TlsClient {
    /// The Mozilla root set plus the CA certificates in `extra_ca_files` (PEM).
    pub fn new(extra_ca_files: &[impl AsRef<Path>]) -> Result<Self, TlsConfigError> {
        let roots = trust_roots(extra_ca_files).map_err(TlsConfigError)?;
        Ok(Self { roots: Arc::new(roots), provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()) })
    }

    /// A client config for one connection, and the verdict it will record;
    /// `tlsa` are the MX's authenticated TLSA records (may be empty).
    pub(crate) fn for_connection(
        &self,
        tlsa: &[Tlsa],
    ) -> Result<(Arc<ClientConfig>, Arc<Mutex<Verdict>>), TlsConfigError> {
        let inner = WebPkiServerVerifier::builder_with_provider(self.roots.clone(), self.provider.clone())
            .build()
            .map_err(|e| TlsConfigError(e.to_string()))?;
        let verdict =
            Arc::new(Mutex::new(Verdict { verified: false, dane: false, error: Some("no certificate seen".into()) }));
        let verifier = Arc::new(RecordingVerifier {
            inner,
            provider: self.provider.clone(),
            tlsa: tlsa.to_vec(),
            verdict: verdict.clone(),
        });
        let config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsConfigError(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok((Arc::new(config), verdict))
    }
}
