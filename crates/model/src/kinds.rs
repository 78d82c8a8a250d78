//! Small closed vocabularies: message categories, API scopes, user roles.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A value outside one of the closed vocabularies.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown {what} {value:?}; expected one of: {expected}")]
pub struct KindError {
    what: &'static str,
    value: String,
    expected: &'static str,
}

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The wire and storage spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// Parses the wire spelling (exact, lowercase).
            pub fn parse(s: &str) -> Result<Self, KindError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(KindError { what: $what, value: s.chars().take(40).collect(), expected: concat!($($text, " "),+) }),
                }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
        impl TryFrom<String> for $name {
            type Error = KindError;
            fn try_from(s: String) -> Result<Self, KindError> { Self::parse(&s) }
        }
        impl From<$name> for &'static str {
            fn from(v: $name) -> &'static str { v.as_str() }
        }
    };
}

vocabulary!(
    /// What kind of mail a message is (R-CL-2); decides the queue and consent rules.
    Category, "category", {
        /// Appointment reminders, results, bills: the default.
        Transactional => "transactional",
        /// Mail that needs a marketing authorization (R-MK-2).
        Marketing => "marketing",
    }
);

vocabulary!(
    /// What an API key may do (R-ID-6).
    Scope, "scope", {
        /// Submit messages (API and SMTP AUTH).
        Send => "send",
        /// Read message state and events.
        ReadEvents => "read-events",
        /// Everything, including reading archived message bytes.
        Admin => "admin",
    }
);

vocabulary!(
    /// A console user's role (R-ID-2).
    Role, "role", {
        /// Tenant administration.
        Admin => "admin",
        /// Audit, retention, reports.
        Compliance => "compliance",
        /// Holds and discovery.
        Legal => "legal",
        /// Sends mail.
        Sender => "sender",
        /// Read-only audit access.
        Auditor => "auditor",
    }
);

// Written by hand: the `vocabulary!` macro derives for every vocabulary,
// and only this one has a default.
#[allow(clippy::derivable_impls)]
impl Default for Category {
    fn default() -> Self {
        Category::Transactional
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_parses_only_known_values() {
        assert_eq!(Category::parse("marketing"), Ok(Category::Marketing));
        let err = Category::parse("promo").unwrap_err().to_string();
        assert!(err.contains("transactional"), "{err}");
        assert!(Category::parse("Marketing").is_err());
    }

    #[test]
    fn every_scope_round_trips() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Ok(*s));
        }
    }
}
