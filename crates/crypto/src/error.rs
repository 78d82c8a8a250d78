/// Errors from the crypto layer. None of them carries key or plaintext bytes.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The system random generator failed.
    #[error("random generator unavailable")]
    Random,
    /// A ciphertext failed authentication: wrong key, wrong context, or tampered bytes.
    #[error("decryption failed: wrong key or tampered data")]
    Open,
    /// A ciphertext is too short or has an unknown version byte.
    #[error("malformed ciphertext")]
    Malformed,
    /// Compression or decompression failed.
    #[error("compression failed: {0}")]
    Compression(String),
    /// The root key file could not be parsed.
    #[error("root key file: {0}")]
    KeyFile(String),
    /// The passphrase does not open the root key file.
    #[error("wrong passphrase for the root key file")]
    Passphrase,
    /// Password hashing failed.
    #[error("password hashing failed")]
    PasswordHash,
}
