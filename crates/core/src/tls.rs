//! TLS for every listener: TLS 1.2 and 1.3 only (rustls supports nothing
//! older), aws-lc-rs provider. A self-signed certificate is generated on
//! first start so `sealpost serve` works with zero set-up.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::ServerError;
use crate::fsutil::write_private;

/// Writes a self-signed certificate for `hostname` (and localhost, 127.0.0.1)
/// unless both files already exist.
pub fn ensure_certificate(cert: &Path, key: &Path, hostname: &str) -> Result<bool, ServerError> {
    if cert.exists() && key.exists() {
        return Ok(false);
    }
    let mut names = vec![hostname.to_owned(), "localhost".to_owned(), "127.0.0.1".to_owned()];
    names.dedup();
    let ck = rcgen::generate_simple_self_signed(names).map_err(|e| ServerError::Tls(e.to_string()))?;
    write_private(key, ck.signing_key.serialize_pem().as_bytes())?;
    if let Some(dir) = cert.parent() {
        std::fs::create_dir_all(dir).map_err(ServerError::io("creating tls directory"))?;
    }
    std::fs::write(cert, ck.cert.pem()).map_err(ServerError::io("writing certificate"))?;
    Ok(true)
}

/// Loads the certificate chain and key into an acceptor.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServerError> {
    let certs: Vec<CertificateDer<'static>> = {
        let pem = std::fs::read(cert).map_err(ServerError::io(format!("reading {}", cert.display())))?;
        rustls_pemfile::certs(&mut &pem[..])
            .collect::<Result<_, _>>()
            .map_err(|e| ServerError::Tls(format!("{}: {e}", cert.display())))?
    };
    let key: PrivateKeyDer<'static> = {
        let pem = std::fs::read(key).map_err(ServerError::io(format!("reading {}", key.display())))?;
        rustls_pemfile::private_key(&mut &pem[..])
            .map_err(|e| ServerError::Tls(e.to_string()))?
            .ok_or_else(|| ServerError::Tls(format!("{}: no private key", key.display())))?
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
