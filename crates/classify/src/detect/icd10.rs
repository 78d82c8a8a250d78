//! ICD-10-CM diagnosis codes: a letter (A-T or V-Z; U only for U07.1 and
//! U09.9), a digit, a digit or letter, then optionally `.` and 1-4 digits or
//! letters (`J45.909`, `E11.9`, `S72.001A`). The dotted form counts anywhere;
//! the dotless form (`E119`, `I10`) only after an ICD or diagnosis keyword,
//! since short letter-digit codes are common product and part numbers.
//! Upper case only, and never part of a dotted run like a version string.

use std::sync::LazyLock;

use regex::Regex;

use super::{builtin, for_each_candidate, is_alnum, keyword_before, standalone};

static DOTTED: LazyLock<Regex> = LazyLock::new(|| builtin(r"\b[A-Z][0-9][0-9A-Z]\.[0-9A-Z]{1,4}\b"));
static DOTLESS: LazyLock<Regex> = LazyLock::new(|| builtin(r"\b[A-Z][0-9][0-9A-Z]{1,5}\b"));
static KEYWORD: LazyLock<Regex> =
    LazyLock::new(|| builtin(r"(?i)\b(?:icd(?:[- ]?10(?:[- ]?cm)?)?|diagnos[ie]s(?:\s+codes?)?|dx|diag)\b"));

/// A list of codes after one keyword ("Dx: E119, I10, J45909") is covered.
const GAP: usize = 40;
const GAP_WORDS: usize = 6;

pub(super) fn count(text: &str) -> u32 {
    let mut n = 0u32;
    for_each_candidate(&DOTTED, text, |caps| {
        let Some(m) = caps.get(0) else { return false };
        let found = is_code(m.as_str()) && standalone(text, m.range(), is_alnum);
        n += u32::from(found);
        found
    });
    for_each_candidate(&DOTLESS, text, |caps| {
        let Some(m) = caps.get(0) else { return false };
        let found = is_code(m.as_str())
            && standalone(text, m.range(), is_alnum)
            && keyword_before(text, m.start(), &KEYWORD, GAP, GAP_WORDS);
        n += u32::from(found);
        found
    });
    n
}

/// Whether a candidate's chapter letter is one ICD-10-CM uses.
fn is_code(code: &str) -> bool {
    match code.as_bytes().first() {
        Some(b'U') => matches!(code, "U07.1" | "U071" | "U09.9" | "U099"),
        Some(c) => c.is_ascii_uppercase(),
        None => false,
    }
}
