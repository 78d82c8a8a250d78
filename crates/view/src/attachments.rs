//! The attachment and inline parts of a message, and their decoded bytes.

use std::borrow::Cow;
use std::collections::HashSet;

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Encoding, Message, MessageParser, MessagePart, MimeHeaders, PartType};

use crate::content_type::{self, OCTET_STREAM};
use crate::filename::filename;
use crate::inline_image::is_inline_image_type;

/// One attachment or inline part of a message, as the portal lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentInfo {
    /// Position among the message's attachment and inline parts (in MIME
    /// tree order); the same bytes always give the same index, so it can go
    /// in a URL.
    pub index: usize,
    /// Never empty: the sender's name (RFC 2231 / RFC 2047 decoded) without
    /// path parts, control or bidi characters, else `attachment-N` (N =
    /// index + 1) with the extension of its content type when known.
    pub filename: String,
    /// Lower-cased `type/subtype`, token characters only
    /// (`application/octet-stream` when missing or malformed).
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: usize,
    /// The Content-ID, without angle brackets.
    pub content_id: Option<String>,
    /// An image (PNG, JPEG, GIF or WebP) that the HTML body shows through a
    /// `cid:` URL; the portal may leave it out of the attachment list.
    pub inline: bool,
}

/// The attachment at `index` (see [`AttachmentInfo::index`]) and its bytes
/// exactly as the sender's file was (transfer encoding undone, no charset
/// conversion), or `None` when the bytes are no message or have no such
/// part. `inline` is always `false` here: it depends on the HTML body,
/// which this does not read.
pub fn attachment(raw: &[u8], index: usize) -> Option<(AttachmentInfo, Vec<u8>)> {
    let message = MessageParser::default().parse(raw)?;
    let part = message.attachment(u32::try_from(index).ok()?)?;
    let bytes = decoded(&message, part);
    Some((info(index, part, &bytes, &HashSet::new()), bytes.into_owned()))
}

/// Every attachment and inline part of `message`; `shown` holds the content
/// ids the HTML body's images refer to.
pub(crate) fn list(message: &Message<'_>, shown: &HashSet<&str>) -> Vec<AttachmentInfo> {
    // By position, as `attachment` looks them up: an index is the same
    // number in both.
    (0..message.attachment_count())
        .filter_map(|index| Some((index, message.attachment(u32::try_from(index).ok()?)?)))
        .map(|(index, part)| info(index, part, &decoded(message, part), shown))
        .collect()
}

/// The part whose Content-ID is `content_id` (exactly, else ignoring ASCII
/// case), with its bytes.
pub(crate) fn by_content_id<'m>(message: &'m Message<'m>, content_id: &str) -> Option<(String, Cow<'m, [u8]>)> {
    let part = message.attachments().find(|part| id_of(part) == Some(content_id)).or_else(|| {
        message.attachments().find(|part| id_of(part).is_some_and(|id| id.eq_ignore_ascii_case(content_id)))
    })?;
    Some((media_type(part), decoded(message, part)))
}

fn info(index: usize, part: &MessagePart<'_>, bytes: &[u8], shown: &HashSet<&str>) -> AttachmentInfo {
    let content_type = media_type(part);
    let content_id = part.content_id().map(bare_id).filter(|id| !id.is_empty());
    let inline = is_inline_image_type(&content_type) && content_id.is_some_and(|id| shown.contains(id));
    AttachmentInfo {
        index,
        filename: filename(part.attachment_name(), index + 1, &content_type),
        content_type,
        size: bytes.len(),
        content_id: content_id.map(str::to_owned),
        inline,
    }
}

fn media_type(part: &MessagePart<'_>) -> String {
    let default = if part.is_message() { "message/rfc822" } else { OCTET_STREAM };
    content_type::media_type(part.content_type(), default)
}

fn id_of<'p>(part: &'p MessagePart<'_>) -> Option<&'p str> {
    part.content_id().map(bare_id)
}

fn bare_id(id: &str) -> &str {
    id.trim().trim_start_matches('<').trim_end_matches('>')
}

/// The part's bytes with the transfer encoding undone. The parser converts
/// text parts to UTF-8; an attachment must come out as the sender's file
/// was, so text parts are decoded again from the raw bytes.
fn decoded<'m>(message: &'m Message<'m>, part: &'m MessagePart<'m>) -> Cow<'m, [u8]> {
    match &part.body {
        PartType::Text(_) | PartType::Html(_) => match original(message.raw_message(), part) {
            Some(bytes) => Cow::Owned(bytes),
            None => Cow::Borrowed(part.contents()),
        },
        _ => Cow::Borrowed(part.contents()),
    }
}

fn original(raw: &[u8], part: &MessagePart<'_>) -> Option<Vec<u8>> {
    let start = usize::try_from(part.offset_body).ok()?;
    let end = usize::try_from(part.offset_end).ok()?;
    let body = raw.get(start..end)?;
    match part.encoding {
        Encoding::Base64 => base64_decode(body),
        Encoding::QuotedPrintable => quoted_printable_decode(body),
        Encoding::None => Some(body.to_vec()),
    }
}
