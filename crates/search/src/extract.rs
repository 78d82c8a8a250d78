//! What the index reads from a raw RFC 5322 message.
//!
//! Read: From/To/Cc (addresses and display names), Subject, Date, the text
//! body parts (HTML with tags stripped), text attachments (`text/*`, and any
//! attachment named `*.txt` or `*.csv`) and the text of attached messages,
//! and every attachment's file name. At most [`MAX_TEXT_BYTES`] of body text
//! is kept. Broken MIME never fails: whatever mail-parser recovers is used.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use mail_parser::{Address, Message, MessageParser, MimeHeaders, PartType};

use crate::IndexDoc;

/// Body text kept per message (UTF-8 bytes); the rest is not indexed.
pub const MAX_TEXT_BYTES: usize = 4 << 20;

/// Attached messages nested deeper than this are not read.
const MAX_DEPTH: usize = 8;

/// The searchable text of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Sender mailboxes as `Name <address>`, `address` or `Name`.
    pub from: Vec<String>,
    /// To mailboxes, as `from`.
    pub to: Vec<String>,
    /// Cc mailboxes, as `from`.
    pub cc: Vec<String>,
    /// The decoded Subject, empty when absent.
    pub subject: String,
    /// The Date header as unix microseconds, when present and parseable.
    pub date: Option<i64>,
    /// Text parts, text attachments and attached messages, joined by blank lines.
    pub body: String,
    /// Attachment file names.
    pub filenames: Vec<String>,
    /// True when a part is an attachment (a file name, `Content-Disposition:
    /// attachment`, or an attached message).
    pub has_attachment: bool,
    /// True when the body text was cut at [`MAX_TEXT_BYTES`].
    pub truncated: bool,
}

impl Extracted {
    /// The index document for this message: `date` is the time the archive
    /// sorts by (acceptance time; the Date header is the sender's claim),
    /// the rest comes from the pipeline (category, PHI kinds, patients).
    pub fn into_doc(self, id: String, date: i64, category: &str, phi: Vec<String>, patients: Vec<String>) -> IndexDoc {
        IndexDoc {
            id,
            date,
            from: self.from,
            to: self.to,
            cc: self.cc,
            subject: self.subject,
            body: self.body,
            filenames: self.filenames,
            has_attachment: self.has_attachment,
            category: category.to_owned(),
            phi,
            patients,
        }
    }
}

/// Extracts the searchable text of `raw`. Never panics; bytes that are not a
/// message give an (almost) empty result.
pub fn extract(raw: &[u8]) -> Extracted {
    let parser = MessageParser::new();
    // mail-parser promises not to panic; if it ever does on hostile input,
    // index nothing rather than take the indexer down.
    catch_unwind(AssertUnwindSafe(|| {
        let mut out = Extracted::default();
        if let Some(message) = parser.parse(raw) {
            headers(&message, &mut out);
            let mut text = Text { body: String::new(), left: MAX_TEXT_BYTES, truncated: false };
            parts(&message, &mut out, &mut text, 0);
            out.body = text.body;
            out.truncated = text.truncated;
        }
        out
    }))
    .unwrap_or_default()
}

fn headers(message: &Message<'_>, out: &mut Extracted) {
    out.from = mailboxes(message.from());
    out.to = mailboxes(message.to());
    out.cc = mailboxes(message.cc());
    out.subject = message.subject().unwrap_or_default().to_owned();
    out.date = message.date().and_then(|date| date.to_timestamp().checked_mul(1_000_000));
}

fn mailboxes(address: Option<&Address<'_>>) -> Vec<String> {
    let Some(address) = address else { return Vec::new() };
    address
        .iter()
        .filter_map(|addr| {
            let name = addr.name().map(str::trim).filter(|n| !n.is_empty());
            let address = addr.address().map(str::trim).filter(|a| !a.is_empty());
            match (name, address) {
                (Some(name), Some(address)) => Some(format!("{name} <{address}>")),
                (Some(name), None) => Some(name.to_owned()),
                (None, Some(address)) => Some(address.to_owned()),
                (None, None) => None,
            }
        })
        .collect()
}

/// Body text collected so far and the budget left.
struct Text {
    body: String,
    left: usize,
    truncated: bool,
}

impl Text {
    fn push(&mut self, text: &str) {
        if text.trim().is_empty() || self.left == 0 {
            self.truncated |= self.left == 0 && !text.trim().is_empty();
            return;
        }
        let cut = text.floor_char_boundary(self.left.min(text.len()));
        self.truncated |= cut < text.len();
        if !self.body.is_empty() {
            self.body.push_str("\n\n");
        }
        self.body.push_str(&text[..cut]);
        self.left = self.left.saturating_sub(cut + 2);
    }
}

fn parts(message: &Message<'_>, out: &mut Extracted, text: &mut Text, depth: usize) {
    let mut read = HashSet::new();
    for &id in &message.text_body {
        let Some(part) = message.parts.get(id as usize) else { continue };
        match &part.body {
            PartType::Text(body) => text.push(body),
            PartType::Html(html) => text.push(&html_to_text(html)),
            _ => continue,
        }
        read.insert(id);
    }
    for &id in &message.attachments {
        let Some(part) = message.parts.get(id as usize) else { continue };
        let name = part.attachment_name().map(str::trim).filter(|n| !n.is_empty());
        if let Some(name) = name {
            out.filenames.push(name.to_owned());
        }
        let nested = matches!(part.body, PartType::Message(_));
        if name.is_some() || nested || part.content_disposition().is_some_and(|d| d.is_attachment()) {
            out.has_attachment = true;
        }
        if read.contains(&id) {
            continue;
        }
        match &part.body {
            PartType::Text(body) => text.push(body),
            PartType::Html(html) => text.push(&html_to_text(html)),
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) if name.is_some_and(is_text_name) => {
                text.push(&String::from_utf8_lossy(bytes))
            }
            PartType::Message(inner) if depth < MAX_DEPTH => {
                // An attached message's headers are part of its text.
                let mut inner_out = Extracted::default();
                headers(inner, &mut inner_out);
                for line in inner_out.from.iter().chain(&inner_out.to).chain(&inner_out.cc) {
                    text.push(line);
                }
                text.push(&inner_out.subject);
                parts(inner, out, text, depth + 1);
            }
            _ => {}
        }
    }
}

/// Names of attachments read as text whatever their declared type.
fn is_text_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".txt") || lower.ends_with(".csv")
}

/// The words of an HTML document: tags become spaces, `<script>` and
/// `<style>` contents and comments are dropped, common entities decoded.
pub(crate) fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find(['<', '&']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix('&') {
            let (decoded, used) = entity(after);
            match decoded {
                Some(c) => out.push(c),
                None => out.push('&'),
            }
            rest = &after[used..];
            continue;
        }
        if let Some(comment) = tail.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            out.push(' ');
            continue;
        }
        let Some(end) = tail.find('>') else {
            // "a < b" with no tag after it: keep the text.
            out.push_str(tail);
            rest = "";
            break;
        };
        let tag = tail[1..end].trim_start_matches('/').to_ascii_lowercase();
        let name: String = tag.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        rest = &tail[end + 1..];
        if !tail[1..].starts_with('/') && (name == "script" || name == "style") {
            let close = format!("</{name}");
            rest = find_ignore_case(rest, &close).map_or("", |i| &rest[i..]);
        }
        out.push(' ');
    }
    out.push_str(rest);
    out
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack.as_bytes().windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Decodes the entity at the start of `s` (after the `&`): the character and
/// the bytes used, or `None` and 0 when it is not one.
fn entity(s: &str) -> (Option<char>, usize) {
    let Some(semi) = s.get(..s.len().min(12)).and_then(|head| head.find(';')) else { return (None, 0) };
    let name = &s[..semi];
    let c = match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => name.strip_prefix('#').and_then(|num| {
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse().ok(),
            };
            code.and_then(char::from_u32)
        }),
    };
    match c {
        Some(c) => (Some(c), semi + 1),
        None => (None, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_keeps_words_and_drops_markup() {
        let text = html_to_text(
            "<p>Dear&nbsp;Zo&#235;,</p><script>var x = 'secret';</script><style>p{}</style><!-- note -->results &amp; plan a < b",
        );
        assert!(text.contains("Dear Zoë,"), "{text}");
        assert!(text.contains("results & plan"));
        assert!(text.contains("a < b"));
        assert!(!text.contains("secret") && !text.contains("note") && !text.contains("p{}"));
    }
}
