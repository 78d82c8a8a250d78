//! A part's media type as a safe `type/subtype` string, and the file
//! extension that goes with it.

use mail_parser::ContentType;

/// The fallback for a missing or malformed type.
pub(crate) const OCTET_STREAM: &str = "application/octet-stream";

/// The lower-cased `type/subtype` of `content_type`, or `default` when it is
/// missing or is not two RFC 2045 tokens. The result goes into
/// `Content-Type` response headers, so nothing but token characters gets
/// through.
pub(crate) fn media_type(content_type: Option<&ContentType<'_>>, default: &str) -> String {
    let Some(ct) = content_type else { return default.to_owned() };
    let main = ct.ctype();
    let sub = match ct.subtype() {
        Some(sub) => sub,
        // A bare "text" is what RFC 2045 defaults to anyway.
        None if main.eq_ignore_ascii_case("text") => "plain",
        None => return default.to_owned(),
    };
    if is_token(main) && is_token(sub) {
        format!("{}/{}", main.to_ascii_lowercase(), sub.to_ascii_lowercase())
    } else {
        default.to_owned()
    }
}

/// RFC 2045 token: printable ASCII except space and tspecials.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= 127 && s.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
}

/// The usual file extension for a media type, when there is one.
pub(crate) fn extension(media_type: &str) -> Option<&'static str> {
    Some(match media_type {
        "text/plain" => "txt",
        "text/html" => "html",
        "text/csv" => "csv",
        "text/calendar" => "ics",
        "text/xml" | "application/xml" => "xml",
        "application/json" => "json",
        "application/pdf" => "pdf",
        "application/zip" => "zip",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "application/dicom" => "dcm",
        "application/pkcs7-signature" | "application/x-pkcs7-signature" => "p7s",
        "application/pgp-signature" => "asc",
        "message/rfc822" => "eml",
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/tiff" => "tif",
        "image/bmp" => "bmp",
        "image/svg+xml" => "svg",
        "audio/mpeg" => "mp3",
        "video/mp4" => "mp4",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_only() {
        assert!(is_token("vnd.ms-excel"));
        assert!(!is_token("png\r\nX-Injected"));
        assert!(!is_token("a b"));
        assert!(!is_token(""));
    }
}
