//! [`Reply`]: an SMTP reply (RFC 5321 §4.2) with an optional enhanced status
//! code (RFC 3463, RFC 2034), and its wire form.

use std::fmt;

/// One SMTP reply, possibly multi-line.
///
/// The text is always written by this crate (or by the network layer through
/// [`crate::Session::message_result`]); it never echoes client input back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Three-digit reply code (`250`, `354`, `550`, ...).
    pub code: u16,
    /// Enhanced status code `class.subject.detail` (RFC 3463), written after
    /// the code on every line. `None` for the greeting, EHLO/HELO, `334` and `354`.
    pub enhanced: Option<(u8, u16, u16)>,
    /// Text lines. Empty is written as one line with no text (`334 `).
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply.
    pub fn new(code: u16, enhanced: Option<(u8, u16, u16)>, text: impl Into<String>) -> Self {
        Self { code, enhanced, lines: vec![text.into()] }
    }

    /// A multi-line reply; continuation lines are written with `code-`.
    pub fn multiline(code: u16, enhanced: Option<(u8, u16, u16)>, lines: Vec<String>) -> Self {
        Self { code, enhanced, lines }
    }

    /// `true` for 4xx and 5xx replies.
    pub fn is_error(&self) -> bool {
        self.code >= 400
    }

    /// The wire form: every line ends in CRLF, all but the last use `code-`.
    ///
    /// CR, LF and other control characters in the text are replaced by a
    /// space so a reply can never inject an extra line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let empty = [String::new()];
        let lines: &[String] = if self.lines.is_empty() { &empty } else { &self.lines };
        let mut out = Vec::with_capacity(lines.iter().map(|l| l.len() + 16).sum());
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            out.extend_from_slice(format!("{:03}{sep}", self.code).as_bytes());
            if let Some((c, s, d)) = self.enhanced {
                out.extend_from_slice(format!("{c}.{s}.{d}").as_bytes());
                if !line.is_empty() {
                    out.push(b' ');
                }
            }
            for ch in line.chars() {
                let ch = if ch.is_control() { ' ' } else { ch };
                let mut tmp = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
        out
    }
}

impl fmt::Display for Reply {
    /// The wire form without the final CRLF, lines joined by `\n` (for logs and tests).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        f.write_str(text.trim_end_matches("\r\n").replace("\r\n", "\n").as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_with_enhanced_code() {
        let r = Reply::new(250, Some((2, 1, 0)), "Ok");
        assert_eq!(r.to_bytes(), b"250 2.1.0 Ok\r\n");
        assert!(!r.is_error());
    }

    #[test]
    fn multiline_uses_dash_on_all_but_last() {
        let r = Reply::multiline(250, None, vec!["mx.example".into(), "PIPELINING".into(), "DSN".into()]);
        assert_eq!(r.to_bytes(), b"250-mx.example\r\n250-PIPELINING\r\n250 DSN\r\n");
    }

    #[test]
    fn multiline_repeats_enhanced_code_on_every_line() {
        let r = Reply::multiline(214, Some((2, 0, 0)), vec!["a".into(), "b".into()]);
        assert_eq!(r.to_bytes(), b"214-2.0.0 a\r\n214 2.0.0 b\r\n");
    }

    #[test]
    fn empty_text_keeps_the_space() {
        assert_eq!(Reply::new(334, None, "").to_bytes(), b"334 \r\n");
        assert_eq!(Reply::multiline(334, None, vec![]).to_bytes(), b"334 \r\n");
        assert_eq!(Reply::new(250, Some((2, 0, 0)), "").to_bytes(), b"250 2.0.0\r\n");
    }

    #[test]
    fn control_characters_cannot_inject_lines() {
        let r = Reply::new(250, Some((2, 0, 0)), "Ok: queued as x\r\n250 evil");
        assert_eq!(r.to_bytes(), b"250 2.0.0 Ok: queued as x  250 evil\r\n");
        assert!(Reply::new(554, None, "x").is_error());
        assert_eq!(r.to_string(), "250 2.0.0 Ok: queued as x  250 evil");
    }
}
