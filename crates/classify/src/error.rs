//! The crate's error type. Messages carry indexes and counts, never a
//! dictionary term or scanned text, because both can be PHI.

/// Why tenant rules were rejected or a kind name was not recognized.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClassifyError {
    /// A tenant MRN pattern is not a valid regular expression or is too large.
    #[error("MRN pattern #{index} is invalid: {reason}")]
    MrnPattern {
        /// Position of the pattern in [`TenantRules::mrn_patterns`](crate::TenantRules::mrn_patterns).
        index: usize,
        /// The regex compiler's explanation (patterns are configuration, not PHI).
        reason: String,
    },
    /// A tenant MRN pattern matches the empty string, so it would report findings in any text.
    #[error("MRN pattern #{index} matches the empty string")]
    MrnPatternMatchesEmpty {
        /// Position of the pattern in [`TenantRules::mrn_patterns`](crate::TenantRules::mrn_patterns).
        index: usize,
    },
    /// More MRN patterns than [`MAX_MRN_PATTERNS`](crate::MAX_MRN_PATTERNS).
    #[error("too many MRN patterns: {count} (at most {max})")]
    TooManyMrnPatterns {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A dictionary term is blank, shorter than 2 characters or longer than
    /// [`MAX_TERM_CHARS`](crate::MAX_TERM_CHARS). The term itself is not repeated here.
    #[error("dictionary term #{index} must be 2 to {max} characters", max = crate::MAX_TERM_CHARS)]
    DictionaryTerm {
        /// Position of the term in [`TenantRules::dictionary`](crate::TenantRules::dictionary).
        index: usize,
    },
    /// The dictionary compiles to a matcher larger than the size limit.
    #[error("dictionary of {terms} terms is too large to compile")]
    DictionaryTooLarge {
        /// How many terms were given.
        terms: usize,
    },
    /// A name that is not one of the [`PhiKind`](crate::PhiKind) spellings.
    #[error("unknown PHI kind {value:?}")]
    UnknownKind {
        /// The rejected name, cut to 40 characters.
        value: String,
    },
}
