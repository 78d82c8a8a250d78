//! Export: writing messages into an mbox or a zip of `.eml` files, each
//! with a manifest and a SHA-256 checksum of the package.
//!
//! [`PackageWriter`] streams a package into any writer (no file, no seek),
//! one message at a time, hashing the bytes as they go out; the server's
//! API sends it as a response body. The CLI's [`MboxWriter`] and
//! [`EmlZipWriter`] are that writer over a temporary file next to the
//! output, renamed into place by `finish()`: an export that fails or is
//! dropped before `finish()` leaves no output file behind.

mod eml_zip;
mod manifest;
mod mbox;
mod output;
mod package;

use std::collections::HashSet;

use mail_parser::Message;
use time::OffsetDateTime;

pub use eml_zip::EmlZipWriter;
pub use manifest::{ManifestEntry, ManifestJson};
pub use mbox::MboxWriter;
pub use package::{PackageFormat, PackageWriter};

use crate::error::MailboxError;

/// One message handed to a writer.
#[derive(Debug, Clone, Copy)]
pub struct ExportMessage<'a> {
    /// The caller's id for the message (Sealpost's message id): names the
    /// `.eml` file and the manifest entry. 1–128 of `A-Z a-z 0-9 . _ -`,
    /// not starting with `.`, unique within one export.
    pub id: &'a str,
    /// The original message bytes, written unchanged.
    pub bytes: &'a [u8],
    /// When the message was received, for the mbox separator line and the
    /// zip entry's time; without it the `Date:` header is used, then the
    /// Unix epoch.
    pub received_at: Option<OffsetDateTime>,
}

/// What a package writer's `finish()` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSummary {
    /// Messages written.
    pub count: u64,
    /// Size of the package in bytes.
    pub bytes: u64,
    /// SHA-256 of the package, lowercase hex (the CLI writers also put it
    /// in `<out>.sha256`).
    pub sha256: String,
}

/// When the message was received, else when its `Date:` header says it
/// was written.
pub(crate) fn message_time(
    received_at: Option<OffsetDateTime>,
    headers: Option<&Message<'_>>,
) -> Option<OffsetDateTime> {
    received_at.or_else(|| {
        let date = headers?.date().filter(|d| d.is_valid())?;
        OffsetDateTime::from_unix_timestamp(date.to_timestamp()).ok()
    })
}

/// Refuses ids that would not make a safe, unique file name.
#[derive(Default)]
pub(crate) struct IdSet {
    seen: HashSet<String>,
}

impl IdSet {
    pub(crate) fn admit(&mut self, id: &str) -> Result<(), MailboxError> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        let valid = (1..=128).contains(&id.len()) && !id.starts_with('.') && id.bytes().all(allowed);
        if !valid {
            return Err(MailboxError::InvalidId { id: id.to_owned() });
        }
        if !self.seen.insert(id.to_owned()) {
            return Err(MailboxError::DuplicateId { id: id.to_owned() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_safe_file_names_and_unique() {
        let mut ids = IdSet::default();
        assert!(ids.admit("01J9Z3-abc_def.1").is_ok());
        assert!(matches!(ids.admit("01J9Z3-abc_def.1"), Err(MailboxError::DuplicateId { .. })));
        for bad in ["", ".hidden", "../x", "a/b", "a b", "é", &"x".repeat(129)] {
            assert!(matches!(ids.admit(bad), Err(MailboxError::InvalidId { .. })), "{bad:?}");
        }
    }
}
