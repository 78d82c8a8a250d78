//! `scan_message` over real message shapes: which headers and parts count,
//! and what never does.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sealpost_classify::{Classifier, Findings, PhiKind, TenantRules};

fn classifier() -> Classifier {
    let rules = TenantRules { mrn_patterns: vec![], dictionary: vec!["Jane Doe".into(), "Rivera".into()] };
    Classifier::new(&rules).unwrap_or_else(|e| panic!("rules should compile: {e}"))
}

fn b64(data: &[u8]) -> String {
    let encoded = STANDARD.encode(data);
    encoded
        .as_bytes()
        .chunks(76)
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// A message with PHI in its subject (RFC 2047), a display name, a custom
/// header, the body (text and HTML alternatives of the same phone number), a
/// base64 text attachment, and an attached message; and the same kinds of
/// PHI in places that must not count (binary attachments, machine headers,
/// addresses).
fn sample_message() -> Vec<u8> {
    let subject = format!("=?UTF-8?B?{}?=", STANDARD.encode("Results for SSN 123-45-6789"));
    let text_attachment = b64(b"Lab report\r\nNPI 1234567893\r\nDOB: 03/04/1984\r\n");
    let binary = b64(b"\x89PNG SSN 234-56-7890 NPI 1245319599 MRN 00123456 (212) 555-0111");
    let octet = b64(b"SSN 345-67-8901 Member ID: XYZ123456789");
    let nested = "Subject: Fwd: Medicare ID 1EG4-TE5-MK73\r\n\r\nForwarded note.\r\n";
    format!(
        "From: \"Jane Doe\" <jd1234567893@example.org>\r\n\
         To: Clinic <front.desk.212-555-0100@example.org>, \"Dr. Rivera\" <rivera@example.org>\r\n\
         Subject: {subject}\r\n\
         Message-ID: <1234567893.123-45-6789@example.org>\r\n\
         DKIM-Signature: v=1; a=rsa-sha256; b=1234567893 123-45-6789\r\n\
         X-Patient-Note: Member ID: XYZ123456789\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
         \r\n\
         --outer\r\n\
         Content-Type: multipart/alternative; boundary=\"alt\"\r\n\
         \r\n\
         --alt\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         \r\n\
         MRN: 00123456. Call (212) 555-0187 =\r\n\
         with questions.\r\n\
         --alt\r\n\
         Content-Type: text/html; charset=utf-8\r\n\
         \r\n\
         <html><body><p>MRN: 00123456.</p><p>Call <b>(212) 555-0187</b> with questions.</p></body></html>\r\n\
         --alt--\r\n\
         --outer\r\n\
         Content-Type: text/plain; name=\"labs.txt\"\r\n\
         Content-Disposition: attachment; filename=\"labs.txt\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {text_attachment}\r\n\
         --outer\r\n\
         Content-Type: image/png; name=\"scan.png\"\r\n\
         Content-Disposition: attachment; filename=\"scan.png\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {binary}\r\n\
         --outer\r\n\
         Content-Type: application/octet-stream; name=\"notes.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {octet}\r\n\
         --outer\r\n\
         Content-Type: message/rfc822\r\n\
         \r\n\
         {nested}\
         --outer--\r\n"
    )
    .into_bytes()
}

#[test]
fn multipart_message() {
    let c = classifier();
    let report = c.scan_message_report(&sample_message());
    assert!(!report.truncated);
    let f = report.findings;
    // Subject, decoded from RFC 2047.
    assert_eq!(f.count(PhiKind::Ssn), 1, "{f:?}");
    // Display names "Jane Doe" and "Dr. Rivera", not the addresses.
    assert_eq!(f.count(PhiKind::Dictionary), 2, "{f:?}");
    // X-Patient-Note; not the octet-stream attachment.
    assert_eq!(f.count(PhiKind::HealthPlanId), 1, "{f:?}");
    // Text and HTML alternatives of one body: counted once, not twice.
    assert_eq!(f.count(PhiKind::Mrn), 1, "{f:?}");
    assert_eq!(f.count(PhiKind::Phone), 1, "{f:?}");
    // The base64 text attachment.
    assert_eq!(f.count(PhiKind::Npi), 1, "{f:?}");
    assert_eq!(f.count(PhiKind::DateOfBirth), 1, "{f:?}");
    // The attached message's subject.
    assert_eq!(f.count(PhiKind::MedicareMbi), 1, "{f:?}");
    assert_eq!(f.count(PhiKind::Icd10), 0, "{f:?}");
}

#[test]
fn alternatives_count_the_richer_one() {
    let c = classifier();
    let raw = b"Subject: hi\r\n\
        Content-Type: multipart/alternative; boundary=b\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\nPlease view this message in HTML.\r\n\
        --b\r\nContent-Type: text/html\r\n\r\n<p>SSN 123-45-6789 and 234-56-7891</p>\r\n--b--\r\n";
    assert_eq!(c.scan_message(raw).count(PhiKind::Ssn), 2);
}

#[test]
fn html_only_and_encoded_bodies() {
    let c = classifier();
    let raw = b"Subject: note\r\nContent-Type: text/html; charset=iso-8859-1\r\n\
        Content-Transfer-Encoding: quoted-printable\r\n\r\n\
        <div>Patient Jane&nbsp;Doe, SSN 123-<span>45</span>-6789, born 3/4/1984</div>\r\n";
    let f = c.scan_message(raw);
    assert_eq!(f.count(PhiKind::Ssn), 1, "{f:?}");
    assert_eq!(f.count(PhiKind::Dictionary), 1, "{f:?}");
    assert_eq!(f.count(PhiKind::DateOfBirth), 1, "{f:?}");
}

#[test]
fn no_phi_no_findings() {
    let c = classifier();
    let raw = b"From: Clinic <clinic@example.org>\r\nTo: a@example.org\r\n\
        Date: Tue, 4 Mar 2025 10:00:00 +0000\r\nMessage-ID: <20250304100000.1234567893@example.org>\r\n\
        Subject: Your appointment\r\n\r\nYour appointment is on 03/04/2025 at 10:30.\r\n";
    assert!(c.scan_message(raw).is_empty());
}

#[test]
fn scan_limit_truncates() {
    let c = classifier().with_max_scan_bytes(40);
    let raw = b"Subject: SSN 123-45-6789\r\n\r\nfiller filler filler filler filler filler SSN 234-56-7891\r\n";
    let report = c.scan_message_report(raw);
    assert!(report.truncated);
    assert_eq!(report.findings.count(PhiKind::Ssn), 1);
    assert!(!classifier().scan_message_report(raw).truncated);
    assert_eq!(classifier().scan_message(raw).count(PhiKind::Ssn), 2);
}

#[test]
fn garbage_is_scanned_as_text() {
    let c = classifier();
    assert!(c.scan_message(b"").is_empty());
    assert!(c.scan_message(b"\xff\xfe\x00\x01").is_empty());
    assert_eq!(c.scan_message(b"SSN 123-45-6789").count(PhiKind::Ssn), 1);
    let nested = b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n--a--";
    let _ = c.scan_message(nested);
}

#[test]
fn findings_serialize_as_kinds_and_counts_only() {
    let f = classifier().scan_message(&sample_message());
    let json = serde_json::to_value(f).unwrap_or_default();
    let map = json.as_object().cloned().unwrap_or_default();
    assert!(!map.is_empty());
    for (key, value) in &map {
        assert!(PhiKind::parse(key).is_ok(), "{key}");
        assert!(value.as_u64().is_some_and(|n| n > 0), "{key}: {value}");
    }
    let back: Findings = serde_json::from_value(json.clone()).unwrap_or_default();
    assert_eq!(back, f);
    let text = json.to_string();
    for needle in ["123-45-6789", "1234567893", "00123456", "555", "Jane", "Rivera", "1EG4"] {
        assert!(!text.contains(needle), "{needle} in {text}");
    }
}

#[test]
fn debug_shows_no_input_digits() {
    // The input's digits are 3-9 and the counts are 1 and 2, so any digit of
    // the input in the Debug output would be a leak.
    let c = classifier();
    let input = "Jane Doe, SSN 345-67-8934 and 456-78-9345, call (345) 567-8934, DOB 5/6/78, MRN 4567893";
    let f = c.scan_text(input);
    assert!(!f.is_empty());
    let debug = format!("{f:?} {f:#?}");
    for digit in input.chars().filter(char::is_ascii_digit) {
        assert!(!debug.contains(digit), "{digit} in {debug}");
    }
    assert!(!debug.contains("Jane"));
    let report = c.scan_message_report(input.as_bytes());
    let debug = format!("{report:?}");
    for digit in input.chars().filter(char::is_ascii_digit) {
        assert!(!debug.contains(digit), "{digit} in {debug}");
    }
}

#[test]
fn malformed_header_lines_are_read() {
    let c = classifier();
    let raw = b"Subject: hello\r\nPatient SSN 123-45-6789\r\nTo: a@example.org\r\n\r\nbody\r\n";
    assert_eq!(c.scan_message(raw).count(PhiKind::Ssn), 1);
    let raw = b"SSN 123-45-6789\r\n\r\nNPI 1234567893\r\n";
    let f = c.scan_message(raw);
    assert_eq!((f.count(PhiKind::Ssn), f.count(PhiKind::Npi)), (1, 1));
}
