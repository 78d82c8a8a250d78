//! Splitting an RFC 5322 message into its header fields and body, and
//! building the two messages PGP/MIME needs: the inner entity that gets
//! encrypted and the outer `multipart/encrypted` wrapper (RFC 3156 §4).
//!
//! Header fields are kept as the raw bytes they arrived in (folding and all):
//! nothing is re-encoded, so the recipient sees exactly what the sender wrote.

use crate::error::{Error, Result};

/// Fields that stay on the outside, in the clear: what transport and
/// threading need. Everything else is only inside the encryption.
const OUTER_FIELDS: &[&str] =
    &["from", "to", "cc", "date", "message-id", "reply-to", "in-reply-to", "references", "mime-version"];

/// Fields left out of both parts: `Bcc` must never reach a recipient, and
/// trace and authentication fields describe the plaintext's transport (a
/// signature over it would not verify inside anyway).
const DROPPED_FIELDS: &[&str] = &[
    "bcc",
    "received",
    "return-path",
    "delivered-to",
    "dkim-signature",
    "authentication-results",
    "arc-seal",
    "arc-message-signature",
    "arc-authentication-results",
];

/// The Subject shown outside (Protected Headers draft: a fixed placeholder).
const OUTER_SUBJECT: &[u8] = b"Subject: ...\r\n";

/// The parameter that tells clients the inner header fields are protected
/// headers (draft-autocrypt-lamps-protected-headers).
const PROTECTED_HEADERS_PARAM: &[u8] = b";\r\n protected-headers=\"v1\"";

/// One header field: its name and its raw bytes, continuation lines and final
/// CRLF included.
struct Field<'a> {
    name: &'a str,
    raw: &'a [u8],
}

impl Field<'_> {
    fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    fn is_any(&self, names: &[&str]) -> bool {
        names.iter().any(|n| self.is(n))
    }
}

/// A message split into header fields and body.
pub(crate) struct Message<'a> {
    fields: Vec<Field<'a>>,
    body: &'a [u8],
}

impl<'a> Message<'a> {
    /// Splits `message`. Requires CRLF line endings throughout: the output
    /// goes to an SMTP client that refuses bare CR or LF.
    pub(crate) fn parse(message: &'a [u8]) -> Result<Self> {
        check_line_endings(message)?;
        let (header, body) = if message.starts_with(b"\r\n") {
            (&message[..0], &message[2..])
        } else {
            match find(message, b"\r\n\r\n") {
                Some(end) => (&message[..end + 2], &message[end + 4..]),
                None if message.ends_with(b"\r\n") => (message, &message[message.len()..]),
                None => return Err(Error::MalformedMessage("header section does not end with CRLF")),
            }
        };
        Ok(Self { fields: split_fields(header)?, body })
    }

    /// The entity to encrypt: every field but the outer-only and dropped ones
    /// — Content-* and the protected copies of Subject, From, To, Cc, Date, … —
    /// with `protected-headers="v1"` added to Content-Type, then the body as
    /// given.
    pub(crate) fn inner_entity(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 1024);
        let mut has_content_type = false;
        for field in self.fields.iter().filter(|f| !f.is_any(DROPPED_FIELDS) && !f.is("mime-version")) {
            if field.is("content-type") && !has_content_type {
                has_content_type = true;
                out.extend_from_slice(&with_protected_headers_param(field.raw));
            } else {
                out.extend_from_slice(field.raw);
            }
        }
        if !has_content_type {
            // RFC 2045 §5.2's default, stated so that the parameter has a home.
            out.extend_from_slice(b"Content-Type: text/plain; charset=us-ascii");
            out.extend_from_slice(PROTECTED_HEADERS_PARAM);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(self.body);
        out
    }

    /// The `multipart/encrypted` message around `armored` (an ASCII-armored
    /// OpenPGP message), separated by `boundary`.
    pub(crate) fn outer_message(&self, boundary: &str, armored: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(armored.len() + 2048);
        let mut has_mime_version = false;
        for field in self.fields.iter().filter(|f| f.is_any(OUTER_FIELDS)) {
            has_mime_version |= field.is("mime-version");
            out.extend_from_slice(field.raw);
        }
        if !has_mime_version {
            out.extend_from_slice(b"MIME-Version: 1.0\r\n");
        }
        out.extend_from_slice(OUTER_SUBJECT);
        push_line(&mut out, "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";");
        push_line(&mut out, &format!(" boundary=\"{boundary}\""));
        push_line(&mut out, "");
        push_line(&mut out, "This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)");
        push_line(&mut out, &format!("--{boundary}"));
        push_line(&mut out, "Content-Type: application/pgp-encrypted");
        push_line(&mut out, "Content-Description: PGP/MIME version identification");
        push_line(&mut out, "");
        push_line(&mut out, "Version: 1");
        push_line(&mut out, "");
        push_line(&mut out, &format!("--{boundary}"));
        push_line(&mut out, "Content-Type: application/octet-stream; name=\"encrypted.asc\"");
        push_line(&mut out, "Content-Description: OpenPGP encrypted message");
        push_line(&mut out, "Content-Disposition: inline; filename=\"encrypted.asc\"");
        push_line(&mut out, "");
        for line in armored.lines() {
            push_line(&mut out, line);
        }
        push_line(&mut out, "");
        push_line(&mut out, &format!("--{boundary}--"));
        out
    }
}

fn push_line(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Every CR is followed by LF and every LF preceded by CR.
fn check_line_endings(message: &[u8]) -> Result<()> {
    for (i, &b) in message.iter().enumerate() {
        let bare = match b {
            b'\r' => message.get(i + 1) != Some(&b'\n'),
            b'\n' => i == 0 || message[i - 1] != b'\r',
            _ => false,
        };
        if bare {
            return Err(Error::MalformedMessage("bare CR or LF (CRLF line endings required)"));
        }
    }
    Ok(())
}

/// Splits a header section (each line ending in CRLF) into fields.
fn split_fields(header: &[u8]) -> Result<Vec<Field<'_>>> {
    let mut fields: Vec<Field<'_>> = Vec::new();
    let mut start = 0;
    while start < header.len() {
        let end = find(&header[start..], b"\r\n").map_or(header.len(), |i| start + i + 2);
        let line = &header[start..end];
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            let Some(last) = fields.last_mut() else {
                return Err(Error::MalformedMessage("header section starts with a continuation line"));
            };
            // Extend the previous field's slice over its continuation line.
            let field_start = end - line.len() - last.raw.len();
            last.raw = &header[field_start..end];
        } else {
            let colon =
                line.iter().position(|&b| b == b':').ok_or(Error::MalformedMessage("header line without a colon"))?;
            let name = &line[..colon];
            if name.is_empty() || !name.iter().all(|&b| (33..=126).contains(&b)) {
                return Err(Error::MalformedMessage("invalid header field name"));
            }
            let name = std::str::from_utf8(name).map_err(|_| Error::MalformedMessage("invalid header field name"))?;
            fields.push(Field { name, raw: line });
        }
        start = end;
    }
    Ok(fields)
}

/// The Content-Type field with the protected-headers parameter appended
/// before its final CRLF, unless it already has one.
fn with_protected_headers_param(raw: &[u8]) -> Vec<u8> {
    let value = raw.strip_suffix(b"\r\n").unwrap_or(raw);
    let mut out = value.to_vec();
    if !value.to_ascii_lowercase().windows(17).any(|w| w == b"protected-headers") {
        out.extend_from_slice(PROTECTED_HEADERS_PARAM);
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &[u8] = b"Received: from x\r\n\
From: Dr A <a@example.org>\r\n\
To: p@example.net\r\n\
Bcc: hidden@example.org\r\n\
Subject: Lab results\r\n for you\r\n\
X-Chart: 12345\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain;\r\n\tcharset=utf-8\r\n\
\r\n\
Body line\r\n";

    #[test]
    fn inner_entity_keeps_content_and_protected_fields_and_drops_bcc_and_trace() {
        let message = Message::parse(MESSAGE).unwrap();
        let inner = String::from_utf8(message.inner_entity()).unwrap();
        assert_eq!(
            inner,
            "From: Dr A <a@example.org>\r\n\
To: p@example.net\r\n\
Subject: Lab results\r\n for you\r\n\
X-Chart: 12345\r\n\
Content-Type: text/plain;\r\n\tcharset=utf-8;\r\n protected-headers=\"v1\"\r\n\
\r\n\
Body line\r\n"
        );
    }

    #[test]
    fn outer_message_keeps_routing_fields_only() {
        let message = Message::parse(MESSAGE).unwrap();
        let outer = String::from_utf8(message.outer_message("B", "-----BEGIN PGP MESSAGE-----\nx\n")).unwrap();
        let header = outer.split("\r\n\r\n").next().unwrap();
        assert_eq!(
            header,
            "From: Dr A <a@example.org>\r\n\
To: p@example.net\r\n\
MIME-Version: 1.0\r\n\
Subject: ...\r\n\
Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";\r\n boundary=\"B\""
        );
        for secret in ["Lab results", "X-Chart", "hidden@", "Received", "Body line"] {
            assert!(!outer.contains(secret), "{secret} leaked");
        }
        assert!(outer.ends_with("-----BEGIN PGP MESSAGE-----\r\nx\r\n\r\n--B--\r\n"));
    }

    #[test]
    fn missing_content_type_gets_the_default_with_the_parameter() {
        let message = Message::parse(b"Subject: s\r\n\r\nhi\r\n").unwrap();
        assert_eq!(
            message.inner_entity(),
            b"Subject: s\r\nContent-Type: text/plain; charset=us-ascii;\r\n protected-headers=\"v1\"\r\n\r\nhi\r\n"
        );
    }

    #[test]
    fn bare_line_endings_and_bad_headers_are_refused() {
        for bad in [
            &b"Subject: s\n\r\nbody"[..],
            b"Subject: s\r\n\r\nbo\rdy",
            b"Subject: s\r\n\r\nbody\n",
            b" folded first\r\n\r\nbody",
            b"no colon here\r\n\r\nbody",
            b"Subject: no end",
        ] {
            assert!(
                matches!(Message::parse(bad), Err(Error::MalformedMessage(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
