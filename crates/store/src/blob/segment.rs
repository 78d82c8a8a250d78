//! Local blobs as an append-only log of segment files.
//!
//! A batch of blobs is appended to the active segment and made durable with a
//! single `fdatasync`, which is what makes group commit cheap: one sync per
//! batch instead of one per message (Postfix pays one per message). A blob's
//! reference is `seg:<segment>:<offset>:<len>`, stored in the database row that
//! is committed *after* the sync, so a crash between the two leaves only
//! unreferenced bytes, never a visible half-message. Each process start opens a
//! new segment, so a torn tail from a crash is never appended to.
//!
//! Record layout: `SPB1` | u32 key length | key | u64 data length | data.
//! The key makes segments scannable for recovery tools; the data is sealed.
//! Deleting a blob punches a hole over its bytes (the space is freed).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::StoreError;

const MAGIC: &[u8; 4] = b"SPB1";
const SEGMENT_LIMIT: u64 = 256 * 1024 * 1024;

#[derive(Clone)]
pub(crate) struct SegmentStore {
    dir: Arc<PathBuf>,
    /// The segment this process appends to; created on the first write, so
    /// read-only processes (CLI commands) never create segments.
    active: Arc<Mutex<Option<Active>>>,
}

struct Active {
    number: u64,
    file: File,
    len: u64,
}

fn segment_path(dir: &std::path::Path, n: u64) -> PathBuf {
    dir.join(format!("{n:010}.seg"))
}

fn sync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates the next free segment. Several processes may share the directory
/// (the server and CLI commands): `create_new` makes each one take its own
/// number, and a number taken by another process is skipped.
fn create_next_segment(dir: &std::path::Path) -> std::io::Result<Active> {
    let last = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".seg")?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    let mut number = last + 1;
    for _ in 0..1000 {
        match OpenOptions::new().create_new(true).append(true).read(true).open(segment_path(dir, number)) {
            Ok(file) => {
                sync_dir(dir)?;
                return Ok(Active { number, file, len: 0 });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => number += 1,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free segment number"))
}

impl SegmentStore {
    pub(crate) async fn open(dir: PathBuf) -> Result<Self, StoreError> {
        tokio::fs::create_dir_all(&dir).await?;
        Ok(Self { dir: Arc::new(dir), active: Arc::new(Mutex::new(None)) })
    }

    pub(crate) async fn put_batch(&self, blobs: Vec<(String, bytes::Bytes)>) -> Result<Vec<String>, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.put_batch_blocking(blobs))
            .await
            .map_err(|e| StoreError::Blob(e.to_string()))?
    }

    fn put_batch_blocking(&self, blobs: Vec<(String, bytes::Bytes)>) -> Result<Vec<String>, StoreError> {
        let mut guard = self.active.lock().map_err(|_| StoreError::Blob("segment lock poisoned".into()))?;
        if guard.as_ref().is_none_or(|a| a.len >= SEGMENT_LIMIT) {
            *guard = Some(create_next_segment(&self.dir)?);
        }
        let Some(active) = guard.as_mut() else { return Err(StoreError::Blob("no active segment".into())) };
        let mut buf = Vec::with_capacity(blobs.iter().map(|(k, d)| 16 + k.len() + d.len()).sum());
        let mut refs = Vec::with_capacity(blobs.len());
        for (key, data) in &blobs {
            buf.extend_from_slice(MAGIC);
            buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
            buf.extend_from_slice(key.as_bytes());
            buf.extend_from_slice(&(data.len() as u64).to_le_bytes());
            let offset = active.len + buf.len() as u64;
            buf.extend_from_slice(data);
            refs.push(format!("seg:{}:{}:{}", active.number, offset, data.len()));
        }
        if let Err(e) = active.file.write_all(&buf).and_then(|_| active.file.sync_data()) {
            // A failed write or sync leaves the file in an unknown state: never
            // append to it again, so refs handed out later stay valid.
            *guard = None;
            return Err(e.into());
        }
        active.len += buf.len() as u64;
        Ok(refs)
    }

    fn parse_ref(blob_ref: &str) -> Result<(u64, u64, u64), StoreError> {
        let bad = || StoreError::Corrupt(format!("not a segment reference: {blob_ref}"));
        let mut parts = blob_ref.strip_prefix("seg:").ok_or_else(bad)?.split(':');
        let mut next = || parts.next().and_then(|p| p.parse::<u64>().ok()).ok_or_else(bad);
        Ok((next()?, next()?, next()?))
    }

    pub(crate) async fn get(&self, blob_ref: &str) -> Result<Vec<u8>, StoreError> {
        let (n, offset, len) = Self::parse_ref(blob_ref)?;
        let path = segment_path(&self.dir, n);
        tokio::task::spawn_blocking(move || {
            let file = File::open(path)?;
            let mut buf = vec![0u8; len as usize];
            file.read_exact_at(&mut buf, offset)?;
            Ok(buf)
        })
        .await
        .map_err(|e| StoreError::Blob(e.to_string()))?
    }

    pub(crate) async fn delete(&self, blob_ref: &str) -> Result<(), StoreError> {
        let (n, offset, len) = Self::parse_ref(blob_ref)?;
        let path = segment_path(&self.dir, n);
        tokio::task::spawn_blocking(move || {
            let file = OpenOptions::new().write(true).open(path)?;
            punch_hole(&file, offset, len)?;
            file.sync_data()?;
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Blob(e.to_string()))?
    }
}

impl SegmentStore {
    /// Punches holes for several blobs with one `fdatasync` per segment file
    /// (not per blob): a retention run frees thousands at a time. One result
    /// per reference; a failed segment fails only its own blobs.
    pub(crate) async fn delete_batch(&self, refs: &[String]) -> Vec<Result<(), StoreError>> {
        let mut by_segment: std::collections::BTreeMap<u64, Vec<(usize, u64, u64)>> = Default::default();
        let mut out: Vec<Result<(), StoreError>> = Vec::with_capacity(refs.len());
        for (i, r) in refs.iter().enumerate() {
            match Self::parse_ref(r) {
                Ok((n, offset, len)) => {
                    by_segment.entry(n).or_default().push((i, offset, len));
                    out.push(Ok(()));
                }
                Err(e) => out.push(Err(e)),
            }
        }
        let dir = self.dir.clone();
        let failed = tokio::task::spawn_blocking(move || {
            let mut failed = Vec::new();
            for (n, blobs) in by_segment {
                let punched = OpenOptions::new().write(true).open(segment_path(&dir, n)).and_then(|file| {
                    for (_, offset, len) in &blobs {
                        punch_hole(&file, *offset, *len)?;
                    }
                    file.sync_data()
                });
                if let Err(e) = punched {
                    failed.extend(blobs.iter().map(|(i, _, _)| (*i, e.to_string())));
                }
            }
            failed
        })
        .await;
        match failed {
            Ok(failed) => {
                for (i, e) in failed {
                    out[i] = Err(StoreError::Blob(e));
                }
            }
            Err(e) => out = refs.iter().map(|_| Err(StoreError::Blob(e.to_string()))).collect(),
        }
        out
    }
}

fn punch_hole(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: fallocate on a valid, owned descriptor; no memory is passed.
    let rc = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            offset as libc::off_t,
            len as libc::off_t,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    // Filesystems without hole punching: overwrite with zeros instead.
    file.write_all_at(&vec![0u8; len as usize], offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_survive_reopen_and_deletion_erases_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let s = SegmentStore::open(dir.path().to_path_buf()).await.unwrap();
        let refs = s
            .put_batch(vec![
                ("a".into(), bytes::Bytes::from_static(b"first-blob")),
                ("b".into(), bytes::Bytes::from_static(b"second-blob")),
            ])
            .await
            .unwrap();
        drop(s);
        let s = SegmentStore::open(dir.path().to_path_buf()).await.unwrap();
        assert_eq!(s.get(&refs[0]).await.unwrap(), b"first-blob");
        assert_eq!(s.get(&refs[1]).await.unwrap(), b"second-blob");
        s.delete(&refs[0]).await.unwrap();
        assert_eq!(s.get(&refs[0]).await.unwrap(), vec![0u8; 10]);
        assert_eq!(s.get(&refs[1]).await.unwrap(), b"second-blob");
        let all = std::fs::read(segment_path(dir.path(), 1)).unwrap();
        assert!(!segment_path(dir.path(), 2).exists(), "the reopened store wrote nothing, so created no segment");
        assert!(!all.windows(10).any(|w| w == b"first-blob"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn processes_sharing_a_directory_each_get_their_own_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut tasks = Vec::new();
        for i in 0..16u8 {
            let path = dir.path().to_path_buf();
            tasks.push(tokio::spawn(async move {
                let s = SegmentStore::open(path).await.unwrap();
                let refs = s.put_batch(vec![("k".into(), bytes::Bytes::from(vec![i; 100]))]).await.unwrap();
                (s, refs, i)
            }));
        }
        for t in tasks {
            let (s, refs, i) = t.await.unwrap();
            assert_eq!(s.get(&refs[0]).await.unwrap(), vec![i; 100], "a blob was overwritten by another store");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 16);
    }

    #[test]
    fn malformed_references_are_errors_not_panics() {
        for r in ["", "seg:", "seg:1:2", "seg:x:1:1", "s3:abc"] {
            assert!(SegmentStore::parse_ref(r).is_err(), "{r}");
        }
    }
}
