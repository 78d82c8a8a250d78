//! Property tests: scanning never panics, and valid NPIs and SSNs are found
//! while near misses are not.

use std::sync::LazyLock;

use proptest::prelude::*;
use sealpost_classify::{Classifier, PhiKind, TenantRules};

static CLASSIFIER: LazyLock<Classifier> = LazyLock::new(|| {
    let rules = TenantRules {
        mrn_patterns: vec![r"(?i)chart[:# ]*\d{4,8}".into()],
        dictionary: vec!["O'Brien".into(), "Jane Doe".into()],
    };
    Classifier::new(&rules).unwrap_or_else(|e| panic!("rules should compile: {e}"))
});

fn classifier() -> Classifier {
    CLASSIFIER.clone()
}

/// The NPI check digit, computed here independently of the crate: Luhn over
/// "80840" followed by the nine digits.
fn npi_check_digit(first9: &[u8; 9]) -> u8 {
    let mut digits: Vec<u8> = vec![8, 0, 8, 4, 0];
    digits.extend_from_slice(first9);
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d);
        if i % 2 == 0 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    ((10 - sum % 10) % 10) as u8
}

fn digits_to_string(digits: &[u8]) -> String {
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

/// Text made of the pieces detectors look for, so the interesting paths run.
fn phi_like_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("SSN ".to_string()),
        Just("DOB ".to_string()),
        Just("MRN ".to_string()),
        Just("Member ID: ".to_string()),
        Just("dx ".to_string()),
        Just("born ".to_string()),
        Just("+1 ".to_string()),
        Just("<b>".to_string()),
        Just("&#".to_string()),
        Just("O'Brien".to_string()),
        "[0-9]{1,12}",
        "[-./() :#]{1,3}",
        "[A-Z][0-9A-Z]{0,10}",
        "\\PC{0,8}",
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn scan_text_never_panics(text in any::<String>()) {
        let _ = classifier().scan_text(&text);
    }

    #[test]
    fn scan_text_never_panics_on_phi_like_text(text in phi_like_text()) {
        let c = classifier();
        let f = c.scan_text(&text);
        // Findings are counts: scanning the same text twice gives the same answer.
        prop_assert_eq!(f, c.scan_text(&text));
    }

    #[test]
    fn scan_message_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = classifier().scan_message(&raw);
    }

    #[test]
    fn scan_message_never_panics_on_message_like_bytes(
        body in phi_like_text(),
        ctype in prop_oneof![Just("text/plain"), Just("text/html"), Just("multipart/mixed; boundary=x"),
            Just("multipart/alternative; boundary=x"), Just("message/rfc822"), Just("application/octet-stream")],
        cte in prop_oneof![Just("7bit"), Just("base64"), Just("quoted-printable")],
        tail in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut raw = format!("Subject: =?utf-8?q?{body}?=\r\nContent-Type: {ctype}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n--x\r\nContent-Type: {ctype}\r\n\r\n{body}\r\n--x").into_bytes();
        raw.extend_from_slice(&tail);
        let _ = classifier().scan_message(&raw);
        let _ = classifier().with_max_scan_bytes(17).scan_message(&raw);
    }

    #[test]
    fn valid_npis_are_found_and_wrong_check_digits_are_not(
        first in 1u8..=2,
        rest in proptest::array::uniform8(0u8..=9),
        other in 1u8..=9,
        context in prop_oneof![Just(("NPI ", " on file")), Just(("", "")), Just(("Dr. X (", ")."))],
    ) {
        let mut first9 = [0u8; 9];
        first9[0] = first;
        first9[1..].copy_from_slice(&rest);
        let check = npi_check_digit(&first9);
        let npi = format!("{}{}", digits_to_string(&first9), check);
        let c = classifier();
        let text = format!("{}{}{}", context.0, npi, context.1);
        prop_assert_eq!(c.scan_text(&text).count(PhiKind::Npi), 1, "{}", text);

        let wrong = (check + other) % 10;
        let bad = format!("{}{}{}{}", context.0, digits_to_string(&first9), wrong, context.1);
        prop_assert_eq!(c.scan_text(&bad).count(PhiKind::Npi), 0, "{}", bad);
    }

    #[test]
    fn issuable_ssns_are_found(
        area in (1u32..900).prop_filter("666 is never issued", |a| *a != 666),
        group in 1u32..100,
        serial in 1u32..10_000,
        sep in prop_oneof![Just('-'), Just(' ')],
    ) {
        let c = classifier();
        let ssn = format!("{area:03}{sep}{group:02}{sep}{serial:04}");
        prop_assert_eq!(c.scan_text(&format!("Patient SSN {ssn}.")).count(PhiKind::Ssn), 1, "{}", ssn);
        let bare = format!("{area:03}{group:02}{serial:04}");
        prop_assert_eq!(c.scan_text(&format!("SSN: {bare}")).count(PhiKind::Ssn), 1, "{}", bare);
        // Without the keyword nine bare digits are not an SSN.
        prop_assert_eq!(c.scan_text(&format!("order {bare}")).count(PhiKind::Ssn), 0, "{}", bare);
    }

    #[test]
    fn unissuable_ssns_are_not_found(
        area in prop_oneof![Just(0u32), Just(666u32), 900u32..1000],
        group in 0u32..100,
        serial in 0u32..10_000,
    ) {
        let c = classifier();
        let text = format!("SSN {area:03}-{group:02}-{serial:04}");
        prop_assert_eq!(c.scan_text(&text).count(PhiKind::Ssn), 0, "{}", text);
    }
}
