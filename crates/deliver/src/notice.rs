//! Notices Sealpost writes itself: the portal notification (R-PT-1) and
//! the failure and delay notices to the sender (R-DL-5). Both are built from ids,
//! codes, the sender's identity and a link — never from the message's
//! subject, body or the recipient's address (which can be PHI).

use mail_builder::MessageBuilder;
use sealpost_model::{MessageId, RecipientId};

/// The portal notification to the recipient.
pub fn portal_notification(
    from: &str,
    to: &str,
    sender_identity: &str,
    link: &str,
    expires: &str,
    hostname: &str,
) -> std::io::Result<Vec<u8>> {
    let text = format!(
        "You have received a secure message from {sender_identity}.\r\n\r\n\
         Read it on the secure portal:\r\n{link}\r\n\r\n\
         The link expires on {expires}. This notification does not contain the message.\r\n"
    );
    MessageBuilder::new()
        .from(from.to_owned())
        .to(to.to_owned())
        .subject("You have a secure message")
        .message_id(format!("{}@{hostname}", MessageId::new()))
        .date(mail_builder::headers::date::Date::now())
        .header("Auto-Submitted", mail_builder::headers::raw::Raw::new("auto-generated"))
        .text_body(text)
        .write_to_vec()
}

/// The failure notice to the sender of `message`.
pub fn failure_notice(
    from: &str,
    to: &str,
    message: &MessageId,
    recipient: &RecipientId,
    why: &str,
    hostname: &str,
) -> std::io::Result<Vec<u8>> {
    let text = format!(
        "Sealpost could not deliver your message {message} to recipient {recipient}.\r\n\r\n\
         Reason: {why}\r\n\r\n{}",
        privacy(message)
    );
    to_sender(from, to, &format!("Undeliverable: message {message}"), text, hostname)
}

/// The delay notice to the sender of `message` (R-DL-5): still trying.
pub fn delay_notice(
    from: &str,
    to: &str,
    message: &MessageId,
    recipient: &RecipientId,
    why: &str,
    give_up: &str,
    hostname: &str,
) -> std::io::Result<Vec<u8>> {
    let text = format!(
        "Sealpost has not yet delivered your message {message} to recipient {recipient}.\r\n\r\n\
         Last reason: {why}\r\n\
         Sealpost keeps trying until {give_up}; you need not send it again.\r\n\r\n{}",
        privacy(message)
    );
    to_sender(from, to, &format!("Delayed: message {message}"), text, hostname)
}

fn privacy(message: &MessageId) -> String {
    format!(
        "For privacy this notice contains no part of the message and not the recipient's address;\r\n\
         look them up with GET /v1/messages/{message}.\r\n"
    )
}

fn to_sender(from: &str, to: &str, subject: &str, text: String, hostname: &str) -> std::io::Result<Vec<u8>> {
    MessageBuilder::new()
        .from(from.to_owned())
        .to(to.to_owned())
        .subject(subject.to_owned())
        .message_id(format!("{}@{hostname}", MessageId::new()))
        .date(mail_builder::headers::date::Date::now())
        .header("Auto-Submitted", mail_builder::headers::raw::Raw::new("auto-replied"))
        .text_body(text)
        .write_to_vec()
}
