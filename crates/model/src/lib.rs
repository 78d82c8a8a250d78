//! Typed values shared by every Sealpost crate.
//!
//! Untrusted strings become these types at the edge (SMTP, HTTP, CLI), so the
//! core never re-checks a string:
//!
//! ```
//! use sealpost_model::{EmailAddress, TenantId};
//! let addr = EmailAddress::parse("patient@example.org", false).unwrap();
//! assert_eq!(addr.domain(), "example.org");
//! assert!(TenantId::parse("Not A Slug").is_err());
//! ```

mod address;
mod ids;
mod kinds;

pub use address::{AddressError, EmailAddress};
pub use ids::{ApiKeyId, EventId, IdError, MessageId, RecipientId, TenantId, UserId};
pub use kinds::{Category, KindError, Role, Scope};

/// Current time as Unix microseconds, the one clock format stored everywhere.
pub fn now_micros() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}
