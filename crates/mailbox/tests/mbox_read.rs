//! The mbox reader on hand-made files: framing, quoting, line endings,
//! junk, limits and a message larger than any buffer.

use std::io::{self, BufReader, Read};

use sealpost_mailbox::read::MboxReader;
use sealpost_mailbox::{MailboxError, Problem};

fn read_all(mbox: &[u8]) -> Vec<(String, Vec<u8>, Vec<Problem>)> {
    MboxReader::new(mbox, "t").map(|item| item.map(|i| (i.location, i.bytes, i.problems)).expect("no error")).collect()
}

fn bodies(mbox: &[u8]) -> Vec<Vec<u8>> {
    read_all(mbox).into_iter().map(|(_, bytes, _)| bytes).collect()
}

#[test]
fn mboxrd_quoting_is_undone_one_level() {
    let mbox = b"From a@x Thu Jan  1 00:00:00 2026\nSubject: 1\n\n>From a\n>>From b\n>>>From c\n> From d\n>from e\n\n\
From b@x Thu Jan  1 00:00:00 2026\nSubject: 2\n\nx\n\n";
    assert_eq!(
        bodies(mbox),
        vec![b"Subject: 1\n\nFrom a\n>From b\n>>From c\n> From d\n>from e\n".to_vec(), b"Subject: 2\n\nx\n".to_vec()]
    );
}

#[test]
fn mboxo_input_is_read_with_mboxrd_semantics() {
    // An mboxo writer quoted only the "From " line; the ">From " that was
    // in the original cannot be told apart and loses its '>' too
    // (documented in read::mbox).
    let mboxo = b"From a Thu Jan  1 00:00:00 2026\n\n>From here\n>From there\n\n";
    assert_eq!(bodies(mboxo), vec![b"\nFrom here\nFrom there\n".to_vec()]);
    // Unquoted, the same "From here" after an empty line is a separator.
    let unquoted = b"From a Thu Jan  1 00:00:00 2026\n\nFrom here\n>From there\n\n";
    assert_eq!(bodies(unquoted), vec![b"".to_vec(), b"From there\n".to_vec()]);
}

#[test]
fn only_from_lines_after_an_empty_line_separate() {
    let mbox = b"From a Thu Jan  1 00:00:00 2026\nSubject: 1\n\nline\nFrom not a separator\n\nFrom b Thu Jan  1 00:00:00 2026\nS: 2\n";
    let items = read_all(mbox);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].1, b"Subject: 1\n\nline\nFrom not a separator\n");
    // No empty line at the end of the file: the last message keeps all it has.
    assert_eq!(items[1].1, b"S: 2\n");
}

#[test]
fn locations_are_separator_offsets() {
    let first = b"From a Thu Jan  1 00:00:00 2026\nS: 1\n\n".to_vec();
    let mut mbox = first.clone();
    mbox.extend_from_slice(b"From b Thu Jan  1 00:00:00 2026\nS: 2\n\n");
    let items = read_all(&mbox);
    assert_eq!(items[0].0, "t:0");
    assert_eq!(items[1].0, format!("t:{}", first.len()));
}

#[test]
fn crlf_files_keep_their_line_endings() {
    let mbox = b"From a Thu Jan  1 00:00:00 2026\r\nSubject: 1\r\n\r\n>From x\r\nbody\r\n\r\nFrom b Thu Jan  1 00:00:00 2026\r\nSubject: 2\r\n\r\n\r\n\r\n";
    assert_eq!(
        bodies(mbox),
        vec![b"Subject: 1\r\n\r\nFrom x\r\nbody\r\n".to_vec(), b"Subject: 2\r\n\r\n\r\n".to_vec()]
    );
}

#[test]
fn empty_file_has_no_messages() {
    assert!(read_all(b"").is_empty());
    assert!(read_all(b"\n\n").is_empty(), "whitespace before the first separator is not data");
}

#[test]
fn text_before_the_first_separator_is_reported_not_dropped() {
    let mbox = b"junk line\nmore junk\nFrom a Thu Jan  1 00:00:00 2026\nS: 1\n\n";
    let items = read_all(mbox);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0], ("t:0".into(), b"junk line\nmore junk\n".to_vec(), vec![Problem::BeforeFirstSeparator]));
    assert_eq!(items[1].0, "t:20");
    assert_eq!(items[1].1, b"S: 1\n");
    assert!(items[1].2.is_empty());

    let only_junk = read_all(b"no separator at all");
    assert_eq!(only_junk, vec![("t:0".into(), b"no separator at all".to_vec(), vec![Problem::BeforeFirstSeparator])]);
}

#[test]
fn oversized_messages_are_skipped_with_an_error_and_reading_goes_on() {
    let mut mbox = b"From a Thu Jan  1 00:00:00 2026\nS: 1\n\n".to_vec();
    mbox.extend(std::iter::repeat_n(b'x', 5000)); // one long line, no newline
    mbox.extend_from_slice(b"\n\nFrom b Thu Jan  1 00:00:00 2026\nS: 2\n\n");
    mbox.extend_from_slice(b"From c Thu Jan  1 00:00:00 2026\n");
    mbox.extend(std::iter::repeat_n(&b"many short lines\n"[..], 400).flatten());
    mbox.extend_from_slice(b"\nFrom d Thu Jan  1 00:00:00 2026\nS: 4\n");
    let results: Vec<_> = MboxReader::new(&mbox[..], "t").with_max_message_size(1000).collect();
    assert_eq!(results.len(), 4);
    assert!(matches!(&results[0], Err(MailboxError::MessageTooLarge { location, limit: 1000 }) if location == "t:0"));
    assert_eq!(results[1].as_ref().unwrap().bytes, b"S: 2\n");
    assert!(matches!(&results[2], Err(MailboxError::MessageTooLarge { .. })));
    assert_eq!(results[3].as_ref().unwrap().bytes, b"S: 4\n");
}

/// Produces an mbox of `count` messages of about `size` bytes each without
/// ever holding the file: proves the reader streams.
struct Generated {
    count: usize,
    size: usize,
    produced: usize,
    current: Vec<u8>,
    at: usize,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.current.len() {
            if self.produced == self.count {
                return Ok(0);
            }
            self.produced += 1;
            self.current.clear();
            self.current.extend_from_slice(b"From big Thu Jan  1 00:00:00 2026\r\nSubject: big\r\n\r\n");
            let line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n";
            while self.current.len() + line.len() < self.size {
                self.current.extend_from_slice(line);
            }
            self.current.extend_from_slice(b"From inside a big message\r\n\r\n");
            self.at = 0;
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn huge_messages_stream_through() {
    let size = 48 * 1024 * 1024;
    let input = BufReader::new(Generated { count: 3, size, produced: 0, current: Vec::new(), at: 0 });
    let mut reader = MboxReader::new(input, "big");
    let mut seen = 0;
    for item in &mut reader {
        let item = item.expect("no error");
        assert!(item.bytes.len() > size - 200 && item.bytes.len() < size, "{}", item.bytes.len());
        assert!(item.bytes.starts_with(b"Subject: big\r\n\r\n0123"));
        assert!(item.bytes.ends_with(b"\r\nFrom inside a big message\r\n"));
        seen += 1;
    }
    assert_eq!(seen, 3);
    assert!(reader.position() > 3 * (size as u64 - 200));
}

fn collect(reader: impl Iterator<Item = Result<sealpost_mailbox::read::Item, MailboxError>>) -> Vec<String> {
    reader
        .map(|r| match r {
            Ok(item) => format!("{} {:?} {:?}", item.location, item.bytes, item.problems),
            Err(e) => e.to_string(),
        })
        .collect()
}

proptest::proptest! {
    /// Any bytes at all: no panic, and the same items however the input is
    /// cut into buffer fills (tiny buffers split lines and CRLF pairs).
    #[test]
    fn any_input_reads_the_same_through_any_buffer(
        input in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::strategy::Just(b"From ".to_vec()),
                proptest::strategy::Just(b">From ".to_vec()),
                proptest::strategy::Just(b"\n".to_vec()),
                proptest::strategy::Just(b"\r\n".to_vec()),
                proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..12),
            ],
            0..40,
        ),
        capacity in 1usize..16,
        limit in 8usize..200,
    ) {
        let input = input.concat();
        let whole = collect(MboxReader::new(&input[..], "t").with_max_message_size(limit));
        let chunked = collect(MboxReader::new(BufReader::with_capacity(capacity, &input[..]), "t").with_max_message_size(limit));
        proptest::prop_assert_eq!(&whole, &chunked);
        let total: usize = MboxReader::new(&input[..], "t").filter_map(Result::ok).map(|i| i.bytes.len()).sum();
        proptest::prop_assert!(total <= input.len());
    }
}
