//! Runs the message content checks on arbitrary bytes; an accepted message
//! must have CRLF-only line endings and no NUL.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if sealpost_smtp::check_message(data).is_ok() {
        assert!(!data.contains(&0));
        for (i, &b) in data.iter().enumerate() {
            if b == b'\n' {
                assert!(i > 0 && data[i - 1] == b'\r');
            }
        }
    }
});
