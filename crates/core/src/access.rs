//! Reading a stored message back (R-IN-4 step 5, R-AU-1 "viewed by staff"):
//! every read is audited before the data is returned.

use std::sync::Arc;

use sealpost_audit::{Action, Actor, NewEvent, Outcome};
use sealpost_model::{MessageId, TenantId};
use sealpost_store::{MessageRecord, QueueRecord};

use crate::Core;
use crate::ServerError;
use crate::pipeline::EnvelopeMeta;

/// A message opened for a caller.
pub struct OpenedMessage {
    /// The stored row.
    pub record: MessageRecord,
    /// Its recipients' queue entries.
    pub recipients: Vec<QueueRecord>,
    /// The unsealed metadata.
    pub meta: EnvelopeMeta,
    /// The original bytes, when asked for.
    pub raw: Option<Vec<u8>>,
}

/// Reads stored messages back, for callers (audited) and for the system's
/// own work (delivery, indexing, export).
pub struct MessageReader {
    core: Arc<Core>,
}

impl MessageReader {
    /// Builds the reader.
    pub fn new(core: Arc<Core>) -> Arc<MessageReader> {
        Arc::new(MessageReader { core })
    }

    /// Opens a message of `tenant` for `actor`; with `raw`, decrypts the
    /// original bytes too. Audited as `message.accessed` or
    /// `message.raw_accessed`; the event is durable before anything is returned.
    pub async fn open_message(
        &self,
        tenant: &TenantId,
        id: &MessageId,
        actor: Actor,
        raw: bool,
    ) -> Result<OpenedMessage, ServerError> {
        let opened = self.load_message(tenant, id, raw).await?;
        let action = if raw { Action::MessageRawAccessed } else { Action::MessageAccessed };
        self.core.audit(vec![NewEvent::new(tenant.clone(), actor, action, Outcome::Success).target(*id)]).await?;
        Ok(opened)
    }

    /// Opens a message for the system's own use (delivery), without an
    /// access event: delivery records its own audit events.
    pub async fn load_message(
        &self,
        tenant: &TenantId,
        id: &MessageId,
        raw: bool,
    ) -> Result<OpenedMessage, ServerError> {
        let record =
            self.core.store.message(tenant, id).await?.ok_or_else(|| ServerError::NotFound(format!("message {id}")))?;
        let keys = self.core.tenant_keys_with(tenant, record.kek_version).await?;
        let kek = keys
            .get(record.kek_version)
            .ok_or_else(|| ServerError::NotFound(format!("key version {}", record.kek_version)))?;
        let ctx = crate::pipeline::seal_context(tenant.as_str(), id);
        let dek = kek.unwrap_data_key(&record.wrapped_dek, &ctx)?;
        let meta: EnvelopeMeta = serde_json::from_slice(&dek.open_meta(&record.sealed_meta, &ctx)?)
            .map_err(|e| ServerError::State(format!("message {id}: metadata: {e}")))?;
        let bytes = if raw {
            let sealed = self.core.store.read_blob(&record.blob_ref).await?;
            let stored = dek.open_blob(&sealed, &ctx)?;
            if meta.splices.is_empty() {
                Some(stored)
            } else {
                // Rebuilt bytes are checked against the digest sealed at
                // acceptance: a wrong splice must fail, not serve altered mail.
                let original = self.core.splice_attachments(tenant, stored, &meta.splices).await?;
                if hex::encode(sealpost_crypto::sha256(&original)) != meta.sha256 {
                    return Err(ServerError::State(format!("message {id}: rebuilt bytes do not match their SHA-256")));
                }
                Some(original)
            }
        } else {
            None
        };
        let recipients = self.core.store.recipients(tenant, id).await?;
        Ok(OpenedMessage { record, recipients, meta, raw: bytes })
    }
}
