//! North American (NANP) telephone numbers: `(ddd) ddd-dddd`, `ddd-ddd-dddd`,
//! `ddd.ddd.dddd`, `+1 ddd ddd dddd` and their `+1`/`1-` prefixed forms. Area
//! code and exchange never start with 0 or 1. Ten bare digits are not a phone
//! number here (they are too often other ids; an NPI is checked on its own).

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::{builtin, for_each_candidate, is_claimed, is_digit, standalone};

static CANDIDATE: LazyLock<Regex> = LazyLock::new(|| {
    builtin(
        r"(?x)
        (?P<prefix> \+1[-.\ ]? | \b1- )?
        (?: \( (?P<paren>[2-9][0-9]{2}) \) \ ? | \b[2-9][0-9]{2} (?P<s1>[-.\ ]) )
        [2-9][0-9]{2} (?P<s2>[-.\ ]) [0-9]{4} \b",
    )
});

pub(super) fn count(text: &str, claimed: &[Range<usize>]) -> u32 {
    let mut n = 0u32;
    for_each_candidate(&CANDIDATE, text, |caps| {
        let (Some(m), Some(s2)) = (caps.get(0), caps.name("s2")) else { return false };
        let separators_ok = match caps.name("s1") {
            // (ddd) ddd-dddd takes any second separator.
            None => true,
            // ddd ddd dddd only with the +1 prefix; otherwise both alike.
            Some(s1) => s1.as_str() == s2.as_str() && (s1.as_str() != " " || caps.name("prefix").is_some()),
        };
        let found = separators_ok && standalone(text, m.range(), is_digit) && !is_claimed(claimed, &m.range());
        n += u32::from(found);
        found
    });
    n
}
