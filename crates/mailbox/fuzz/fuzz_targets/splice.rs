//! Cutting attachments out of arbitrary bytes and splicing them back must
//! give the same bytes, and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealpost_mailbox::splice::{cut, encode, splice};

fuzz_target!(|data: &[u8]| {
    let c = cut(data, 16);
    let encoded: Vec<(usize, Vec<u8>)> = c.parts.iter().map(|p| (p.at, encode(&p.decoded, p.layout))).collect();
    let rebuilt = splice(&c.skeleton, encoded.iter().map(|(at, e)| (*at, e.as_slice()))).expect("own offsets");
    assert_eq!(rebuilt, data);
});
