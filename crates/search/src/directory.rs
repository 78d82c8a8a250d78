//! A tantivy [`Directory`] that encrypts every file it writes (R-KY-1): the
//! index holds terms, and terms of a medical archive are PHI.
//!
//! Files written with `open_write` (segments) and `atomic_write` (meta.json,
//! managed.json) are sealed in the block format described in `format.rs`. Reads decrypt
//! only the blocks a range touches and keep recent plaintext in a shared
//! cache, so postings lookups stay as fast as on plain files. Lock files are
//! left to the wrapped [`MmapDirectory`]: they are empty.
//!
//! A block that fails authentication (wrong key, flipped bit, truncation,
//! a file moved under another name) is an `io::Error` of kind `InvalidData`
//! carrying an [`IntegrityError`]; the directory also counts such failures,
//! since tantivy does not keep error sources, so callers can tell corruption
//! from other failures.

mod cache;
mod format;

use std::fmt;
use std::io::{self, BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tantivy::HasLen;
use tantivy::directory::error::{DeleteError, LockError, OpenDirectoryError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    AntiCallToken, Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, OwnedBytes, TerminatingWrite,
    WatchCallback, WatchHandle, WritePtr,
};

use self::cache::{Key, PlainCache};
use self::format::{BLOCK, Damage, FileKey, HEADER, Layout, MasterKey, SEALED_BLOCK};

/// A sealed index file that did not authenticate. Names the file (tantivy's
/// file names are ids and extensions) and never any content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("index file {path} failed authentication ({what})")]
pub struct IntegrityError {
    /// The file, relative to the index directory.
    pub path: PathBuf,
    /// Which part: the header or a block number.
    pub what: String,
}

impl IntegrityError {
    fn new(path: &Path, damage: Damage) -> Self {
        let what = match damage {
            Damage::Header => "not a sealed file".to_owned(),
            Damage::Block(n) => format!("block {n}"),
        };
        Self { path: path.to_owned(), what }
    }
}

/// Files on disk in a directory, sealed with AES-256-GCM under a 32-byte key.
#[derive(Clone)]
pub struct EncryptedDirectory {
    inner: MmapDirectory,
    shared: Arc<Shared>,
}

struct Shared {
    key: MasterKey,
    cache: PlainCache,
    integrity_failures: AtomicU64,
}

impl fmt::Debug for EncryptedDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("EncryptedDirectory").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl EncryptedDirectory {
    /// Opens the existing directory `path`; `cache_bytes` bounds the
    /// decrypted plaintext kept in memory.
    pub fn open(path: &Path, key: &[u8; 32], cache_bytes: usize) -> Result<Self, OpenDirectoryError> {
        let inner = MmapDirectory::open(path)?;
        let shared = Shared {
            key: MasterKey::new(key),
            cache: PlainCache::new(cache_bytes),
            integrity_failures: AtomicU64::new(0),
        };
        Ok(Self { inner, shared: Arc::new(shared) })
    }

    /// How many reads have failed authentication since this directory was
    /// opened (any clone).
    pub fn integrity_failures(&self) -> u64 {
        self.shared.integrity_failures.load(Ordering::Relaxed)
    }

    /// Decrypts every block of the file `path`, to find damage before a query
    /// does.
    pub fn verify_file(&self, path: &Path) -> io::Result<()> {
        let handle = self.open_handle(path).map_err(|e| match e {
            OpenReadError::IoError { io_error, .. } => io::Error::new(io_error.kind(), io_error.to_string()),
            other => io::Error::other(other.to_string()),
        })?;
        for index in 0..handle.layout.blocks {
            handle.decrypt_block(index)?;
        }
        Ok(())
    }

    fn damaged(&self, path: &Path, damage: Damage) -> io::Error {
        self.shared.integrity_failures.fetch_add(1, Ordering::Relaxed);
        io::Error::new(io::ErrorKind::InvalidData, IntegrityError::new(path, damage))
    }

    fn open_handle(&self, path: &Path) -> Result<EncryptedHandle, OpenReadError> {
        let read_error =
            |io_error: io::Error| OpenReadError::IoError { io_error: Arc::new(io_error), filepath: path.to_owned() };
        let sealed = self.inner.get_file_handle(path)?;
        let layout = Layout::of_sealed_len(sealed.len()).map_err(|d| read_error(self.damaged(path, d)))?;
        let header = sealed.read_bytes(0..HEADER).map_err(read_error)?;
        let key =
            FileKey::from_header(&self.shared.key, path, &header).map_err(|d| read_error(self.damaged(path, d)))?;
        let handle = EncryptedHandle { sealed, key, layout, path: path.to_owned(), directory: self.clone() };
        // Reading the final block now catches truncation and a wrong key at
        // open, not at some later query.
        handle.block(layout.blocks - 1).map_err(read_error)?;
        Ok(handle)
    }
}

impl Directory for EncryptedDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        Ok(Arc::new(self.open_handle(path)?))
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        let write_error =
            |io_error: io::Error| OpenWriteError::IoError { io_error: Arc::new(io_error), filepath: path.to_owned() };
        let mut sealed = self.inner.open_write(path)?;
        let key = FileKey::generate(&self.shared.key, path).map_err(write_error)?;
        sealed.write_all(&key.header()).map_err(write_error)?;
        let writer = SealingWriter { sealed, key, block: Vec::with_capacity(SEALED_BLOCK), index: 0 };
        Ok(BufWriter::new(Box::new(writer)))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        let sealed = self.inner.atomic_read(path)?;
        format::open_all(&self.shared.key, path, &sealed).map_err(|d| OpenReadError::IoError {
            io_error: Arc::new(self.damaged(path, d)),
            filepath: path.to_owned(),
        })
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let key = FileKey::generate(&self.shared.key, path)?;
        self.inner.atomic_write(path, &format::seal_all(&key, data))
    }

    fn sync_directory(&self) -> io::Result<()> {
        self.inner.sync_directory()
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}

/// Seals 64 KiB blocks as they fill. A full block is held back until more
/// data arrives, so the last block (the one sealed as final) is never empty
/// unless the whole file is.
struct SealingWriter {
    sealed: WritePtr,
    key: FileKey,
    block: Vec<u8>,
    index: u64,
}

impl SealingWriter {
    fn seal_block(&mut self, last: bool) -> io::Result<()> {
        self.key.seal(self.index, last, &mut self.block);
        self.sealed.write_all(&self.block)?;
        self.block.clear();
        self.index += 1;
        Ok(())
    }
}

impl Write for SealingWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        if self.block.len() == BLOCK {
            self.seal_block(false)?;
        }
        let n = data.len().min(BLOCK - self.block.len());
        self.block.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // A partial block cannot be written without sealing it as final; the
        // data is durable only after `terminate`, as tantivy expects.
        self.sealed.flush()
    }
}

impl TerminatingWrite for SealingWriter {
    fn terminate_ref(&mut self, token: AntiCallToken) -> io::Result<()> {
        self.seal_block(true)?;
        self.sealed.terminate_ref(token)
    }
}

/// An open sealed file: decrypts the blocks a read touches.
struct EncryptedHandle {
    sealed: Arc<dyn FileHandle>,
    key: FileKey,
    layout: Layout,
    path: PathBuf,
    directory: EncryptedDirectory,
}

impl fmt::Debug for EncryptedHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedHandle").field("path", &self.path).field("len", &self.layout.len).finish()
    }
}

impl EncryptedHandle {
    fn cache(&self) -> &PlainCache {
        &self.directory.shared.cache
    }

    fn block_key(&self, index: u64) -> Key {
        let range = self.layout.plain_range(index);
        Key { file: self.key.file_id(), start: range.start, end: range.end }
    }

    fn decrypt_block(&self, index: u64) -> io::Result<OwnedBytes> {
        let sealed = self.sealed.read_bytes(self.layout.sealed_range(index))?;
        let plain = self
            .key
            .open(index, self.layout.is_last(index), &sealed)
            .map_err(|damage| self.directory.damaged(&self.path, damage))?;
        Ok(OwnedBytes::new(plain))
    }

    /// One block, from the cache or decrypted (and then cached).
    fn block(&self, index: u64) -> io::Result<OwnedBytes> {
        let key = self.block_key(index);
        if let Some(bytes) = self.cache().get(&key) {
            return Ok(bytes);
        }
        let bytes = self.decrypt_block(index)?;
        self.cache().insert(key, bytes.clone());
        Ok(bytes)
    }
}

impl HasLen for EncryptedHandle {
    fn len(&self) -> usize {
        self.layout.len
    }
}

impl FileHandle for EncryptedHandle {
    fn read_bytes(&self, range: Range<usize>) -> io::Result<OwnedBytes> {
        if range.start > range.end || range.end > self.layout.len {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "read past the end of an index file"));
        }
        if range.is_empty() {
            return Ok(OwnedBytes::empty());
        }
        let first = (range.start / BLOCK) as u64;
        let last = ((range.end - 1) / BLOCK) as u64;
        if first == last {
            let offset = first as usize * BLOCK;
            return Ok(self.block(first)?.slice(range.start - offset..range.end - offset));
        }
        // A read across blocks (a fast-field column, a term dictionary) is
        // assembled once and cached whole when it is small enough to be worth
        // it; its blocks are not cached one by one, so one big read does not
        // flush the postings blocks queries keep using.
        let key = Key { file: self.key.file_id(), start: range.start, end: range.end };
        if let Some(bytes) = self.cache().get(&key) {
            return Ok(bytes);
        }
        let mut out = Vec::with_capacity(range.len());
        for index in first..=last {
            let block_key = self.block_key(index);
            let block = match self.cache().get(&block_key) {
                Some(block) => block,
                None => self.decrypt_block(index)?,
            };
            let from = range.start.max(block_key.start) - block_key.start;
            let to = range.end.min(block_key.end) - block_key.start;
            out.extend_from_slice(&block.as_slice()[from..to]);
        }
        let bytes = OwnedBytes::new(out);
        if bytes.len() <= self.cache().budget() / 8 {
            self.cache().insert(key, bytes.clone());
        }
        Ok(bytes)
    }
}
