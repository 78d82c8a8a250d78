//! Classification at intake: the category (R-CL-2) from the
//! `X-Sealpost-Category` header when the intake path has no API field (then
//! the tenant's category rules, then transactional), and the per-message
//! policy (R-DL-2) from `X-Sealpost-Policy`. PHI detection (R-CL-1) runs at
//! delivery, where the method is decided.

use sealpost_model::Category;

use crate::config::PolicyMode;

/// The header named a category that does not exist.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown X-Sealpost-Category; expected transactional or marketing")]
pub struct CategoryError;

/// The policy header named a mode that does not exist.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown X-Sealpost-Policy; expected tls-preferred, tls-exclusive, portal-always or encrypt-always")]
pub struct PolicyHeaderError;

/// The unfolded value of the first header `name` in the header section of
/// `raw` (which intake already checked).
pub fn header_value(raw: &[u8], name: &str) -> Option<String> {
    // The header section ends at the first empty line, CRLF or bare LF
    // (imported mail often has LF endings): body lines are never headers.
    let mut lines =
        raw.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).take_while(|l| !l.is_empty()).peekable();
    while let Some(line) = lines.next() {
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        if !line[..colon].eq_ignore_ascii_case(name.as_bytes()) {
            continue;
        }
        let mut value = String::from_utf8_lossy(&line[colon + 1..]).into_owned();
        while let Some(next) = lines.peek() {
            if next.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                value.push_str(&String::from_utf8_lossy(next));
                lines.next();
            } else {
                break;
            }
        }
        return Some(value.trim().to_owned());
    }
    None
}

/// Reads `X-Sealpost-Category` from the header section of `raw`; `None`
/// when absent (the tenant's rules or the default apply).
pub fn category_from_headers(raw: &[u8]) -> Result<Option<Category>, CategoryError> {
    header_value(raw, "x-sealpost-category")
        .map(|v| Category::parse(v.to_ascii_lowercase().as_str()).map_err(|_| CategoryError))
        .transpose()
}

/// The message's `Date` header as unix micros, if present and parseable.
pub fn date_from_headers(raw: &[u8]) -> Option<i64> {
    let value = header_value(raw, "date")?;
    let date = mail_parser::DateTime::parse_rfc822(&value)?;
    date.is_valid().then(|| date.to_timestamp().saturating_mul(1_000_000))
}

/// Reads `X-Sealpost-Policy` (R-DL-2, per message) from the header section.
pub fn policy_from_headers(raw: &[u8]) -> Result<Option<PolicyMode>, PolicyHeaderError> {
    header_value(raw, "x-sealpost-policy").map(|v| PolicyMode::parse(&v).ok_or(PolicyHeaderError)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_header_is_read_case_insensitively_and_validated() {
        let m = b"From: a@b.c\r\nX-Sealpost-Category: Marketing\r\n\r\nbody\r\n";
        assert_eq!(category_from_headers(m), Ok(Some(Category::Marketing)));
        let m = b"From: a@b.c\r\n\r\nX-Sealpost-Category: marketing\r\n";
        assert_eq!(category_from_headers(m), Ok(None), "body lines are not headers");
        let m = b"From: a@b.c\r\nx-sealpost-category: promo\r\n\r\n";
        assert_eq!(category_from_headers(m), Err(CategoryError));
        // LF-only mail (imports): the first empty line ends the headers too.
        let m = b"From: a@b.c\nSubject: x\n\nX-Sealpost-Category: marketing\n";
        assert_eq!(category_from_headers(m), Ok(None), "a body line of an LF message is not a header");
        let m = b"From: a@b.c\nX-Sealpost-Category: marketing\n\nbody\n";
        assert_eq!(category_from_headers(m), Ok(Some(Category::Marketing)));
    }

    #[test]
    fn date_header_is_read_as_micros() {
        let m = b"From: a@b.c\r\nDate: Mon, 23 Nov 2026 06:00:00 +0000\r\n\r\nx\r\n";
        assert_eq!(date_from_headers(m), Some(1_795_413_600_000_000));
        assert_eq!(date_from_headers(b"Date: yesterday\r\n\r\n"), None);
        assert_eq!(date_from_headers(b"From: a@b.c\r\n\r\n"), None);
    }

    #[test]
    fn policy_header_is_read_folded_and_validated() {
        let m = b"From: a@b.c\r\nX-Sealpost-Policy:\r\n  TLS-Exclusive\r\n\r\nbody\r\n";
        assert_eq!(policy_from_headers(m), Ok(Some(PolicyMode::TlsExclusive)));
        assert_eq!(policy_from_headers(b"From: a@b.c\r\n\r\n"), Ok(None));
        assert_eq!(policy_from_headers(b"X-Sealpost-Policy: plaintext\r\n\r\n"), Err(PolicyHeaderError));
    }
}
