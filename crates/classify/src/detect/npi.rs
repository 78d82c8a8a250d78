//! National Provider Identifiers: ten digits starting with 1 or 2 whose last
//! digit is the Luhn check digit of the first nine prefixed with `80840`
//! (the CMS rule for the NPI as an ISO 7812 card issuer number).

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::{builtin, for_each_candidate, is_claimed, is_digit, standalone};

static CANDIDATE: LazyLock<Regex> = LazyLock::new(|| builtin(r"\b[12][0-9]{9}\b"));

pub(super) fn count(text: &str, claimed: &[Range<usize>]) -> u32 {
    let mut n = 0u32;
    for_each_candidate(&CANDIDATE, text, |caps| {
        let Some(m) = caps.get(0) else { return false };
        let found =
            is_valid_npi(m.as_str()) && standalone(text, m.range(), is_digit) && !is_claimed(claimed, &m.range());
        n += u32::from(found);
        found
    });
    n
}

/// The check digit for the first nine digits of an NPI, or `None` if `first9`
/// is not nine ASCII digits.
pub(crate) fn npi_check_digit(first9: &str) -> Option<u8> {
    if first9.len() != 9 || !first9.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Luhn over "80840" + first9 + check: double every second digit from the
    // right, starting with the digit left of the check digit.
    let digits = b"80840".iter().chain(first9.as_bytes()).map(|b| u32::from(b - b'0'));
    let sum: u32 = digits
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    u8::try_from((10 - sum % 10) % 10).ok()
}

/// Whether `s` is ten digits, starts with 1 or 2, and has a valid check digit.
pub(crate) fn is_valid_npi(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && matches!(b[0], b'1' | b'2')
        && b[9].is_ascii_digit()
        && npi_check_digit(&s[..9]) == Some(b[9] - b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cms_example() {
        assert_eq!(npi_check_digit("123456789"), Some(3));
        assert!(is_valid_npi("1234567893"));
        assert!(!is_valid_npi("1234567890"));
        assert!(!is_valid_npi("3234567893"));
        assert!(!is_valid_npi("123456789"));
        assert!(!is_valid_npi("12345678a3"));
        assert_eq!(npi_check_digit("12345678"), None);
    }
}
