//! The manifest of an export: one entry per message, streamed to JSON (and
//! CSV for the zip package) as messages are written, into any writer.

use std::io::Write;

use mail_parser::{Address, Message, MessageParser};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::MailboxError;

/// What the manifest says about one message. Header values are decoded
/// (RFC 2047) by mail-parser; a missing or unparsable header is `""`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The caller's id ([`ExportMessage::id`](crate::write::ExportMessage::id)).
    pub id: String,
    /// `Message-ID` without angle brackets.
    pub message_id: String,
    /// `Date` in RFC 3339, with the header's own offset.
    pub date: String,
    /// `From` addresses, `Name <addr>` or `addr`, comma separated.
    pub from: String,
    /// `To` addresses, as `from`.
    pub to: String,
    /// `Subject`.
    pub subject: String,
    /// SHA-256 of the original message bytes, lowercase hex.
    pub sha256: String,
}

impl ManifestEntry {
    /// Describes `bytes`; never fails (a message without headers gets
    /// empty fields).
    pub fn describe(id: &str, bytes: &[u8]) -> Self {
        Self::from_headers(id, bytes, MessageParser::default().parse_headers(bytes).as_ref())
    }

    /// [`ManifestEntry::describe`] with the headers already parsed (`None`:
    /// mail-parser found none).
    pub(crate) fn from_headers(id: &str, bytes: &[u8], headers: Option<&Message<'_>>) -> Self {
        let text = |value: Option<&str>| value.unwrap_or_default().to_owned();
        ManifestEntry {
            id: id.to_owned(),
            message_id: text(headers.and_then(|m| m.message_id())),
            date: headers.and_then(|m| m.date()).filter(|d| d.is_valid()).map(|d| d.to_rfc3339()).unwrap_or_default(),
            from: headers.and_then(|m| m.from()).map(format_addresses).unwrap_or_default(),
            to: headers.and_then(|m| m.to()).map(format_addresses).unwrap_or_default(),
            subject: text(headers.and_then(|m| m.subject())),
            sha256: hex::encode(Sha256::digest(bytes)),
        }
    }
}

fn format_addresses(address: &Address<'_>) -> String {
    let formatted: Vec<String> = address
        .iter()
        .map(|addr| match (addr.name(), addr.address()) {
            (Some(name), Some(address)) => format!("{name} <{address}>"),
            (None, Some(address)) => address.to_owned(),
            (Some(name), None) => name.to_owned(),
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect();
    formatted.join(", ")
}

/// The manifest as JSON, streamed into any writer one entry at a time:
/// `{"format":"sealpost-export-manifest/1","messages":[…],"count":N}`, with
/// `count` last because it is known last. The same bytes whether it goes
/// into a file (the CLI's mbox sidecar), a zip entry or an HTTP response.
///
/// ```
/// use sealpost_mailbox::write::{ManifestEntry, ManifestJson};
///
/// let mut json = ManifestJson::new(Vec::new()).unwrap();
/// json.add(&ManifestEntry::describe("m1", b"Subject: hi\r\n\r\n")).unwrap();
/// let bytes = json.finish().unwrap();
/// let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
/// assert_eq!(value["count"], 1);
/// assert_eq!(value["messages"][0]["subject"], "hi");
/// ```
pub struct ManifestJson<W: Write> {
    out: W,
    count: u64,
}

impl<W: Write> ManifestJson<W> {
    /// Writes the opening of the document.
    pub fn new(mut out: W) -> Result<Self, MailboxError> {
        out.write_all(b"{\"format\":\"sealpost-export-manifest/1\",\"messages\":[").map_err(MailboxError::Output)?;
        Ok(ManifestJson { out, count: 0 })
    }

    /// Appends one entry.
    pub fn add(&mut self, entry: &ManifestEntry) -> Result<(), MailboxError> {
        self.out.write_all(if self.count == 0 { b"\n" } else { b",\n" }).map_err(MailboxError::Output)?;
        serde_json::to_writer(&mut self.out, entry).map_err(|e| MailboxError::Output(e.into()))?;
        self.count += 1;
        Ok(())
    }

    /// Closes the document and hands back the writer (not flushed).
    pub fn finish(mut self) -> Result<W, MailboxError> {
        let tail = format!("\n],\"count\":{}}}\n", self.count);
        self.out.write_all(tail.as_bytes()).map_err(MailboxError::Output)?;
        Ok(self.out)
    }
}

/// The manifest as CSV (`manifest.csv` in the zip): a header row, then
/// one row per entry, CRLF line endings.
pub(crate) struct ManifestCsv<W: Write> {
    out: W,
}

/// The CSV columns, in order.
const CSV_HEADER: &str = "id,message_id,date,from,to,subject,sha256\r\n";

impl<W: Write> ManifestCsv<W> {
    pub(crate) fn new(mut out: W) -> Result<Self, MailboxError> {
        out.write_all(CSV_HEADER.as_bytes()).map_err(MailboxError::Output)?;
        Ok(ManifestCsv { out })
    }

    pub(crate) fn add(&mut self, entry: &ManifestEntry) -> Result<(), MailboxError> {
        let fields = [&entry.id, &entry.message_id, &entry.date, &entry.from, &entry.to, &entry.subject, &entry.sha256];
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        self.out.write_all(row.join(",").as_bytes()).map_err(MailboxError::Output)?;
        self.out.write_all(b"\r\n").map_err(MailboxError::Output)
    }

    pub(crate) fn finish(self) -> W {
        self.out
    }
}

/// One RFC 4180 field. A value a spreadsheet would run as a formula
/// (starting with `=`, `+`, `-`, `@`, tab or CR) gets a leading `'`: the
/// CSV is for people opening it in a spreadsheet, the JSON holds the exact
/// values.
fn csv_field(value: &str) -> String {
    let guarded =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_owned() };
    if guarded.contains([',', '"', '\r', '\n']) { format!("\"{}\"", guarded.replace('"', "\"\"")) } else { guarded }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_decoded_headers_and_hashes_the_original_bytes() {
        let message = b"From: =?utf-8?q?J=C3=B6rg?= <j@example.org>\r\nTo: a@example.org, B <b@example.org>\r\n\
            Subject: =?utf-8?b?SGFsbG8=?=\r\nDate: Thu, 1 Jan 2026 10:00:00 +0100\r\nMessage-ID: <x1@example.org>\r\n\r\nbody\r\n";
        let entry = ManifestEntry::describe("m1", message);
        assert_eq!(entry.from, "Jörg <j@example.org>");
        assert_eq!(entry.to, "a@example.org, B <b@example.org>");
        assert_eq!(entry.subject, "Hallo");
        assert_eq!(entry.date, "2026-01-01T10:00:00+01:00");
        assert_eq!(entry.message_id, "x1@example.org");
        assert_eq!(entry.sha256, hex::encode(Sha256::digest(message)));
    }

    #[test]
    fn missing_headers_are_empty() {
        let entry = ManifestEntry::describe("m2", b"");
        assert_eq!((entry.from.as_str(), entry.date.as_str(), entry.subject.as_str()), ("", "", ""));
        assert_eq!(entry.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn csv_fields_are_quoted_and_guarded() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, \"b\""), "\"a, \"\"b\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_field("-1,2"), "\"'-1,2\"");
    }
}
