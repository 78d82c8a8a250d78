//! The policy a tenant edits: ordered rules, each a match, a period, the
//! date it counts from, and what happens at expiry.
//!
//! These types are the wire format of the API and the CLI (JSON and TOML).
//! Deserializing a [`Policy`] validates it whole; unknown fields are errors,
//! because a misspelt condition would otherwise silently match every message.

use std::collections::HashSet;
use std::fmt;

use sealpost_model::Category;
use serde::{Deserialize, Serialize};

use crate::error::{PolicyError, RuleIdError};
use crate::pattern::AddressPattern;
use crate::period::Period;
use crate::state::UsState;

/// A tenant's retention policy: rules in order. Order only breaks ties
/// (see [`crate::evaluate`]); the longest matching retention always wins.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "PolicyRepr")]
pub struct Policy {
    /// The rules, in order.
    pub rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyRepr {
    #[serde(default)]
    rules: Vec<Rule>,
}

impl TryFrom<PolicyRepr> for Policy {
    type Error = PolicyError;
    fn try_from(repr: PolicyRepr) -> Result<Self, PolicyError> {
        let policy = Policy { rules: repr.rules };
        policy.validate()?;
        Ok(policy)
    }
}

impl Policy {
    /// Checks what the types alone cannot: unique ids, age ranges in order,
    /// no empty custodian or query. Deserialization calls this; call it
    /// after building or editing a policy in code.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let mut seen = HashSet::new();
        for (index, rule) in self.rules.iter().enumerate() {
            let id = || rule.id.as_str().to_owned();
            if !seen.insert(rule.id.as_str()) {
                return Err(PolicyError::DuplicateId { index, id: id() });
            }
            let m = &rule.r#match;
            if let Some(AgeRange { min: Some(min), max: Some(max) }) = m.patient_age
                && min > max
            {
                return Err(PolicyError::AgeRange { index, id: id() });
            }
            if m.custodian.iter().any(|c| c.trim().is_empty()) {
                return Err(PolicyError::Empty { index, id: id(), field: "custodian" });
            }
            if m.query.as_deref().is_some_and(|q| q.trim().is_empty()) {
                return Err(PolicyError::Empty { index, id: id(), field: "query" });
            }
        }
        Ok(())
    }

    /// Parses and validates a policy written as TOML (`[[rules]]` tables).
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        toml::from_str(text).map_err(|e| {
            let (line, column) = line_column(text, e.span().map(|s| s.start));
            PolicyError::Syntax { line, column, message: e.message().to_owned() }
        })
    }

    /// Writes the policy as TOML; [`Policy::from_toml`] reads it back unchanged.
    pub fn to_toml(&self) -> String {
        // Every field serializes to a TOML string, integer, boolean, array
        // or table, so the serializer has no error case to hit here.
        toml::to_string(self).unwrap_or_default()
    }

    /// The keyword queries the caller's search engine must run for a
    /// message, by rule id. Put the ids of those that match into
    /// [`crate::MessageFacts::matched_queries`].
    pub fn queries(&self) -> impl Iterator<Item = (&RuleId, &str)> {
        self.rules.iter().filter_map(|r| r.r#match.query.as_deref().map(|q| (&r.id, q)))
    }
}

/// 1-based line and column of a byte offset, for error messages that point
/// into the text without quoting it.
pub(crate) fn line_column(text: &str, offset: Option<usize>) -> (usize, usize) {
    let Some(offset) = offset else { return (0, 0) };
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// One rule. A message is retained until the latest `until` of all the
/// rules that match it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique within the policy; appears in decisions and audit events.
    pub id: RuleId,
    /// A human-readable name for consoles. Never used in explanations.
    pub name: String,
    /// Conditions that must all hold; the empty match holds for every message.
    #[serde(rename = "match", default)]
    pub r#match: Match,
    /// How long to keep a matching message.
    pub period: Period,
    /// The date the period counts from.
    #[serde(default)]
    pub from: Anchor,
    /// What happens when the period ends.
    pub action: Action,
}

/// A rule id: a slug of 1-64 characters `a-z`, `0-9` and `-`, starting with
/// a letter or digit. Upper-case ids are left to synthetic rules (the state
/// table's `state-CA`), so a tenant's rule can never be mistaken for one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RuleId(pub(crate) String);

impl RuleId {
    /// Parses a slug.
    pub fn parse(s: &str) -> Result<Self, RuleIdError> {
        let valid = (1..=64).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-');
        if valid { Ok(RuleId(s.to_owned())) } else { Err(RuleIdError) }
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RuleId {
    type Error = RuleIdError;
    fn try_from(s: String) -> Result<Self, RuleIdError> {
        Self::parse(&s)
    }
}

impl From<RuleId> for String {
    fn from(id: RuleId) -> String {
        id.0
    }
}

/// Conditions on a message. Every condition given must hold; a list
/// condition holds when any of its entries does; an absent or empty
/// condition always holds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Match {
    /// The message's category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// Whether PHI was found in the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phi: Option<bool>,
    /// The envelope sender matches one of these.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sender: Vec<AddressPattern>,
    /// At least one recipient matches one of these.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recipient: Vec<AddressPattern>,
    /// At least one of the message's custodians (user or mailbox ids) is listed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custodian: Vec<String>,
    /// A keyword query in the archive's search syntax. This crate does not
    /// search: the caller runs [`Policy::queries`] and reports which rules'
    /// queries matched in [`crate::MessageFacts::matched_queries`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The message's jurisdiction is one of these states.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jurisdiction: Vec<UsState>,
    /// The patient's age in whole years on the message date is in this range.
    /// Never holds when the patient's date of birth is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient_age: Option<AgeRange>,
}

/// An inclusive range of ages in whole years; a missing bound is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgeRange {
    /// Lowest age that matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<u8>,
    /// Highest age that matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<u8>,
}

impl AgeRange {
    /// Whether `age` lies in the range.
    pub fn contains(self, age: u32) -> bool {
        self.min.is_none_or(|min| age >= u32::from(min)) && self.max.is_none_or(|max| age <= u32::from(max))
    }
}

/// The date a rule's period counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Anchor {
    /// The message's date.
    #[default]
    MessageDate,
    /// The day the patient reaches the age of majority: that of the message's
    /// jurisdiction in the state table, else 18. Unknown while the date of
    /// birth is.
    PatientMajority,
    /// The patient's last treatment date, as the caller knows it. Re-evaluate
    /// when it changes.
    LastTreatment,
}

impl Anchor {
    /// The event's name in explanations.
    pub fn as_str(self) -> &'static str {
        match self {
            Anchor::MessageDate => "message-date",
            Anchor::PatientMajority => "patient-majority",
            Anchor::LastTreatment => "last-treatment",
        }
    }
}

/// What happens to a message when its retention ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Destroyed by the retention run (crypto-shredding), unless held.
    Dispose,
    /// Put in the disposition queue for a person to approve.
    Review,
}

impl Action {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Dispose => "dispose",
            Action::Review => "review",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &str = r#"
[[rules]]
id = "hipaa-documentation"
name = "HIPAA documentation"
period = "6y"
action = "dispose"

[[rules]]
id = "pediatrics"
name = "Pediatric records"
period = "3y"
from = "patient-majority"
action = "review"
match = { phi = true, jurisdiction = ["CA", "NY"], patient_age = { max = 17 }, recipient = ["@clinic.example", "*.clinic.example"] }
"#;

    #[test]
    fn toml_and_json_round_trip() {
        let policy = Policy::from_toml(SAMPLE).unwrap();
        assert_eq!(policy.rules.len(), 2);
        assert_eq!(policy.rules[1].from, Anchor::PatientMajority);
        assert_eq!(policy.rules[1].r#match.patient_age, Some(AgeRange { min: None, max: Some(17) }));
        assert_eq!(Policy::from_toml(&policy.to_toml()).unwrap(), policy);
        let json = serde_json::to_string(&policy).unwrap();
        assert!(json.contains("\"match\":{\"phi\":true"), "{json}");
        assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), policy);
    }

    #[test]
    fn unknown_fields_are_errors_not_silent_match_alls() {
        let typo =
            r#"{"rules":[{"id":"a","name":"A","period":"1y","action":"dispose","match":{"jurisdction":["CA"]}}]}"#;
        assert!(serde_json::from_str::<Policy>(typo).is_err());
        let err = Policy::from_toml(
            "[[rules]]\nid = \"a\"\nname = \"A\"\nperiod = \"1y\"\naction = \"dispose\"\nfrm = \"x\"\n",
        )
        .unwrap_err();
        assert!(matches!(err, PolicyError::Syntax { .. }), "{err}");
    }

    #[test]
    fn validation_names_the_rule_by_position_and_id() {
        let rule = |id: &str| Rule {
            id: RuleId::parse(id).unwrap(),
            name: "x".into(),
            r#match: Match::default(),
            period: Period::years(1),
            from: Anchor::MessageDate,
            action: Action::Dispose,
        };
        let dup = Policy { rules: vec![rule("a"), rule("b"), rule("a")] };
        assert_eq!(dup.validate(), Err(PolicyError::DuplicateId { index: 2, id: "a".into() }));

        let mut bad_age = rule("kids");
        bad_age.r#match.patient_age = Some(AgeRange { min: Some(18), max: Some(17) });
        let err = Policy { rules: vec![bad_age] }.validate().unwrap_err();
        assert_eq!(err, PolicyError::AgeRange { index: 0, id: "kids".into() });

        let mut empty_query = rule("q");
        empty_query.r#match.query = Some("  ".into());
        assert!(matches!(
            Policy { rules: vec![empty_query] }.validate(),
            Err(PolicyError::Empty { field: "query", .. })
        ));

        let json = r#"{"rules":[{"id":"a","name":"A","period":"1y","action":"dispose"},{"id":"a","name":"B","period":"2y","action":"review"}]}"#;
        let err = serde_json::from_str::<Policy>(json).unwrap_err().to_string();
        assert!(err.contains("rule 1 (a): duplicate"), "{err}");
    }

    #[test]
    fn bad_values_are_rejected_at_parse() {
        for bad in [
            r#"{"rules":[{"id":"Bad Id","name":"A","period":"1y","action":"dispose"}]}"#,
            r#"{"rules":[{"id":"a","name":"A","period":"1 year","action":"dispose"}]}"#,
            r#"{"rules":[{"id":"a","name":"A","period":"1y","action":"delete"}]}"#,
            r#"{"rules":[{"id":"a","name":"A","period":"1y","action":"dispose","match":{"jurisdiction":["ZZ"]}}]}"#,
            r#"{"rules":[{"id":"a","name":"A","period":"1y","action":"dispose","match":{"sender":["nobody"]}}]}"#,
            r#"{"rules":[{"id":"a","name":"A","period":"1y","action":"dispose","match":{"category":"promo"}}]}"#,
            r#"{"rules":[{"id":"a","name":"A","period":"1y","action":"dispose","from":"birthday"}]}"#,
        ] {
            assert!(serde_json::from_str::<Policy>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn queries_lists_rules_with_a_query() {
        let json = r#"{"rules":[{"id":"a","name":"A","period":"1y","action":"dispose"},
            {"id":"lit","name":"L","period":"10y","action":"review","match":{"query":"subject:litigation"}}]}"#;
        let policy: Policy = serde_json::from_str(json).unwrap();
        let queries: Vec<_> = policy.queries().map(|(id, q)| (id.as_str(), q)).collect();
        assert_eq!(queries, vec![("lit", "subject:litigation")]);
    }

    #[test]
    fn line_column_points_into_the_text() {
        assert_eq!(line_column("ab\ncd", Some(4)), (2, 2));
        assert_eq!(line_column("ab", None), (0, 0));
        assert_eq!(line_column("ab", Some(99)), (1, 3));
    }

    proptest! {
        #[test]
        fn rule_id_accepts_exactly_slugs(s in "[a-zA-Z0-9 _-]{0,70}") {
            let slug = !s.is_empty() && s.len() <= 64 && !s.starts_with('-')
                && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            prop_assert_eq!(RuleId::parse(&s).is_ok(), slug);
        }

        #[test]
        fn age_range_bounds_are_inclusive(min in 0u8..40, span in 0u8..40) {
            let max = min + span;
            let range = AgeRange { min: Some(min), max: Some(max) };
            prop_assert!(range.contains(u32::from(min)) && range.contains(u32::from(max)));
            prop_assert!(!range.contains(u32::from(max) + 1));
            if min > 0 {
                prop_assert!(!range.contains(u32::from(min) - 1));
            }
            let open_above = AgeRange { min: Some(min), max: None };
            prop_assert!(open_above.contains(u32::from(max) + 100));
        }
    }
}
