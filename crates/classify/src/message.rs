//! Scanning a whole RFC 5322 message: which headers and parts are read, and
//! the bound on how much text one message may cost.

use std::panic::{AssertUnwindSafe, catch_unwind};

use mail_parser::{Address, Header, HeaderName, HeaderValue, Message, MessageParser, MimeHeaders, PartType};

use crate::html::html_to_text;
use crate::{Classifier, Findings};

/// The default bound on text scanned per message (decoded headers, bodies and
/// text attachments together).
pub const DEFAULT_MAX_SCAN_BYTES: usize = 10 << 20;

/// Nested multiparts and attached messages deeper than this are not read.
const MAX_DEPTH: usize = 32;

/// The outcome of [`Classifier::scan_message_report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageScan {
    /// What was found in the text that was scanned.
    pub findings: Findings,
    /// True when the message held more text than the scan limit and the rest
    /// was not read. Policy may treat such a message as containing PHI.
    pub truncated: bool,
}

/// What is left of the per-message text budget.
struct Budget {
    left: usize,
    truncated: bool,
}

impl Budget {
    /// The part of `text` that still fits, cut at a character boundary.
    fn take<'a>(&mut self, text: &'a str) -> &'a str {
        if text.len() <= self.left {
            self.left -= text.len();
            return text;
        }
        let cut = text.floor_char_boundary(self.left);
        // Once the limit is hit, stop: later short texts are not read either.
        self.left = 0;
        self.truncated = true;
        &text[..cut]
    }
}

/// The header parsing a scan needs: MIME and address headers structured,
/// and every other header decoded as RFC 2047 text.
pub(crate) fn parser() -> MessageParser {
    MessageParser::new()
        .with_mime_headers()
        .with_date_headers()
        .with_address_headers()
        .with_message_ids()
        .header_text(HeaderName::Subject)
        .header_text(HeaderName::Comments)
        .header_comma_separated(HeaderName::Keywords)
        .header_comma_separated(HeaderName::ContentLanguage)
        .header_received(HeaderName::Received)
        .header_id(HeaderName::ReturnPath)
        .header_raw(HeaderName::MimeVersion)
        .default_header_text()
}

impl Classifier {
    /// Parses `raw` as an RFC 5322 message and scans its text.
    ///
    /// Read: the Subject, Comments, Keywords and other unstructured headers
    /// (RFC 2047 decoded), display names in address headers, every text/plain
    /// and text/html part (HTML with tags stripped), text/* attachments
    /// (transfer encoding and charset decoded), their file names and
    /// descriptions, and attached messages. Not read: binary parts, machine
    /// headers (Received, Message-ID, DKIM and anti-spam stamps), addresses
    /// themselves. Alternatives of one multipart/alternative count once (the
    /// larger count per kind). At most the classifier's scan limit of text is
    /// read; see [`Classifier::scan_message_report`] to learn whether the rest was cut.
    ///
    /// Never fails: bytes that are not a message are scanned as text.
    pub fn scan_message(&self, raw: &[u8]) -> Findings {
        self.scan_message_report(raw).findings
    }

    /// Like [`Classifier::scan_message`], and also tells whether the scan
    /// limit cut the message short.
    pub fn scan_message_report(&self, raw: &[u8]) -> MessageScan {
        let mut budget = Budget { left: self.max_scan_bytes, truncated: false };
        // mail-parser promises not to panic; if it ever does on hostile input,
        // fall back to the raw bytes rather than take the process down.
        let parsed =
            catch_unwind(AssertUnwindSafe(|| self.parser.parse(raw).map(|m| self.scan_parsed(&m, &mut budget, 0))));
        let findings = match parsed {
            Ok(Some(findings)) => findings,
            Ok(None) | Err(_) => {
                budget = Budget { left: self.max_scan_bytes, truncated: false };
                let head = &raw[..raw.len().min(budget.left)];
                budget.truncated = raw.len() > head.len();
                self.scan_text(&String::from_utf8_lossy(head))
            }
        };
        MessageScan { findings, truncated: budget.truncated }
    }

    fn scan_parsed(&self, message: &Message<'_>, budget: &mut Budget, depth: usize) -> Findings {
        self.scan_part(message, 0, budget, depth)
    }

    fn scan_part(&self, message: &Message<'_>, id: usize, budget: &mut Budget, depth: usize) -> Findings {
        let mut findings = Findings::new();
        let Some(part) = message.parts.get(id) else { return findings };
        if depth > MAX_DEPTH {
            return findings;
        }
        for header in part.headers() {
            findings.merge(&self.scan_header(header, budget));
        }
        // mail-parser drops header lines without a field name, or turns them
        // into names with empty values; their text is read from the raw bytes.
        let raw_headers = message.raw_message.get(part.offset_header as usize..part.offset_body as usize);
        for line in malformed_header_lines(raw_headers.unwrap_or_default()) {
            findings.merge(&self.scan_text(budget.take(&String::from_utf8_lossy(line))));
        }
        if let Some(name) = part.attachment_name() {
            findings.merge(&self.scan_text(budget.take(name)));
        }
        match &part.body {
            PartType::Text(text) => findings.merge(&self.scan_text(budget.take(text))),
            PartType::Html(html) => findings.merge(&self.scan_text(&html_to_text(budget.take(html)))),
            PartType::Binary(_) | PartType::InlineBinary(_) => {}
            PartType::Message(nested) => findings.merge(&self.scan_parsed(nested, budget, depth + 1)),
            PartType::Multipart(children) => {
                let alternative = part.content_type().is_some_and(|ct| {
                    ct.ctype().eq_ignore_ascii_case("multipart")
                        && ct.subtype().is_some_and(|sub| sub.eq_ignore_ascii_case("alternative"))
                });
                let mut combined = Findings::new();
                for &child in children {
                    // A part cannot contain itself; guard anyway against a malformed tree.
                    if child as usize == id {
                        continue;
                    }
                    let child = self.scan_part(message, child as usize, budget, depth + 1);
                    if alternative { combined.merge_max(&child) } else { combined.merge(&child) }
                }
                findings.merge(&combined);
            }
        }
        findings
    }

    fn scan_header(&self, header: &Header<'_>, budget: &mut Budget) -> Findings {
        let mut findings = Findings::new();
        if !is_human_header(&header.name) {
            return findings;
        }
        match &header.value {
            HeaderValue::Text(text) => findings.merge(&self.scan_text(budget.take(text))),
            HeaderValue::TextList(list) => {
                for text in list {
                    findings.merge(&self.scan_text(budget.take(text)));
                }
            }
            HeaderValue::Address(address) => {
                for name in display_names(address) {
                    findings.merge(&self.scan_text(budget.take(name)));
                }
            }
            _ => {}
        }
        findings
    }
}

/// Lines of a raw header block that are not `field-name: value` (nor their
/// continuation lines), e.g. a line of PHI pasted above the blank line.
fn malformed_header_lines(raw: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut in_malformed = false;
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            in_malformed = false;
            continue;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if in_malformed {
                lines.push(line);
            }
            continue;
        }
        let name_len = line.iter().position(|&b| b == b':');
        let well_formed = name_len.is_some_and(|n| n > 0 && line[..n].iter().all(|&b| (33..=126).contains(&b)));
        in_malformed = !well_formed;
        if in_malformed {
            lines.push(line);
        }
    }
    lines
}

/// Display names of an address header, including group names.
fn display_names<'a>(address: &'a Address<'_>) -> Vec<&'a str> {
    match address {
        Address::List(list) => list.iter().filter_map(|a| a.name.as_deref()).collect(),
        Address::Group(groups) => groups
            .iter()
            .flat_map(|g| g.name.as_deref().into_iter().chain(g.addresses.iter().filter_map(|a| a.name.as_deref())))
            .collect(),
    }
}

/// Machine-written headers whose long tokens (signatures, hashes, relay ids)
/// would only produce false findings. Compared as lowercase prefixes.
const MACHINE_HEADER_PREFIXES: &[&str] = &[
    "dkim-",
    "domainkey-",
    "arc-",
    "authentication-results",
    "received-spf",
    "x-google-",
    "x-gm-",
    "x-ms-",
    "x-microsoft-",
    "x-forefront-",
    "x-exchange-",
    "x-mailgun-",
    "x-ses-",
    "x-sg-",
    "x-spam",
    "x-virus",
    "x-received",
    "x-originating-ip",
    "feedback-id",
    "list-",
    "content-type",
    "content-transfer-encoding",
    "content-id",
    "content-language",
    "content-location",
    "content-disposition",
    "mime-version",
];

/// Whether a header carries text a person wrote or that names a person.
fn is_human_header(name: &HeaderName<'_>) -> bool {
    match name {
        HeaderName::Subject
        | HeaderName::Comments
        | HeaderName::Keywords
        | HeaderName::ContentDescription
        | HeaderName::From
        | HeaderName::To
        | HeaderName::Cc
        | HeaderName::Bcc
        | HeaderName::ReplyTo
        | HeaderName::Sender
        | HeaderName::ResentFrom
        | HeaderName::ResentTo
        | HeaderName::ResentCc
        | HeaderName::ResentBcc
        | HeaderName::ResentSender => true,
        HeaderName::Other(other) => {
            let lower = other.to_ascii_lowercase();
            !MACHINE_HEADER_PREFIXES.iter().any(|prefix| lower.starts_with(prefix))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_cuts_at_char_boundary() {
        let mut budget = Budget { left: 3, truncated: false };
        assert_eq!(budget.take("ab"), "ab");
        assert_eq!(budget.take("éé"), "");
        assert!(budget.truncated);
        assert_eq!(budget.take("x"), "");
    }

    #[test]
    fn malformed_lines_are_found() {
        let raw = b"Subject: x\r\nno colon here\r\n  continued\r\nBad Name: v\r\nTo: a@b\r\n  c@d\r\n\r\n";
        let lines = malformed_header_lines(raw);
        assert_eq!(lines, [&b"no colon here"[..], b"  continued", b"Bad Name: v"]);
    }

    #[test]
    fn header_selection() {
        assert!(is_human_header(&HeaderName::Subject));
        assert!(is_human_header(&HeaderName::Other("X-Patient-Note".into())));
        assert!(!is_human_header(&HeaderName::Other("DKIM-Signature".into())));
        assert!(!is_human_header(&HeaderName::Other("X-MS-Exchange-Organization-Id".into())));
        assert!(!is_human_header(&HeaderName::MessageId));
        assert!(!is_human_header(&HeaderName::Received));
    }
}
