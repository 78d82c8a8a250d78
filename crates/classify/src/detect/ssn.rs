//! Social Security numbers.
//!
//! `ddd-dd-dddd` or `ddd dd dddd` anywhere, and nine bare digits only right
//! after an SSN keyword. Numbers the SSA never issues are not findings: area
//! 000, 666 or 900-999, group 00, serial 0000.

use std::sync::LazyLock;

use regex::Regex;

use super::{builtin, for_each_candidate, is_digit, keyword_before, standalone};

static GROUPED: LazyLock<Regex> =
    LazyLock::new(|| builtin(r"\b(?P<area>[0-9]{3})(?P<s1>[- ])(?P<group>[0-9]{2})(?P<s2>[- ])(?P<serial>[0-9]{4})\b"));
static BARE: LazyLock<Regex> = LazyLock::new(|| builtin(r"\b[0-9]{9}\b"));
static KEYWORD: LazyLock<Regex> = LazyLock::new(|| {
    builtin(
        r"(?i)\b(?:ssn\b|ss[#]|social\s+security(?:\s+(?:number|num|no\.?|[#]))?|soc\.?\s*sec\.?(?:\s*(?:number|no\.?|[#]))?)",
    )
});

/// How far after the keyword the number may start, in bytes and words.
const KEYWORD_GAP: usize = 24;
const KEYWORD_WORDS: usize = 3;

pub(super) fn count(text: &str) -> u32 {
    let mut n = 0u32;
    for_each_candidate(&GROUPED, text, |caps| {
        let (Some(all), Some(area), Some(s1), Some(group), Some(s2), Some(serial)) =
            (caps.get(0), caps.name("area"), caps.name("s1"), caps.name("group"), caps.name("s2"), caps.name("serial"))
        else {
            return false;
        };
        let found = s1.as_str() == s2.as_str()
            && is_issuable(area.as_str(), group.as_str(), serial.as_str())
            && standalone(text, all.range(), is_digit)
            && (s1.as_str() == "-" || !between_numbers(text, all.range()));
        n += u32::from(found);
        found
    });
    for_each_candidate(&BARE, text, |caps| {
        let Some(all) = caps.get(0) else { return false };
        let digits = all.as_str();
        let found = is_issuable(&digits[..3], &digits[3..5], &digits[5..])
            && standalone(text, all.range(), is_digit)
            && keyword_before(text, all.start(), &KEYWORD, KEYWORD_GAP, KEYWORD_WORDS);
        n += u32::from(found);
        found
    });
    n
}

/// Whether the SSA could have issued this area/group/serial.
pub(crate) fn is_issuable(area: &str, group: &str, serial: &str) -> bool {
    let (Ok(area), Ok(group), Ok(serial)) = (area.parse::<u16>(), group.parse::<u8>(), serial.parse::<u16>()) else {
        return false;
    };
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// Space-separated digit groups are common in tables ("100 20 3000 45"); a
/// space-separated SSN counts only when no number stands right beside it.
fn between_numbers(text: &str, range: std::ops::Range<usize>) -> bool {
    let before = text[..range.start].trim_end_matches([' ', '\t']);
    let after = text[range.end..].trim_start_matches([' ', '\t']);
    before.ends_with(|c: char| c.is_ascii_digit()) || after.starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuable_ranges() {
        assert!(is_issuable("001", "01", "0001"));
        assert!(is_issuable("899", "99", "9999"));
        assert!(is_issuable("665", "45", "6789"));
        assert!(!is_issuable("000", "45", "6789"));
        assert!(!is_issuable("666", "45", "6789"));
        assert!(!is_issuable("900", "45", "6789"));
        assert!(!is_issuable("999", "45", "6789"));
        assert!(!is_issuable("123", "00", "6789"));
        assert!(!is_issuable("123", "45", "0000"));
    }
}
