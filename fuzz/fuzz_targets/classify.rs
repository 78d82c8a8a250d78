//! Scans arbitrary bytes as a message: must never panic, and the findings
//! must serialize to kinds and counts that read back the same.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sealpost_classify::{Classifier, Findings, TenantRules};

static CLASSIFIER: LazyLock<Classifier> = LazyLock::new(|| {
    let rules = TenantRules {
        mrn_patterns: vec![r"MRN[:# ]*\d{6,10}".into()],
        dictionary: vec!["O'Brien".into(), "Jane Doe".into()],
    };
    Classifier::new(&rules).expect("fixed rules compile")
});

fuzz_target!(|data: &[u8]| {
    let findings = CLASSIFIER.scan_message(data);
    let json = serde_json::to_string(&findings).expect("findings serialize");
    let back: Findings = serde_json::from_str(&json).expect("findings deserialize");
    assert_eq!(back, findings);
});
