use openssl::error::ErrorStack;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why [`encrypt_mime`](crate::encrypt_mime) or a certificate operation failed. Messages
/// name certificates by fingerprint only, never by address or content.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not a DER or PEM X.509 certificate.
    #[error("not an X.509 certificate: {0}")]
    Certificate(ErrorStack),
    /// A recipient certificate cannot be used to encrypt to.
    #[error("certificate {fingerprint} cannot be used for encryption: {reason}")]
    Unusable {
        /// SHA-256 fingerprint (lowercase hex) of the certificate.
        fingerprint: String,
        /// What is wrong with it.
        reason: Unusable,
    },
    /// `encrypt_mime` was given no certificates.
    #[error("no recipient certificates")]
    NoRecipients,
    /// The input is not a CRLF-only RFC 5322 message.
    #[error("not an RFC 5322 message: {0}")]
    Message(&'static str),
    /// The linked OpenSSL lacks something the requested strength needs.
    #[error("{0} needs OpenSSL 3.0 or later (linked: {1})")]
    Unsupported(&'static str, &'static str),
    /// OpenSSL failed while building the CMS structure.
    #[error("CMS encryption failed: {0}")]
    Crypto(#[from] ErrorStack),
}

/// Why a certificate is not usable for encryption at a given time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    /// `notBefore` is in the future.
    #[error("not valid before {not_before} (unix seconds)")]
    NotYetValid {
        /// `notBefore`, unix seconds.
        not_before: i64,
    },
    /// `notAfter` is in the past.
    #[error("expired at {not_after} (unix seconds)")]
    Expired {
        /// `notAfter`, unix seconds.
        not_after: i64,
    },
    /// The public key is not RSA (EC keys need ECDH key agreement, which is not implemented).
    #[error("public key algorithm {algorithm} is not supported (RSA only)")]
    UnsupportedKey {
        /// OpenSSL's short name of the key algorithm.
        algorithm: String,
    },
    /// The RSA key is shorter than 2048 bits.
    #[error("RSA key of {bits} bits is too short (minimum 2048)")]
    WeakKey {
        /// Modulus length.
        bits: u32,
    },
    /// A keyUsage extension is present and does not include keyEncipherment.
    #[error("keyUsage does not allow keyEncipherment")]
    KeyUsage,
    /// An extendedKeyUsage extension is present and includes neither emailProtection nor
    /// anyExtendedKeyUsage (RFC 8550 §4.4.4).
    #[error("extendedKeyUsage does not include emailProtection")]
    ExtendedKeyUsage,
    /// OpenSSL could not decode the certificate's extensions.
    #[error("malformed certificate extensions")]
    InvalidExtensions,
}
