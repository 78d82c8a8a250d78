//! The crate's error type. Messages name keys by fingerprint only: never key
//! material, never message content.

/// Why a key could not be used or a message could not be encrypted.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not an OpenPGP public key (garbage, truncated, a secret
    /// key, a message, …).
    #[error("not a valid OpenPGP public key")]
    InvalidKey {
        /// What the OpenPGP parser said (about the key's structure only).
        #[source]
        source: pgp::errors::Error,
    },
    /// Only version 4 keys are used: a v6 key needs SEIPDv2, which the GnuPG
    /// 2.2 recipients we deliver to cannot read.
    #[error("OpenPGP key {fingerprint}: key version {version} is not supported (only v4)")]
    UnsupportedKeyVersion {
        /// The key's fingerprint (uppercase hex).
        fingerprint: String,
        /// The key's version number.
        version: u8,
    },
    /// No self-signature of the key verifies: it cannot be trusted for anything.
    #[error("OpenPGP key {fingerprint} has no valid self-signature")]
    NoValidSelfSignature {
        /// The key's fingerprint (uppercase hex).
        fingerprint: String,
    },
    /// The key holder revoked the key.
    #[error("OpenPGP key {fingerprint} is revoked")]
    KeyRevoked {
        /// The key's fingerprint (uppercase hex).
        fingerprint: String,
    },
    /// The primary key, or every encryption-capable subkey, has expired.
    #[error("OpenPGP key {fingerprint} has expired")]
    KeyExpired {
        /// The key's fingerprint (uppercase hex).
        fingerprint: String,
    },
    /// Neither the primary key nor any valid subkey is marked for encryption
    /// (for example a sign-only key).
    #[error("OpenPGP key {fingerprint} has no valid encryption-capable key or subkey")]
    NoEncryptionKey {
        /// The key's fingerprint (uppercase hex).
        fingerprint: String,
    },
    /// `encrypt_mime` was given no key.
    #[error("no recipient key to encrypt to")]
    NoRecipients,
    /// The message to encrypt is not an RFC 5322 message we can wrap.
    #[error("malformed message: {0}")]
    MalformedMessage(&'static str),
    /// The OpenPGP encryption itself failed.
    #[error("OpenPGP encryption failed")]
    Encrypt {
        /// What the OpenPGP library said.
        #[source]
        source: pgp::errors::Error,
    },
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
