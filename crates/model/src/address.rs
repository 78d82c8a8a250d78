//! `EmailAddress`: an RFC 5321 mailbox (`local-part@domain`), with the
//! RFC 6531 extension that allows UTF-8 when the client declared SMTPUTF8.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a deliverable mailbox.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddressError {
    /// No `@`, or nothing on one side of it.
    #[error("address must have the form local-part@domain")]
    Shape,
    /// The local part is longer than 64 octets or has a character outside RFC 5321's atext.
    #[error("invalid local part")]
    LocalPart,
    /// The domain is not a valid host name or address literal.
    #[error("invalid domain")]
    Domain,
    /// Longer than 254 octets in all.
    #[error("address longer than 254 octets")]
    TooLong,
    /// Non-ASCII characters without SMTPUTF8.
    #[error("non-ASCII address requires SMTPUTF8")]
    NeedsUtf8,
}

/// A syntactically valid mailbox. Construct it with [`EmailAddress::parse`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress {
    text: String,
    at: usize,
}

fn is_atext(c: char, utf8: bool) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || (utf8 && !c.is_ascii())
}

fn valid_dot_string(s: &str, utf8: bool) -> bool {
    !s.is_empty() && s.split('.').all(|atom| !atom.is_empty() && atom.chars().all(|c| is_atext(c, utf8)))
}

fn valid_quoted_string(s: &str, utf8: bool) -> bool {
    let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return false;
    };
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) if (' '..='~').contains(&e) => {}
                _ => return false,
            },
            '"' => return false,
            c if (' '..='~').contains(&c) => {}
            c if utf8 && !c.is_ascii() => {}
            _ => return false,
        }
    }
    true
}

fn valid_domain(d: &str, utf8: bool) -> bool {
    if let Some(lit) = d.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        if let Some(v6) = lit.strip_prefix("IPv6:") {
            return v6.parse::<std::net::Ipv6Addr>().is_ok();
        }
        return lit.parse::<std::net::Ipv4Addr>().is_ok();
    }
    d.len() <= 253
        && d.split('.').all(|label| {
            let bytes = label.as_bytes();
            !label.is_empty()
                && label.len() <= 63
                && bytes[0] != b'-'
                && bytes[bytes.len() - 1] != b'-'
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || (utf8 && !c.is_ascii()))
        })
}

impl EmailAddress {
    /// Parses `local@domain`. `utf8` is whether the session or request allows
    /// internationalized addresses (SMTPUTF8).
    pub fn parse(s: &str, utf8: bool) -> Result<Self, AddressError> {
        if !utf8 && !s.is_ascii() {
            return Err(AddressError::NeedsUtf8);
        }
        if s.len() > 254 {
            return Err(AddressError::TooLong);
        }
        let at = s.rfind('@').ok_or(AddressError::Shape)?;
        let (local, domain) = (&s[..at], &s[at + 1..]);
        if local.is_empty() || domain.is_empty() {
            return Err(AddressError::Shape);
        }
        if local.len() > 64 || !(valid_dot_string(local, utf8) || valid_quoted_string(local, utf8)) {
            return Err(AddressError::LocalPart);
        }
        if !valid_domain(domain, utf8) {
            return Err(AddressError::Domain);
        }
        Ok(Self { text: s.to_owned(), at })
    }

    /// The local part, as given.
    pub fn local_part(&self) -> &str {
        &self.text[..self.at]
    }
    /// The domain, as given.
    pub fn domain(&self) -> &str {
        &self.text[self.at + 1..]
    }
    /// The whole address.
    pub fn as_str(&self) -> &str {
        &self.text
    }
    /// Whether any character is outside ASCII (needs SMTPUTF8 downstream).
    pub fn is_utf8(&self) -> bool {
        !self.text.is_ascii()
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
/// Addresses can be PHI: Debug output never shows them, so a stray `{:?}`
/// in a log line cannot leak one.
impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailAddress(<redacted>)")
    }
}
impl TryFrom<String> for EmailAddress {
    type Error = AddressError;
    fn try_from(s: String) -> Result<Self, AddressError> {
        Self::parse(&s, true)
    }
}
impl From<EmailAddress> for String {
    fn from(a: EmailAddress) -> String {
        a.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_ordinary_and_unusual_valid_addresses() {
        for ok in [
            "a@b.org",
            "first.last+tag@sub.example.co.uk",
            "\"john doe\"@example.org",
            "x@[127.0.0.1]",
            "x@[IPv6:::1]",
            "o'brien@clinic.example",
        ] {
            assert!(EmailAddress::parse(ok, false).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_each_kind_of_malformed_address_precisely() {
        assert_eq!(EmailAddress::parse("no-at-sign", false), Err(AddressError::Shape));
        assert_eq!(EmailAddress::parse("@example.org", false), Err(AddressError::Shape));
        assert_eq!(EmailAddress::parse("a..b@example.org", false), Err(AddressError::LocalPart));
        assert_eq!(EmailAddress::parse("a b@example.org", false), Err(AddressError::LocalPart));
        assert_eq!(EmailAddress::parse("a@-bad.org", false), Err(AddressError::Domain));
        assert_eq!(EmailAddress::parse("a@exa_mple.org", false), Err(AddressError::Domain));
        assert_eq!(EmailAddress::parse("a@[999.1.1.1]", false), Err(AddressError::Domain));
        assert_eq!(EmailAddress::parse("jörg@example.de", false), Err(AddressError::NeedsUtf8));
        assert!(EmailAddress::parse("jörg@bücher.de", true).is_ok());
        let long = format!("{}@{}.org", "a".repeat(64), "b".repeat(200));
        assert_eq!(EmailAddress::parse(&long, false), Err(AddressError::TooLong));
    }

    #[test]
    fn debug_never_prints_the_address() {
        let a = EmailAddress::parse("patient@example.org", false).unwrap();
        assert!(!format!("{a:?}").contains("patient"));
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(s in "\\PC{0,80}") {
            if let Ok(a) = EmailAddress::parse(&s, true) {
                prop_assert_eq!(a.as_str(), s.as_str());
                prop_assert_eq!(format!("{}@{}", a.local_part(), a.domain()), s);
            }
        }

        #[test]
        fn generated_valid_addresses_parse(local in "[a-z0-9]{1,20}(\\.[a-z0-9+_-]{1,10}){0,3}",
                                           domain in "[a-z0-9]{1,20}(\\.[a-z]{2,10}){1,3}") {
            let s = format!("{local}@{domain}");
            prop_assert!(EmailAddress::parse(&s, false).is_ok());
        }
    }
}
