//! A throwaway PKI: a test CA that issues server certificates, and
//! self-signed certificates for "untrusted peer" tests (rcgen, ECDSA P-256).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::{Error, Result, io};

/// A certificate authority for tests. Its certificate ([`TestCa::cert_pem`])
/// is what a client under test should trust; [`TestCa::issue`] makes leaf
/// certificates for servers.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

fn rc(what: &str) -> impl FnOnce(rcgen::Error) -> Error + '_ {
    move |e| Error::Setup(format!("{what}: {e}"))
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

impl TestCa {
    /// A new CA named "Sealpost Test CA" (a fresh key every time, so two
    /// `TestCa`s do not trust each other's certificates).
    pub fn new() -> Result<TestCa> {
        Self::named("Sealpost Test CA")
    }

    /// A new CA with the given common name.
    pub fn named(common_name: &str) -> Result<TestCa> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rc("CA params"))?;
        params.distinguished_name = dn(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().map_err(rc("CA key"))?;
        let cert = params.self_signed(&key).map_err(rc("CA certificate"))?;
        Ok(TestCa { issuer: Issuer::new(params, key), cert_pem: cert.pem() })
    }

    /// The CA certificate (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Writes the CA certificate to `dir/ca.pem` and returns the path.
    pub fn write_cert(&self, dir: &Path) -> Result<PathBuf> {
        write_pem(dir, "ca.pem", &self.cert_pem)
    }

    /// A server certificate and its key (both PEM) for `names` (DNS names or
    /// IP addresses; the first is also the common name), signed by this CA:
    /// `basicConstraints CA:FALSE`, `extendedKeyUsage serverAuth`. The
    /// certificate PEM holds the leaf only.
    pub fn issue(&self, names: &[&str]) -> Result<(String, String)> {
        let (params, key) = leaf_params(names)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(rc("sign leaf certificate"))?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Like [`TestCa::issue`], but the certificate PEM is the leaf followed by
    /// the CA certificate (what a server sends).
    pub fn issue_chain(&self, names: &[&str]) -> Result<(String, String)> {
        let (leaf, key) = self.issue(names)?;
        Ok((format!("{leaf}{}", self.cert_pem), key))
    }
}

/// A self-signed certificate for `names` and its key (PEM): trusted by no
/// one, for "unverified peer" tests. It is an end-entity certificate
/// (`CA:FALSE`), so clients reject it for its issuer, not its kind.
pub fn self_signed(names: &[&str]) -> Result<(String, String)> {
    let (params, key) = leaf_params(names)?;
    let cert = params.self_signed(&key).map_err(rc("self-signed certificate"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes `pem` to `dir/name` and returns the path.
pub fn write_pem(dir: &Path, name: &str, pem: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, pem).map_err(io(format!("write {}", path.display())))?;
    Ok(path)
}

fn leaf_params(names: &[&str]) -> Result<(CertificateParams, KeyPair)> {
    let first = names.first().ok_or_else(|| Error::Setup("a certificate needs at least one name".into()))?;
    let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .map_err(rc("certificate names"))?;
    params.distinguished_name = dn(first);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().map_err(rc("leaf key"))?;
    Ok((params, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_pem_leaf_and_key() {
        let ca = TestCa::new().unwrap();
        assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let (cert, key) = ca.issue(&["mx.test.sealpost", "127.0.0.1"]).unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(cert.matches("BEGIN CERTIFICATE").count(), 1);
        assert!(key.contains("PRIVATE KEY"));
        let (chain, _) = ca.issue_chain(&["mx.test.sealpost"]).unwrap();
        assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(ca.issue(&[]).is_err());
        let (ss, _) = self_signed(&["x.test"]).unwrap();
        assert_ne!(ss, cert);
    }
}
