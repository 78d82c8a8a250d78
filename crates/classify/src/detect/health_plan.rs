//! Health plan ids: a member, subscriber, policy, group or health plan keyword
//! followed by an id of 6-20 letters and digits with at least 3 digits.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::{builtin, for_each_candidate, mbi};

static KEYED: LazyLock<Regex> = LazyLock::new(|| {
    builtin(
        r"(?ix)
        \b (?:
            (?: member | subscriber | insured | beneficiary | medicaid | medicare | insurance | plan ) \s*
                (?: id\b | identifier | number | num\b | no\b\.? | \# )
          | policy (?: \s* (?: id\b | identifier | number | num\b | no\b\.? | \# ) )?
          | group \s* (?: id\b | number | num\b | no\b\.? | \# )
          | health \s* plan (?: \s* (?: id\b | identifier | number | num\b | no\b\.? | \# ) )?
        )
        \s* (?: (?: [:\#=] | is\b ) \s* )*
        (?P<id> [a-z0-9] [a-z0-9-]{4,22} [a-z0-9] ) \b",
    )
});

/// Years and year ranges ("policy 2023-2024") are not ids.
static YEARS: LazyLock<Regex> = LazyLock::new(|| builtin(r"^(?:19|20)[0-9]{2}(?:-(?:19|20)?[0-9]{2})?$"));

/// Counts health plan ids and records their spans in `claimed`.
pub(super) fn count(text: &str, claimed: &mut Vec<Range<usize>>) -> u32 {
    let mut n = 0u32;
    for_each_candidate(&KEYED, text, |caps| {
        let Some(id) = caps.name("id") else { return false };
        let found = is_plan_id(id.as_str());
        if found {
            claimed.push(id.range());
            n += 1;
        }
        found
    });
    n
}

fn is_plan_id(id: &str) -> bool {
    let len = id.bytes().filter(|&b| b != b'-').count();
    let digits = id.bytes().filter(u8::is_ascii_digit).count();
    // An MBI after "Medicare number" is counted once, as an MBI.
    (6..=20).contains(&len) && digits >= 3 && !YEARS.is_match(id) && !mbi::is_mbi(id)
}
