//! The table of state medical-record retention periods: shipped in
//! `data/state-medical-records.toml`, replaceable by an edited copy.
//!
//! Each entry gives the adult period, the rule for patients who were minors
//! when the record was made, and the legal source. The evaluator turns the
//! entry for a message's jurisdiction into a synthetic rule `state-XX`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{PeriodError, StateTableError};
use crate::period::Period;
use crate::policy::{Action, line_column};
use crate::state::UsState;

/// The shipped table, as text: write it out for an administrator to edit.
pub const SHIPPED_TABLE: &str = include_str!("../data/state-medical-records.toml");

/// Whose records an entry's periods come from. The shipped table uses
/// hospital records and falls back to physicians' records where a state
/// sets no period for hospitals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordScope {
    /// Hospital (licensed facility) records.
    Hospital,
    /// Physicians' records.
    Physician,
    /// The state sets no period for either.
    None,
}

/// A part of an entry that was not confirmed against the current text of
/// the statute or regulation: what a compliance officer should confirm with
/// counsel before relying on the entry. Written in the file as
/// `unconfirmed = ["adult", "minors", "citation", "scope"]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unconfirmed {
    /// The adult period (`adult`), or that the state sets none.
    Adult,
    /// The rule for minors (`minors`, `majority`), or that the state has none.
    Minors,
    /// The citation (`source`): the statute or regulation named may be
    /// outdated, partly wrong, or missing.
    Citation,
    /// Whose records the periods come from (`scope`): e.g. a physicians'
    /// rule standing in for a hospital rule not found, or a rule whose
    /// application to hospitals is not confirmed.
    Scope,
}

impl Unconfirmed {
    /// Every item, in order: what an unverified entry without an
    /// `unconfirmed` list (an edited copy older than the field) reports.
    pub const ALL: &'static [Unconfirmed] =
        &[Unconfirmed::Adult, Unconfirmed::Minors, Unconfirmed::Citation, Unconfirmed::Scope];

    /// The word used in the file: `adult`, `minors`, `citation`, `scope`.
    pub fn as_str(self) -> &'static str {
        match self {
            Unconfirmed::Adult => "adult",
            Unconfirmed::Minors => "minors",
            Unconfirmed::Citation => "citation",
            Unconfirmed::Scope => "scope",
        }
    }

    /// A short description for people: "adult period", "minors rule", ...
    pub fn describe(self) -> &'static str {
        match self {
            Unconfirmed::Adult => "adult period",
            Unconfirmed::Minors => "minors rule",
            Unconfirmed::Citation => "citation",
            Unconfirmed::Scope => "scope (hospital or physician records)",
        }
    }
}

impl fmt::Display for Unconfirmed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rule for a patient who was a minor (younger than the entry's age of
/// majority) on the message date. The message is kept until the latest of
/// the adult period and every bound given here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinorRule {
    /// Keep until this long after the patient reaches majority.
    pub after_majority: Option<Period>,
    /// Keep until the patient reaches this age.
    pub until_age: Option<u8>,
    /// Keep at least this long from the record's date.
    pub minimum: Option<Period>,
}

/// One jurisdiction's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateEntry {
    /// Whose records the periods come from.
    pub scope: RecordScope,
    /// The adult retention period; `None` where the state sets none.
    pub adult: Option<Period>,
    /// The age of majority used for the minor rule and for rules counted
    /// from majority (18 unless the file says otherwise).
    pub majority: u8,
    /// The rule for minors, if the state has one.
    pub minors: Option<MinorRule>,
    /// The citation: the statute or regulation the periods come from.
    pub source: Option<String>,
    /// Where the periods and the citation were read: URLs or documents, in
    /// the file's `evidence` list. Empty in an edited copy that gives none.
    pub evidence: Vec<String>,
    /// Whether the period and citation were confirmed against a published
    /// source when the entry was written. Not legal advice either way.
    pub verified: bool,
    /// What is not confirmed, in order, without repeats: empty exactly when
    /// `verified`. An unverified entry that does not say lists everything
    /// ([`Unconfirmed::ALL`]).
    pub unconfirmed: Vec<Unconfirmed>,
    /// Why an entry is unverified, and anything else an editor should know.
    pub note: Option<String>,
}

/// One entry still to be confirmed, as listed by [`StateTable::unverified`]:
/// what a compliance officer takes to counsel. Carries no PHI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnverifiedEntry {
    /// The jurisdiction.
    pub state: UsState,
    /// What is not confirmed (never empty).
    pub unconfirmed: Vec<Unconfirmed>,
    /// The citation the entry uses, if any.
    pub source: Option<String>,
    /// The entry's note: why, and what the sources said.
    pub note: Option<String>,
}

/// The state medical-record table, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateTable {
    action: Action,
    entries: BTreeMap<UsState, StateEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableRepr {
    action: Action,
    #[serde(default)]
    states: BTreeMap<String, EntryRepr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryRepr {
    scope: RecordScope,
    adult: String,
    majority: Option<i64>,
    minors: Option<MinorRepr>,
    source: Option<String>,
    #[serde(default)]
    evidence: Vec<String>,
    verified: bool,
    unconfirmed: Option<Vec<Unconfirmed>>,
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MinorRepr {
    after_majority: Option<String>,
    until_age: Option<i64>,
    minimum: Option<String>,
}

impl StateTable {
    /// The table shipped with Sealpost ([`SHIPPED_TABLE`]).
    pub fn shipped() -> Result<Self, StateTableError> {
        Self::from_toml(SHIPPED_TABLE)
    }

    /// A table with no entries: jurisdictions contribute no rule.
    pub fn empty() -> Self {
        Self { action: Action::Dispose, entries: BTreeMap::new() }
    }

    /// Reads and validates an edited table from a file.
    pub fn load(path: &Path) -> Result<Self, StateTableError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| StateTableError::Io { path: path.to_owned(), source })?;
        Self::from_toml(&text)
    }

    /// Parses and validates a table. Every entry is checked; the first
    /// problem is reported with the entry's key and the field.
    pub fn from_toml(text: &str) -> Result<Self, StateTableError> {
        let repr: TableRepr = toml::from_str(text).map_err(|e| {
            let (line, column) = line_column(text, e.span().map(|s| s.start));
            StateTableError::Syntax { line, column, message: e.message().to_owned() }
        })?;
        let mut entries = BTreeMap::new();
        for (key, raw) in repr.states {
            let state = UsState::parse(&key)
                .map_err(|_| StateTableError::UnknownState { entry: key.chars().take(8).collect() })?;
            entries.insert(state, entry(state, raw)?);
        }
        Ok(Self { action: repr.action, entries })
    }

    /// The action of every state rule at expiry (`action` at the top of the file).
    pub fn action(&self) -> Action {
        self.action
    }

    /// The entry for one jurisdiction.
    pub fn get(&self, state: UsState) -> Option<&StateEntry> {
        self.entries.get(&state)
    }

    /// Every entry, in order of state code.
    pub fn entries(&self) -> impl Iterator<Item = (UsState, &StateEntry)> {
        self.entries.iter().map(|(s, e)| (*s, e))
    }

    /// The entries not yet confirmed, in order of state code, each with what
    /// is unconfirmed, its citation and its note: the list `sealpost
    /// retention` shows a compliance officer to confirm with counsel. An
    /// entry marked `verified = true` is not listed.
    ///
    /// ```
    /// use sealpost_retention::{StateTable, Unconfirmed, UsState};
    ///
    /// let table = StateTable::shipped().unwrap();
    /// let open = table.unverified();
    /// let ok = open.iter().find(|e| e.state == UsState::OK).unwrap();
    /// assert!(ok.unconfirmed.contains(&Unconfirmed::Citation));
    /// assert!(open.iter().all(|e| !e.unconfirmed.is_empty()));
    /// ```
    pub fn unverified(&self) -> Vec<UnverifiedEntry> {
        self.entries
            .iter()
            .filter(|(_, e)| !e.verified)
            .map(|(state, e)| UnverifiedEntry {
                state: *state,
                unconfirmed: e.unconfirmed.clone(),
                source: e.source.clone(),
                note: e.note.clone(),
            })
            .collect()
    }

    /// A stable fingerprint of everything in the table that decides a
    /// retention end: the action and, per state, scope, adult period, age
    /// of majority and minors rule. Citations, evidence, notes and the
    /// verified marks do not count. The same on every platform and release
    /// (FNV-1a over a canonical rendering), so a caller can store it next to
    /// a decision and re-evaluate stored decisions when it changes, e.g.
    /// after an upgrade ships a corrected table or an edited copy changes.
    pub fn rules_fingerprint(&self) -> u64 {
        use std::fmt::Write as _;
        let mut text = format!("action={}", self.action.as_str());
        for (state, e) in &self.entries {
            let scope = match e.scope {
                RecordScope::Hospital => "hospital",
                RecordScope::Physician => "physician",
                RecordScope::None => "none",
            };
            let adult = e.adult.map_or_else(|| "none".to_owned(), |p| p.to_string());
            let _ = write!(text, ";{state}:{scope}:{adult}:{}", e.majority);
            if let Some(m) = e.minors {
                let period = |p: Option<Period>| p.map_or_else(String::new, |p| p.to_string());
                let age = m.until_age.map_or_else(String::new, |a| a.to_string());
                let _ = write!(text, ":{}/{age}/{}", period(m.after_majority), period(m.minimum));
            }
        }
        text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    }

    /// How many jurisdictions have an entry.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no jurisdiction has an entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn entry(state: UsState, raw: EntryRepr) -> Result<StateEntry, StateTableError> {
    let name = state.code().to_owned();
    let invalid = |field, reason| StateTableError::Invalid { entry: name.clone(), field, reason };
    let period = |field, text: &str| {
        Period::parse(text).map_err(|source: PeriodError| StateTableError::Period {
            entry: name.clone(),
            field,
            source,
        })
    };

    let adult = if raw.adult == "none" { None } else { Some(period("adult", &raw.adult)?) };
    let majority = match raw.majority {
        None => 18,
        Some(age @ 1..=25) => age as u8,
        Some(_) => return Err(invalid("majority", "age of majority must be 1-25")),
    };
    let minors = match raw.minors {
        None => None,
        Some(m) => {
            let until_age = match m.until_age {
                None => None,
                Some(age @ 1..=120) => Some(age as u8),
                Some(_) => return Err(invalid("minors.until_age", "age must be 1-120")),
            };
            let rule = MinorRule {
                after_majority: m.after_majority.as_deref().map(|t| period("minors.after_majority", t)).transpose()?,
                until_age,
                minimum: m.minimum.as_deref().map(|t| period("minors.minimum", t)).transpose()?,
            };
            if rule.after_majority.is_none() && rule.until_age.is_none() && rule.minimum.is_none() {
                return Err(invalid("minors", "give after_majority, until_age or minimum"));
            }
            Some(rule)
        }
    };
    if raw.scope == RecordScope::None && (adult.is_some() || minors.is_some()) {
        return Err(invalid("scope", "scope none cannot have periods"));
    }
    let source = raw.source.filter(|s| !s.trim().is_empty());
    let note = raw.note.filter(|s| !s.trim().is_empty());
    if !raw.verified && note.is_none() {
        return Err(invalid("note", "an unverified entry must say why in a note"));
    }
    if source.is_none() && raw.verified {
        return Err(invalid("source", "an entry without a source cannot be verified"));
    }
    if raw.evidence.iter().any(|e| e.trim().is_empty()) {
        return Err(invalid("evidence", "an evidence item must name a URL or document"));
    }
    let unconfirmed = match (raw.verified, raw.unconfirmed) {
        (true, Some(list)) if !list.is_empty() => {
            return Err(invalid("unconfirmed", "a verified entry cannot list unconfirmed parts"));
        }
        (true, _) => Vec::new(),
        (false, Some(list)) if list.is_empty() => {
            return Err(invalid("unconfirmed", "an unverified entry must list what is unconfirmed"));
        }
        (false, Some(mut list)) => {
            list.sort_unstable();
            list.dedup();
            list
        }
        // An edited copy older than the field: nothing is confirmed.
        (false, None) => Unconfirmed::ALL.to_vec(),
    };
    Ok(StateEntry {
        scope: raw.scope,
        adult,
        majority,
        minors,
        source,
        evidence: raw.evidence,
        verified: raw.verified,
        unconfirmed,
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
action = "dispose"
[states.NY]
scope = "hospital"
adult = "6y"
minors = { after_majority = "3y" }
source = "10 NYCRR 405.10(a)(4)"
verified = true
"#;

    #[test]
    fn parses_a_minimal_table() {
        let table = StateTable::from_toml(MINIMAL).unwrap();
        let ny = table.get(UsState::NY).unwrap();
        assert_eq!(ny.adult, Some(Period::years(6)));
        assert_eq!(ny.majority, 18);
        assert_eq!(ny.minors.unwrap().after_majority, Some(Period::years(3)));
        assert_eq!(table.len(), 1);
        assert!(table.get(UsState::CA).is_none());
    }

    fn err(text: &str) -> String {
        StateTable::from_toml(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_entry_and_field() {
        let unknown = MINIMAL.replace("[states.NY]", "[states.XY]");
        assert_eq!(err(&unknown), "entry XY: not a US state code");
        let bad_period = MINIMAL.replace("adult = \"6y\"", "adult = \"6 years\"");
        assert!(err(&bad_period).starts_with("entry NY: field adult:"), "{}", err(&bad_period));
        let bad_minor = MINIMAL.replace("after_majority = \"3y\"", "after_majority = \"3\"");
        assert!(err(&bad_minor).starts_with("entry NY: field minors.after_majority:"));
        let empty_minor = MINIMAL.replace("after_majority = \"3y\"", "");
        assert!(err(&empty_minor).starts_with("entry NY: field minors:"));
        let bad_majority = MINIMAL.replace("scope =", "majority = 40\nscope =");
        assert!(err(&bad_majority).starts_with("entry NY: field majority:"));
        let unverified_without_note = MINIMAL.replace("verified = true", "verified = false");
        assert!(err(&unverified_without_note).starts_with("entry NY: field note:"));
        let verified_without_source = MINIMAL.replace("source = \"10 NYCRR 405.10(a)(4)\"", "");
        assert!(err(&verified_without_source).starts_with("entry NY: field source:"));
        let none_with_period = MINIMAL.replace("scope = \"hospital\"", "scope = \"none\"");
        assert!(err(&none_with_period).starts_with("entry NY: field scope:"));
        let verified_with_open = MINIMAL.replace("verified = true", "verified = true\nunconfirmed = [\"adult\"]");
        assert!(err(&verified_with_open).starts_with("entry NY: field unconfirmed:"));
        let unverified_empty = MINIMAL.replace("verified = true", "verified = false\nnote = \"n\"\nunconfirmed = []");
        assert!(err(&unverified_empty).starts_with("entry NY: field unconfirmed:"));
        let blank_evidence = MINIMAL.replace("verified = true", "verified = true\nevidence = [\" \"]");
        assert!(err(&blank_evidence).starts_with("entry NY: field evidence:"));
        let unknown_item =
            MINIMAL.replace("verified = true", "verified = false\nnote = \"n\"\nunconfirmed = [\"age\"]");
        assert!(err(&unknown_item).contains("line 10, column 16: unknown variant `age`"), "{}", err(&unknown_item));
        let unknown_field = MINIMAL.replace("verified = true", "verified = true\nyears = 6");
        assert!(err(&unknown_field).contains("line 9"), "{}", err(&unknown_field));
    }

    #[test]
    fn unconfirmed_parts_are_sorted_without_repeats_and_evidence_is_kept() {
        let text = MINIMAL.replace(
            "verified = true",
            "verified = false\nnote = \"n\"\nunconfirmed = [\"minors\", \"adult\", \"minors\"]\nevidence = [\"a\", \"b\"]",
        );
        let table = StateTable::from_toml(&text).unwrap();
        let ny = table.get(UsState::NY).unwrap();
        assert_eq!(ny.unconfirmed, [Unconfirmed::Adult, Unconfirmed::Minors]);
        assert_eq!(ny.evidence, ["a", "b"]);
        let open = table.unverified();
        assert_eq!((open[0].state, open[0].unconfirmed.as_slice()), (UsState::NY, ny.unconfirmed.as_slice()));
        assert!(StateTable::from_toml(MINIMAL).unwrap().unverified().is_empty());
        assert_eq!(Unconfirmed::Citation.to_string(), "citation");
    }

    #[test]
    fn the_fingerprint_follows_periods_not_notes() {
        let base = StateTable::from_toml(MINIMAL).unwrap().rules_fingerprint();
        assert_eq!(base, StateTable::from_toml(MINIMAL).unwrap().rules_fingerprint());
        let fp = |text: &str| StateTable::from_toml(text).unwrap().rules_fingerprint();
        assert_eq!(fp(&MINIMAL.replace("10 NYCRR", "N.Y. Comp. Codes R. & Regs. tit. 10,")), base);
        assert_eq!(fp(&MINIMAL.replace("verified = true", "verified = false\nnote = \"n\"")), base);
        assert_ne!(fp(&MINIMAL.replace("\"6y\"", "\"7y\"")), base);
        assert_ne!(fp(&MINIMAL.replace("after_majority = \"3y\"", "until_age = 21")), base);
        assert_ne!(fp(&MINIMAL.replace("scope =", "majority = 19\nscope =")), base);
        assert_ne!(fp(&MINIMAL.replace("\"dispose\"", "\"review\"")), base);
        assert_ne!(StateTable::empty().rules_fingerprint(), base);
    }

    #[test]
    fn load_reports_the_path_not_the_content() {
        let e = StateTable::load(Path::new("/nonexistent/sealpost/states.toml")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/sealpost/states.toml"));
    }
}
