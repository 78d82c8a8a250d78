//! The one error type at this crate's boundary.
//!
//! No variant carries a token, a secret, the text of a message or a phone
//! number: errors end up in logs, and a number next to a "your results are
//! ready" link is PHI.

use crate::e164::NumberError;

/// Why a number, a configuration, a send or a callback was refused.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The recipient is not an E.164 number.
    #[error("not an E.164 phone number: {0}")]
    InvalidNumber(#[from] NumberError),
    /// The message text is empty or longer than a provider accepts.
    #[error("message text must be 1 to {max} characters, it has {chars}")]
    InvalidText {
        /// Characters in the text.
        chars: usize,
        /// The most a message may have.
        max: usize,
    },
    /// The provider configuration is unusable (the reason names the field).
    #[error("SMS provider configuration: {0}")]
    Config(String),
    /// The provider could not be reached or the exchange broke off.
    #[error("SMS provider unreachable: {0}")]
    Transport(String),
    /// The provider answered with an error status.
    #[error("SMS provider refused the message: HTTP {status}{}{}", code.as_ref().map(|c| format!(", code {c}")).unwrap_or_default(), message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Provider {
        /// The HTTP status.
        status: u16,
        /// The provider's error code, when it gave one.
        code: Option<String>,
        /// The provider's error message, when it gave one (shortened, and
        /// with our own text cut out should the provider quote it).
        message: Option<String>,
    },
    /// The provider answered success but its reply is not understood.
    #[error("SMS provider reply not understood: {0}")]
    BadReply(String),
    /// A status callback is well signed but its content is not understood.
    #[error("SMS status callback not understood: {0}")]
    BadCallback(String),
}
