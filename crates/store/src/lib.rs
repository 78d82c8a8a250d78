//! Durable storage for Sealpost, behind one interface ([`Store`]) with two
//! real backends:
//!
//! * embedded: SQLite (WAL, `synchronous=FULL`) + a local segment log of blobs;
//! * scale-out: PostgreSQL + an S3-compatible object store.
//!
//! The store never sees plaintext: it is handed sealed blobs, wrapped keys and
//! sealed metadata by the pipeline, and ids, counts and states in the clear.
//! Every write goes through [`Store::commit`], which groups concurrent commits
//! into one blob sync and one database transaction (group commit), appends
//! their audit events to the hash chain in that same transaction, and returns
//! only once everything is durable. Operational tables that would grow
//! forever (finished webhook deliveries, idempotency records, the search
//! log) are pruned by age with [`Store::prune_operational`], in short
//! transactions of its own: pruning chains no audit events.

mod blob;
mod commit;
mod db;
mod error;
mod prune;
mod records;
mod stats;

pub use blob::BlobConfig;
pub use commit::{Commit, Op, describe_metrics, metric_names};
pub use db::Backend;
pub use error::StoreError;
pub use prune::{PRUNE_BATCH_ROWS, PruneBefore, PruneCounts};
pub use records::*;
pub use stats::{OperationalCounts, QueueBacklog};

use std::sync::Arc;

use sealpost_audit::CheckpointSigner;

/// Where the store keeps things.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `sqlite:///path/to/file.db` or `postgres://…`.
    pub database_url: String,
    /// The blob backend.
    pub blobs: BlobConfig,
    /// Sign an audit checkpoint after this many events.
    pub checkpoint_every: i64,
}

/// The storage interface. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: db::Db,
    blobs: blob::Blobs,
    committer: commit::Handle,
}

impl Store {
    /// Opens (and migrates) the database and blob store, and starts the
    /// committer. `signer` signs audit checkpoints; without one, none are written.
    pub async fn open(cfg: &StoreConfig, signer: Option<CheckpointSigner>) -> Result<Store, StoreError> {
        let db = db::Db::open(&cfg.database_url).await?;
        let blobs = blob::Blobs::open(&cfg.blobs).await?;
        let committer = commit::Handle::start(db.clone(), blobs.clone(), signer, cfg.checkpoint_every);
        Ok(Store { inner: Arc::new(Inner { db, blobs, committer }) })
    }

    /// The schema version the database is at; equal to
    /// [`Store::known_schema_version`] once `open` has returned.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        self.inner.db.schema_version().await
    }

    /// The newest schema version this binary ships.
    pub fn known_schema_version() -> i64 {
        db::latest_schema_version()
    }

    /// Which database backend this store runs on.
    pub fn backend(&self) -> Backend {
        self.inner.db.backend()
    }

    /// Makes `commit` durable: blobs synced, then one transaction with its
    /// rows and audit events. Returns the chained audit events' sequence numbers.
    pub async fn commit(&self, commit: Commit) -> Result<Vec<i64>, StoreError> {
        self.inner.committer.submit(commit).await
    }

    /// Reads a sealed blob back.
    pub async fn read_blob(&self, blob_ref: &str) -> Result<Vec<u8>, StoreError> {
        self.inner.blobs.get(blob_ref).await
    }

    /// Deletes a sealed blob (disposal: the local backend punches a hole
    /// over its bytes, S3 deletes the object).
    pub async fn delete_blob(&self, blob_ref: &str) -> Result<(), StoreError> {
        self.inner.blobs.delete(blob_ref).await
    }

    /// Deletes several sealed blobs (a page of disposals) with one sync per
    /// segment file; one result per reference, in order.
    pub async fn delete_blobs(&self, blob_refs: &[String]) -> Vec<Result<(), StoreError>> {
        self.inner.blobs.delete_batch(blob_refs).await
    }

    /// The database, for the read queries in [`db`].
    pub(crate) fn db(&self) -> &db::Db {
        &self.inner.db
    }

    /// Flushes a final audit checkpoint and stops the committer.
    pub async fn close(&self) {
        self.inner.committer.close().await;
    }
}
