//! A tenant's own detection rules.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Per-tenant additions to the built-in detectors. Checked and compiled by
/// [`Classifier::new`](crate::Classifier::new).
///
/// `Debug` shows how many patterns and terms there are, not the terms: a
/// dictionary of patient names is itself PHI.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRules {
    /// Regular expressions (Rust `regex` syntax) whose matches are medical
    /// record numbers, e.g. `MRN[:# ]*\d{6,10}`. Each match counts as one
    /// [`PhiKind::Mrn`](crate::PhiKind::Mrn); matches overlapping the built-in
    /// MRN pattern are counted once. Case-sensitive unless the pattern says `(?i)`.
    #[serde(default)]
    pub mrn_patterns: Vec<String>,
    /// Terms matched case-insensitively as whole words, e.g. patient names or
    /// diagnoses. Runs of whitespace in a term match any whitespace, and `'`
    /// matches a typographic apostrophe too.
    #[serde(default)]
    pub dictionary: Vec<String>,
}

impl fmt::Debug for TenantRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantRules")
            .field("mrn_patterns", &self.mrn_patterns.len())
            .field("dictionary", &self.dictionary.len())
            .finish()
    }
}
