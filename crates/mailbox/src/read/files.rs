//! Reading a list of one-message files (Maildir, `.eml` directory).

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use crate::error::MailboxError;
use crate::read::Item;

/// Yields the files of a listing one at a time; an unreadable or too large
/// file is an error item and reading goes on with the next file.
pub(crate) struct FileReader {
    files: Vec<PathBuf>,
    next: usize,
    pub(crate) max_message_size: usize,
}

impl FileReader {
    pub(crate) fn new(files: Vec<PathBuf>, max_message_size: usize) -> Self {
        FileReader { files, next: 0, max_message_size }
    }

    pub(crate) fn total(&self) -> u64 {
        self.files.len() as u64
    }

    pub(crate) fn position(&self) -> u64 {
        self.next as u64
    }

    fn read(&self, path: &PathBuf) -> Result<Item, MailboxError> {
        let location = path.display().to_string();
        let file = File::open(path).map_err(|e| MailboxError::io("open", path, e))?;
        let limit = self.max_message_size as u64;
        let mut bytes = Vec::new();
        // Read one byte past the limit rather than trusting the size from
        // metadata: the file may grow while we read it.
        file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| MailboxError::io("read", path, e))?;
        if bytes.len() as u64 > limit {
            return Err(MailboxError::MessageTooLarge { location, limit });
        }
        Ok(Item { location, bytes, problems: Vec::new() })
    }
}

impl Iterator for FileReader {
    type Item = Result<Item, MailboxError>;

    fn next(&mut self) -> Option<Self::Item> {
        let path = self.files.get(self.next)?;
        let item = self.read(path);
        self.next += 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.files.len() - self.next;
        (left, Some(left))
    }
}
