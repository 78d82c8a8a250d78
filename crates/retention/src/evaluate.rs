//! `evaluate`: which rules match a message, how long each keeps it, and
//! which one decides.

use std::fmt;

use sealpost_model::EmailAddress;
use serde::{Deserialize, Serialize};
use time::{Date, Month};

use crate::facts::{MessageFacts, age_on, birthday};
use crate::pattern::AddressPattern;
use crate::period::Period;
use crate::policy::{Action, Anchor, Match, Policy, Rule};
use crate::state_table::{StateEntry, StateTable};

/// When a message's retention ends. Every date is earlier than `Indefinite`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Until {
    /// Retention ends at the start of this day: the message may be disposed
    /// of (or reviewed) on or after it.
    Date(Date),
    /// Kept until further notice: permanent retention, an event not yet
    /// known, or an end beyond the calendar.
    Indefinite,
}

impl Until {
    /// Parses `YYYY-MM-DD` or `indefinite`, the forms [`Display`](fmt::Display) writes.
    pub fn parse(s: &str) -> Option<Self> {
        if s == "indefinite" {
            return Some(Until::Indefinite);
        }
        let mut parts = s.splitn(3, '-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        let fixed = y.len() == 4 && m.len() == 2 && d.len() == 2;
        let all_digits = [y, m, d].iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()));
        if !fixed || !all_digits {
            return None;
        }
        let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
        Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok().map(Until::Date)
    }
}

impl fmt::Display for Until {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Until::Date(d) => write!(f, "{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day()),
            Until::Indefinite => f.write_str("indefinite"),
        }
    }
}

impl Serialize for Until {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Until {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Until::parse(&text).ok_or_else(|| serde::de::Error::custom("expected YYYY-MM-DD or indefinite"))
    }
}

/// The outcome of evaluating a policy for one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// When retention ends.
    pub until: Until,
    /// What happens then.
    pub action: Action,
    /// The deciding rule: a policy rule's id or `state-XX`; `None` when no rule matched.
    pub rule_id: Option<String>,
    /// "rule hipaa-documentation, until 2032-05-01": ids, dates and fixed
    /// words only, so it can be shown and logged without PHI review.
    pub explanation: String,
    /// Every matching rule and its own end, in evaluation order (policy
    /// rules, then the state rule).
    pub considered: Vec<(String, Until)>,
}

/// Why a rule ends when it does; decides the explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    On(Date),
    Permanent,
    Waiting(Anchor),
    BeyondCalendar,
}

impl End {
    fn until(self) -> Until {
        match self {
            End::On(d) => Until::Date(d),
            End::Permanent | End::Waiting(_) | End::BeyondCalendar => Until::Indefinite,
        }
    }

    fn of(period: Period, start: Date) -> Self {
        match period {
            Period::Forever => End::Permanent,
            Period::Span { .. } => period.end_from(start).map_or(End::BeyondCalendar, End::On),
        }
    }
}

struct Candidate {
    id: String,
    action: Action,
    end: End,
}

/// Evaluates `policy`, plus the state table's rule for the message's
/// jurisdiction, against one message.
///
/// - Every matching rule gives an end date; the **latest** wins, and
///   `Indefinite` beats every date.
/// - On equal ends, `review` beats `dispose` (a person looks before anything
///   is destroyed), then the earlier rule wins. The state rule counts as
///   the last rule.
/// - A rule counted from an event whose date is unknown (no date of birth
///   for `patient-majority`, no last treatment for `last-treatment`) ends
///   `Indefinite` with "waiting for event …": a message is never disposed of
///   early for want of a fact. Re-evaluate when the fact arrives.
/// - The state rule `state-XX` (see [`crate::StateTable`]) applies when the
///   message's jurisdiction has an entry: the adult period counted from the
///   message date, or from the last treatment date when that is known and
///   later (statutes count from discharge or last treatment). If the
///   patient was younger than the state's age of majority on the message
///   date, the minor rule's bounds apply too, and the latest of all wins.
///   Without a date of birth only the adult period applies.
/// - No matching rule: `Indefinite`, action `review`, no rule id. Nothing
///   is disposed of that no rule covers.
///
/// Never panics; dates beyond the year 9999 read as `Indefinite`.
pub fn evaluate(policy: &Policy, states: &StateTable, facts: &MessageFacts) -> Decision {
    let entry = facts.jurisdiction.and_then(|s| states.get(s).map(|e| (s, e)));
    let majority = entry.map_or(18, |(_, e)| e.majority);

    let mut candidates: Vec<Candidate> = policy
        .rules
        .iter()
        .filter(|rule| matches(&rule.r#match, rule.id.as_str(), facts))
        .map(|rule| Candidate { id: rule.id.to_string(), action: rule.action, end: rule_end(rule, facts, majority) })
        .collect();
    if let Some((state, entry)) = entry
        && let Some(end) = state_end(entry, facts)
    {
        candidates.push(Candidate { id: format!("state-{}", state.code()), action: states.action(), end });
    }

    let considered = candidates.iter().map(|c| (c.id.clone(), c.end.until())).collect();
    let Some(best) = candidates.iter().reduce(|best, c| if beats(c, best) { c } else { best }) else {
        return Decision {
            until: Until::Indefinite,
            action: Action::Review,
            rule_id: None,
            explanation: "no rule matched; kept indefinitely".to_owned(),
            considered,
        };
    };
    Decision {
        until: best.end.until(),
        action: best.action,
        rule_id: Some(best.id.clone()),
        explanation: explain(&best.id, best.end),
        considered,
    }
}

/// Whether `challenger`, coming later in order, takes over from `best`.
fn beats(challenger: &Candidate, best: &Candidate) -> bool {
    let (a, b) = (challenger.end.until(), best.end.until());
    a > b || (a == b && challenger.action == Action::Review && best.action == Action::Dispose)
}

fn explain(id: &str, end: End) -> String {
    match end {
        End::On(date) => format!("rule {id}, until {}", Until::Date(date)),
        End::Permanent => format!("rule {id}, kept indefinitely (permanent)"),
        End::Waiting(event) => format!("rule {id}, waiting for event {}", event.as_str()),
        End::BeyondCalendar => format!("rule {id}, kept indefinitely (end beyond the calendar)"),
    }
}

fn matches(m: &Match, rule_id: &str, facts: &MessageFacts) -> bool {
    m.category.is_none_or(|c| c == facts.category)
        && m.phi.is_none_or(|p| p == facts.phi)
        && any_address(&m.sender, facts.sender.iter())
        && any_address(&m.recipient, facts.recipients.iter())
        && (m.custodian.is_empty() || facts.custodians.iter().any(|c| m.custodian.contains(c)))
        && (m.query.is_none() || facts.matched_queries.contains(rule_id))
        && (m.jurisdiction.is_empty() || facts.jurisdiction.is_some_and(|j| m.jurisdiction.contains(&j)))
        && m.patient_age.is_none_or(|range| facts.patient_age().is_some_and(|age| range.contains(age)))
}

/// An empty pattern list holds for every message, even one without addresses.
fn any_address<'a>(patterns: &[AddressPattern], mut addresses: impl Iterator<Item = &'a EmailAddress>) -> bool {
    patterns.is_empty() || addresses.any(|a| patterns.iter().any(|p| p.matches(a)))
}

fn rule_end(rule: &Rule, facts: &MessageFacts, majority: u8) -> End {
    if rule.period == Period::Forever {
        return End::Permanent;
    }
    let start = match rule.from {
        Anchor::MessageDate => Some(facts.date),
        Anchor::PatientMajority => match facts.patient_dob {
            Some(dob) => birthday(dob, u32::from(majority)),
            None => return End::Waiting(Anchor::PatientMajority),
        },
        Anchor::LastTreatment => match facts.last_treatment {
            Some(date) => Some(date),
            None => return End::Waiting(Anchor::LastTreatment),
        },
    };
    start.map_or(End::BeyondCalendar, |start| End::of(rule.period, start))
}

/// The synthetic state rule's end, `None` when the entry gives no period
/// that applies (no adult period, and no minor rule for this patient).
fn state_end(entry: &StateEntry, facts: &MessageFacts) -> Option<End> {
    let base = facts.last_treatment.map_or(facts.date, |t| t.max(facts.date));
    let mut ends: Vec<End> = entry.adult.map(|p| End::of(p, base)).into_iter().collect();
    if let (Some(minor), Some(dob)) = (entry.minors, facts.patient_dob)
        && age_on(dob, facts.date) < u32::from(entry.majority)
    {
        if let Some(extra) = minor.after_majority {
            ends.push(birthday(dob, u32::from(entry.majority)).map_or(End::BeyondCalendar, |m| End::of(extra, m)));
        }
        if let Some(age) = minor.until_age {
            ends.push(birthday(dob, u32::from(age)).map_or(End::BeyondCalendar, End::On));
        }
        if let Some(minimum) = minor.minimum {
            ends.push(End::of(minimum, base));
        }
    }
    ends.into_iter().max_by_key(|e| e.until())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn until_orders_dates_before_indefinite_and_round_trips() {
        let d = Until::parse("2032-05-01").unwrap();
        assert!(d < Until::Indefinite);
        assert_eq!(d.to_string(), "2032-05-01");
        assert_eq!(Until::parse("indefinite"), Some(Until::Indefinite));
        for bad in ["2032-5-1", "2032-02-30", "", "20320501", "+032-05-01", "2032-05-01x"] {
            assert_eq!(Until::parse(bad), None, "{bad}");
        }
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"2032-05-01\"");
        assert_eq!(serde_json::from_str::<Until>("\"indefinite\"").unwrap(), Until::Indefinite);
    }

    proptest! {
        #[test]
        fn until_parse_never_panics_and_round_trips(s in "[0-9a-z-]{0,12}") {
            if let Some(u) = Until::parse(&s) {
                prop_assert_eq!(Until::parse(&u.to_string()), Some(u));
            }
        }

        #[test]
        fn until_display_parses_back(j in 2_086_308i32..5_373_484) {
            if let Ok(date) = Date::from_julian_day(j) {
                prop_assert_eq!(Until::parse(&Until::Date(date).to_string()), Some(Until::Date(date)));
            }
        }
    }
}
