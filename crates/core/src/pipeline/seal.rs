//! Turning a submission into storable, sealed bytes: a fresh data key per
//! message, the blob and the metadata sealed under it, the key wrapped by the
//! tenant's current KEK. The context string binds all three to tenant and id.
//! Large attachments are stored apart, once per tenant (`attachments.rs`).

use sealpost_crypto::DataKey;
use sealpost_model::{MessageId, RecipientId, now_micros};
use sealpost_store::NewMessage;

use super::Submission;
use super::attachments::{Prepared, seal_attachments};
use crate::ServerError;
use crate::core::TenantKeys;

/// The AEAD context of a message's key, blob and metadata.
pub fn context(tenant: &str, id: &MessageId) -> Vec<u8> {
    format!("{tenant}/{id}").into_bytes()
}

/// `digest` is the SHA-256 of `sub.raw`; `content_hash` its tenant-keyed
/// form (see [`crate::Core::content_hash`]).
pub(super) fn seal(
    id: MessageId,
    mut sub: Submission,
    keys: &TenantKeys,
    digest: [u8; 32],
    content_hash: Vec<u8>,
    attachments: Prepared,
) -> Result<NewMessage, ServerError> {
    let kek = keys.current().ok_or_else(|| ServerError::NotFound("current tenant key".into()))?;
    let ctx = context(sub.tenant.as_str(), &id);
    let dek = DataKey::generate()?;
    sub.envelope.sha256 = hex::encode(digest);
    let created_at = now_micros();
    let message_date = super::classify::date_from_headers(&sub.raw).unwrap_or(created_at);
    let (sealed_blob, attachments) = match seal_attachments(&sub.tenant, attachments, kek, keys.current)? {
        Some(cut) => {
            sub.envelope.splices = cut.splices;
            (dek.seal_blob(&cut.skeleton, &ctx)?, cut.refs)
        }
        None => (dek.seal_blob(&sub.raw, &ctx)?, Vec::new()),
    };
    let meta = serde_json::to_vec(&sub.envelope).map_err(|e| ServerError::State(e.to_string()))?;
    let sealed_meta = dek.seal_meta(&meta, &ctx)?;
    let recipients: Vec<RecipientId> = sub.envelope.recipients.iter().map(|_| RecipientId::new()).collect();
    Ok(NewMessage {
        id,
        tenant: sub.tenant,
        created_at,
        message_date,
        content_hash,
        source: sub.source,
        category: sub.category,
        size: sub.raw.len() as i64,
        kek_version: keys.current,
        wrapped_dek: kek.wrap_data_key(&dek, &ctx)?,
        sealed_meta,
        sealed_blob: sealed_blob.into(),
        accepted_webhooks: if sub.envelope.notice {
            Vec::new()
        } else {
            recipients.iter().map(|r| crate::webhook_event::event_payload(&id, r, "accepted", "{}")).collect()
        },
        recipients,
        attachments,
    })
}
