//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

/// What went wrong reading or writing a mailbox.
///
/// Messages name paths, byte offsets and export ids, never message content:
/// they end up in logs and import reports.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("read", "create", "rename", …).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// [`detect`](crate::read::detect) found neither a Maildir, a directory
    /// nor a file that starts with an mbox `From ` line.
    #[error(
        "{path} is not a mailbox: expected a Maildir (cur/new/tmp), a directory of .eml files or an mbox file starting with \"From \""
    )]
    NotAMailbox {
        /// The path given.
        path: PathBuf,
    },
    /// The tree holds a symbolic link. Import reads only what lies in the
    /// tree it was given: a link could point anywhere the server can read
    /// (its own keys included), so a tree with one is refused whole,
    /// before anything is read.
    #[error(
        "{path} is a symbolic link: import reads only regular files inside the tree it is given; replace the link with the file it points to"
    )]
    SymbolicLink {
        /// The link.
        path: PathBuf,
    },
    /// A message is larger than the reader's limit; it was skipped and
    /// reading goes on with the next one.
    #[error("message at {location} is larger than the limit of {limit} bytes")]
    MessageTooLarge {
        /// Where the message starts (`file:offset` or a path).
        location: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// An export id cannot be used as a file name (`<id>.eml`).
    #[error("export id {id:?} is not usable as a file name (1-128 of A-Z a-z 0-9 . _ -, not starting with '.')")]
    InvalidId {
        /// The id given by the caller.
        id: String,
    },
    /// The same export id was written twice.
    #[error("export id {id:?} was written twice")]
    DuplicateId {
        /// The id given by the caller.
        id: String,
    },
    /// Writing to the package's destination (a stream: a file, a socket)
    /// failed; for a stream whose reader went away, the error says so.
    #[error("writing the package: {0}")]
    Output(#[source] io::Error),
    /// The zip library refused an entry or the archive.
    #[error("writing the zip package: {0}")]
    Zip(#[from] zip::result::ZipError),
}

impl MailboxError {
    /// An [`MailboxError::Io`] for `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        MailboxError::Io { action, path: path.into(), source }
    }
}
