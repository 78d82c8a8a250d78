//! A whole message as the portal shows it.

use std::collections::HashSet;

use mail_parser::{Message, MessageParser, PartType};

use crate::ViewError;
use crate::attachments::{self, AttachmentInfo};
use crate::headers::{self, Mailbox};
use crate::sanitize::sanitize;

/// What the reader of a message sees. Holds PHI: never log it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageView {
    /// The Subject (RFC 2047 decoded).
    pub subject: Option<String>,
    /// From.
    pub from: Vec<Mailbox>,
    /// To.
    pub to: Vec<Mailbox>,
    /// Cc.
    pub cc: Vec<Mailbox>,
    /// Reply-To.
    pub reply_to: Vec<Mailbox>,
    /// The Date header in Unix seconds, when it is a valid date.
    pub date: Option<i64>,
    /// The Message-ID, without angle brackets.
    pub message_id: Option<String>,
    /// Message ids of References, then those of In-Reply-To not already
    /// there, without angle brackets: for threading.
    pub references: Vec<String>,
    /// The text/plain body, decoded to UTF-8 (several inline text parts are
    /// joined with a blank line).
    pub text: Option<String>,
    /// The text/html body, already sanitised by [`sanitize_html`](crate::sanitize_html).
    pub html: Option<String>,
    /// Attachment and inline parts, in MIME tree order.
    pub attachments: Vec<AttachmentInfo>,
}

/// Turns the raw bytes of a stored message into what its reader sees.
///
/// `cid_url` turns a content id into the portal URL that serves that inline
/// image (through [`inline_image`](crate::inline_image)); it is called once
/// per content id the HTML body shows. Its result is trusted as given: it
/// must be a URL of the portal's own origin, with the content id
/// percent-encoded (a content id is sender-chosen text).
pub fn view(raw: &[u8], cid_url: &dyn Fn(&str) -> String) -> Result<MessageView, ViewError> {
    let message = MessageParser::default().parse(raw).ok_or(ViewError::NotAMessage { len: raw.len() })?;
    let text = bodies(&message, &message.text_body, false);
    let sanitized = bodies(&message, &message.html_body, true).map(|html| sanitize(&html, cid_url));
    let shown: HashSet<&str> = sanitized.iter().flat_map(|s| &s.content_ids).map(String::as_str).collect();
    let attachments = attachments::list(&message, &shown);
    Ok(MessageView {
        subject: message.subject().map(str::to_owned),
        from: headers::mailboxes(message.from()),
        to: headers::mailboxes(message.to()),
        cc: headers::mailboxes(message.cc()),
        reply_to: headers::mailboxes(message.reply_to()),
        date: headers::date(&message),
        message_id: message.message_id().map(str::to_owned),
        references: headers::references(&message),
        text,
        html: sanitized.map(|s| s.html),
        attachments,
    })
}

/// The text (or HTML) body parts joined. The parser lists an HTML part as a
/// text body when there is no text part (and the other way round) and
/// converts it; only parts that really are of the asked type count here.
fn bodies(message: &Message<'_>, ids: &[u32], html: bool) -> Option<String> {
    let parts: Vec<&str> = ids
        .iter()
        .filter_map(|&id| message.part(id))
        .filter_map(|part| match (&part.body, html) {
            (PartType::Text(text), false) | (PartType::Html(text), true) => Some(text.as_ref()),
            _ => None,
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(if html { "\n" } else { "\n\n" }))
}
