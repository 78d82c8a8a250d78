//! Sealed-blob storage: a local segment log (embedded) or an S3-compatible
//! object store (scale-out). Blobs are already encrypted when they get here.

mod object;
mod segment;

use std::path::PathBuf;

use crate::StoreError;

/// Which blob backend to use.
#[derive(Debug, Clone)]
pub enum BlobConfig {
    /// Append-only segment files in a local directory.
    Local {
        /// Directory (created if missing).
        dir: PathBuf,
    },
    /// An S3-compatible bucket.
    S3 {
        /// Endpoint URL, e.g. `http://127.0.0.1:9000`.
        endpoint: String,
        /// Bucket (must exist).
        bucket: String,
        /// Region name.
        region: String,
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: String,
        /// Allow `http://` endpoints (tests, local gateways).
        allow_http: bool,
    },
}

/// The configured backend.
#[derive(Clone)]
pub(crate) enum Blobs {
    Local(segment::SegmentStore),
    Object(object::ObjectBlobs),
}

impl Blobs {
    pub(crate) async fn open(cfg: &BlobConfig) -> Result<Self, StoreError> {
        Ok(match cfg {
            BlobConfig::Local { dir } => Blobs::Local(segment::SegmentStore::open(dir.clone()).await?),
            BlobConfig::S3 { .. } => Blobs::Object(object::ObjectBlobs::open(cfg)?),
        })
    }

    /// Stores every blob durably; returns one reference per blob, in order.
    /// `key` names the blob (`t/<tenant>/m/<message>`) for backends that key by name.
    pub(crate) async fn put_batch(&self, blobs: Vec<(String, bytes::Bytes)>) -> Result<Vec<String>, StoreError> {
        if blobs.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Blobs::Local(s) => s.put_batch(blobs).await,
            Blobs::Object(o) => o.put_batch(blobs).await,
        }
    }

    pub(crate) async fn get(&self, blob_ref: &str) -> Result<Vec<u8>, StoreError> {
        match self {
            Blobs::Local(s) => s.get(blob_ref).await,
            Blobs::Object(o) => o.get(blob_ref).await,
        }
    }

    /// Removes a blob's bytes. Used by disposal; the data key is destroyed too.
    pub(crate) async fn delete(&self, blob_ref: &str) -> Result<(), StoreError> {
        match self {
            Blobs::Local(s) => s.delete(blob_ref).await,
            Blobs::Object(o) => o.delete(blob_ref).await,
        }
    }

    /// Removes several blobs' bytes (a page of disposals); one result per reference.
    pub(crate) async fn delete_batch(&self, refs: &[String]) -> Vec<Result<(), StoreError>> {
        match self {
            Blobs::Local(s) => s.delete_batch(refs).await,
            Blobs::Object(o) => o.delete_batch(refs).await,
        }
    }
}
