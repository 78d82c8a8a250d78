//! Archive search for Sealpost (R-AR-5): a query language, text extraction
//! from RFC 5322 messages, and a full-text index whose files are encrypted at
//! rest (R-KY-1).
//!
//! - [`query`] parses `from:alice subject:"lab results" -category:marketing`
//!   into a typed [`Query`]; errors point at a character position.
//! - [`extract`] pulls addresses, subject, date, text bodies, text
//!   attachments and file names out of a raw message.
//! - [`ArchiveIndex`] indexes [`IndexDoc`]s and answers a [`Query`] with
//!   pages of message ids, newest first, or with every match at once
//!   (`search_all`, one snapshot, no paging depth limit).
//! - [`EncryptedDirectory`] is the tantivy `Directory` underneath: every file
//!   it writes is sealed with AES-256-GCM in 64 KiB blocks.
//!
//! ```no_run
//! use sealpost_search::{ArchiveIndex, query};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let index = ArchiveIndex::open(std::path::Path::new("/var/lib/sealpost/index/acme"), [7u8; 32])?;
//! let q = query::parse("from:alice@example.com after:2024-01-01")?;
//! let page = index.search(&q, &|_hold| Vec::new(), 0, 50)?;
//! println!("{} matches", page.total);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod query;

pub use query::{Query, QueryError};
pub mod directory;
mod error;
mod schema;

pub use directory::EncryptedDirectory;
pub use error::SearchError;

/// The largest page [`ArchiveIndex::search`] returns.
pub const MAX_PER_PAGE: usize = 1000;
/// The deepest a page may start (`page * per_page`): deeper paging costs
/// memory proportional to the offset; narrow the query instead.
pub const MAX_OFFSET: usize = 100_000;
mod compile;
mod index;

pub use index::{ArchiveIndex, Hit, IndexDoc, IndexOptions, SearchPage};
pub mod extract;

pub use extract::{Extracted, extract};
