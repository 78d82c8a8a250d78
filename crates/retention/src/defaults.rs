//! The policy a new tenant starts with.

use crate::period::Period;
use crate::policy::{Action, Anchor, Match, Policy, Rule, RuleId};

/// Id of the default HIPAA rule.
pub const HIPAA_RULE_ID: &str = "hipaa-documentation";

/// The default policy: one rule, `hipaa-documentation`, keeping **every**
/// message 6 years from its date, then `dispose`.
///
/// 45 CFR 164.316(b)(2)(i) requires the documentation of Security Rule
/// policies, and of the actions, activities and assessments they require,
/// to be kept 6 years from creation. Which emails are such documentation
/// (a disclosure, an access request, a breach notice) cannot be told from
/// the facts a rule sees, so the rule matches all messages: it is the floor
/// below which nothing is disposed of. A tenant that decides, say,
/// marketing mail is not documentation narrows it with a `match`.
///
/// The state medical-record periods are not rules here: pass the state
/// table ([`crate::StateTable::shipped`]) to [`crate::evaluate`] and it adds
/// `state-XX` for the message's jurisdiction, so editing the table needs no
/// policy change.
pub fn default_policy() -> Policy {
    Policy {
        rules: vec![Rule {
            id: RuleId(HIPAA_RULE_ID.to_owned()),
            name: "HIPAA documentation, 45 CFR 164.316(b)(2)(i)".to_owned(),
            r#match: Match::default(),
            period: Period::years(6),
            from: Anchor::MessageDate,
            action: Action::Dispose,
        }],
    }
}
