//! Retention policies for Sealpost (R-AR-2): ordered rules, the longest
//! applicable retention wins, and a shipped table of state medical-record
//! periods including the rules for minors.
//!
//! Pure logic: no database, no clock, no search. The caller gathers a
//! message's [`MessageFacts`] (including which rules' keyword queries
//! matched) and gets back a [`Decision`] with the end date, the action and
//! a PHI-free explanation such as `rule hipaa-documentation, until 2032-05-01`.
//!
//! ```
//! use sealpost_model::Category;
//! use sealpost_retention::{default_policy, evaluate, MessageFacts, StateTable, Until, UsState};
//! use time::macros::date;
//!
//! let states = StateTable::shipped().unwrap();
//! let mut facts = MessageFacts::new(date!(2026 - 05 - 01), Category::Transactional);
//! facts.jurisdiction = Some(UsState::TX);
//! let decision = evaluate(&default_policy(), &states, &facts);
//! // Texas keeps hospital records 10 years, longer than HIPAA's 6.
//! assert_eq!(decision.until, Until::Date(date!(2036 - 05 - 01)));
//! assert_eq!(decision.explanation, "rule state-TX, until 2036-05-01");
//! ```
//!
//! Calendar arithmetic rolls a missing day forward: 29 February + 1 year is
//! 1 March, so retention never ends a day early (see [`Period::end_from`]).

mod defaults;
mod error;
mod evaluate;
mod facts;
mod pattern;
mod period;
mod policy;
mod state;
mod state_table;

pub use defaults::{HIPAA_RULE_ID, default_policy};
pub use error::{PatternError, PeriodError, PolicyError, RuleIdError, StateTableError, UsStateError};
pub use evaluate::{Decision, Until, evaluate};
pub use facts::MessageFacts;
pub use pattern::AddressPattern;
pub use period::Period;
pub use policy::{Action, AgeRange, Anchor, Match, Policy, Rule, RuleId};
pub use state::UsState;
pub use state_table::{MinorRule, RecordScope, SHIPPED_TABLE, StateEntry, StateTable, Unconfirmed, UnverifiedEntry};
