//! The detectors, one file per PHI kind, and the text helpers they share.
//!
//! `regex` has no look-around, so every detector matches a candidate with a
//! regular expression and then checks in code what a look-around would have:
//! the candidate is not glued to a longer token, a keyword precedes it, its
//! check digit or ranges are valid. A rejected candidate restarts the search
//! one character later, so a bad candidate never hides a good one overlapping it.

mod dictionary;
mod dob;
mod health_plan;
mod icd10;
mod mbi;
mod mrn;
mod npi;
mod phone;
mod ssn;

pub use dictionary::MAX_TERM_CHARS;
pub use mrn::MAX_MRN_PATTERNS;

use std::ops::Range;

use regex::{Captures, Regex};

use crate::{ClassifyError, Findings, PhiKind, TenantRules};

/// Every detector, compiled for one tenant's rules.
#[derive(Clone)]
pub(crate) struct Detectors {
    mrn: mrn::MrnDetector,
    dictionary: Option<dictionary::DictionaryDetector>,
}

impl Detectors {
    pub(crate) fn new(rules: &TenantRules) -> Result<Self, ClassifyError> {
        Ok(Self {
            mrn: mrn::MrnDetector::new(&rules.mrn_patterns)?,
            dictionary: dictionary::DictionaryDetector::new(&rules.dictionary)?,
        })
    }

    pub(crate) fn scan(&self, text: &str) -> Findings {
        let mut findings = Findings::new();
        // Keyed identifiers first: the spans they claim are not counted again
        // as an NPI or a phone number ("MRN 1234567893" is one finding).
        let mut claimed = Vec::new();
        findings.add(PhiKind::Mrn, self.mrn.count(text, &mut claimed));
        findings.add(PhiKind::HealthPlanId, health_plan::count(text, &mut claimed));
        let claimed = merge_overlapping(claimed);
        findings.add(PhiKind::Ssn, ssn::count(text));
        findings.add(PhiKind::DateOfBirth, dob::count(text));
        findings.add(PhiKind::Icd10, icd10::count(text));
        findings.add(PhiKind::Npi, npi::count(text, &claimed));
        findings.add(PhiKind::MedicareMbi, mbi::count(text));
        findings.add(PhiKind::Phone, phone::count(text, &claimed));
        if let Some(dictionary) = &self.dictionary {
            findings.add(PhiKind::Dictionary, dictionary.count(text));
        }
        findings
    }
}

/// Compiles a built-in pattern. They are constants covered by the tests, so a
/// failure here is a bug in this crate, not bad input.
fn builtin(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("built-in pattern does not compile: {e}"))
}

/// Calls `accept` on each candidate match of `re` in `text`, left to right.
/// After an accepted candidate the search continues at its end; after a
/// rejected one, one character past its start.
fn for_each_candidate<'t>(re: &Regex, text: &'t str, mut accept: impl FnMut(&Captures<'t>) -> bool) {
    let mut at = 0;
    while at <= text.len() {
        let Some(caps) = re.captures_at(text, at) else { break };
        let Some(m) = caps.get(0) else { break };
        at = if accept(&caps) && m.end() > m.start() { m.end() } else { next_boundary(text, m.start()) };
    }
}

/// The byte offset of the character after the one starting at `i`, or past the end.
fn next_boundary(text: &str, i: usize) -> usize {
    i + text.get(i..).and_then(|rest| rest.chars().next()).map_or(1, char::len_utf8)
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_joiner(c: char) -> bool {
    matches!(c, '-' | '.' | '/')
}

/// True when `text[range]` is a token of its own: the characters around it are
/// not word characters, and not a joiner (`-`, `.`, `/`) followed by a character
/// for which `continues` is true. This rejects `1234567893` inside
/// `01234567893`, `555-123-45-6789` or `192.168.212.555.1234`.
fn standalone(text: &str, range: Range<usize>, continues: fn(char) -> bool) -> bool {
    let mut before = text[..range.start].chars().rev();
    let glued_before = match (before.next(), before.next()) {
        (Some(c), _) if is_word(c) => true,
        (Some(j), Some(c)) => is_joiner(j) && continues(c),
        _ => false,
    };
    let mut after = text[range.end..].chars();
    let glued_after = match (after.next(), after.next()) {
        (Some(c), _) if is_word(c) => true,
        (Some(j), Some(c)) => is_joiner(j) && continues(c),
        _ => false,
    };
    !glued_before && !glued_after
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit()
}

fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// True when a match of `keyword` ends at most `max_gap` bytes before `start`
/// with at most `max_words` words between them ("SSN: 123456789",
/// "social security number is 123456789").
fn keyword_before(text: &str, start: usize, keyword: &Regex, max_gap: usize, max_words: usize) -> bool {
    // Keywords are short; look back far enough to see one whole.
    const KEYWORD_MAX: usize = 40;
    let from = text.floor_char_boundary(start.saturating_sub(max_gap + KEYWORD_MAX));
    let head = &text[..start];
    let mut last_end = None;
    let mut at = from;
    while let Some(m) = keyword.find_at(head, at) {
        last_end = Some(m.end());
        at = if m.end() > m.start() { m.end() } else { next_boundary(head, m.end()) };
        if at > head.len() {
            break;
        }
    }
    last_end.is_some_and(|end| gap_is_short(&head[end..], max_gap, max_words))
}

/// A gap between a keyword and its value: short, and few words in it.
fn gap_is_short(gap: &str, max_gap: usize, max_words: usize) -> bool {
    gap.len() <= max_gap && gap.split_whitespace().filter(|w| w.chars().any(char::is_alphanumeric)).count() <= max_words
}

/// Sorts spans and joins the ones that overlap, giving disjoint sorted spans.
fn merge_overlapping(mut spans: Vec<Range<usize>>) -> Vec<Range<usize>> {
    spans.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start < last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}

/// True when `range` lies inside one of the `claimed` spans (disjoint and
/// sorted, from [`merge_overlapping`]).
fn is_claimed(claimed: &[Range<usize>], range: &Range<usize>) -> bool {
    let after = claimed.partition_point(|c| c.start <= range.start);
    after > 0 && range.end <= claimed[after - 1].end
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standalone_rejects_glued_tokens() {
        let t = "x 1234567893 y";
        assert!(standalone(t, 2..12, is_digit));
        let t = "01234567893";
        assert!(!standalone(t, 1..11, is_digit));
        let t = "5-1234567893";
        assert!(!standalone(t, 2..12, is_digit));
        let t = "NPI-1234567893.";
        assert!(standalone(t, 4..14, is_digit));
        let t = "é1234567893";
        assert!(!standalone(t, 2..12, is_digit));
    }

    #[test]
    fn claimed_spans() {
        let claimed = merge_overlapping(vec![20..30, 0..10, 5..12]);
        assert_eq!(claimed, vec![0..12, 20..30]);
        assert!(is_claimed(&claimed, &(0..12)));
        assert!(is_claimed(&claimed, &(21..29)));
        assert!(!is_claimed(&claimed, &(11..13)));
        assert!(!is_claimed(&claimed, &(12..20)));
        assert!(!is_claimed(&[], &(0..1)));
        assert_eq!(merge_overlapping(vec![0..5, 5..9]), vec![0..5, 5..9]);
    }

    #[test]
    fn keyword_window() {
        let kw = builtin(r"(?i)\bssn\b");
        let t = "SSN: 123456789";
        assert!(keyword_before(t, 5, &kw, 24, 3));
        let t = "SSN of the patient named above is 123456789";
        assert!(!keyword_before(t, t.len() - 9, &kw, 24, 3));
        let t = "ééééééééééééééééééééééééééééééé SSN 1";
        assert!(keyword_before(t, t.len() - 1, &kw, 24, 3));
    }

    #[test]
    fn candidates_restart_after_rejection() {
        let re = builtin(r"[0-9]{3}");
        let mut seen = Vec::new();
        for_each_candidate(&re, "12345", |caps| {
            let m = caps.get(0).map(|m| m.as_str()).unwrap_or_default();
            seen.push(m.to_string());
            m == "234"
        });
        assert_eq!(seen, ["123", "234"]);
    }
}
