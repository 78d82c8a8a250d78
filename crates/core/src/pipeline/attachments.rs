//! Attachment deduplication (R-AR-1): a tenant stores each attachment once.
//!
//! At seal time the large base64 bodies of a message are cut out
//! (`sealpost_mailbox::splice`, byte-exact by construction) and stored
//! decoded, each under its own data key wrapped by the tenant KEK, keyed by
//! a tenant-keyed hash of its SHA-256; the message's blob keeps the
//! skeleton, its sealed metadata the splice table. Opening a message splices
//! the attachments back and checks the SHA-256 of the whole against the one
//! sealed at acceptance. Disposal drops references; the last one shreds the
//! attachment (docs/design/archive.md).

use std::collections::{HashMap, HashSet};

use sealpost_crypto::{DataKey, Kek};
use sealpost_mailbox::splice::{self, Cut, Layout};
use sealpost_model::TenantId;
use sealpost_store::{Commit, NewAttachment, Op, SealedAttachment};

use super::SpliceMeta;
use crate::ServerError;
use crate::core::{Core, TenantKeys};

/// Garbage blobs deleted per pass (one sync per segment file touched).
const GARBAGE_PAGE: i64 = 5_000;

/// Bodies shorter than this (encoded) stay in the message: below it, a
/// separate row, key and blob cost more than a duplicate would.
pub const MIN_ENCODED: usize = 8 * 1024;

/// A message's attachments found before sealing.
#[derive(Default)]
pub(super) struct Prepared {
    cut: Option<Cut>,
    /// Per cut part (same order), the tenant-keyed hash.
    hashes: Vec<Vec<u8>>,
    /// Hashes already stored for the tenant: referenced, not sealed again.
    known: HashSet<Vec<u8>>,
}

/// The AEAD context of an attachment's key and blob.
fn context(tenant: &str, hash: &[u8]) -> Vec<u8> {
    format!("{tenant}/att/{}", hex::encode(hash)).into_bytes()
}

/// Cuts `raw`'s large base64 bodies out (no cut below [`MIN_ENCODED`]).
pub(super) fn cut(raw: &[u8]) -> Option<Cut> {
    if raw.len() < MIN_ENCODED {
        return None;
    }
    Some(splice::cut(raw, MIN_ENCODED)).filter(|c| !c.parts.is_empty())
}

impl Core {
    /// The identity of an attachment within a tenant: a keyed hash of its
    /// decoded bytes' SHA-256 (no plain content hash is stored).
    fn attachment_hash(&self, tenant: &TenantId, decoded: &[u8]) -> Vec<u8> {
        let digest = sealpost_crypto::sha256(decoded);
        self.root().lookup_hash(tenant.as_str(), &[b"attachment:".as_slice(), &digest].concat())
    }

    /// Hashes the cut parts and looks up which the tenant already stores.
    pub(super) async fn prepare_attachments(
        &self,
        tenant: &TenantId,
        cut: Option<Cut>,
    ) -> Result<Prepared, ServerError> {
        let Some(cut) = cut else { return Ok(Prepared::default()) };
        let hashes: Vec<Vec<u8>> = cut.parts.iter().map(|p| self.attachment_hash(tenant, &p.decoded)).collect();
        let mut known = HashSet::new();
        for hash in &hashes {
            if !known.contains(hash) && self.store.attachment(tenant, hash).await?.is_some() {
                known.insert(hash.clone());
            }
        }
        Ok(Prepared { cut: Some(cut), hashes, known })
    }

    /// Rebuilds a message's original bytes from its unsealed skeleton and
    /// the attachments its splice table names.
    pub async fn splice_attachments(
        &self,
        tenant: &TenantId,
        skeleton: Vec<u8>,
        splices: &[SpliceMeta],
    ) -> Result<Vec<u8>, ServerError> {
        if splices.is_empty() {
            return Ok(skeleton);
        }
        let mut encoded: HashMap<(&str, Layout), Vec<u8>> = HashMap::new();
        let mut decoded: HashMap<&str, Vec<u8>> = HashMap::new();
        for (index, s) in splices.iter().enumerate() {
            let layout = Layout { line_len: s.line_len as usize, crlf: s.crlf };
            splice::check_layout(index, layout).map_err(|e| ServerError::State(format!("splice table: {e}")))?;
            if encoded.contains_key(&(s.hash.as_str(), layout)) {
                continue;
            }
            if !decoded.contains_key(s.hash.as_str()) {
                decoded.insert(&s.hash, self.open_attachment(tenant, &s.hash).await?);
            }
            encoded.insert((&s.hash, layout), splice::encode(&decoded[s.hash.as_str()], layout));
        }
        let parts = splices.iter().map(|s| {
            let layout = Layout { line_len: s.line_len as usize, crlf: s.crlf };
            (s.at as usize, encoded[&(s.hash.as_str(), layout)].as_slice())
        });
        splice::splice(&skeleton, parts).map_err(|e| ServerError::State(format!("splice table: {e}")))
    }

    async fn open_attachment(&self, tenant: &TenantId, hash_hex: &str) -> Result<Vec<u8>, ServerError> {
        let hash = hex::decode(hash_hex).map_err(|_| ServerError::State("splice table: bad attachment hash".into()))?;
        let record = self
            .store
            .attachment(tenant, &hash)
            .await?
            .ok_or_else(|| ServerError::State(format!("attachment {hash_hex} of tenant {tenant} is not stored")))?;
        let keys = self.tenant_keys_with(tenant, record.kek_version).await?;
        let kek = keys
            .get(record.kek_version)
            .ok_or_else(|| ServerError::NotFound(format!("key version {}", record.kek_version)))?;
        let ctx = context(tenant.as_str(), &hash);
        let key = kek.unwrap_data_key(&record.wrapped_key, &ctx)?;
        let sealed = self.store.read_blob(&record.blob_ref).await?;
        Ok(key.open_blob(&sealed, &ctx)?)
    }

    /// Re-wraps every attachment key of `tenant` under `kek` (version
    /// `version`); part of KEK rotation. Returns how many.
    pub async fn rewrap_attachment_keys(
        &self,
        tenant: &TenantId,
        old: &TenantKeys,
        kek: &Kek,
        version: i64,
    ) -> Result<usize, ServerError> {
        let mut count = 0;
        let mut after = Vec::new();
        loop {
            let page = self.store.attachments_after(tenant, &after, 500).await?;
            let Some(last) = page.last() else { break };
            after = last.hash.clone();
            let mut keys = Vec::with_capacity(page.len());
            for a in page.iter().filter(|a| a.kek_version != version) {
                let ctx = context(tenant.as_str(), &a.hash);
                let old_kek = old
                    .get(a.kek_version)
                    .ok_or_else(|| ServerError::NotFound(format!("key version {}", a.kek_version)))?;
                let key = old_kek.unwrap_data_key(&a.wrapped_key, &ctx)?;
                keys.push((a.hash.clone(), kek.wrap_data_key(&key, &ctx)?));
            }
            count += keys.len();
            let op = Op::RewrapAttachmentKeys { tenant: tenant.clone(), kek_version: version, keys };
            self.store.commit(Commit { ops: vec![op], events: vec![] }).await?;
        }
        Ok(count)
    }

    /// Deletes blobs nothing references any more (disposed messages';
    /// attachments shredded with their last message; copies sealed twice by
    /// a race), a page at a time with one sync per segment file touched.
    /// Failures are left for the next call. Returns how many were deleted.
    pub async fn collect_blob_garbage(&self) -> Result<usize, ServerError> {
        let mut total = 0;
        loop {
            let page = self.store.blob_garbage(GARBAGE_PAGE).await?;
            let mut removed = Vec::with_capacity(page.len());
            let results = self.store.delete_blobs(&page).await;
            for (blob_ref, result) in page.into_iter().zip(results) {
                match result {
                    Ok(()) => removed.push(blob_ref),
                    Err(e) => tracing::warn!(error = %e, "blob garbage: deletion failed; retried next time"),
                }
            }
            if removed.is_empty() {
                return Ok(total);
            }
            total += removed.len();
            self.store.commit(Commit { ops: vec![Op::GarbageRemoved(removed)], events: vec![] }).await?;
        }
    }
}

/// What a message with cut attachments stores instead of its original bytes.
pub(super) struct Sealed {
    /// The message without the cut bodies (sealed as its blob).
    pub skeleton: Vec<u8>,
    /// Where each body goes back (sealed in its metadata).
    pub splices: Vec<SpliceMeta>,
    /// Its references, with the attachments new to the tenant sealed.
    pub refs: Vec<NewAttachment>,
}

/// Seals the attachments that are new to the tenant; None when nothing was cut.
pub(super) fn seal_attachments(
    tenant: &TenantId,
    prepared: Prepared,
    kek: &Kek,
    kek_version: i64,
) -> Result<Option<Sealed>, ServerError> {
    let Some(cut) = prepared.cut else { return Ok(None) };
    let mut splices = Vec::with_capacity(cut.parts.len());
    let mut refs: Vec<NewAttachment> = Vec::new();
    for (part, hash) in cut.parts.into_iter().zip(prepared.hashes) {
        splices.push(SpliceMeta {
            at: part.at as u64,
            hash: hex::encode(&hash),
            line_len: u32::try_from(part.layout.line_len)
                .map_err(|_| ServerError::Invalid(crate::InvalidInput::general("a base64 line longer than 4 GiB")))?,
            crlf: part.layout.crlf,
        });
        if refs.iter().any(|r| r.hash == hash) {
            continue;
        }
        let sealed = if prepared.known.contains(&hash) {
            None
        } else {
            let ctx = context(tenant.as_str(), &hash);
            let key = DataKey::generate()?;
            Some(SealedAttachment {
                kek_version,
                wrapped_key: kek.wrap_data_key(&key, &ctx)?,
                blob: key.seal_blob(&part.decoded, &ctx)?.into(),
                size: part.decoded.len() as i64,
            })
        };
        refs.push(NewAttachment { hash, sealed });
    }
    Ok(Some(Sealed { skeleton: cut.skeleton, splices, refs }))
}
