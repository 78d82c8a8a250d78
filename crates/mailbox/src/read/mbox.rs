//! Streaming mbox reader (mboxo and mboxrd).
//!
//! A message starts at a line beginning with `From ` that starts the file or
//! follows an empty line; that separator line is not part of the message,
//! and neither is the one empty line before the next separator (or before
//! the end of the file), which every mbox writer puts after each message.
//!
//! Quoting: mboxrd writers turn every line matching `^>*From ` into
//! `>` + line, mboxo writers only `^From `. A `>From ` line in an mboxo file
//! is therefore ambiguous (quoted `From ` or a real `>From `). We un-quote
//! one level on every line matching `^>+From ` — mboxrd semantics, which is
//! what Thunderbird, mutt and Google Takeout produce and expect. For mboxo
//! input this turns an original `>From ` line into `From `, a change no
//! reader can avoid.
//!
//! Line endings (LF or CRLF) are kept as they are in the file; only one line
//! is held besides the message being assembled, so a file of any size is
//! read in memory bounded by the largest message.

use std::io::{self, BufRead};

use crate::check::Problem;
use crate::error::MailboxError;
use crate::read::{DEFAULT_MAX_MESSAGE_SIZE, Item};

/// Reads messages from an mbox stream, one [`Item`] at a time.
///
/// ```
/// use sealpost_mailbox::read::MboxReader;
///
/// let mbox = b"From a@example.org Thu Jan  1 00:00:00 2026\nSubject: one\n\n>From here\n\nFrom b Thu Jan  1 00:00:00 2026\nSubject: two\n\nbody\n\n";
/// let items: Vec<_> = MboxReader::new(&mbox[..], "inbox").collect::<Result<_, _>>().unwrap();
/// assert_eq!(items[0].bytes, b"Subject: one\n\nFrom here\n");
/// assert_eq!(items[1].location, "inbox:70");
/// assert_eq!(items[1].bytes, b"Subject: two\n\nbody\n");
/// ```
pub struct MboxReader<R> {
    input: R,
    name: String,
    max_message_size: usize,
    /// Bytes consumed so far.
    offset: u64,
    /// The message being assembled; `None` before the first line.
    pending: Option<Pending>,
    /// Whether the previous line was empty (so a `From ` line separates).
    previous_blank: bool,
    /// The current line, reused between lines.
    line: Vec<u8>,
    /// Set after the end of the input or a read error.
    done: bool,
}

/// A message whose end has not been seen yet.
struct Pending {
    /// Offset of its separator line (0 for text before the first separator).
    start: u64,
    bytes: Vec<u8>,
    /// Length of the last line if it was empty, else 0.
    blank_tail: usize,
    /// Text before the first separator rather than a message.
    preamble: bool,
    /// Grew past the limit: `bytes` was dropped, the rest is skipped.
    oversized: bool,
}

impl<R: BufRead> MboxReader<R> {
    /// Reads `input`; `name` starts each item's location (`name:offset`).
    pub fn new(input: R, name: impl Into<String>) -> Self {
        MboxReader {
            input,
            name: name.into(),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            offset: 0,
            pending: None,
            previous_blank: false,
            line: Vec::new(),
            done: false,
        }
    }

    /// Sets the largest message yielded; a larger one is skipped with
    /// [`MailboxError::MessageTooLarge`] and reading goes on.
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Bytes of the input consumed so far (for a progress bar against the
    /// file size).
    pub fn position(&self) -> u64 {
        self.offset
    }

    /// Turns a finished message into what the iterator yields; `None` for a
    /// preamble of nothing but whitespace, which holds no data to keep.
    fn complete(&self, mut pending: Pending) -> Option<Result<Item, MailboxError>> {
        let location = format!("{}:{}", self.name, pending.start);
        if pending.oversized {
            return Some(Err(MailboxError::MessageTooLarge { location, limit: self.max_message_size as u64 }));
        }
        let keep = pending.bytes.len() - pending.blank_tail;
        pending.bytes.truncate(keep);
        if pending.preamble {
            if pending.bytes.iter().all(u8::is_ascii_whitespace) {
                return None;
            }
            return Some(Ok(Item { location, bytes: pending.bytes, problems: vec![Problem::BeforeFirstSeparator] }));
        }
        Some(Ok(Item { location, bytes: pending.bytes, problems: Vec::new() }))
    }

    /// Reads one line into `self.line`, keeping at most `keep` bytes of it
    /// (the rest is consumed and dropped) so that a file without line breaks
    /// cannot exhaust memory. Returns the full length of the line, 0 at the
    /// end of the input.
    fn read_line(&mut self, keep: usize) -> io::Result<usize> {
        self.line.clear();
        let mut total = 0;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok(total);
            }
            let (take, found) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let room = keep.saturating_sub(self.line.len());
            self.line.extend_from_slice(&chunk[..take.min(room)]);
            self.input.consume(take);
            total += take;
            if found {
                return Ok(total);
            }
        }
    }
}

impl<R: BufRead> Iterator for MboxReader<R> {
    type Item = Result<Item, MailboxError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let line_start = self.offset;
            // One byte over the limit is enough to know a message is too
            // large; eight are enough to recognize a separator.
            let keep = self.max_message_size.saturating_add(1).max(8);
            let len = match self.read_line(keep) {
                Ok(len) => len,
                Err(source) => {
                    self.done = true;
                    let path = format!("{}:{}", self.name, line_start);
                    return Some(Err(MailboxError::io("read", path, source)));
                }
            };
            self.offset += len as u64;
            if len == 0 {
                self.done = true;
                let pending = self.pending.take()?;
                return self.complete(pending);
            }
            let in_preamble = self.pending.as_ref().is_none_or(|p| p.preamble);
            // Before the first separator any `From ` line starts a message:
            // junk in front of an mbox need not end with an empty line.
            let separator = self.line.starts_with(b"From ") && (self.previous_blank || in_preamble);
            if separator {
                self.previous_blank = false;
                let new = Pending::new(line_start, false);
                if let Some(done) = self.pending.replace(new)
                    && let Some(item) = self.complete(done)
                {
                    return Some(item);
                }
                continue;
            }
            let blank = self.line == b"\n" || self.line == b"\r\n";
            self.previous_blank = blank;
            let pending = self.pending.get_or_insert_with(|| Pending::new(0, true));
            let line = &self.line[..];
            if len > line.len() {
                pending.overflow();
            } else if !pending.preamble && is_quoted_from(line) {
                pending.push(&line[1..], false, self.max_message_size);
            } else {
                pending.push(line, blank, self.max_message_size);
            }
        }
        None
    }
}

impl Pending {
    fn new(start: u64, preamble: bool) -> Self {
        Pending { start, bytes: Vec::new(), blank_tail: 0, preamble, oversized: false }
    }

    fn push(&mut self, line: &[u8], blank: bool, max: usize) {
        if self.oversized {
            return;
        }
        if self.bytes.len() + line.len() > max {
            self.overflow();
            return;
        }
        self.bytes.extend_from_slice(line);
        self.blank_tail = if blank { line.len() } else { 0 };
    }

    fn overflow(&mut self) {
        self.oversized = true;
        self.bytes = Vec::new();
        self.blank_tail = 0;
    }
}

/// `^>+From `: a line an mboxrd writer quoted.
fn is_quoted_from(line: &[u8]) -> bool {
    let quotes = line.iter().take_while(|&&b| b == b'>').count();
    quotes > 0 && line[quotes..].starts_with(b"From ")
}
