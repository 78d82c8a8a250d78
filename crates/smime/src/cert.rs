use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use foreign_types::ForeignType;
use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::Id;
use openssl::x509::X509;

use crate::error::{Error, Result, Unusable};

/// Shorter RSA moduli are refused: NIST SP 800-131A disallows them for key transport.
const MIN_RSA_BITS: u32 = 2048;

/// A recipient's X.509 certificate, parsed. `Debug` shows the fingerprint only.
#[derive(Clone)]
pub struct RecipientCert {
    x509: X509,
    fingerprint: String,
    not_before: i64,
    not_after: i64,
}

impl RecipientCert {
    /// Parses one PEM certificate (`-----BEGIN CERTIFICATE-----`); the first if there are several.
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        Self::new(X509::from_pem(pem).map_err(Error::Certificate)?)
    }

    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        Self::new(X509::from_der(der).map_err(Error::Certificate)?)
    }

    fn new(x509: X509) -> Result<Self> {
        let digest = x509.digest(MessageDigest::sha256()).map_err(Error::Certificate)?;
        let fingerprint = digest.iter().map(|b| format!("{b:02x}")).collect();
        let not_before = unix_seconds(x509.not_before())?;
        let not_after = unix_seconds(x509.not_after())?;
        Ok(Self { x509, fingerprint, not_before, not_after })
    }

    /// The addresses the certificate names: subjectAltName rfc822Name entries, then subject
    /// emailAddress attributes, without duplicates (compared case-insensitively).
    pub fn email_addresses(&self) -> Vec<String> {
        let mut found: Vec<String> = Vec::new();
        let mut push = |address: &str| {
            if !found.iter().any(|f| f.eq_ignore_ascii_case(address)) {
                found.push(address.to_owned());
            }
        };
        if let Some(names) = self.x509.subject_alt_names() {
            names.iter().filter_map(|n| n.email()).for_each(&mut push);
        }
        for entry in self.x509.subject_name().entries_by_nid(Nid::PKCS9_EMAILADDRESS) {
            if let Ok(address) = std::str::from_utf8(entry.data().as_slice()) {
                push(address);
            }
        }
        found
    }

    /// `notBefore`, unix seconds.
    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    /// `notAfter`, unix seconds.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// SHA-256 of the DER certificate, lowercase hex without separators.
    pub fn fingerprint_sha256(&self) -> String {
        self.fingerprint.clone()
    }

    /// Whether the certificate can be encrypted to at `now`: within its validity period, an RSA
    /// key of at least 2048 bits, keyUsage (if present) allowing keyEncipherment,
    /// extendedKeyUsage (if present) allowing emailProtection or anyExtendedKeyUsage.
    /// Chain and revocation checks are not made here.
    pub fn usable_for_encryption(&self, now: SystemTime) -> Result<(), Unusable> {
        let now = match now.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        };
        if now < self.not_before {
            return Err(Unusable::NotYetValid { not_before: self.not_before });
        }
        if now > self.not_after {
            return Err(Unusable::Expired { not_after: self.not_after });
        }

        let key = self.x509.public_key().map_err(|_| Unusable::UnsupportedKey { algorithm: "unknown".into() })?;
        if key.id() != Id::RSA {
            let algorithm = Nid::from_raw(key.id().as_raw()).short_name().unwrap_or("unknown").to_owned();
            return Err(Unusable::UnsupportedKey { algorithm });
        }
        if key.bits() < MIN_RSA_BITS {
            return Err(Unusable::WeakKey { bits: key.bits() });
        }

        // SAFETY: the pointer is a live X509 owned by `self`; these calls only read it (and
        // fill OpenSSL's internal extension cache, which is thread-safe since 1.1.0).
        let (flags, key_usage, ext_key_usage) = unsafe {
            let ptr = self.x509.as_ptr();
            (
                openssl_sys::X509_get_extension_flags(ptr),
                openssl_sys::X509_get_key_usage(ptr),
                openssl_sys::X509_get_extended_key_usage(ptr),
            )
        };
        if flags & openssl_sys::EXFLAG_INVALID != 0 {
            return Err(Unusable::InvalidExtensions);
        }
        // Both getters return all bits set when the extension is absent.
        if key_usage & openssl_sys::X509v3_KU_KEY_ENCIPHERMENT == 0 {
            return Err(Unusable::KeyUsage);
        }
        if ext_key_usage & (openssl_sys::XKU_SMIME | openssl_sys::XKU_ANYEKU) == 0 {
            return Err(Unusable::ExtendedKeyUsage);
        }
        Ok(())
    }

    pub(crate) fn x509(&self) -> &X509 {
        &self.x509
    }
}

impl fmt::Debug for RecipientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecipientCert").field("fingerprint_sha256", &self.fingerprint).finish_non_exhaustive()
    }
}

fn unix_seconds(time: &Asn1TimeRef) -> Result<i64> {
    let epoch = Asn1Time::from_unix(0).map_err(Error::Certificate)?;
    let diff = epoch.diff(time).map_err(Error::Certificate)?;
    Ok(i64::from(diff.days) * 86_400 + i64::from(diff.secs))
}
