//! The one error type of this crate.

/// Why a message could not be shown.
///
/// Carries no message content: it may end up in logs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ViewError {
    /// The bytes hold no RFC 5322 message (empty, or no header and no body
    /// the MIME parser could make sense of).
    #[error("not an RFC 5322 message ({len} bytes)")]
    NotAMessage {
        /// How many bytes were given.
        len: usize,
    },
}
