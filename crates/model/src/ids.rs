//! Identifiers. Entity ids are UUIDv7 (time-ordered, so index inserts stay
//! local) printed as 32 lowercase hex digits; tenant ids are short slugs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid identifier.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    /// Not 32 hex digits (a UUID without dashes).
    #[error("not a valid id: expected 32 hexadecimal digits")]
    NotHex,
    /// A tenant slug must be 1-63 characters of `a-z`, `0-9` and `-`.
    #[error("not a valid tenant id: use 1-63 characters of a-z, 0-9 and '-'")]
    BadSlug,
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
            /// Parses the 32-hex-digit form (dashes are also accepted).
            pub fn parse(s: &str) -> Result<Self, IdError> {
                if s.len() != 32 && s.len() != 36 {
                    return Err(IdError::NotHex);
                }
                uuid::Uuid::try_parse(s).map(Self).map_err(|_| IdError::NotHex)
            }
            /// The 16 raw bytes.
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
        }
        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0.simple())
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.simple())
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }
        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
    };
}

uuid_id!(
    /// One accepted message (all of its recipients).
    MessageId
);
uuid_id!(
    /// One recipient of one message: the unit of delivery and of events.
    RecipientId
);
uuid_id!(
    /// One audit event.
    EventId
);
uuid_id!(
    /// A console or SMTP user.
    UserId
);
uuid_id!(
    /// An API key (the public half of `sp_<id>_<secret>`).
    ApiKeyId
);

/// A tenant (organization). Every row, blob, key and audit event belongs to one.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// Parses a slug: 1-63 characters of `a-z`, `0-9`, `-`, not starting with `-`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && !s.starts_with('-')
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok { Ok(Self(s.to_owned())) } else { Err(IdError::BadSlug) }
    }
    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}
impl TryFrom<String> for TenantId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}
impl From<TenantId> for String {
    fn from(id: TenantId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_round_trips_through_display() {
        let id = MessageId::new();
        assert_eq!(MessageId::parse(&id.to_string()), Ok(id));
        assert_eq!(id.to_string().len(), 32);
    }

    #[test]
    fn ids_reject_garbage() {
        assert_eq!(MessageId::parse("../../etc/passwd"), Err(IdError::NotHex));
        assert_eq!(MessageId::parse(""), Err(IdError::NotHex));
        assert!(TenantId::parse("acme-health").is_ok());
        assert!(TenantId::parse("Acme").is_err());
        assert!(TenantId::parse("-x").is_err());
        assert!(TenantId::parse(&"a".repeat(64)).is_err());
    }
}
