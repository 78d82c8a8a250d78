//! Reads arbitrary bytes as an mbox. The first byte picks the buffer size
//! and the message size limit. Must never panic; must yield the same items
//! however the input is cut into buffer fills; items never hold more bytes
//! than the input had.
#![no_main]

use std::io::BufReader;

use libfuzzer_sys::fuzz_target;
use sealpost_mailbox::read::MboxReader;

fn items(
    reader: impl Iterator<Item = Result<sealpost_mailbox::read::Item, sealpost_mailbox::MailboxError>>,
) -> Vec<String> {
    reader
        .map(|r| match r {
            Ok(item) => format!("{} {:?} {:?}", item.location, item.bytes, item.problems),
            Err(e) => e.to_string(),
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else { return };
    let capacity = usize::from(first % 16) + 1;
    let limit = usize::from(first) * 16 + 8;
    let whole = items(MboxReader::new(input, "f").with_max_message_size(limit));
    let chunked = items(MboxReader::new(BufReader::with_capacity(capacity, input), "f").with_max_message_size(limit));
    assert_eq!(whole, chunked);
    let total: usize = MboxReader::new(input, "f").filter_map(Result::ok).map(|i| i.bytes.len()).sum();
    assert!(total <= input.len());
});
