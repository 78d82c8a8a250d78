//! What is malformed about a message, described without its content.
//!
//! Import keeps broken messages (the original bytes are the record) and
//! lists what is wrong with each in the import report. A [`Problem`] names
//! kinds, counts, line numbers and MIME part numbers only, so a report or a
//! log line built from it carries no PHI.

use std::fmt;

use mail_parser::{MessageParser, MimeHeaders, PartType};
use serde::Serialize;

/// One thing wrong with a message (or with the bytes an mbox reader found
/// where a message should be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// Bytes before the first `From ` separator of an mbox file. They are
    /// yielded as an item of their own so that nothing is silently dropped.
    BeforeFirstSeparator,
    /// The message has no bytes at all.
    Empty,
    /// The first line is not a header field (`Name: value`), so there is no
    /// header block.
    NoHeaderBlock,
    /// Lines in the header block that are neither a field nor a folded
    /// continuation.
    InvalidHeaderLines {
        /// 1-based number of the first such line.
        first_line: usize,
        /// How many there are.
        count: usize,
    },
    /// No `From:` header field.
    MissingFrom,
    /// No `Date:` header field.
    MissingDate,
    /// A `Date:` header field that does not parse as an RFC 5322 date.
    InvalidDate,
    /// Carriage returns not followed by a line feed.
    BareCr {
        /// How many.
        count: usize,
    },
    /// NUL bytes.
    Nul {
        /// How many.
        count: usize,
    },
    /// mail-parser found no message at all in the bytes.
    Unparsable,
    /// mail-parser could not decode a part (transfer encoding, charset) or
    /// had to end it at the end of the message for want of a boundary.
    EncodingProblem {
        /// 0-based index of the part in mail-parser's part list.
        part: usize,
    },
    /// A multipart part whose closing boundary (`--boundary--`) is missing.
    MissingBoundaryEnd {
        /// 0-based index of the part in mail-parser's part list.
        part: usize,
    },
    /// A multipart part without a `boundary` parameter.
    MissingBoundary {
        /// 0-based index of the part in mail-parser's part list.
        part: usize,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::BeforeFirstSeparator => f.write_str("text before the first mbox \"From \" separator"),
            Problem::Empty => f.write_str("empty message"),
            Problem::NoHeaderBlock => f.write_str("no header block: the first line is not a header field"),
            Problem::InvalidHeaderLines { first_line, count } => {
                write!(f, "{count} invalid header line(s), first at line {first_line}")
            }
            Problem::MissingFrom => f.write_str("no From header"),
            Problem::MissingDate => f.write_str("no Date header"),
            Problem::InvalidDate => f.write_str("unparsable Date header"),
            Problem::BareCr { count } => write!(f, "{count} bare CR (carriage return without line feed)"),
            Problem::Nul { count } => write!(f, "{count} NUL byte(s)"),
            Problem::Unparsable => f.write_str("unparsable MIME structure"),
            Problem::EncodingProblem { part } => write!(f, "MIME part {part} is undecodable or truncated"),
            Problem::MissingBoundaryEnd { part } => write!(f, "multipart part {part} has no closing boundary"),
            Problem::MissingBoundary { part } => write!(f, "multipart part {part} has no boundary parameter"),
        }
    }
}

/// Lists what is malformed about `message`; an empty list means nothing was
/// found. Never fails and never panics, whatever the bytes.
///
/// ```
/// use sealpost_mailbox::{check, Problem};
///
/// assert!(check(b"From: a@example.org\r\nDate: Thu, 1 Jan 2026 10:00:00 +0000\r\n\r\nHi\r\n").is_empty());
/// assert_eq!(
///     check(b"hello\n"),
///     vec![Problem::NoHeaderBlock, Problem::MissingFrom, Problem::MissingDate, Problem::Unparsable]
/// );
/// ```
pub fn check(message: &[u8]) -> Vec<Problem> {
    if message.is_empty() {
        return vec![Problem::Empty];
    }
    let mut problems = Vec::new();
    let header = scan_header_block(message);
    if header.no_header_block {
        problems.push(Problem::NoHeaderBlock);
    }
    if header.invalid_lines > 0 {
        problems.push(Problem::InvalidHeaderLines { first_line: header.first_invalid, count: header.invalid_lines });
    }
    if !header.has_from {
        problems.push(Problem::MissingFrom);
    }
    if !header.has_date {
        problems.push(Problem::MissingDate);
    }
    let bare_cr =
        message.iter().enumerate().filter(|&(i, &b)| b == b'\r' && message.get(i + 1) != Some(&b'\n')).count();
    if bare_cr > 0 {
        problems.push(Problem::BareCr { count: bare_cr });
    }
    let nul = message.iter().filter(|&&b| b == 0).count();
    if nul > 0 {
        problems.push(Problem::Nul { count: nul });
    }
    mime_problems(message, header.has_date, &mut problems);
    problems
}

/// What a pass over the header block found.
struct HeaderScan {
    no_header_block: bool,
    invalid_lines: usize,
    first_invalid: usize,
    has_from: bool,
    has_date: bool,
}

/// Walks the lines up to the first empty line. Done by hand rather than
/// with mail-parser, which forgives (and so hides) malformed header lines.
fn scan_header_block(message: &[u8]) -> HeaderScan {
    let mut scan =
        HeaderScan { no_header_block: false, invalid_lines: 0, first_invalid: 0, has_from: false, has_date: false };
    for (index, line) in message.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let folded = matches!(line[0], b' ' | b'\t');
        let name = field_name(line);
        if index == 0 && name.is_none() {
            // Without a first field there is no header block to judge line by line.
            scan.no_header_block = true;
            break;
        }
        match name {
            Some(name) if name.eq_ignore_ascii_case(b"from") => scan.has_from = true,
            Some(name) if name.eq_ignore_ascii_case(b"date") => scan.has_date = true,
            Some(_) => {}
            None if folded => {}
            None => {
                if scan.invalid_lines == 0 {
                    scan.first_invalid = index + 1;
                }
                scan.invalid_lines += 1;
            }
        }
    }
    scan
}

/// The field name of a header line (`Name:` with RFC 5322 ftext, optional
/// whitespace before the colon as RFC 822 allowed), or `None`.
fn field_name(line: &[u8]) -> Option<&[u8]> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = line[..colon].trim_ascii_end();
    let is_ftext = |b: &u8| (33..=126).contains(b) && *b != b':';
    (!name.is_empty() && name.iter().all(is_ftext)).then_some(name)
}

/// The MIME-level findings of mail-parser, plus closing boundaries, which
/// mail-parser does not require.
fn mime_problems(message: &[u8], has_date: bool, problems: &mut Vec<Problem>) {
    let Some(parsed) = MessageParser::default().parse(message) else {
        problems.push(Problem::Unparsable);
        return;
    };
    if has_date && parsed.date().is_none_or(|date| !date.is_valid()) {
        problems.push(Problem::InvalidDate);
    }
    for (index, part) in parsed.parts.iter().enumerate() {
        if part.is_encoding_problem {
            problems.push(Problem::EncodingProblem { part: index });
        }
        let content_type = part.content_type();
        let boundary = content_type.and_then(|ct| ct.attribute("boundary"));
        let declared_multipart = content_type.is_some_and(|ct| ct.ctype().eq_ignore_ascii_case("multipart"));
        if declared_multipart && boundary.is_none() {
            // mail-parser reads such a part as a single text part.
            problems.push(Problem::MissingBoundary { part: index });
        }
        let (PartType::Multipart(_), Some(boundary)) = (&part.body, boundary) else {
            continue;
        };
        let start = (part.offset_body as usize).min(message.len());
        let end = (part.offset_end as usize).clamp(start, message.len());
        let mut close = Vec::with_capacity(boundary.len() + 4);
        close.extend_from_slice(b"--");
        close.extend_from_slice(boundary.as_bytes());
        close.extend_from_slice(b"--");
        if !contains(&message[start..end], &close) {
            problems.push(Problem::MissingBoundaryEnd { part: index });
        }
    }
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
