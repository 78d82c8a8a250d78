//! Replies (R-PT-3): a new message from the verified address, threaded
//! with In-Reply-To and References, archived (source `portal`) and
//! delivered by the normal adaptive pipeline. Reply goes to the original's
//! Reply-To or From; reply all adds its To and Cc, less the recipient.
//!
//! The header `From:` is the recipient's verified address; the envelope
//! sender is the installation's notice address, so bounces reach Sealpost
//! and SPF is checked against Sealpost's own sending hosts.

use mail_parser::{Address, HeaderValue, MessageParser};
use sealpost_audit::{Action, DetailValue, Outcome};
use sealpost_core::pipeline::{EnvelopeMeta, RcptKind, RcptMeta, Submission};
use sealpost_model::{Category, EmailAddress, MessageId, RecipientId};
use sealpost_store::{Commit, Source};

use crate::{Current, Portal, PortalError, recipient_event};

/// What the recipient wrote.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// Reply to all (To and Cc of the original, less the recipient).
    pub all: bool,
    /// The text.
    pub body: String,
    /// Files.
    pub attachments: Vec<DraftAttachment>,
}

/// A file attached to a reply.
#[derive(Debug, Clone)]
pub struct DraftAttachment {
    /// The file name the browser gave.
    pub filename: String,
    /// Its content type (checked: `type/subtype`, else octet-stream).
    pub content_type: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The headers a reply and the inbox need, from the original message.
#[derive(Debug, Clone, Default)]
pub(crate) struct Headers {
    pub subject: String,
    pub from: Vec<(Option<String>, String)>,
    pub reply_to: Vec<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub message_id: Option<String>,
    pub references: Vec<String>,
}

fn addresses(a: Option<&Address>) -> Vec<(Option<String>, String)> {
    let Some(a) = a else { return Vec::new() };
    a.iter()
        .filter_map(|m| m.address.as_ref().map(|x| (m.name.as_ref().map(|n| n.to_string()), x.to_string())))
        .collect()
}

impl Headers {
    pub(crate) fn of(raw: &[u8]) -> Headers {
        let Some(m) = MessageParser::default().parse_headers(raw) else { return Headers::default() };
        let ids = |v: &HeaderValue| -> Vec<String> {
            match v {
                HeaderValue::Text(t) => vec![t.to_string()],
                HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
                _ => Vec::new(),
            }
        };
        let mut references = ids(m.references());
        for id in ids(m.in_reply_to()) {
            if !references.contains(&id) {
                references.push(id);
            }
        }
        let plain = |a: Option<&Address>| addresses(a).into_iter().map(|(_, x)| x).collect::<Vec<_>>();
        Headers {
            subject: m.subject().unwrap_or_default().to_owned(),
            from: addresses(m.from()),
            reply_to: plain(m.reply_to()),
            to: plain(m.to()),
            cc: plain(m.cc()),
            message_id: m.message_id().map(str::to_owned),
            references,
        }
    }

    /// The sender as shown in lists: the display name, else the address.
    pub(crate) fn sender_display(&self) -> String {
        match self.from.first() {
            Some((Some(name), _)) if !name.trim().is_empty() => name.clone(),
            Some((_, address)) => address.clone(),
            None => String::new(),
        }
    }

    /// The thread a message belongs to: the first of its References, else
    /// its own Message-ID.
    pub(crate) fn thread_root(&self) -> String {
        self.references.first().or(self.message_id.as_ref()).cloned().unwrap_or_default()
    }
}

fn same(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

impl Portal {
    /// Sends a reply to message `reference` from the signed-in recipient.
    /// Returns the new message's id; the original's recipient gets a
    /// `portal_replied` event and webhook, and it is audited.
    pub async fn reply(&self, s: &Current, reference: &RecipientId, draft: Draft) -> Result<MessageId, PortalError> {
        let p = self.own_pickup(s, reference, Action::PortalReplied).await?;
        let size: usize = draft.body.len() + draft.attachments.iter().map(|a| a.bytes.len()).sum::<usize>();
        if size > self.limits.max_reply_bytes {
            return Err(PortalError::BadReply(format!(
                "the reply is {size} bytes; at most {} are allowed",
                self.limits.max_reply_bytes
            )));
        }
        if draft.body.trim().is_empty() && draft.attachments.is_empty() {
            return Err(PortalError::BadReply("the reply is empty".into()));
        }
        let opened = self.reader.load_message(&p.tenant, &p.message, true).await?;
        let own = crate::address_in(&opened, &p.recipient)?;
        let h = Headers::of(opened.raw.as_deref().unwrap_or_default());
        let mut to: Vec<String> =
            if h.reply_to.is_empty() { h.from.iter().map(|(_, a)| a.clone()).collect() } else { h.reply_to.clone() };
        if to.is_empty() {
            // No usable header: the envelope sender.
            to.extend(opened.meta.mail_from.clone());
        }
        let mut cc = Vec::new();
        if draft.all {
            for a in h.to.iter().chain(h.cc.iter()) {
                if !same(a, &own) && !to.iter().chain(cc.iter()).any(|x| same(x, a)) {
                    cc.push(a.clone());
                }
            }
        }
        to.retain(|a| !same(a, &own));
        if to.is_empty() && cc.is_empty() {
            return Err(PortalError::BadReply("the message names no one to reply to".into()));
        }
        let mut recipients = Vec::new();
        for (kind, list) in [(RcptKind::To, &to), (RcptKind::Cc, &cc)] {
            for a in list {
                if EmailAddress::parse(a, true).is_err() {
                    return Err(PortalError::BadReply(
                        "the original message has an address that cannot be replied to".into(),
                    ));
                }
                recipients.push(RcptMeta { address: a.clone(), kind, notify: None, orcpt: None });
            }
        }

        let subject = if h.subject.to_ascii_lowercase().starts_with("re:") {
            h.subject.clone()
        } else {
            format!("Re: {}", h.subject)
        };
        let mut references = h.references.clone();
        references.extend(h.message_id.clone());
        let hostname = &self.core.cfg.hostname;
        let mut b = mail_builder::MessageBuilder::new()
            .from(own.clone())
            .to(to.clone())
            .subject(subject)
            .message_id(format!("{}@{hostname}", MessageId::new()))
            .date(mail_builder::headers::date::Date::now())
            .text_body(draft.body.replace("\r\n", "\n").replace('\n', "\r\n"));
        if !cc.is_empty() {
            b = b.cc(cc.clone());
        }
        if let Some(id) = &h.message_id {
            b = b.in_reply_to(id.clone());
        }
        if !references.is_empty() {
            b = b.references(references.clone());
        }
        for a in &draft.attachments {
            let ct = if valid_content_type(&a.content_type) {
                a.content_type.clone()
            } else {
                "application/octet-stream".into()
            };
            b = b.attachment(ct, a.filename.clone(), a.bytes.clone());
        }
        let raw = b.write_to_vec().map_err(|e| PortalError::Unavailable503(e.to_string()))?;
        let sub = Submission {
            tenant: p.tenant.clone(),
            actor: s.actor(),
            source: Source::Portal,
            category: Category::Transactional,
            envelope: EnvelopeMeta {
                mail_from: Some(self.core.cfg.delivery.notice_from.clone()),
                recipients,
                ..EnvelopeMeta::default()
            },
            raw,
        };
        let (mut commit, ids) = self.accept.seal_submissions(vec![sub]).await?;
        let id = ids.first().copied().ok_or_else(|| PortalError::Unavailable503("no message id".into()))?;
        commit.ops.push(recipient_event(&p, "portal_replied"));
        commit.events.push(
            self.event(s, Action::PortalReplied, Outcome::Success, Some(&p))
                .detail("reply", DetailValue::id(id))
                .detail("attachments", DetailValue::Count(draft.attachments.len() as i64)),
        );
        self.core.store.commit(Commit { ops: commit.ops, events: commit.events }).await?;
        Ok(id)
    }
}

fn valid_content_type(ct: &str) -> bool {
    let mut parts = ct.split('/');
    let ok = |s: Option<&str>| {
        s.is_some_and(|s| {
            !s.is_empty() && s.len() < 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        })
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_thread_and_reply_targets() {
        let raw = b"From: Dr. A <dr.a@clinic.example>\r\nReply-To: desk@clinic.example\r\nTo: pat@example.net, other@example.org\r\n\
Cc: nurse@clinic.example\r\nSubject: Results\r\nMessage-ID: <m2@clinic.example>\r\nReferences: <m0@clinic.example> <m1@clinic.example>\r\n\
In-Reply-To: <m1@clinic.example>\r\n\r\nbody\r\n";
        let h = Headers::of(raw);
        assert_eq!(h.sender_display(), "Dr. A");
        assert_eq!(h.reply_to, ["desk@clinic.example"]);
        assert_eq!(h.to, ["pat@example.net", "other@example.org"]);
        assert_eq!(h.cc, ["nurse@clinic.example"]);
        assert_eq!(h.message_id.as_deref(), Some("m2@clinic.example"));
        assert_eq!(h.references, ["m0@clinic.example", "m1@clinic.example"]);
        assert_eq!(h.thread_root(), "m0@clinic.example");
        assert_eq!(Headers::of(b"Message-ID: <solo@x>\r\n\r\n").thread_root(), "solo@x");
    }

    #[test]
    fn content_types_are_checked() {
        assert!(valid_content_type("application/pdf"));
        assert!(valid_content_type("image/svg+xml"));
        assert!(!valid_content_type("text/html; charset=x"));
        assert!(!valid_content_type("nope"));
        assert!(!valid_content_type("a/b/c"));
    }
}
