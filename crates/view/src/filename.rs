//! The name an attachment is saved under.

use crate::content_type;

/// Longest name we hand out, in characters; file systems stop at 255 bytes.
const MAX_CHARS: usize = 120;

/// A safe file name from the name the sender gave (already decoded from
/// RFC 2231 / RFC 2047 by the MIME parser), or `attachment-N[.ext]`.
///
/// Only the last path component is kept (`/` and `\` both separate), control
/// and bidirectional-formatting characters are removed (a right-to-left
/// override makes `gpj.exe` read as `exe.jpg`), surrounding spaces and dots
/// are trimmed, and a very long name is shortened keeping its extension.
pub(crate) fn filename(given: Option<&str>, number: usize, media_type: &str) -> String {
    let cleaned = given.map(clean).unwrap_or_default();
    if cleaned.is_empty() {
        match content_type::extension(media_type) {
            Some(ext) => format!("attachment-{number}.{ext}"),
            None => format!("attachment-{number}"),
        }
    } else {
        cleaned
    }
}

fn clean(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let kept: String = last.chars().filter(|&c| !c.is_control() && !is_bidi_control(c)).collect();
    let trimmed = kept.trim_matches(|c: char| c.is_whitespace() || c == '.');
    shorten(trimmed)
}

/// Unicode bidi embeddings, overrides, isolates and marks.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn shorten(name: &str) -> String {
    if name.chars().count() <= MAX_CHARS {
        return name.to_owned();
    }
    let ext = name.rsplit_once('.').map(|(_, ext)| ext).filter(|ext| ext.chars().count() <= 10);
    match ext {
        Some(ext) => {
            let stem: String = name.chars().take(MAX_CHARS - ext.chars().count() - 1).collect();
            format!("{stem}.{ext}")
        }
        None => name.chars().take(MAX_CHARS).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parts_are_dropped() {
        assert_eq!(filename(Some("../../etc/passwd"), 1, "text/plain"), "passwd");
        assert_eq!(filename(Some("C:\\Users\\x\\lab.pdf"), 1, "application/pdf"), "lab.pdf");
    }

    #[test]
    fn controls_and_bidi_overrides_are_dropped() {
        assert_eq!(filename(Some("inv\u{202E}gpj.exe"), 1, "image/jpeg"), "invgpj.exe");
        assert_eq!(filename(Some("a\r\nb\0.txt"), 1, "text/plain"), "ab.txt");
    }

    #[test]
    fn empty_or_dot_names_fall_back() {
        assert_eq!(filename(None, 3, "application/pdf"), "attachment-3.pdf");
        assert_eq!(filename(Some(".."), 2, "application/x-unknown"), "attachment-2");
        assert_eq!(filename(Some("dir/"), 1, "image/png"), "attachment-1.png");
    }

    #[test]
    fn long_names_keep_their_extension() {
        let long = format!("{}.pdf", "x".repeat(500));
        let short = filename(Some(&long), 1, "application/pdf");
        assert_eq!(short.chars().count(), MAX_CHARS);
        assert!(short.ends_with(".pdf"));
    }
}
