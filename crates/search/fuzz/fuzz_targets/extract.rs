//! Extracts the searchable text of arbitrary bytes as a message: must never
//! panic and must respect the text bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealpost_search::extract::{MAX_TEXT_BYTES, extract};

fuzz_target!(|data: &[u8]| {
    let extracted = extract(data);
    assert!(extracted.body.len() <= MAX_TEXT_BYTES);
});
