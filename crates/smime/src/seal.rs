use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::cert::RecipientCert;
use crate::envelope::{Strength, envelop};
use crate::error::{Error, Result};
use crate::message::{Field, parse};

/// Header fields that stay on the outside: what transport and threading need. Everything
/// else (Subject first of all) travels only inside the encryption.
const OUTER_FIELDS: [&str; 8] = ["From", "To", "Cc", "Date", "Message-ID", "Reply-To", "In-Reply-To", "References"];

/// RFC 2045 §6.8: encoded lines are at most 76 characters.
const BASE64_LINE: usize = 76;

/// Encrypts a complete CRLF RFC 5322 message to every certificate and returns the S/MIME
/// message to send (CRLF only).
///
/// Every certificate is checked with [`RecipientCert::usable_for_encryption`] at the current
/// time first; the first unusable one fails the call with [`Error::Unusable`]. Duplicate
/// certificates (same fingerprint) get one RecipientInfo.
pub fn encrypt_mime(message: &[u8], certs: &[RecipientCert], strength: Strength) -> Result<Vec<u8>> {
    if certs.is_empty() {
        return Err(Error::NoRecipients);
    }
    let now = SystemTime::now();
    let mut recipients: Vec<&RecipientCert> = Vec::with_capacity(certs.len());
    for cert in certs {
        cert.usable_for_encryption(now)
            .map_err(|reason| Error::Unusable { fingerprint: cert.fingerprint_sha256(), reason })?;
        if !recipients.iter().any(|r| r.fingerprint_sha256() == cert.fingerprint_sha256()) {
            recipients.push(cert);
        }
    }

    let parsed = parse(message)?;
    let inner = inner_entity(&parsed.fields, parsed.body);
    let x509s: Vec<_> = recipients.iter().map(|r| r.x509()).collect();
    let der = envelop(&inner, &x509s, strength)?;
    Ok(outer_message(&parsed.fields, &der, strength))
}

/// The entity that gets encrypted: every original header field except MIME-Version (so the
/// real Subject, From, To, Date are there as protected headers), then the original body.
fn inner_entity(fields: &[Field<'_>], body: &[u8]) -> Vec<u8> {
    const MARK: &[u8] = b"; protected-headers=\"v1\"";
    let mut out = Vec::with_capacity(body.len() + 1024);
    let mut has_content_type = false;
    for field in fields {
        if field.is("MIME-Version") {
            continue;
        }
        if field.is("Content-Type") && !has_content_type {
            has_content_type = true;
            let value = &field.raw[..field.raw.len() - 2];
            out.extend_from_slice(value);
            // Marks the header fields in this entity as the message's real ones (the
            // convention Thunderbird and other protected-headers readers follow).
            if !contains_ignore_case(value, b"protected-headers") {
                out.extend_from_slice(MARK);
            }
            out.extend_from_slice(b"\r\n");
            continue;
        }
        out.extend_from_slice(field.raw);
    }
    if !has_content_type {
        out.extend_from_slice(b"Content-Type: text/plain; charset=us-ascii");
        out.extend_from_slice(MARK);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

fn outer_message(fields: &[Field<'_>], der: &[u8], strength: Strength) -> Vec<u8> {
    let encoded = STANDARD.encode(der);
    let mut out = Vec::with_capacity(encoded.len() + encoded.len() / BASE64_LINE * 2 + 1024);
    for field in fields.iter().filter(|f| OUTER_FIELDS.iter().any(|name| f.is(name))) {
        out.extend_from_slice(field.raw);
    }
    out.extend_from_slice(b"Subject: ...\r\nMIME-Version: 1.0\r\n");
    out.extend_from_slice(
        format!("Content-Type: application/pkcs7-mime; smime-type={}; name=\"smime.p7m\"\r\n", strength.smime_type())
            .as_bytes(),
    );
    out.extend_from_slice(b"Content-Disposition: attachment; filename=\"smime.p7m\"\r\n");
    out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
    for line in encoded.as_bytes().chunks(BASE64_LINE) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_keeps_headers_and_marks_content_type() {
        let m = parse(
            b"From: a@x\r\nMIME-Version: 1.0\r\nSubject: S\r\nContent-Type: text/plain;\r\n charset=utf-8\r\n\r\nB\r\n",
        )
        .unwrap();
        let inner = inner_entity(&m.fields, m.body);
        assert_eq!(
            inner,
            b"From: a@x\r\nSubject: S\r\nContent-Type: text/plain;\r\n charset=utf-8; protected-headers=\"v1\"\r\n\r\nB\r\n"
        );
    }

    #[test]
    fn inner_gets_a_content_type_when_there_was_none() {
        let m = parse(b"From: a@x\r\n\r\nB\r\n").unwrap();
        let inner = inner_entity(&m.fields, m.body);
        assert_eq!(
            inner,
            b"From: a@x\r\nContent-Type: text/plain; charset=us-ascii; protected-headers=\"v1\"\r\n\r\nB\r\n"
        );
    }

    #[test]
    fn outer_keeps_routing_fields_only() {
        let m = parse(
            b"Received: from x\r\nFrom: a@x\r\nSubject: secret\r\nTo: b@y\r\nX-Diagnosis: secret\r\nMessage-ID: <1@x>\r\n\r\nB\r\n",
        )
        .unwrap();
        let outer = String::from_utf8(outer_message(&m.fields, &[0u8; 100], Strength::Modern)).unwrap();
        assert!(
            outer.starts_with("From: a@x\r\nTo: b@y\r\nMessage-ID: <1@x>\r\nSubject: ...\r\nMIME-Version: 1.0\r\n")
        );
        assert!(outer.contains("smime-type=authEnveloped-data;"));
        assert!(!outer.contains("secret") && !outer.contains("Received"));
        let body = outer.split("\r\n\r\n").nth(1).unwrap();
        assert!(body.split("\r\n").all(|l| l.len() <= BASE64_LINE));
        assert_eq!(body.split("\r\n").next().unwrap().len(), BASE64_LINE);
    }
}
