//! [`check_message`]: structural checks on a whole RFC 5322 message, shared
//! by SMTP DATA and the HTTP API's raw-message submission.
//!
//! Errors carry line numbers, never content: a message can hold PHI.

/// Longest line allowed, excluding CRLF (RFC 5322 §2.1.1).
pub const MAX_LINE_LEN: usize = 998;

/// Why a message was refused. Line numbers are 1-based; a bare LF counts
/// as a line break for numbering.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// A NUL octet.
    #[error("NUL bytes are not allowed (line {line})")]
    Nul {
        /// Line of the first NUL.
        line: usize,
    },
    /// A CR not followed by LF.
    #[error("Bare CR or LF not allowed (bare CR on line {line})")]
    BareCr {
        /// Line of the first bare CR.
        line: usize,
    },
    /// An LF not preceded by CR.
    #[error("Bare CR or LF not allowed (bare LF on line {line})")]
    BareLf {
        /// Line of the first bare LF.
        line: usize,
    },
    /// A line longer than 998 octets, excluding CRLF.
    #[error("Line too long (line {line} exceeds 998 octets)")]
    LineTooLong {
        /// The first such line.
        line: usize,
    },
    /// The message is empty or starts with an empty line: no header fields.
    #[error("Message has no header fields")]
    NoHeader,
    /// The first line starts with a space or tab.
    #[error("Header section starts with a continuation line")]
    ContinuationFirst,
    /// A header line with no colon.
    #[error("Header field without colon (line {line})")]
    MissingColon {
        /// The offending line.
        line: usize,
    },
    /// A header line starting with a colon.
    #[error("Empty header field name (line {line})")]
    EmptyName {
        /// The offending line.
        line: usize,
    },
    /// A header field name with an octet above 127.
    #[error("8-bit octet in header field name (line {line})")]
    EightBitName {
        /// The offending line.
        line: usize,
    },
    /// A header field name with a space, control or other invalid character.
    #[error("Invalid character in header field name (line {line})")]
    InvalidName {
        /// The offending line.
        line: usize,
    },
    /// No `From:` header field.
    #[error("Missing From header field")]
    MissingFrom,
}

/// Checks a message, in this order: no NUL; CRLF-only line endings; lines of
/// at most 998 octets; a header section of one or more fields (`name:` with
/// a name of printable ASCII other than `:`, continuation lines starting with
/// SP/HTAB, ended by an empty line or the end of the message) including
/// `From:`. The first failure is returned.
///
/// ```
/// use sealpost_smtp::{check_message, MessageError};
/// assert!(check_message(b"From: a@b.example\r\nSubject: hi\r\n\r\nBody\r\n").is_ok());
/// assert_eq!(check_message(b"From: a@b.example\r\nX\r\n"), Err(MessageError::MissingColon { line: 2 }));
/// ```
pub fn check_message(bytes: &[u8]) -> Result<(), MessageError> {
    let line_of = |pos: usize| 1 + bytes[..pos].iter().filter(|&&b| b == b'\n').count();
    if let Some(pos) = bytes.iter().position(|&b| b == 0) {
        return Err(MessageError::Nul { line: line_of(pos) });
    }
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\r' && bytes.get(i + 1) != Some(&b'\n') {
            return Err(MessageError::BareCr { line: line_of(i) });
        }
        if b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
            return Err(MessageError::BareLf { line: line_of(i) });
        }
    }
    // Only CRLF remains: splitting on LF and dropping the CR gives the lines.
    let body = bytes.strip_suffix(b"\r\n").unwrap_or(bytes);
    let lines: Vec<&[u8]> = if bytes.is_empty() {
        Vec::new()
    } else {
        body.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).collect()
    };
    if let Some(i) = lines.iter().position(|l| l.len() > MAX_LINE_LEN) {
        return Err(MessageError::LineTooLong { line: i + 1 });
    }
    check_header(&lines)
}

fn check_header(lines: &[&[u8]]) -> Result<(), MessageError> {
    let mut fields = 0usize;
    let mut has_from = false;
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if i == 0 {
                return Err(MessageError::ContinuationFirst);
            }
            continue;
        }
        let colon = line.iter().position(|&b| b == b':').ok_or(MessageError::MissingColon { line: n })?;
        let name = &line[..colon];
        if name.is_empty() {
            return Err(MessageError::EmptyName { line: n });
        }
        if name.iter().any(|&b| b >= 0x80) {
            return Err(MessageError::EightBitName { line: n });
        }
        if !name.iter().all(|&b| (33..=126).contains(&b)) {
            return Err(MessageError::InvalidName { line: n });
        }
        has_from |= name.eq_ignore_ascii_case(b"From");
        fields += 1;
    }
    if fields == 0 {
        return Err(MessageError::NoHeader);
    }
    if !has_from {
        return Err(MessageError::MissingFrom);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OK: &[u8] = b"From: a@b.example\r\nSubject: x\r\n\r\nbody\r\n";

    #[test]
    fn accepts_well_formed_messages() {
        assert_eq!(check_message(OK), Ok(()));
        // Header only, no body, no final CRLF; folded fields; 8-bit value.
        assert_eq!(check_message(b"from: a@b.example"), Ok(()));
        assert_eq!(check_message(b"Subject: a\r\n\tb\r\n  c\r\nFROM:x\r\n"), Ok(()));
        assert_eq!(check_message("From: Jörg <j@b.example>\r\n\r\n\r\n".as_bytes()), Ok(()));
        // Body lines can be anything (within limits), even "colon-less".
        assert_eq!(check_message(b"From: a\r\n\r\n no colon\r\n:\r\n"), Ok(()));
        let max = format!("From: a\r\n\r\n{}\r\n", "x".repeat(998));
        assert_eq!(check_message(max.as_bytes()), Ok(()));
    }

    #[test]
    fn nul_is_refused_with_line() {
        assert_eq!(check_message(b"From: a\r\n\r\nx\0\r\n"), Err(MessageError::Nul { line: 3 }));
        // NUL is checked before bare LF.
        assert_eq!(check_message(b"a\nFrom: \0"), Err(MessageError::Nul { line: 2 }));
    }

    #[test]
    fn bare_cr_and_lf_are_refused() {
        assert_eq!(check_message(b"From: a\r\n\r\nx\ry\r\n"), Err(MessageError::BareCr { line: 3 }));
        assert_eq!(check_message(b"From: a\r\n\r\nx\ny\r\n"), Err(MessageError::BareLf { line: 3 }));
        assert_eq!(check_message(b"\nFrom: a\r\n"), Err(MessageError::BareLf { line: 1 }));
        assert_eq!(check_message(b"From: a\r\n\r\nx\r"), Err(MessageError::BareCr { line: 3 }));
        assert_eq!(check_message(b"From: a\r\n\r\n\n.\n"), Err(MessageError::BareLf { line: 3 }));
        assert!(MessageError::BareCr { line: 1 }.to_string().starts_with("Bare CR or LF not allowed"));
    }

    #[test]
    fn long_lines_are_refused() {
        let long = format!("From: a\r\n\r\nok\r\n{}\r\n", "x".repeat(999));
        assert_eq!(check_message(long.as_bytes()), Err(MessageError::LineTooLong { line: 4 }));
        let long_last = format!("From: a\r\n{}", "x".repeat(999));
        assert_eq!(check_message(long_last.as_bytes()), Err(MessageError::LineTooLong { line: 2 }));
    }

    #[test]
    fn header_errors() {
        assert_eq!(check_message(b""), Err(MessageError::NoHeader));
        assert_eq!(check_message(b"\r\nFrom: a\r\n"), Err(MessageError::NoHeader));
        assert_eq!(check_message(b" From: a\r\n"), Err(MessageError::ContinuationFirst));
        assert_eq!(check_message(b"From: a\r\nnot a header\r\n"), Err(MessageError::MissingColon { line: 2 }));
        assert_eq!(check_message(b"From: a\r\n: x\r\n"), Err(MessageError::EmptyName { line: 2 }));
        assert_eq!(check_message("From: a\r\nSübject: x\r\n".as_bytes()), Err(MessageError::EightBitName { line: 2 }));
        assert_eq!(check_message(b"From : a\r\n"), Err(MessageError::InvalidName { line: 1 }));
        assert_eq!(check_message(b"Subject: a\r\n\r\nFrom: b\r\n"), Err(MessageError::MissingFrom));
        assert_eq!(check_message(b"X-From: a\r\n"), Err(MessageError::MissingFrom));
    }

    #[test]
    fn display_never_contains_content() {
        let secret = b"From: a\r\nPatient Jane Doe\r\n";
        let e = check_message(secret).unwrap_err();
        assert!(!e.to_string().contains("Jane"));
        assert_eq!(e.to_string(), "Header field without colon (line 2)");
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = check_message(&bytes);
        }

        #[test]
        fn generated_messages_pass(
            names in proptest::collection::vec("[A-Za-z][A-Za-z0-9-]{0,15}", 0..5),
            body in proptest::collection::vec("[ -~]{0,80}", 0..5),
        ) {
            let mut m = String::from("From: x@y.example\r\n");
            for n in &names { m.push_str(&format!("{n}: v\r\n \tfolded\r\n")); }
            m.push_str("\r\n");
            for l in &body { m.push_str(l); m.push_str("\r\n"); }
            prop_assert_eq!(check_message(m.as_bytes()), Ok(()));
        }
    }
}
