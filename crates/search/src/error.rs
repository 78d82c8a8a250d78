//! The crate's error type at its boundary.

use crate::query::QueryError;

/// Why an index operation failed. Messages name ids, positions and files,
/// never message content.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The index was opened for reading only ([`crate::ArchiveIndex::open_reader`]).
    #[error("the index is open for reading only")]
    ReadOnly,
    /// The key does not open this index (its key check file did not decrypt).
    #[error("the index key does not match this index")]
    WrongKey,
    /// An index file failed authentication: flipped bits, truncation, or a
    /// file replaced. Rebuild the index from the archive.
    #[error("the index is damaged: a file failed authentication")]
    Corrupt,
    /// The directory holds tantivy files but no key check: not an index this
    /// crate created.
    #[error("the directory is not a sealpost search index")]
    NotAnIndex,
    /// A document's id is not 32 hexadecimal digits.
    #[error("document {index} of the batch: id is not a 32-hex-digit message id")]
    InvalidId {
        /// Position of the document in the batch.
        index: usize,
    },
    /// A document's category is not a known category.
    #[error("document {index} of the batch: unknown category")]
    InvalidCategory {
        /// Position of the document in the batch.
        index: usize,
    },
    /// A document names a PHI kind that does not exist.
    #[error("document {index} of the batch: unknown PHI kind")]
    InvalidPhiKind {
        /// Position of the document in the batch.
        index: usize,
    },
    /// `per_page` was 0 or above [`crate::MAX_PER_PAGE`], or the page starts
    /// beyond [`crate::MAX_OFFSET`].
    #[error("page out of range: per_page must be 1..={max_per_page}, page * per_page at most {max_offset}", max_per_page = crate::MAX_PER_PAGE, max_offset = crate::MAX_OFFSET)]
    PageOutOfRange,
    /// A query string that did not parse.
    #[error("query: {0}")]
    Query(#[from] QueryError),
    /// The index directory could not be created or opened.
    #[error("index directory: {0}")]
    Io(#[from] std::io::Error),
    /// Anything else tantivy reported (its messages carry file names and
    /// internal states, not document text: we never store text in it
    /// unsealed and never use its query parser).
    #[error("index: {0}")]
    Index(#[from] tantivy::TantivyError),
}
