//! Sans-IO SMTP submission server protocol (RFC 5321, RFC 6409).
//!
//! No sockets, no async, no TLS: a [`Session`] is a state machine that the
//! network layer drives. It feeds the bytes it reads with [`Session::feed`],
//! takes [`Event`]s with [`Session::next_event`] until `None`, and answers
//! the events that ask for it ([`Session::auth_result`],
//! [`Session::message_result`], [`Session::tls_started`]).
//!
//! ```
//! use sealpost_smtp::{Event, Session, SessionConfig};
//!
//! let mut s = Session::new(SessionConfig {
//!     hostname: "mx.example.org".into(),
//!     max_message_size: 10_000_000,
//!     max_recipients: 1000,
//!     tls_active: true,
//!     starttls_offered: false,
//!     plaintext_allowed: false,
//!     relay_without_auth: true,
//!     check_sender: false,
//! });
//! assert_eq!(s.greeting().to_bytes(), b"220 mx.example.org ESMTP Sealpost\r\n");
//! // A whole pipelined transaction in one read.
//! s.feed(b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
//! s.feed(b"From: a@example.org\r\n\r\nHello\r\n.\r\nQUIT\r\n");
//! let mut wire = Vec::new();
//! while let Some(ev) = s.next_event() {
//!     match ev {
//!         Event::Reply(r) => wire.extend(r.to_bytes()),
//!         Event::Message { envelope, data } => {
//!             assert_eq!(envelope.recipients[0].address.as_str(), "b@example.org");
//!             assert_eq!(data, b"From: a@example.org\r\n\r\nHello\r\n");
//!             s.message_result(Ok("42".into()));
//!         }
//!         Event::Close => break,
//!         _ => unreachable!(),
//!     }
//! }
//! let wire = String::from_utf8(wire).unwrap();
//! assert!(wire.contains("250 2.0.0 Ok: queued as 42\r\n"));
//! assert!(wire.ends_with("221 2.0.0 Bye\r\n"));
//! ```
//!
//! Replies never echo client input (addresses, content): it can be PHI.

#![warn(missing_docs)]

mod auth;
mod command;
mod data;
mod message;
mod params;
mod reply;
mod session;

pub use auth::{AuthError, Mechanism, PlainCredentials, decode_base64, decode_login, decode_plain, encode_base64};
pub use command::{Command, CommandError, Param, parse_command};
pub use data::{DataDecoder, dot_stuff};
pub use message::{MAX_LINE_LEN, MessageError, check_message};
pub use params::{
    BodyType, DsnRet, MailParams, Notify, ParamError, RcptParams, parse_mail_params, parse_rcpt_params, xtext_decode,
    xtext_encode,
};
pub use reply::Reply;
pub use session::{Envelope, Event, MAX_AUTH_LINE, MAX_COMMAND_LINE, MAX_ERRORS, Recipient, Session, SessionConfig};
