/// Failures of the server crate. Display texts carry ids and reasons, never PHI.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration file is wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] sealpost_store::StoreError),
    /// Encryption or key handling failed.
    #[error("crypto: {0}")]
    Crypto(#[from] sealpost_crypto::CryptoError),
    /// File-system or network I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// TLS set-up failed.
    #[error("tls: {0}")]
    Tls(String),
    /// The data directory is not initialized, or already is.
    #[error("{0}")]
    State(String),
    /// Input was rejected; the text names the field, never the value.
    #[error("invalid: {0}")]
    Invalid(String),
    /// A lookup found nothing.
    #[error("not found: {0}")]
    NotFound(String),
}

impl ServerError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
        let context = context.into();
        move |source| ServerError::Io { context, source }
    }
}
