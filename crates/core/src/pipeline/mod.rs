//! The accept path (SPEC §2): parse + validate happened at the edge;
//! here a message is classified, sealed and committed. Nothing is
//! acknowledged before [`Accept::accept`] returns, and it returns only after the
//! group commit is durable.

mod attachments;
mod classify;
mod envelope;
mod seal;

pub use classify::{CategoryError, PolicyHeaderError, category_from_headers, policy_from_headers};
pub use envelope::{EnvelopeMeta, RcptKind, RcptMeta, SpliceMeta};
pub use seal::context as seal_context;

use std::sync::Arc;

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_model::{Category, MessageId, TenantId};
use sealpost_store::{Commit, IdempotencyRecord, Op, Source};

use crate::Core;
use crate::ServerError;

/// A validated message ready to be committed.
pub struct Submission {
    /// Owner.
    pub tenant: TenantId,
    /// Who submitted it (audit).
    pub actor: Actor,
    /// Intake path.
    pub source: Source,
    /// Category (R-CL-2).
    pub category: Category,
    /// Envelope and submission metadata (sealed before storage).
    pub envelope: EnvelopeMeta,
    /// The exact RFC 5322 bytes.
    pub raw: Vec<u8>,
}

/// Builds the idempotency record of a response from the new message ids.
pub type IdempotencyFor<'a> = dyn Fn(&[MessageId]) -> IdempotencyRecord + Sync + 'a;

/// Messages larger than this are sealed on a blocking thread.
const INLINE_SEAL_LIMIT: usize = 256 * 1024;

/// The accept path: the one way a message enters the store.
pub struct Accept {
    core: Arc<Core>,
}

impl Accept {
    /// Builds the service.
    pub fn new(core: Arc<Core>) -> Arc<Accept> {
        Arc::new(Accept { core })
    }

    /// Seals and durably commits `subs` (all or nothing). `idempotency`, given
    /// the new ids, yields the record of the response, stored in the same
    /// transaction. Returns the ids.
    pub async fn accept(
        &self,
        subs: Vec<Submission>,
        idempotency: Option<&IdempotencyFor<'_>>,
    ) -> Result<Vec<MessageId>, ServerError> {
        let kinds: Vec<(Source, Category)> = subs.iter().map(|s| (s.source, s.category)).collect();
        let (mut commit, ids) = self.seal_submissions(subs).await?;
        if let Some(record) = idempotency {
            commit.ops.push(Op::Idempotency(record(&ids)));
        }
        self.core.store.commit(commit).await?;
        for (source, stream) in kinds {
            crate::telemetry::accepted(source, stream);
        }
        Ok(ids)
    }

    /// Seals `subs` into a commit (message ops and `message.accepted`
    /// events) without committing it, so callers can add their own ops.
    pub async fn seal_submissions(&self, subs: Vec<Submission>) -> Result<(Commit, Vec<MessageId>), ServerError> {
        let mut ops = Vec::with_capacity(subs.len() + 1);
        let mut events = Vec::with_capacity(subs.len());
        let mut ids = Vec::with_capacity(subs.len());
        for sub in subs {
            let keys = self.core.tenant_keys(&sub.tenant).await?;
            let id = MessageId::new();
            let event = NewEvent::new(sub.tenant.clone(), sub.actor.clone(), Action::MessageAccepted, Outcome::Success)
                .target(id)
                .detail("source", DetailValue::Name(sub.source.as_str()))
                .detail("category", DetailValue::Name(sub.category.as_str()))
                .detail("recipients", DetailValue::Count(sub.envelope.recipients.len() as i64))
                .detail("size", DetailValue::Count(sub.raw.len() as i64));
            let digest = sealpost_crypto::sha256(&sub.raw);
            let hash = self.core.content_hash(&sub.tenant, &digest);
            let message = if sub.raw.len() > INLINE_SEAL_LIMIT {
                let (sub, cut) = tokio::task::spawn_blocking(move || {
                    let cut = attachments::cut(&sub.raw);
                    (sub, cut)
                })
                .await
                .map_err(|e| ServerError::State(e.to_string()))?;
                let prepared = self.core.prepare_attachments(&sub.tenant, cut).await?;
                tokio::task::spawn_blocking(move || seal::seal(id, sub, &keys, digest, hash, prepared))
                    .await
                    .map_err(|e| ServerError::State(e.to_string()))??
            } else {
                let prepared = self.core.prepare_attachments(&sub.tenant, attachments::cut(&sub.raw)).await?;
                seal::seal(id, sub, &keys, digest, hash, prepared)?
            };
            ops.push(Op::Message(message));
            events.push(event);
            ids.push(id);
        }
        Ok((Commit { ops, events }, ids))
    }
}
