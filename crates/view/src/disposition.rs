//! `Content-Disposition` response headers for downloads (RFC 6266, RFC 8187).

use std::fmt::Write as _;

/// How the browser should treat a served part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Save it: the default for every attachment.
    Attachment,
    /// Show it in the page: only for the inline images of
    /// [`inline_image`](crate::inline_image).
    Inline,
}

/// A `Content-Disposition` header value for `filename`:
/// `attachment; filename="ascii fallback"; filename*=UTF-8''percent-encoded`.
///
/// Control characters are removed from `filename` first. The quoted
/// fallback is for clients without RFC 8187: every quote, backslash,
/// control character, non-ASCII character and `%` (some browsers
/// percent-decode the plain `filename`) becomes `_`. The value is always
/// ASCII, so it can be put in a header as is.
///
/// ```
/// use sealpost_view::{Disposition, content_disposition};
///
/// assert_eq!(
///     content_disposition(Disposition::Attachment, "Befund März.pdf"),
///     "attachment; filename=\"Befund M_rz.pdf\"; filename*=UTF-8''Befund%20M%C3%A4rz.pdf"
/// );
/// ```
pub fn content_disposition(disposition: Disposition, filename: &str) -> String {
    let kind = match disposition {
        Disposition::Attachment => "attachment",
        Disposition::Inline => "inline",
    };
    let name: String = filename.chars().filter(|c| !c.is_control()).collect();
    let fallback: String =
        name.chars().map(|c| if c.is_ascii() && !matches!(c, '"' | '\\' | '%') { c } else { '_' }).collect();
    let mut value = format!("{kind}; filename=\"{fallback}\"; filename*=UTF-8''");
    for byte in name.bytes() {
        if is_attr_char(byte) {
            value.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(value, "%{byte:02X}");
        }
    }
    value
}

/// RFC 8187 `attr-char`: what may stand unencoded in an extended value.
fn is_attr_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(byte, b'!' | b'#' | b'$' | b'&' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ascii_name_is_kept() {
        assert_eq!(
            content_disposition(Disposition::Inline, "scan.png"),
            "inline; filename=\"scan.png\"; filename*=UTF-8''scan.png"
        );
    }

    #[test]
    fn quotes_backslashes_and_controls_cannot_break_the_header() {
        let value = content_disposition(Disposition::Attachment, "a\"b\\c\r\nSet-Cookie: x%.txt");
        assert_eq!(
            value,
            "attachment; filename=\"a_b_cSet-Cookie: x_.txt\"; filename*=UTF-8''a%22b%5CcSet-Cookie%3A%20x%25.txt"
        );
        assert!(!value.contains('\r') && !value.contains('\n'));
    }
}
