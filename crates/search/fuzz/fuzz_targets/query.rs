//! Parses arbitrary text as a query: must never panic, errors must point
//! inside the input, and a parsed query must print to a form that parses
//! back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealpost_search::query::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse(text) {
        Ok(query) => {
            let printed = query.to_string();
            assert_eq!(parse(&printed).as_ref(), Ok(&query), "canonical form does not round-trip");
        }
        Err(error) => assert!(error.position <= text.chars().count()),
    }
});
