//! `AddressPattern`: which senders or recipients a rule matches.

use std::fmt;

use sealpost_model::EmailAddress;
use serde::{Deserialize, Serialize};

use crate::error::PatternError;

/// One address, one domain, or every subdomain of a domain.
///
/// Text forms: `user@example.org` (that mailbox), `@example.org` (any mailbox
/// at exactly that domain), `*.example.org` (any mailbox at a subdomain such
/// as `mail.example.org`, but not `example.org` itself: list both to cover both).
///
/// Matching ignores ASCII case in the whole address. RFC 5321 lets a server
/// treat local parts case-sensitively, but mailbox providers do not, and a
/// rule that matches more can only lengthen retention (the longest rule
/// wins), never shorten it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AddressPattern {
    /// One mailbox, stored in lower case.
    Exact(String),
    /// Every mailbox at this domain, stored in lower case.
    Domain(String),
    /// Every mailbox at a proper subdomain of this domain, stored in lower case.
    Subdomains(String),
}

impl AddressPattern {
    /// Parses one of the three text forms.
    pub fn parse(s: &str) -> Result<Self, PatternError> {
        if let Some(domain) = s.strip_prefix('@') {
            return Ok(AddressPattern::Domain(valid_domain(domain, true)?));
        }
        if let Some(domain) = s.strip_prefix("*.") {
            return Ok(AddressPattern::Subdomains(valid_domain(domain, false)?));
        }
        let address = EmailAddress::parse(s, true).map_err(|_| PatternError::Address)?;
        Ok(AddressPattern::Exact(address.as_str().to_ascii_lowercase()))
    }

    /// Whether `address` is one this pattern names.
    pub fn matches(&self, address: &EmailAddress) -> bool {
        match self {
            AddressPattern::Exact(exact) => address.as_str().eq_ignore_ascii_case(exact),
            AddressPattern::Domain(domain) => address.domain().eq_ignore_ascii_case(domain),
            AddressPattern::Subdomains(parent) => {
                // A proper subdomain is "<label(s)>." followed by the parent.
                let domain = address.domain().to_ascii_lowercase();
                domain.strip_suffix(parent.as_str()).is_some_and(|head| head.len() > 1 && head.ends_with('.'))
            }
        }
    }
}

/// Checks a domain with the same rules as an address's domain (so a pattern
/// can name exactly the domains an address can have) and lower-cases it.
fn valid_domain(domain: &str, allow_literal: bool) -> Result<String, PatternError> {
    if domain.starts_with('[') && !allow_literal {
        return Err(PatternError::Domain);
    }
    // `EmailAddress` owns the domain grammar; a fixed local part borrows it.
    EmailAddress::parse(&format!("x@{domain}"), true).map_err(|_| PatternError::Domain)?;
    Ok(domain.to_ascii_lowercase())
}

impl fmt::Display for AddressPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressPattern::Exact(a) => f.write_str(a),
            AddressPattern::Domain(d) => write!(f, "@{d}"),
            AddressPattern::Subdomains(d) => write!(f, "*.{d}"),
        }
    }
}

/// A single address may be a patient's: `Debug` shows domains but never a
/// mailbox, like `EmailAddress`'s own `Debug`.
impl fmt::Debug for AddressPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressPattern::Exact(_) => f.write_str("AddressPattern::Exact(<redacted>)"),
            other => write!(f, "AddressPattern({other})"),
        }
    }
}

impl TryFrom<String> for AddressPattern {
    type Error = PatternError;
    fn try_from(s: String) -> Result<Self, PatternError> {
        Self::parse(&s)
    }
}

impl From<AddressPattern> for String {
    fn from(p: AddressPattern) -> String {
        p.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn addr(s: &str) -> EmailAddress {
        EmailAddress::parse(s, true).unwrap()
    }

    #[test]
    fn exact_address_matches_that_mailbox_in_any_case() {
        let p = AddressPattern::parse("Records@Clinic.example").unwrap();
        assert!(p.matches(&addr("records@clinic.example")));
        assert!(p.matches(&addr("RECORDS@CLINIC.EXAMPLE")));
        assert!(!p.matches(&addr("billing@clinic.example")));
        assert!(!p.matches(&addr("records@other.example")));
    }

    #[test]
    fn at_domain_matches_that_domain_only() {
        let p = AddressPattern::parse("@clinic.example").unwrap();
        assert!(p.matches(&addr("a@clinic.example")));
        assert!(p.matches(&addr("b@CLINIC.example")));
        assert!(!p.matches(&addr("a@mail.clinic.example")));
        assert!(!p.matches(&addr("a@badclinic.example")));
    }

    #[test]
    fn star_domain_matches_proper_subdomains_only() {
        let p = AddressPattern::parse("*.clinic.example").unwrap();
        assert!(p.matches(&addr("a@mail.clinic.example")));
        assert!(p.matches(&addr("a@x.y.Clinic.Example")));
        assert!(!p.matches(&addr("a@clinic.example")));
        assert!(!p.matches(&addr("a@badclinic.example")));
    }

    #[test]
    fn rejects_what_is_not_an_address_or_domain() {
        assert_eq!(AddressPattern::parse(""), Err(PatternError::Address));
        assert_eq!(AddressPattern::parse("clinic.example"), Err(PatternError::Address));
        assert_eq!(AddressPattern::parse("@"), Err(PatternError::Domain));
        assert_eq!(AddressPattern::parse("@-bad.example"), Err(PatternError::Domain));
        assert_eq!(AddressPattern::parse("*."), Err(PatternError::Domain));
        assert_eq!(AddressPattern::parse("*.[10.0.0.1]"), Err(PatternError::Domain));
        assert_eq!(AddressPattern::parse("*@clinic.example"), Ok(AddressPattern::Exact("*@clinic.example".into())));
    }

    #[test]
    fn debug_never_shows_a_mailbox() {
        let p = AddressPattern::parse("jane.doe@clinic.example").unwrap();
        assert!(!format!("{p:?}").contains("jane"));
        let d = AddressPattern::parse("@clinic.example").unwrap();
        assert!(format!("{d:?}").contains("@clinic.example"));
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_display_round_trips(s in "[*@a-zA-Z0-9.\\-\\[\\]]{0,24}") {
            if let Ok(p) = AddressPattern::parse(&s) {
                prop_assert_eq!(AddressPattern::parse(&p.to_string()), Ok(p));
            }
        }

        #[test]
        fn domain_pattern_matches_every_mailbox_at_the_domain(
            local in "[a-z0-9]{1,10}",
            labels in proptest::collection::vec("[a-z0-9]{1,8}", 1..4),
        ) {
            let domain = labels.join(".");
            let at_domain = AddressPattern::parse(&format!("@{domain}")).unwrap();
            let subdomains = AddressPattern::parse(&format!("*.{domain}")).unwrap();
            let exact = AddressPattern::parse(&format!("{local}@{domain}")).unwrap();
            let address = addr(&format!("{local}@{domain}"));
            let sub = addr(&format!("{local}@x.{domain}"));
            prop_assert!(at_domain.matches(&address));
            prop_assert!(exact.matches(&address));
            prop_assert!(!subdomains.matches(&address));
            prop_assert!(subdomains.matches(&sub));
            prop_assert!(!at_domain.matches(&sub));
        }
    }
}
