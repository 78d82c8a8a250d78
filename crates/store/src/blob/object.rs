//! Blobs in an S3-compatible bucket, one object per blob, written concurrently.
//! A successful PUT is durable by S3's contract, so a batch is durable once
//! every PUT of it has returned.

use std::sync::Arc;

use futures::future::try_join_all;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::BlobConfig;
use crate::StoreError;

#[derive(Clone)]
pub(crate) struct ObjectBlobs {
    store: Arc<dyn ObjectStore>,
}

impl ObjectBlobs {
    pub(crate) fn open(cfg: &BlobConfig) -> Result<Self, StoreError> {
        let BlobConfig::S3 { endpoint, bucket, region, access_key_id, secret_access_key, allow_http } = cfg else {
            return Err(StoreError::Config("not an S3 configuration".into()));
        };
        let store = AmazonS3Builder::new()
            .with_endpoint(endpoint)
            .with_bucket_name(bucket)
            .with_region(region)
            .with_access_key_id(access_key_id)
            .with_secret_access_key(secret_access_key)
            .with_allow_http(*allow_http)
            .with_virtual_hosted_style_request(false)
            .build()?;
        Ok(Self { store: Arc::new(store) })
    }

    pub(crate) async fn put_batch(&self, blobs: Vec<(String, bytes::Bytes)>) -> Result<Vec<String>, StoreError> {
        try_join_all(blobs.into_iter().map(|(key, data)| async move {
            self.store.put(&Path::from(key.as_str()), PutPayload::from(data)).await?;
            Ok::<_, StoreError>(format!("s3:{key}"))
        }))
        .await
    }

    fn path(blob_ref: &str) -> Result<Path, StoreError> {
        blob_ref
            .strip_prefix("s3:")
            .map(Path::from)
            .ok_or_else(|| StoreError::Corrupt(format!("not an object reference: {blob_ref}")))
    }

    pub(crate) async fn get(&self, blob_ref: &str) -> Result<Vec<u8>, StoreError> {
        let bytes = self.store.get(&Self::path(blob_ref)?).await?.bytes().await?;
        Ok(bytes.to_vec())
    }

    pub(crate) async fn delete(&self, blob_ref: &str) -> Result<(), StoreError> {
        self.store.delete(&Self::path(blob_ref)?).await?;
        Ok(())
    }

    /// Deletes several objects, a bounded number at a time; one result per reference.
    pub(crate) async fn delete_batch(&self, refs: &[String]) -> Vec<Result<(), StoreError>> {
        let mut out = Vec::with_capacity(refs.len());
        for chunk in refs.chunks(16) {
            out.extend(futures::future::join_all(chunk.iter().map(|r| self.delete(r))).await);
        }
        out
    }
}
