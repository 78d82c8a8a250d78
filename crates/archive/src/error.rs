//! The archive's error type, shared by holds, retention and disposal.

use sealpost_core::ServerError;
use sealpost_store::StoreError;

/// Failures of retention, hold and disposal operations. Texts name ids,
/// fields and rules, never names, reasons or addresses.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Not allowed for this person or in this state (audited as a failure).
    #[error("refused: {0}")]
    Refused(String),
    /// Bad input, naming the field.
    #[error("invalid: {0}")]
    Invalid(sealpost_core::InvalidInput),
    /// No such hold or message in the tenant.
    #[error("not found: {0}")]
    NotFound(String),
    /// A part it needs is not available (the search index for a query scope).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error(transparent)]
    Server(#[from] ServerError),
}

impl From<StoreError> for ArchiveError {
    fn from(e: StoreError) -> Self {
        ArchiveError::Server(e.into())
    }
}

impl From<sealpost_crypto::CryptoError> for ArchiveError {
    fn from(e: sealpost_crypto::CryptoError) -> Self {
        ArchiveError::Server(e.into())
    }
}
