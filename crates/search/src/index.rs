//! The archive index of one tenant: add, delete, purge and search messages.
//!
//! Deletion and what stays on disk: `delete` + `commit` hides the documents
//! at once, but tantivy only marks them deleted in a bitset beside their
//! segment; the segment's term dictionary and postings still hold their
//! terms (sealed, like every file) until the segment is merged. `purge`
//! merges every segment that has deletions and then removes the files no
//! longer in use, after which the terms are gone from the index. The old
//! files were sealed, so what the file system may keep of them in free
//! blocks is ciphertext.

use std::fs;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use sealpost_classify::PhiKind;
use sealpost_model::Category;
use tantivy::collector::sort_key::SortByStaticFastValue;
use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::TermQuery;
use tantivy::schema::IndexRecordOption;
use tantivy::{
    Directory, DocId, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Score, SegmentOrdinal, SegmentReader,
    TantivyDocument, TantivyError, Term,
};

use crate::compile::Compiler;
use crate::directory::EncryptedDirectory;
use crate::query::Query;
use crate::schema::{ANALYZER, Fields, address_terms, analyzer, normalize_id, schema};
use crate::{MAX_OFFSET, MAX_PER_PAGE, SearchError};

/// The file that proves the key: a known plaintext sealed under it.
const KEY_CHECK_FILE: &str = "sealpost-search.key";
const KEY_CHECK: &[u8] = b"sealpost-search key check v1";

/// One message as the index sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexDoc {
    /// The message id: 32 hexadecimal digits.
    pub id: String,
    /// When the message was sent (or accepted), unix microseconds.
    pub date: i64,
    /// Sender mailboxes: `alice@example.com`, `Alice Smith <alice@example.com>`
    /// or a display name alone.
    pub from: Vec<String>,
    /// To mailboxes, as `from`.
    pub to: Vec<String>,
    /// Cc mailboxes, as `from`.
    pub cc: Vec<String>,
    /// The subject.
    pub subject: String,
    /// Text parts and text attachments.
    pub body: String,
    /// Attachment file names.
    pub filenames: Vec<String>,
    /// True when the message has an attachment.
    pub has_attachment: bool,
    /// `transactional` or `marketing`.
    pub category: String,
    /// PHI kinds found, in `sealpost-classify` spelling (`ssn`, `mrn`, …).
    pub phi: Vec<String>,
    /// Patient identifiers given at submission; may be empty.
    pub patients: Vec<String>,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The message id (32 lowercase hex digits).
    pub id: String,
    /// The indexed date, unix microseconds.
    pub date: i64,
}

/// One page of results, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPage {
    /// How many messages match in all.
    pub total: usize,
    /// This page's messages.
    pub hits: Vec<Hit>,
}

/// Tuning for [`ArchiveIndex::open_with`].
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// Decrypted index bytes kept in memory across queries.
    pub cache_bytes: usize,
    /// Memory the writer buffers before it writes a segment (split between
    /// its threads; tantivy wants at least 15 MB per thread).
    pub writer_memory_bytes: usize,
    /// Indexing threads.
    pub writer_threads: usize,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self { cache_bytes: 256 << 20, writer_memory_bytes: 128 << 20, writer_threads: 1 }
    }
}

/// A tenant's full-text archive index, its files sealed under one key.
///
/// Writes (`add`, `delete`) are buffered until `commit`; searches see the
/// last commit. One `ArchiveIndex` per directory per process: opening takes
/// the directory's writer lock.
pub struct ArchiveIndex {
    index: Index,
    reader: IndexReader,
    // `None` only while `purge` swaps the writer.
    writer: Mutex<Option<IndexWriter>>,
    fields: Fields,
    directory: EncryptedDirectory,
    options: IndexOptions,
}

impl ArchiveIndex {
    /// Opens the index in `dir`, creating it (and the directory) if absent.
    pub fn open(dir: &Path, key: [u8; 32]) -> Result<Self, SearchError> {
        Self::open_with(dir, key, IndexOptions::default())
    }

    /// [`ArchiveIndex::open`] with explicit tuning.
    pub fn open_with(dir: &Path, key: [u8; 32], options: IndexOptions) -> Result<Self, SearchError> {
        fs::create_dir_all(dir)?;
        let directory = EncryptedDirectory::open(dir, &key, options.cache_bytes).map_err(TantivyError::from)?;
        check_key(&directory)?;
        let guard = CorruptionGuard::new(&directory);
        let (schema, fields) = schema();
        let index = Index::open_or_create(directory.clone(), schema).map_err(|e| guard.map(e))?;
        index.tokenizers().register(ANALYZER, analyzer());
        let writer = new_writer(&index, &options).map_err(|e| guard.map(e))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e: TantivyError| guard.map(e))?;
        Ok(Self { index, reader, writer: Mutex::new(Some(writer)), fields, directory, options })
    }

    /// Opens an existing index for searching only, without taking the
    /// writer lock: another process (the server) may be writing it. Searches
    /// see its last commit as of opening. Writes fail with
    /// [`SearchError::ReadOnly`].
    pub fn open_reader(dir: &Path, key: [u8; 32], options: IndexOptions) -> Result<Self, SearchError> {
        if !dir.join(KEY_CHECK_FILE).exists() {
            return Err(SearchError::NotAnIndex);
        }
        let directory = EncryptedDirectory::open(dir, &key, options.cache_bytes).map_err(TantivyError::from)?;
        check_key(&directory)?;
        let guard = CorruptionGuard::new(&directory);
        let index = Index::open(directory.clone()).map_err(|e| guard.map(e))?;
        let (_, fields) = schema();
        index.tokenizers().register(ANALYZER, analyzer());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e: TantivyError| guard.map(e))?;
        Ok(Self { index, reader, writer: Mutex::new(None), fields, directory, options })
    }

    /// Buffers `docs` for the next commit. A document whose id is already in
    /// the index replaces it. The batch is checked whole first: one bad
    /// document adds nothing.
    pub fn add(&self, docs: &[IndexDoc]) -> Result<(), SearchError> {
        let prepared = docs.iter().enumerate().map(|(i, doc)| self.document(i, doc)).collect::<Result<Vec<_>, _>>()?;
        let guard = CorruptionGuard::new(&self.directory);
        let writer = self.writer()?;
        for (id, document) in prepared {
            // Deletes apply to documents added before them: this replaces an
            // older copy, not the one added next.
            writer.delete_term(Term::from_field_text(self.fields.id, &id));
            writer.add_document(document).map_err(|e| guard.map(e))?;
        }
        Ok(())
    }

    /// Marks messages deleted (disposal) at the next commit. See the module
    /// docs for what remains on disk until [`ArchiveIndex::purge`].
    pub fn delete(&self, ids: &[String]) -> Result<(), SearchError> {
        let ids = ids
            .iter()
            .enumerate()
            .map(|(index, id)| normalize_id(id).ok_or(SearchError::InvalidId { index }))
            .collect::<Result<Vec<_>, _>>()?;
        let writer = self.writer()?;
        for id in ids {
            writer.delete_term(Term::from_field_text(self.fields.id, &id));
        }
        Ok(())
    }

    /// Makes buffered adds and deletes durable and visible to searches.
    pub fn commit(&self) -> Result<(), SearchError> {
        let guard = CorruptionGuard::new(&self.directory);
        let mut writer = self.writer()?;
        let writer = writer.as_mut().ok_or(SearchError::Corrupt)?;
        writer.commit().map_err(|e| guard.map(e))?;
        self.reader.reload().map_err(|e| guard.map(e))
    }

    /// Commits, then rewrites every segment that holds deleted documents and
    /// removes the files no longer used, so deleted messages' terms are gone
    /// from disk (as ciphertext or otherwise) rather than only hidden.
    pub fn purge(&self) -> Result<(), SearchError> {
        let guard = CorruptionGuard::new(&self.directory);
        let mut slot = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(mut writer) = slot.take() else { return Err(SearchError::ReadOnly) };
        writer.commit().map_err(|e| guard.map(e))?;
        // A background merge may hold some of the segments; let it finish
        // (it drops deleted documents too) before choosing what to merge.
        writer.wait_merging_threads().map_err(|e| guard.map(e))?;
        let mut writer = new_writer(&self.index, &self.options).map_err(|e| guard.map(e))?;
        let with_deletes: Vec<_> = self
            .index
            .searchable_segment_metas()
            .map_err(|e| guard.map(e))?
            .into_iter()
            .filter(|meta| meta.has_deletes())
            .map(|meta| meta.id())
            .collect();
        let merged = if with_deletes.is_empty() { Ok(None) } else { writer.merge(&with_deletes).wait() };
        let result = merged
            .and_then(|_| self.reader.reload())
            .and_then(|()| writer.garbage_collect_files().wait().map(drop))
            .map_err(|e| guard.map(e));
        *slot = Some(writer);
        result
    }

    /// Documents deleted (or replaced) and committed whose terms are still
    /// in segment files: what the next [`ArchiveIndex::purge`] removes.
    pub fn deleted_docs(&self) -> Result<u64, SearchError> {
        let guard = CorruptionGuard::new(&self.directory);
        let metas = self.index.searchable_segment_metas().map_err(|e| guard.map(e))?;
        Ok(metas.iter().map(|meta| u64::from(meta.num_deleted_docs())).sum())
    }

    /// One page of the messages matching `query`, newest first (equal dates
    /// by id, so pages do not overlap or skip). `holds` resolves a hold name
    /// to the ids it holds. `page` counts from 0.
    pub fn search(
        &self,
        query: &Query,
        holds: &dyn Fn(&str) -> Vec<String>,
        page: usize,
        per_page: usize,
    ) -> Result<SearchPage, SearchError> {
        if per_page == 0 || per_page > MAX_PER_PAGE {
            return Err(SearchError::PageOutOfRange);
        }
        let offset = page.checked_mul(per_page).filter(|&o| o <= MAX_OFFSET).ok_or(SearchError::PageOutOfRange)?;
        let guard = CorruptionGuard::new(&self.directory);
        let query = Compiler::new(&self.fields, holds).compile(query);
        let newest_first = (
            (SortByStaticFastValue::<i64>::for_field("date"), Order::Desc),
            (SortByStaticFastValue::<u64>::for_field("id_hi"), Order::Desc),
            (SortByStaticFastValue::<u64>::for_field("id_lo"), Order::Desc),
        );
        let top = TopDocs::with_limit(per_page).and_offset(offset).order_by(newest_first);
        let searcher = self.reader.searcher();
        let (total, top) = searcher.search(&query, &(Count, top)).map_err(|e| guard.map(e))?;
        let mut ids: Vec<Option<StrColumn>> = vec![None; searcher.segment_readers().len()];
        let mut hits = Vec::with_capacity(top.len());
        for ((date, _, _), address) in top {
            let segment = address.segment_ord as usize;
            if ids[segment].is_none() {
                let column = searcher.segment_reader(address.segment_ord).fast_fields().str("id");
                ids[segment] = column.map_err(|e| guard.map(e))?;
            }
            let Some(column) = &ids[segment] else { return Err(SearchError::Corrupt) };
            let mut id = String::new();
            let ord = column.term_ords(address.doc_id).next().ok_or(SearchError::Corrupt)?;
            column.ord_to_str(ord, &mut id).map_err(|e| guard.map(e.into()))?;
            hits.push(Hit { id, date: date.unwrap_or_default() });
        }
        Ok(SearchPage { total, hits })
    }

    /// Every message matching `query`, in the order of [`ArchiveIndex::search`]
    /// (newest first, equal dates by id descending), read from one searcher
    /// snapshot (the last commit) with no offset, so there is no depth limit
    /// ([`crate::MAX_OFFSET`]) and no page can skip or repeat a message when
    /// a commit lands in between. For holds, exports and access requests,
    /// which need the whole answer; memory grows with the number of matches
    /// (about 80 bytes each). `holds` resolves `hold:NAME` as in `search`.
    pub fn search_all(&self, query: &Query, holds: &dyn Fn(&str) -> Vec<String>) -> Result<Vec<Hit>, SearchError> {
        let guard = CorruptionGuard::new(&self.directory);
        let query = Compiler::new(&self.fields, holds).compile(query);
        let searcher = self.reader.searcher();
        let mut found = searcher.search(&query, &AllMatches).map_err(|e| guard.map(e))?;
        // Sort keys are unique (the id is), so the order is total.
        found.sort_unstable_by_key(|m| std::cmp::Reverse(m.key));
        let mut hits = Vec::with_capacity(found.len());
        for m in found {
            let (date, _, _) = m.key;
            hits.push(Hit { id: m.id, date: date.unwrap_or_default() });
        }
        Ok(hits)
    }

    /// How many messages the last commit holds.
    pub fn count(&self) -> usize {
        usize::try_from(self.reader.searcher().num_docs()).unwrap_or(usize::MAX)
    }

    /// True when the last commit holds the message `id`.
    pub fn contains(&self, id: &str) -> Result<bool, SearchError> {
        let Some(id) = normalize_id(id) else { return Ok(false) };
        let guard = CorruptionGuard::new(&self.directory);
        let query = TermQuery::new(Term::from_field_text(self.fields.id, &id), IndexRecordOption::Basic);
        let count = self.reader.searcher().search(&query, &Count).map_err(|e| guard.map(e))?;
        Ok(count > 0)
    }

    /// Decrypts every block of every index file: finds damage before a
    /// query does. Lock files (empty, plain) are skipped.
    pub fn verify(&self, dir: &Path) -> Result<(), SearchError> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { return Err(SearchError::NotAnIndex) };
            if is_lock_file(name) || !entry.file_type()?.is_file() {
                continue;
            }
            self.directory.verify_file(Path::new(name)).map_err(|e| {
                if e.kind() == std::io::ErrorKind::InvalidData { SearchError::Corrupt } else { SearchError::Io(e) }
            })?;
        }
        Ok(())
    }

    fn writer(&self) -> Result<WriterGuard<'_>, SearchError> {
        let slot = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.is_none() {
            return Err(SearchError::ReadOnly);
        }
        Ok(WriterGuard(slot))
    }

    fn document(&self, index: usize, doc: &IndexDoc) -> Result<(String, TantivyDocument), SearchError> {
        let f = &self.fields;
        let id = normalize_id(&doc.id).ok_or(SearchError::InvalidId { index })?;
        let category = Category::parse(&doc.category).map_err(|_| SearchError::InvalidCategory { index })?;
        let phi = doc
            .phi
            .iter()
            .map(|kind| PhiKind::parse(kind).map_err(|_| SearchError::InvalidPhiKind { index }))
            .collect::<Result<Vec<_>, _>>()?;
        let mut d = TantivyDocument::default();
        d.add_text(f.id, &id);
        // Parsing 16 of the id's hex digits cannot fail.
        d.add_u64(f.id_hi, u64::from_str_radix(&id[..16], 16).unwrap_or_default());
        d.add_u64(f.id_lo, u64::from_str_radix(&id[16..], 16).unwrap_or_default());
        d.add_i64(f.date, doc.date);
        for (mailboxes, addr_field, name_field) in
            [(&doc.from, f.from_addr, f.from_name), (&doc.to, f.to_addr, f.to_name), (&doc.cc, f.cc_addr, f.cc_name)]
        {
            for mailbox in mailboxes {
                let (name, address) = split_mailbox(mailbox);
                if !name.is_empty() {
                    d.add_text(name_field, name);
                }
                if let Some(address) = address {
                    for term in address_terms(address) {
                        d.add_text(addr_field, &term);
                    }
                }
            }
        }
        d.add_text(f.subject, &doc.subject);
        d.add_text(f.body, &doc.body);
        for name in &doc.filenames {
            d.add_text(f.filename, name);
        }
        if doc.has_attachment {
            d.add_text(f.flags, "attachment");
        }
        d.add_text(f.category, category.as_str());
        if !phi.is_empty() {
            d.add_text(f.phi, "any");
        }
        for kind in phi {
            d.add_text(f.phi, kind.as_str());
        }
        for patient in &doc.patients {
            d.add_text(f.patient, patient);
        }
        Ok((id, d))
    }
}

/// The order of `search`: date, then the id's high and low 64 bits.
type SortKey = (Option<i64>, Option<u64>, Option<u64>);

/// One match of [`AllMatches`]: the sort key of `search` and the id.
struct Match {
    key: SortKey,
    id: String,
}

/// Collects every matching document (no limit, no offset) with its date and
/// id from the fast columns.
struct AllMatches;

/// [`AllMatches`] in one segment: sort keys and id term ordinals, resolved to
/// ids once the segment is done.
struct SegmentMatches {
    date: Column<i64>,
    id_hi: Column<u64>,
    id_lo: Column<u64>,
    ids: Option<StrColumn>,
    found: Vec<(SortKey, Option<u64>)>,
}

impl Collector for AllMatches {
    type Fruit = Vec<Match>;
    type Child = SegmentMatches;

    fn for_segment(&self, _: SegmentOrdinal, segment: &SegmentReader) -> tantivy::Result<SegmentMatches> {
        let fast = segment.fast_fields();
        Ok(SegmentMatches {
            date: fast.i64("date")?,
            id_hi: fast.u64("id_hi")?,
            id_lo: fast.u64("id_lo")?,
            ids: fast.str("id")?,
            found: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<tantivy::Result<Vec<Match>>>) -> tantivy::Result<Vec<Match>> {
        let mut all = Vec::with_capacity(segments.iter().map(|s| s.as_ref().map_or(0, Vec::len)).sum());
        for segment in segments {
            all.extend(segment?);
        }
        Ok(all)
    }
}

impl SegmentCollector for SegmentMatches {
    type Fruit = tantivy::Result<Vec<Match>>;

    fn collect(&mut self, doc: DocId, _: Score) {
        let key = (self.date.first(doc), self.id_hi.first(doc), self.id_lo.first(doc));
        let ord = self.ids.as_ref().and_then(|ids| ids.term_ords(doc).next());
        self.found.push((key, ord));
    }

    fn harvest(mut self) -> tantivy::Result<Vec<Match>> {
        if self.found.is_empty() {
            return Ok(Vec::new());
        }
        let corrupt = || TantivyError::InternalError("a document without an id".into());
        let ids = self.ids.ok_or_else(corrupt)?;
        // Ordinals resolved in order: one pass over the id dictionary.
        self.found.sort_unstable_by_key(|&(_, ord)| ord);
        let ords = self.found.iter().map(|&(_, ord)| ord.ok_or_else(corrupt)).collect::<Result<Vec<_>, _>>()?;
        let mut keys = self.found.into_iter().map(|(key, _)| key);
        let mut out = Vec::with_capacity(ords.len());
        let complete = ids.dictionary().sorted_ords_to_term_cb(&ords, |bytes| {
            if let Some(key) = keys.next() {
                out.push(Match { key, id: String::from_utf8_lossy(bytes).into_owned() });
            }
        })?;
        if !complete || out.len() != ords.len() {
            return Err(corrupt());
        }
        Ok(out)
    }
}

/// The writer, locked; present by construction of [`ArchiveIndex::writer`].
struct WriterGuard<'a>(MutexGuard<'a, Option<IndexWriter>>);

impl std::ops::Deref for WriterGuard<'_> {
    type Target = IndexWriter;
    fn deref(&self) -> &IndexWriter {
        match self.0.as_ref() {
            Some(writer) => writer,
            None => unreachable!("checked in ArchiveIndex::writer"),
        }
    }
}

impl WriterGuard<'_> {
    fn as_mut(&mut self) -> Option<&mut IndexWriter> {
        self.0.as_mut()
    }
}

/// Tells corruption from other tantivy errors: tantivy drops error sources,
/// so the directory counts failed authentications and a failure counted
/// during the operation makes its error [`SearchError::Corrupt`].
struct CorruptionGuard<'a> {
    directory: &'a EncryptedDirectory,
    before: u64,
}

impl<'a> CorruptionGuard<'a> {
    fn new(directory: &'a EncryptedDirectory) -> Self {
        Self { directory, before: directory.integrity_failures() }
    }

    fn map(&self, error: TantivyError) -> SearchError {
        if self.directory.integrity_failures() != self.before {
            SearchError::Corrupt
        } else {
            SearchError::Index(error)
        }
    }
}

fn new_writer(index: &Index, options: &IndexOptions) -> tantivy::Result<IndexWriter> {
    let threads = options.writer_threads.max(1);
    index.writer_with_num_threads(threads, options.writer_memory_bytes.max(threads * (16 << 20)))
}

/// Proves the key against the key check file, writing it on a new index.
fn check_key(directory: &EncryptedDirectory) -> Result<(), SearchError> {
    let path = Path::new(KEY_CHECK_FILE);
    if directory.exists(path).map_err(TantivyError::from)? {
        return match directory.atomic_read(path) {
            Ok(plain) if plain == KEY_CHECK => Ok(()),
            Ok(_) => Err(SearchError::WrongKey),
            Err(tantivy::directory::error::OpenReadError::IoError { io_error, .. })
                if io_error.kind() == std::io::ErrorKind::InvalidData =>
            {
                Err(SearchError::WrongKey)
            }
            Err(other) => Err(TantivyError::from(other).into()),
        };
    }
    if directory.exists(Path::new("meta.json")).map_err(TantivyError::from)? {
        return Err(SearchError::NotAnIndex);
    }
    directory.atomic_write(path, KEY_CHECK)?;
    directory.sync_directory()?;
    Ok(())
}

fn is_lock_file(name: &str) -> bool {
    name.starts_with(".tantivy-") && name.ends_with(".lock")
}

/// `Name <addr>`, `addr` or `Name` into its display name and address.
fn split_mailbox(mailbox: &str) -> (&str, Option<&str>) {
    let mailbox = mailbox.trim();
    if let Some(open) = mailbox.rfind('<')
        && let Some(inner) = mailbox[open + 1..].strip_suffix('>')
    {
        let name = mailbox[..open].trim().trim_matches('"').trim();
        return (name, Some(inner.trim()).filter(|a| !a.is_empty()));
    }
    if mailbox.contains('@') && !mailbox.contains(char::is_whitespace) {
        // The address's own words (local part) are found through the
        // address terms; keep it out of the name field.
        return ("", Some(mailbox));
    }
    (mailbox, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes_split_into_name_and_address() {
        assert_eq!(split_mailbox("Alice Smith <alice@example.com>"), ("Alice Smith", Some("alice@example.com")));
        assert_eq!(split_mailbox("\"Smith, Alice\" <a@x.org>"), ("Smith, Alice", Some("a@x.org")));
        assert_eq!(split_mailbox(" bob@example.com "), ("", Some("bob@example.com")));
        assert_eq!(split_mailbox("Dr. Who"), ("Dr. Who", None));
        assert_eq!(split_mailbox("<>"), ("", None));
    }

    /// Whether any segment's subject dictionary still holds `term`, deleted
    /// documents included.
    fn subject_term_on_disk(index: &ArchiveIndex, term: &str) -> bool {
        index.reader.searcher().segment_readers().iter().any(|segment| {
            let inverted = segment.inverted_index(index.fields.subject).unwrap();
            inverted.terms().get(term.as_bytes()).unwrap().is_some()
        })
    }

    #[test]
    fn purge_removes_deleted_terms_from_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let index = ArchiveIndex::open(dir.path(), [1; 32]).unwrap();
        let doc = |n: u64, subject: &str| IndexDoc {
            id: format!("{n:032x}"),
            subject: subject.into(),
            category: "transactional".into(),
            ..IndexDoc::default()
        };
        index.add(&[doc(1, "zebulon quixotic"), doc(2, "weekly report")]).unwrap();
        index.commit().unwrap();
        index.add(&[doc(3, "another report")]).unwrap();
        index.commit().unwrap();
        index.delete(&[format!("{:032x}", 1)]).unwrap();
        index.commit().unwrap();
        assert!(subject_term_on_disk(&index, "zebulon"), "deletion alone keeps the term until a merge");
        index.purge().unwrap();
        assert!(!subject_term_on_disk(&index, "zebulon"));
        assert!(subject_term_on_disk(&index, "weekly"));
        assert_eq!(index.count(), 2);
        // Purging again, with nothing deleted, changes nothing.
        index.purge().unwrap();
        assert_eq!(index.count(), 2);
    }

    #[test]
    fn ids_are_32_hex_digits() {
        assert_eq!(
            normalize_id("0123456789ABCDEF0123456789abcdef").as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(normalize_id("0123"), None);
        assert_eq!(normalize_id("0123456789abcdef0123456789abcdeg"), None);
    }
}
