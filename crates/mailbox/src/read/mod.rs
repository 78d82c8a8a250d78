//! Import: reading messages out of mbox files, Maildirs and directories of
//! `.eml` files, one at a time.
//!
//! Readers never validate: a broken message is yielded as it is (the
//! importer keeps it and reports it, see [`check`](crate::check)). Only the
//! mbox framing itself can produce a [`Problem`] on an [`Item`].

mod eml_dir;
mod files;
mod maildir;
mod mbox;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

pub use mbox::MboxReader;

use crate::check::Problem;
use crate::error::MailboxError;
use files::FileReader;

/// The largest message a reader yields unless told otherwise (256 MiB):
/// far above any mail system's limit, low enough that a file which is not
/// really an mbox cannot make the importer hold gigabytes.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 256 * 1024 * 1024;

/// A mailbox to import, as [`detect`] recognized it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// One mbox file (mboxo or mboxrd).
    Mbox(PathBuf),
    /// A Maildir with its Maildir++ subfolders.
    Maildir(PathBuf),
    /// A directory tree of `*.eml` files.
    EmlDir(PathBuf),
}

/// One message (or, for mbox, the text before the first separator) as
/// found in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Where it came from: `file:offset` (offset of the mbox separator line)
    /// or the path of the message file. Never content.
    pub location: String,
    /// The message exactly as stored (mbox: without the separator line and
    /// with one level of `>From ` quoting undone).
    pub bytes: Vec<u8>,
    /// What the reader found wrong with the framing (for now only
    /// [`Problem::BeforeFirstSeparator`]); [`check`](crate::check) finds the
    /// rest.
    pub problems: Vec<Problem>,
}

/// Recognizes what `path` is: a directory with `cur/` and `new/` is a
/// Maildir, any other directory an `.eml` directory, a file that is empty
/// or starts with `From ` an mbox.
pub fn detect(path: impl AsRef<Path>) -> Result<Source, MailboxError> {
    let path = path.as_ref();
    let metadata = path.metadata().map_err(|e| MailboxError::io("stat", path, e))?;
    if metadata.is_dir() {
        return Ok(if maildir::is_maildir(path) {
            Source::Maildir(path.to_path_buf())
        } else {
            Source::EmlDir(path.to_path_buf())
        });
    }
    let mut start = Vec::with_capacity(5);
    File::open(path)
        .and_then(|file| file.take(5).read_to_end(&mut start))
        .map_err(|e| MailboxError::io("read", path, e))?;
    // An empty file is an mbox with no messages: importing it is not an error.
    if start.is_empty() || start == b"From " {
        Ok(Source::Mbox(path.to_path_buf()))
    } else {
        Err(MailboxError::NotAMailbox { path: path.to_path_buf() })
    }
}

/// Opens `source` for reading. Directories are listed here (the list of
/// paths is held, not the files); messages are read as the iterator goes.
pub fn open(source: &Source) -> Result<Reader, MailboxError> {
    let inner = match source {
        Source::Mbox(path) => {
            let file = File::open(path).map_err(|e| MailboxError::io("open", path, e))?;
            let size = file.metadata().map_err(|e| MailboxError::io("stat", path, e))?.len();
            let reader = MboxReader::new(BufReader::with_capacity(256 * 1024, file), path.display().to_string());
            Inner::Mbox { reader, size }
        }
        Source::Maildir(path) => Inner::Files(FileReader::new(maildir::list(path)?, DEFAULT_MAX_MESSAGE_SIZE)),
        Source::EmlDir(path) => Inner::Files(FileReader::new(eml_dir::list(path)?, DEFAULT_MAX_MESSAGE_SIZE)),
    };
    Ok(Reader { inner })
}

/// The messages of a [`Source`], one [`Item`] at a time.
///
/// An error item does not end the iteration (a bad file in a Maildir, a too
/// large message in an mbox), except a read error in an mbox file, after
/// which nothing more can be trusted.
pub struct Reader {
    inner: Inner,
}

enum Inner {
    Mbox { reader: MboxReader<BufReader<File>>, size: u64 },
    Files(FileReader),
}

impl Reader {
    /// Sets the largest message yielded (default
    /// [`DEFAULT_MAX_MESSAGE_SIZE`]); a larger one becomes a
    /// [`MailboxError::MessageTooLarge`] item.
    pub fn with_max_message_size(self, bytes: usize) -> Self {
        let inner = match self.inner {
            Inner::Mbox { reader, size } => Inner::Mbox { reader: reader.with_max_message_size(bytes), size },
            Inner::Files(mut files) => {
                files.max_message_size = bytes;
                Inner::Files(files)
            }
        };
        Reader { inner }
    }

    /// The total for a progress bar: the file size in bytes for an mbox,
    /// the number of files for a Maildir or `.eml` directory.
    pub fn total_hint(&self) -> Option<u64> {
        match &self.inner {
            Inner::Mbox { size, .. } => Some(*size),
            Inner::Files(files) => Some(files.total()),
        }
    }

    /// How far the reader got, in the unit of [`Reader::total_hint`].
    pub fn position(&self) -> u64 {
        match &self.inner {
            Inner::Mbox { reader, .. } => reader.position(),
            Inner::Files(files) => files.position(),
        }
    }
}

impl Iterator for Reader {
    type Item = Result<Item, MailboxError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Mbox { reader, .. } => reader.next(),
            Inner::Files(files) => files.next(),
        }
    }
}
