//! PHI detection for Sealpost (R-CL-1).
//!
//! A [`Classifier`], compiled from a tenant's [`TenantRules`], scans text or a
//! whole RFC 5322 message for protected health information: SSNs, medical
//! record numbers, dates of birth, ICD-10-CM codes, NPIs, Medicare MBIs,
//! health plan ids, phone numbers and the tenant's dictionary terms. The
//! result, [`Findings`], is a count per [`PhiKind`] and nothing else: it
//! cannot hold the matched text, so it can be stored, logged and audited.
//!
//! Detectors favour precision where a bare pattern is ambiguous: a date is a
//! finding only after a birth keyword, nine bare digits only after an SSN
//! keyword, a dotless ICD-10 code only after a diagnosis keyword, and an NPI
//! needs its check digit.
//!
//! ```
//! use sealpost_classify::{Classifier, PhiKind, TenantRules};
//!
//! let rules = TenantRules { mrn_patterns: vec![], dictionary: vec!["O'Brien".into()] };
//! let classifier = Classifier::new(&rules).unwrap();
//! let findings = classifier.scan_text("Mr. O'Brien, DOB 03/04/1984, SSN 123-45-6789, seen 04/05/2025.");
//! assert_eq!(findings.count(PhiKind::Ssn), 1);
//! assert_eq!(findings.count(PhiKind::DateOfBirth), 1);
//! assert_eq!(findings.count(PhiKind::Dictionary), 1);
//! assert_eq!(serde_json::to_string(&findings).unwrap(), r#"{"dictionary":1,"dob":1,"ssn":1}"#);
//!
//! let raw = b"Subject: results for MRN 00123456\r\n\r\nCall (212) 555-0187.\r\n";
//! let findings = classifier.scan_message(raw);
//! assert_eq!(findings.count(PhiKind::Mrn), 1);
//! assert_eq!(findings.count(PhiKind::Phone), 1);
//! ```

#![warn(missing_docs)]

mod classifier;
mod detect;
mod error;
mod findings;
mod html;
mod kind;
mod message;
mod rules;

pub use classifier::Classifier;
pub use detect::{MAX_MRN_PATTERNS, MAX_TERM_CHARS};
pub use error::ClassifyError;
pub use findings::Findings;
pub use kind::PhiKind;
pub use message::{DEFAULT_MAX_SCAN_BYTES, MessageScan};
pub use rules::TenantRules;
