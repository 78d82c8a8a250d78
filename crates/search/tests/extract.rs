//! What `extract` reads from real-looking and broken messages.

use proptest::prelude::*;
use sealpost_search::extract;

const MIXED: &str = "From: \"Smith, Alice\" <alice@example.com>\r\n\
To: bob@clinic.org, Carol <carol@example.com>\r\n\
Cc: =?UTF-8?Q?Zo=C3=AB?= <zoe@example.net>\r\n\
Subject: =?UTF-8?B?TGFiIHJlc3VsdHM=?=\r\n\
Date: Tue, 05 Mar 2024 14:30:00 +0100\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
--outer\r\n\
Content-Type: multipart/alternative; boundary=\"alt\"\r\n\
\r\n\
--alt\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Potassium is normal.\r\n\
--alt\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>Potassium is <b>normal</b>.</p>\r\n\
--alt--\r\n\
--outer\r\n\
Content-Type: text/csv; name=\"labs.csv\"\r\n\
Content-Disposition: attachment; filename=\"labs.csv\"\r\n\
\r\n\
test,value\r\nsodium,140\r\n\
--outer\r\n\
Content-Type: application/octet-stream\r\n\
Content-Disposition: attachment; filename=\"notes.txt\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
Zm9sbG93LXVwIGluIHR3byB3ZWVrcw==\r\n\
--outer\r\n\
Content-Type: application/pdf\r\n\
Content-Disposition: attachment; filename=\"scan.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQKc2VjcmV0LXBkZi1ieXRlcw==\r\n\
--outer\r\n\
Content-Type: text/html\r\n\
Content-Disposition: attachment; filename=\"letter.html\"\r\n\
\r\n\
<html><body>Referral <i>letter</i><script>ignored()</script></body></html>\r\n\
--outer--\r\n";

#[test]
fn reads_headers_bodies_and_text_attachments() {
    let e = extract(MIXED.as_bytes());
    assert_eq!(e.from, ["Smith, Alice <alice@example.com>"]);
    assert_eq!(e.to, ["bob@clinic.org", "Carol <carol@example.com>"]);
    assert_eq!(e.cc, ["Zoë <zoe@example.net>"]);
    assert_eq!(e.subject, "Lab results");
    assert_eq!(e.date, Some(1_709_645_400_000_000));
    assert!(e.body.contains("Potassium is normal."), "{}", e.body);
    assert!(e.body.contains("sodium,140"));
    assert!(e.body.contains("follow-up in two weeks"), "a .txt attachment is text whatever its type");
    assert!(e.body.contains("Referral") && e.body.contains("letter"));
    assert!(!e.body.contains("ignored()"));
    assert!(!e.body.contains("secret-pdf-bytes"), "binary attachments are not text");
    assert_eq!(e.filenames, ["labs.csv", "notes.txt", "scan.pdf", "letter.html"]);
    assert!(e.has_attachment);
    assert!(!e.truncated);
}

#[test]
fn plain_message_without_attachments() {
    let e = extract(b"From: a@b.c\r\nSubject: hi\r\n\r\nhello there\r\n");
    assert_eq!(e.from, ["a@b.c"]);
    assert_eq!(e.body.trim(), "hello there");
    assert!(!e.has_attachment && e.filenames.is_empty());
    assert_eq!(e.date, None);
}

#[test]
fn an_attached_message_is_read() {
    let raw = "From: a@b.c\r\nSubject: fwd\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nsee below\r\n\
--b\r\nContent-Type: message/rfc822\r\n\r\n\
From: Zebulon <z@q.org>\r\nSubject: original note\r\n\r\ninner body text\r\n\
--b--\r\n";
    let e = extract(raw.as_bytes());
    assert!(e.has_attachment);
    for needle in ["see below", "Zebulon", "original note", "inner body text"] {
        assert!(e.body.contains(needle), "{needle} missing from {:?}", e.body);
    }
}

#[test]
fn huge_bodies_are_cut() {
    let body = "word ".repeat(sealpost_search::extract::MAX_TEXT_BYTES / 4);
    let e = extract(format!("Subject: big\r\n\r\n{body}").as_bytes());
    assert!(e.truncated);
    assert!(e.body.len() <= sealpost_search::extract::MAX_TEXT_BYTES);
}

proptest! {
    #[test]
    fn never_panics_on_bytes(raw in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = extract(&raw);
    }

    /// Mangled versions of a real multipart message: cut anywhere, a byte
    /// changed anywhere.
    #[test]
    fn never_panics_on_broken_mime(cut in 0..MIXED.len(), at in 0..MIXED.len(), byte in any::<u8>()) {
        let mut raw = MIXED.as_bytes()[..cut].to_vec();
        if at < raw.len() {
            raw[at] = byte;
        }
        let e = extract(&raw);
        prop_assert!(e.body.len() <= sealpost_search::extract::MAX_TEXT_BYTES);
    }
}
