//! `check` on well-formed and broken messages.

use proptest::prelude::*;
use sealpost_mailbox::{Problem, check};

const GOOD_HEADER: &str = "From: a@example.org\r\nTo: b@example.org\r\nDate: Thu, 1 Jan 2026 10:00:00 +0000\r\n";

fn with_header(rest: &str) -> Vec<u8> {
    format!("{GOOD_HEADER}{rest}").into_bytes()
}

#[test]
fn a_well_formed_multipart_message_has_no_problems() {
    let message = with_header(
        "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         preamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1\r\n\
         Content-Type: multipart/alternative; boundary=b2\r\n\r\n--b2\r\nContent-Type: text/plain\r\n\r\nx\r\n\
         --b2--\r\n--b1--\r\n",
    );
    assert_eq!(check(&message), vec![]);
}

#[test]
fn missing_closing_boundaries_are_found() {
    let message = with_header(
        "Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n",
    );
    // mail-parser also flags the last inner part, which it had to end at
    // the end of the message.
    assert_eq!(check(&message), vec![Problem::MissingBoundaryEnd { part: 0 }, Problem::EncodingProblem { part: 1 }]);
    let no_boundary = with_header("Content-Type: multipart/mixed\r\n\r\nhello\r\n");
    assert!(
        check(&no_boundary).iter().any(|p| matches!(p, Problem::MissingBoundary { .. })),
        "{:?}",
        check(&no_boundary)
    );
}

#[test]
fn header_problems_are_found_and_located_by_line() {
    assert_eq!(check(b""), vec![Problem::Empty]);
    assert_eq!(check(b"Subject: x\n\nbody\n"), vec![Problem::MissingFrom, Problem::MissingDate]);
    let broken =
        b"From: a@example.org\nDate: Thu, 1 Jan 2026 10:00:00 +0000\nnot a header\n folded ok\nalso bad\n\nbody\n";
    assert_eq!(check(broken), vec![Problem::InvalidHeaderLines { first_line: 3, count: 2 }]);
    assert_eq!(check(b"From: a@example.org\nDate: the day after tomorrow\n\nbody\n"), vec![Problem::InvalidDate]);
}

#[test]
fn byte_problems_are_counted() {
    let message = with_header("\r\nbare\rcr\r and\0nul\0\r\n");
    assert_eq!(check(&message), vec![Problem::BareCr { count: 2 }, Problem::Nul { count: 2 }]);
}

#[test]
fn descriptions_never_contain_message_content() {
    let secret = "Patient Jane Roe SSN 123-45-6789";
    let message = format!("{secret}\r\nContent-Type: multipart/mixed; boundary={secret}\r\n\r\n--{secret}\r\n\0\r");
    for problem in check(message.as_bytes()) {
        let text = format!("{problem} {}", serde_json::to_string(&problem).unwrap());
        assert!(!text.contains("Jane") && !text.contains("123-45"), "{text}");
    }
}

proptest! {
    #[test]
    fn check_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let _ = check(&bytes);
    }

    #[test]
    fn well_formed_header_fields_raise_no_header_problem(
        fields in prop::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,20}", "[ -~]{0,40}"), 0..8),
        body in "[ -~\r\n]{0,200}",
    ) {
        let mut message = GOOD_HEADER.to_string();
        for (name, value) in &fields {
            message.push_str(&format!("X-{name}: {value}\r\n"));
        }
        message.push_str("\r\n");
        message.push_str(&body);
        let problems = check(message.as_bytes());
        prop_assert!(
            !problems.iter().any(|p| matches!(
                p,
                Problem::NoHeaderBlock | Problem::InvalidHeaderLines { .. } | Problem::MissingFrom | Problem::MissingDate
            )),
            "{:?}", problems
        );
    }
}
