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

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use mail_parser::Message;
use tempfile::NamedTempFile;
use time::OffsetDateTime;

use crate::error::MailboxError;
use crate::write::manifest::{ManifestEntry, ManifestJson};
use crate::write::output::{commit, sidecar, stage, write_checksum};
use crate::write::{ExportMessage, PackageFormat, PackageSummary, PackageWriter};

/// Writes an mboxrd file, `<out>.manifest.json` and `<out>.sha256`: a
/// [`PackageWriter`] into a temporary file renamed into place by
/// [`MboxWriter::finish`].
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
    package: PackageWriter<BufWriter<NamedTempFile>>,
    target: PathBuf,
    manifest: ManifestJson<BufWriter<NamedTempFile>>,
}

impl MboxWriter {
    /// Starts an export to `path`. Nothing appears at `path` before
    /// [`MboxWriter::finish`]; an existing file there is replaced then.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, MailboxError> {
        let target = path.as_ref().to_path_buf();
        let out = BufWriter::with_capacity(256 * 1024, stage(&target)?);
        let package = PackageWriter::new(PackageFormat::Mbox, out)?;
        let manifest = ManifestJson::new(BufWriter::new(stage(&sidecar(&target, ".manifest.json"))?))?;
        Ok(MboxWriter { package, target, manifest })
    }

    /// Appends one message and returns its manifest entry.
    pub fn write(&mut self, message: &ExportMessage<'_>) -> Result<ManifestEntry, MailboxError> {
        let entry = self.package.write(message)?;
        self.manifest.add(&entry)?;
        Ok(entry)
    }

    /// Moves the mbox and its manifest into place, then writes
    /// `<out>.sha256`.
    pub fn finish(self) -> Result<PackageSummary, MailboxError> {
        let (out, summary) = self.package.finish()?;
        let staged = out.into_inner().map_err(|e| MailboxError::io("write", &self.target, e.into_error()))?;
        let json_target = sidecar(&self.target, ".manifest.json");
        let json = self.manifest.finish()?;
        let json = json.into_inner().map_err(|e| MailboxError::io("write", &json_target, e.into_error()))?;
        commit(json, &json_target)?;
        commit(staged, &self.target)?;
        write_checksum(&self.target, &summary.sha256)?;
        Ok(summary)
    }
}

/// Writes one message in mboxrd framing: separator, quoted lines, the line
/// ending a message without one needs, and the empty line after it.
pub(crate) fn write_message(
    out: &mut impl Write,
    bytes: &[u8],
    headers: Option<&Message<'_>>,
    time: Option<OffsetDateTime>,
) -> io::Result<()> {
    let eol: &[u8] = line_ending(bytes);
    out.write_all(separator_line(headers, time).as_bytes())?;
    out.write_all(eol)?;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if needs_quoting(line) {
            out.write_all(b">")?;
        }
        out.write_all(line)?;
    }
    if !bytes.ends_with(b"\n") {
        out.write_all(eol)?;
    }
    out.write_all(eol)
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
    use mail_parser::MessageParser;

    use super::*;
    use crate::write::message_time;

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
