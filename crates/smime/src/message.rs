//! A minimal, byte-exact view of an RFC 5322 message: header fields as they were written
//! (folding kept) and the body untouched, so the inner entity is exactly what was submitted.

use crate::error::{Error, Result};

/// One header field, raw: from the first byte of its name through the CRLF that ends its
/// last (possibly folded) line.
pub(crate) struct Field<'a> {
    pub(crate) name: &'a [u8],
    pub(crate) raw: &'a [u8],
}

impl Field<'_> {
    pub(crate) fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

pub(crate) struct Message<'a> {
    pub(crate) fields: Vec<Field<'a>>,
    pub(crate) body: &'a [u8],
}

/// Splits `input` into header fields and body. Refuses bare CR or LF anywhere (our SMTP
/// client would refuse the output otherwise), malformed field names, a missing From field.
pub(crate) fn parse(input: &[u8]) -> Result<Message<'_>> {
    check_line_endings(input)?;
    let mut fields: Vec<Field<'_>> = Vec::new();
    let mut pos = 0;
    let body = loop {
        let rest = &input[pos..];
        if rest.is_empty() {
            break rest; // header section only, no body
        }
        if rest.starts_with(b"\r\n") {
            break &rest[2..];
        }
        let line_len = find_crlf(rest).ok_or(Error::Message("header line without CRLF"))? + 2;
        let line = &rest[..line_len];
        if line[0] == b' ' || line[0] == b'\t' {
            let last = fields.last_mut().ok_or(Error::Message("starts with a continuation line"))?;
            let start = pos - last.raw.len();
            last.raw = &input[start..pos + line_len];
        } else {
            let colon = line.iter().position(|&b| b == b':').ok_or(Error::Message("header line without colon"))?;
            let name = &line[..colon];
            if name.is_empty() || !name.iter().all(|b| (33..=126).contains(b)) {
                return Err(Error::Message("malformed header field name"));
            }
            fields.push(Field { name, raw: line });
        }
        pos += line_len;
    };
    if !fields.iter().any(|f| f.is("From")) {
        return Err(Error::Message("no From field"));
    }
    Ok(Message { fields, body })
}

fn check_line_endings(input: &[u8]) -> Result<()> {
    for (i, &b) in input.iter().enumerate() {
        let bad = match b {
            b'\r' => input.get(i + 1) != Some(&b'\n'),
            b'\n' => i == 0 || input[i - 1] != b'\r',
            _ => false,
        };
        if bad {
            return Err(Error::Message("bare CR or LF (lines must end in CRLF)"));
        }
    }
    Ok(())
}

fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_folded_fields_and_body_exact() {
        let input = b"From: a@example.com\r\nSubject: one\r\n two\r\nTo: b@example.net\r\n\r\nbody\r\n\r\nmore\r\n";
        let m = parse(input).unwrap();
        let raws: Vec<&[u8]> = m.fields.iter().map(|f| f.raw).collect();
        assert_eq!(raws, [&b"From: a@example.com\r\n"[..], b"Subject: one\r\n two\r\n", b"To: b@example.net\r\n"]);
        assert!(m.fields[1].is("subject"));
        assert_eq!(m.body, b"body\r\n\r\nmore\r\n");
    }

    #[test]
    fn header_only_message_has_empty_body() {
        let m = parse(b"From: a@example.com\r\n").unwrap();
        assert_eq!(m.fields.len(), 1);
        assert!(m.body.is_empty());
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            &b""[..],
            b"\x00\x01\x02 random bytes",
            b"From: a@example.com\nTo: b@example.net\n\nbare LF\n",
            b"From: a@example.com\r\n\r\nbody with a bare\rCR\r\n",
            b"From: a@example.com\r\nno colon here\r\n\r\n",
            b" From: continuation first\r\n\r\n",
            b"Bad Name: x\r\nFrom: a@example.com\r\n\r\n",
            b"To: b@example.net\r\n\r\nno From\r\n",
            b"From: a@example.com\r\nSubject: unterminated",
        ] {
            assert!(matches!(parse(bad), Err(Error::Message(_))), "accepted {:?}", String::from_utf8_lossy(bad));
        }
    }
}
