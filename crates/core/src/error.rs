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
    /// Input was rejected; names the field, never the value.
    #[error("invalid: {0}")]
    Invalid(InvalidInput),
    /// A lookup found nothing.
    #[error("not found: {0}")]
    NotFound(String),
}

/// Refused input: which field (a JSON path such as `identifiers[1]` or
/// `scope.from`, when one field is to blame) and why. Carried as data so an
/// API can answer `{"field": …}` without reading the text; never holds the
/// refused value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInput {
    /// The offending field, if one is to blame.
    pub field: Option<String>,
    /// What is wrong with it.
    pub message: String,
}

impl InvalidInput {
    /// `field` is wrong: `message`.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidInput { field: Some(field.into()), message: message.into() }
    }

    /// Wrong as a whole, no one field to blame.
    pub fn general(message: impl Into<String>) -> Self {
        InvalidInput { field: None, message: message.into() }
    }
}

impl std::fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for InvalidInput {}

impl ServerError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
        let context = context.into();
        move |source| ServerError::Io { context, source }
    }
}
