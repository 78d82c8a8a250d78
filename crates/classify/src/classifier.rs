//! The compiled classifier for one tenant.

use std::fmt;

use mail_parser::MessageParser;

use crate::detect::Detectors;
use crate::message::{DEFAULT_MAX_SCAN_BYTES, parser};
use crate::{ClassifyError, Findings, TenantRules};

/// Finds PHI in text and messages for one tenant.
///
/// Built once from the tenant's [`TenantRules`] (all regular expressions are
/// compiled then) and shared: scanning takes `&self`, and the type is
/// `Send + Sync`. `Debug` shows no pattern or dictionary term.
#[derive(Clone)]
pub struct Classifier {
    detectors: Detectors,
    pub(crate) parser: MessageParser,
    pub(crate) max_scan_bytes: usize,
}

impl Classifier {
    /// Checks and compiles a tenant's rules.
    ///
    /// Fails if an MRN pattern is not a valid regex, matches the empty
    /// string or is too large, if there are more than
    /// [`MAX_MRN_PATTERNS`](crate::MAX_MRN_PATTERNS), or if a dictionary term
    /// is shorter than 2 or longer than [`MAX_TERM_CHARS`](crate::MAX_TERM_CHARS) characters.
    pub fn new(rules: &TenantRules) -> Result<Self, ClassifyError> {
        Ok(Self { detectors: Detectors::new(rules)?, parser: parser(), max_scan_bytes: DEFAULT_MAX_SCAN_BYTES })
    }

    /// Sets how many bytes of text [`Classifier::scan_message`] reads per
    /// message (default [`DEFAULT_MAX_SCAN_BYTES`], 10 MiB).
    pub fn with_max_scan_bytes(mut self, bytes: usize) -> Self {
        self.max_scan_bytes = bytes;
        self
    }

    /// Scans one piece of text with every detector. Runs in time linear in
    /// the text's length; callers bound the length.
    pub fn scan_text(&self, text: &str) -> Findings {
        self.detectors.scan(text)
    }
}

impl fmt::Debug for Classifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Classifier").field("max_scan_bytes", &self.max_scan_bytes).finish_non_exhaustive()
    }
}
