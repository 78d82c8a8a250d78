//! Mailbox formats for import and export (SPEC R-AR-8, R-AR-6).
//!
//! - [`read`]: recognize a source ([`read::detect`]) and stream its messages
//!   ([`read::open`]): mbox (mboxo/mboxrd, LF or CRLF), Maildir with
//!   Maildir++ subfolders, directory trees of `.eml` files. Messages come
//!   one at a time, byte-exact, never validated.
//! - [`check`]: what is malformed about a message, as PHI-free [`Problem`]s
//!   for the import report.
//! - [`splice`]: cut large base64 bodies out of a message (the archive
//!   stores each attachment once per tenant) and splice them back, byte-exact.
//! - [`write`]: export to an mboxrd or a zip of `.eml` files, with a
//!   manifest and the package's SHA-256: streamed into any writer
//!   ([`write::PackageWriter`]), or as files written to a temporary file and
//!   renamed into place only when complete.
//!
//! Nothing here holds more than one message at a time; nothing here logs.
//!
//! ```
//! use sealpost_mailbox::read::{self, Source};
//! use sealpost_mailbox::write::{ExportMessage, MboxWriter};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("out.mbox");
//! let mut writer = MboxWriter::create(&path).unwrap();
//! let message = b"From: a@example.org\r\nSubject: x\r\n\r\nFrom the start\r\n";
//! writer.write(&ExportMessage { id: "1", bytes: message, received_at: None }).unwrap();
//! writer.finish().unwrap();
//!
//! let source = read::detect(&path).unwrap();
//! assert_eq!(source, Source::Mbox(path.clone()));
//! let items: Vec<_> = read::open(&source).unwrap().collect::<Result<_, _>>().unwrap();
//! assert_eq!(items[0].bytes, message);
//! ```

mod check;
mod error;
pub mod read;
pub mod splice;
pub mod write;

pub use check::{Problem, check};
pub use error::MailboxError;
