//! Medicare Beneficiary Identifiers: 11 characters shaped
//! `C A AN N - A AN N - A A N N` (C: 1-9, N: 0-9, A: letter, AN: either),
//! letters never S, L, O, I, B or Z, written with both dashes or none.

use std::sync::LazyLock;

use regex::Regex;

use super::{builtin, for_each_candidate, is_alnum, standalone};

static CANDIDATE: LazyLock<Regex> = LazyLock::new(|| {
    let a = "[ACDEFGHJKMNPQRTUVWXY]";
    let an = "[ACDEFGHJKMNPQRTUVWXY0-9]";
    builtin(&format!(r"\b[1-9]{a}{an}[0-9](?P<d1>-?){a}{an}[0-9](?P<d2>-?){a}{a}[0-9]{{2}}\b"))
});

pub(super) fn count(text: &str) -> u32 {
    let mut n = 0u32;
    for_each_candidate(&CANDIDATE, text, |caps| {
        let (Some(m), Some(d1), Some(d2)) = (caps.get(0), caps.name("d1"), caps.name("d2")) else { return false };
        let found = d1.as_str() == d2.as_str() && standalone(text, m.range(), is_alnum);
        n += u32::from(found);
        found
    });
    n
}

/// Whether `s` (dashes removed) has the MBI shape; health plan ids that are
/// MBIs are counted as MBIs only.
pub(crate) fn is_mbi(s: &str) -> bool {
    let compact: String = s.chars().filter(|&c| c != '-').collect();
    compact.len() == 11 && CANDIDATE.is_match(&compact)
}
