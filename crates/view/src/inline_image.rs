//! Images the HTML body shows inline (`cid:` URLs).

use mail_parser::MessageParser;

use crate::attachments::by_content_id;

/// The types an inline image may be served as. Never SVG: it is a document
/// that can carry script.
const TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

pub(crate) fn is_inline_image_type(media_type: &str) -> bool {
    TYPES.contains(&media_type) || media_type == "image/jpg"
}

/// The content type and bytes of the part whose Content-ID is `content_id`
/// (without angle brackets), if it is a PNG, JPEG, GIF or WebP image.
///
/// Both the declared type and the bytes' signature must say so, and the
/// returned type is the one the bytes show: a part labelled `image/png` that
/// holds HTML or SVG is never served.
pub fn inline_image(raw: &[u8], content_id: &str) -> Option<(String, Vec<u8>)> {
    let message = MessageParser::default().parse(raw)?;
    let (declared, bytes) = by_content_id(&message, content_id)?;
    if !is_inline_image_type(&declared) {
        return None;
    }
    let sniffed = sniff(&bytes)?;
    Some((sniffed.to_owned(), bytes.into_owned()))
}

/// The image type that `bytes` start like, among [`TYPES`].
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_four_types_only() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"GIF89a.."), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), None);
        assert_eq!(sniff(b"<html>"), None);
    }
}
