//! Builds the RFC 5322 message for a JSON submission (mail-builder), with
//! a Message-ID on the installation's host name. Bcc stays in the envelope.

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use sealpost_model::MessageId;

use super::request::{Named, ValidMessage};

fn address(n: &Named) -> Address<'static> {
    match &n.name {
        Some(name) => Address::new_address(Some(name.clone()), n.address.as_str().to_owned()),
        None => Address::new_address(None::<String>, n.address.as_str().to_owned()),
    }
}

fn list(items: &[Named]) -> Address<'static> {
    Address::new_list(items.iter().map(address).collect())
}

/// The message's bytes.
pub fn build(m: &ValidMessage, hostname: &str) -> std::io::Result<Vec<u8>> {
    let mut b = MessageBuilder::new()
        .from(address(&m.from))
        .message_id(format!("{}@{hostname}", MessageId::new()))
        .date(mail_builder::headers::date::Date::now());
    if !m.to.is_empty() {
        b = b.to(list(&m.to));
    }
    if !m.cc.is_empty() {
        b = b.cc(list(&m.cc));
    }
    if let Some(r) = &m.reply_to {
        b = b.reply_to(address(r));
    }
    if let Some(s) = &m.subject {
        b = b.subject(s.clone());
    }
    if let Some(t) = &m.text {
        b = b.text_body(t.clone());
    }
    if let Some(h) = &m.html {
        b = b.html_body(h.clone());
    }
    for a in &m.attachments {
        b = b.attachment(a.content_type.clone(), a.filename.clone(), a.content.clone());
    }
    b.write_to_vec()
}
