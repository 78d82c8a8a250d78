//! Medical record numbers: a built-in pattern keyed on "MRN" / "medical
//! record number", plus the tenant's own patterns. Overlapping matches of
//! several patterns are one finding.

use std::ops::Range;
use std::sync::LazyLock;

use regex::{Regex, RegexBuilder};

use super::{builtin, for_each_candidate, merge_overlapping, saturating_u32};
use crate::ClassifyError;

/// At most this many tenant MRN patterns.
pub const MAX_MRN_PATTERNS: usize = 64;
/// Compiled size limit of one tenant pattern, so a pattern cannot make every
/// scan expensive.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

static KEYED: LazyLock<Regex> = LazyLock::new(|| {
    builtin(
        r"(?ix)
        \b (?: mrn | medical \s+ record (?: \s+ (?: number | num | no\.? | \# ) )? | med\.? \s* rec\.? (?: \s* (?: number | no\.? | \# ) )? )
        \s* (?: (?: [:\#=] | is\b | number\b | no\b\.? ) \s* )*
        (?P<id> [a-z0-9] [a-z0-9-]{2,18} [a-z0-9] ) \b",
    )
});

/// The built-in and tenant MRN patterns.
#[derive(Clone)]
pub(crate) struct MrnDetector {
    tenant: Vec<Regex>,
}

impl MrnDetector {
    pub(crate) fn new(patterns: &[String]) -> Result<Self, ClassifyError> {
        if patterns.len() > MAX_MRN_PATTERNS {
            return Err(ClassifyError::TooManyMrnPatterns { count: patterns.len(), max: MAX_MRN_PATTERNS });
        }
        let tenant = patterns
            .iter()
            .enumerate()
            .map(|(index, pattern)| {
                let re = RegexBuilder::new(pattern)
                    .size_limit(PATTERN_SIZE_LIMIT)
                    .build()
                    .map_err(|e| ClassifyError::MrnPattern { index, reason: e.to_string() })?;
                if re.is_match("") {
                    return Err(ClassifyError::MrnPatternMatchesEmpty { index });
                }
                Ok(re)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { tenant })
    }

    /// Counts MRNs and records their spans in `claimed`.
    pub(crate) fn count(&self, text: &str, claimed: &mut Vec<Range<usize>>) -> u32 {
        let mut spans = Vec::new();
        for_each_candidate(&KEYED, text, |caps| {
            let Some(id) = caps.name("id") else { return false };
            let found = id.as_str().bytes().filter(u8::is_ascii_digit).count() >= 3;
            if found {
                spans.push(id.range());
            }
            found
        });
        for re in &self.tenant {
            // A pattern like `\b` matches nothing in "" yet empty strings elsewhere.
            spans.extend(re.find_iter(text).filter(|m| !m.is_empty()).map(|m| m.range()));
        }
        let merged = merge_overlapping(spans);
        let n = saturating_u32(merged.len());
        claimed.extend(merged);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_patterns_are_checked() {
        assert!(MrnDetector::new(&["MRN[:# ]*\\d{6,10}".to_string()]).is_ok());
        assert!(matches!(MrnDetector::new(&["(".to_string()]), Err(ClassifyError::MrnPattern { index: 0, .. })));
        assert_eq!(
            MrnDetector::new(&["x".to_string(), "a*".to_string()]).err(),
            Some(ClassifyError::MrnPatternMatchesEmpty { index: 1 })
        );
        assert!(matches!(MrnDetector::new(&["a{1000}{1000}".to_string()]), Err(ClassifyError::MrnPattern { .. })));
        let many = vec!["x".to_string(); MAX_MRN_PATTERNS + 1];
        assert!(matches!(MrnDetector::new(&many), Err(ClassifyError::TooManyMrnPatterns { .. })));
    }
}
