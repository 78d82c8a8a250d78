//! mboxrd writer.
//!
//! Each message is written as a `From <sender> <asctime>` separator line,
//! the message with every line matching `^>*From ` given one more `>`, and
//! one empty line. Nothing else about the bytes changes, so
//! [`MboxReader`](crate::read::MboxReader) gives back exactly what was
//! written — with one exception that no mbox can avoid: a message that does
//! not end with a line feed (including an empty message) gets a line ending
//! appended, because the separator must start a line. The manifest's
//! `sha256` is always that of the original bytes.
//!
//! Separator, appended line ending and empty line use the message's own line
//! ending (that of its first line; LF if it has none), so a CRLF message
//! store becomes a consistently CRLF mbox.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use mail_parser::{Message, MessageParser};
use tempfile::NamedTempFile;
use time::OffsetDateTime;

use crate::error::MailboxError;
use crate::write::manifest::{ManifestEntry, ManifestWriter};
use crate::write::output::{commit, hash_file, sidecar, stage, write_checksum};
use crate::write::{ExportMessage, IdSet, PackageSummary, message_time};

/// Writes an mboxrd file, `<out>.manifest.json` and `<out>.sha256`.
///
/// ```
/// use sealpost_mailbox::write::{ExportMessage, MboxWriter};
///
/// let dir = tempfile::tempdir().unwrap();
/// let out = dir.path().join("export.mbox");
/// let mut writer = MboxWriter::create(&out).unwrap();
/// writer.write(&ExportMessage { id: "m1", bytes: b"From: a@example.org\n\nFrom here\n", received_at: None }).unwrap();
/// let summary = writer.finish().unwrap();
/// assert_eq!(summary.count, 1);
/// assert_eq!(
///     std::fs::read(&out).unwrap(),
///     b"From a@example.org Thu Jan  1 00:00:00 1970\nFrom: a@example.org\n\n>From here\n\n"
/// );
/// ```
pub struct MboxWriter {
    out: BufWriter<NamedTempFile>,
    target: PathBuf,
    manifest: ManifestWriter,
    ids: IdSet,
    count: u64,
}

impl MboxWriter {
    /// Starts an export to `path`. Nothing appears at `path` before
    /// [`MboxWriter::finish`]; an existing file there is replaced then.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, MailboxError> {
        let target = path.as_ref().to_path_buf();
        let out = BufWriter::with_capacity(256 * 1024, stage(&target)?);
        let manifest = ManifestWriter::new(&sidecar(&target, ".manifest.json"), false)?;
        Ok(MboxWriter { out, target, manifest, ids: IdSet::default(), count: 0 })
    }

    /// Appends one message and returns its manifest entry.
    pub fn write(&mut self, message: &ExportMessage<'_>) -> Result<ManifestEntry, MailboxError> {
        self.ids.admit(message.id)?;
        let bytes = message.bytes;
        let eol: &[u8] = line_ending(bytes);
        // Headers are parsed once, for the separator and the manifest.
        let headers = MessageParser::default().parse_headers(bytes);
        let separator = separator_line(headers.as_ref(), message_time(message.received_at, headers.as_ref()));
        let path = self.out.get_ref().path().to_path_buf();
        let io_err = |e| MailboxError::io("write", &path, e);

        self.out.write_all(separator.as_bytes()).map_err(io_err)?;
        self.out.write_all(eol).map_err(io_err)?;
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            if needs_quoting(line) {
                self.out.write_all(b">").map_err(io_err)?;
            }
            self.out.write_all(line).map_err(io_err)?;
        }
        if !bytes.ends_with(b"\n") {
            self.out.write_all(eol).map_err(io_err)?;
        }
        self.out.write_all(eol).map_err(io_err)?;

        let entry = ManifestEntry::from_headers(message.id, bytes, headers.as_ref());
        self.manifest.add(&entry)?;
        self.count += 1;
        Ok(entry)
    }

    /// Moves the mbox and its manifest into place, then writes
    /// `<out>.sha256`.
    pub fn finish(self) -> Result<PackageSummary, MailboxError> {
        let path = self.out.get_ref().path().to_path_buf();
        let staged = self.out.into_inner().map_err(|e| MailboxError::io("write", &path, e.into_error()))?;
        let (json, _) = self.manifest.finish()?;
        let (sha256, bytes) = hash_file(staged.path())?;
        commit(json, &sidecar(&self.target, ".manifest.json"))?;
        commit(staged, &self.target)?;
        write_checksum(&self.target, &sha256)?;
        Ok(PackageSummary { count: self.count, bytes, sha256 })
    }
}

/// The line ending of the first line; LF for a message of one line.
fn line_ending(message: &[u8]) -> &'static [u8] {
    match message.iter().position(|&b| b == b'\n') {
        Some(i) if i > 0 && message[i - 1] == b'\r' => b"\r\n",
        _ => b"\n",
    }
}

/// `^>*From `: lines an mboxrd reader un-quotes, or takes for a separator.
fn needs_quoting(line: &[u8]) -> bool {
    let quotes = line.iter().take_while(|&&b| b == b'>').count();
    line[quotes..].starts_with(b"From ")
}

/// `From <addr> <asctime>` without the line ending. The address is the
/// first `From:` address when it is printable ASCII without spaces (the
/// separator is space-delimited), else `MAILER-DAEMON`; the time is
/// [`message_time`], else the Unix epoch, in UTC.
fn separator_line(headers: Option<&Message<'_>>, time: Option<OffsetDateTime>) -> String {
    let sender = headers
        .and_then(|m| m.from())
        .and_then(|from| from.first())
        .and_then(|addr| addr.address())
        .filter(|a| is_plain_address(a))
        .unwrap_or("MAILER-DAEMON");
    let when = time.unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!("From {sender} {}", asctime(when))
}

/// `local@domain` in printable ASCII without spaces: safe in a
/// space-delimited line that other tools parse.
fn is_plain_address(address: &str) -> bool {
    let at = address.rfind('@');
    at.is_some_and(|at| at > 0 && at + 1 < address.len()) && address.bytes().all(|b| b.is_ascii_graphic())
}

/// C `asctime` layout, `Thu Jan  1 00:00:00 1970`, in UTC.
fn asctime(when: OffsetDateTime) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let utc = when.to_offset(time::UtcOffset::UTC);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[utc.weekday().number_days_from_monday() as usize],
        MONTHS[utc.month() as usize - 1],
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        utc.year()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(bytes: &[u8]) -> Option<Message<'_>> {
        MessageParser::default().parse_headers(bytes)
    }

    #[test]
    fn separator_uses_received_time_then_date_header_then_epoch() {
        let bytes = b"From: Ann <ann@example.org>\r\nDate: Sat, 14 Feb 2026 23:30:00 -0200\r\n\r\n";
        let headers = headers(bytes);
        let line = separator_line(headers.as_ref(), message_time(None, headers.as_ref()));
        assert_eq!(line, "From ann@example.org Sun Feb 15 01:30:00 2026");
        let received = Some(OffsetDateTime::from_unix_timestamp(1_000_000_000).unwrap());
        let line = separator_line(headers.as_ref(), message_time(received, headers.as_ref()));
        assert_eq!(line, "From ann@example.org Sun Sep  9 01:46:40 2001");
        let none = self::headers(b"Subject: x\n\n");
        let line = separator_line(none.as_ref(), message_time(None, none.as_ref()));
        assert_eq!(line, "From MAILER-DAEMON Thu Jan  1 00:00:00 1970");
    }

    #[test]
    fn separator_address_is_plain_or_mailer_daemon() {
        assert!(is_plain_address("a.b+c@example.org"));
        assert!(!is_plain_address("a b@example.org"));
        assert!(!is_plain_address("@example.org"));
        assert!(!is_plain_address("jörg@example.org"));
        // mail-parser reads this as the name "a b" and the address "@example.org".
        let line = separator_line(headers(b"From: \"a b\"@example.org\n\n").as_ref(), None);
        assert!(line.starts_with("From MAILER-DAEMON "), "{line}");
    }

    #[test]
    fn quoting_matches_mboxrd() {
        assert!(needs_quoting(b"From x\n"));
        assert!(needs_quoting(b">>From x\r\n"));
        assert!(!needs_quoting(b"from x\n"));
        assert!(!needs_quoting(b" From x\n"));
        assert!(!needs_quoting(b">From"));
        assert_eq!(line_ending(b"a\r\nb\n"), b"\r\n");
        assert_eq!(line_ending(b"a\nb\r\n"), b"\n");
        assert_eq!(line_ending(b"\r\n"), b"\r\n");
        assert_eq!(line_ending(b"\n"), b"\n");
        assert_eq!(line_ending(b"abc"), b"\n");
    }
}
