//! What can go wrong for a portal caller, each with what the page says.

use sealpost_core::ServerError;
use sealpost_store::StoreError;

use crate::PickupState;

/// A portal failure. None of these carries PHI.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// No such link, message or session (or not this recipient's).
    #[error("not found")]
    NotFound,
    /// The page needs a signed-in session.
    #[error("sign-in required")]
    SignInRequired,
    /// The message cannot be read any more.
    #[error("message unavailable: {0:?}")]
    Unavailable(PickupState),
    /// The recipient is locked out until then (unix micros).
    #[error("locked out")]
    Locked {
        /// Unix micros.
        until: i64,
    },
    /// Too many codes were sent this hour; another may be sent then.
    #[error("too many codes")]
    TooManyCodes {
        /// Unix micros.
        retry_at: i64,
    },
    /// The code was wrong; this many tries are left on it.
    #[error("wrong code")]
    WrongCode {
        /// Tries left on this code (0: ask for a new one).
        tries_left: i64,
    },
    /// No code is pending, or it expired or was used.
    #[error("code expired")]
    CodeExpired,
    /// The reply is not acceptable (the text says why; no PHI).
    #[error("{0}")]
    BadReply(String),
    /// Storage or another service failed; try again.
    #[error("temporarily unavailable: {0}")]
    Unavailable503(String),
}

impl PortalError {
    pub(crate) fn from_server(e: ServerError) -> Self {
        match e {
            ServerError::NotFound(_) => PortalError::NotFound,
            other => PortalError::Unavailable503(other.to_string()),
        }
    }
}

impl From<StoreError> for PortalError {
    fn from(e: StoreError) -> Self {
        PortalError::Unavailable503(e.to_string())
    }
}

impl From<ServerError> for PortalError {
    fn from(e: ServerError) -> Self {
        PortalError::from_server(e)
    }
}
