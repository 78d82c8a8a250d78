//! The crate's error type.

/// Why a key could not be made or loaded, a message not signed, or a record not built.
///
/// Variants carry no message content and no key material, so they are safe to log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key generator failed (entropy source or library error).
    #[error("DKIM key generation failed")]
    KeyGeneration,
    /// The PKCS#8 document does not hold a usable key of the expected algorithm.
    #[error("invalid {algorithm} DKIM private key: {reason}")]
    InvalidKey {
        /// The algorithm the caller asked for.
        algorithm: &'static str,
        /// What was wrong, in a few words.
        reason: &'static str,
    },
    /// A domain (or MX host) is not an ASCII host name (an IDN must be given as its A-label).
    #[error("invalid domain name")]
    InvalidDomain,
    /// A DKIM selector is not a dot-separated list of LDH labels.
    #[error("invalid DKIM selector")]
    InvalidSelector,
    /// The same selector was given twice.
    #[error("duplicate DKIM selector")]
    DuplicateSelector,
    /// The report address is not a plain `local@domain` usable in a `mailto:` URI.
    #[error("invalid report address")]
    InvalidReportAddress,
    /// An MTA-STS policy id must be 1 to 32 ASCII letters and digits (RFC 8461 §3.1).
    #[error("invalid MTA-STS policy id")]
    InvalidMtaStsId,
    /// An MTA-STS policy needs at least one MX host.
    #[error("an MTA-STS policy needs at least one mx host")]
    NoMxHosts,
    /// DKIM must sign the From field (RFC 6376 §5.4) and a message has exactly one (RFC 5322 §3.6).
    #[error("message must have exactly one From header field, found {0}")]
    FromHeaderCount(usize),
    /// The signing library or the private-key operation failed.
    #[error("DKIM signing failed: {0}")]
    Signing(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
