//! The group committer: the only writer. Concurrent [`Commit`]s are gathered
//! into one batch, their blobs appended with one sync, then one database
//! transaction writes every row and chains every audit event; each caller is
//! answered only after that transaction commits. If a batch fails, each commit
//! in it is retried alone, so one bad commit cannot fail its neighbours.

use bytes::Bytes;
use sealpost_audit::{ChainHead, CheckpointSigner, NewEvent, chain};
use sealpost_model::{ApiKeyId, EventId, MessageId, RecipientId, TenantId, now_micros};
use sqlx::{Any, Row, Transaction};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::StoreError;
use crate::blob::Blobs;
use crate::db::Db;
use crate::records::*;

/// Rows to write and audit events to chain, atomically.
#[derive(Debug, Clone, Default)]
pub struct Commit {
    /// Row writes.
    pub ops: Vec<Op>,
    /// Audit events, chained in this order.
    pub events: Vec<NewEvent>,
}

/// One row-level write.
#[derive(Debug, Clone)]
pub enum Op {
    /// An accepted message, its blob and one queue entry per recipient.
    Message(NewMessage),
    /// The response given to an idempotent request.
    Idempotency(IdempotencyRecord),
    /// A new tenant with its first KEK.
    CreateTenant(TenantRecord, KekRecord),
    /// A new KEK version for a tenant.
    AddKek(TenantId, KekRecord),
    /// Data keys re-wrapped under a new KEK version (KEK rotation).
    RewrapKeys {
        /// Tenant.
        tenant: TenantId,
        /// The KEK version the new wrappings are under.
        kek_version: i64,
        /// Message id and its re-wrapped data key.
        keys: Vec<(MessageId, Vec<u8>)>,
    },
    /// Attachment keys re-wrapped under a new KEK version (KEK rotation).
    RewrapAttachmentKeys {
        /// Tenant.
        tenant: TenantId,
        /// The KEK version the new wrappings are under.
        kek_version: i64,
        /// Attachment hash and its re-wrapped key.
        keys: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// These unreferenced blobs (of attachments disposed with their last
    /// message, or sealed twice by a race) are deleted: forget them.
    GarbageRemoved(Vec<String>),
    /// A new user.
    CreateUser(UserRecord),
    /// A new API key.
    CreateApiKey(ApiKeyRecord),
    /// Revoke an API key.
    RevokeApiKey(TenantId, ApiKeyId),
    /// Store or replace an installation secret.
    PutSecret(SecretRecord),
    /// A recipient's delivery state changed; its lease is released.
    Delivery(DeliveryUpdate),
    /// Hold a message for portal pickup.
    Pickup(PortalPickup),
    /// Record a pickup's address hash (a link sent before the portal existed).
    PickupAddress {
        /// The pickup.
        token_hash: Vec<u8>,
        /// Its recipient's keyed address hash.
        address_hash: Vec<u8>,
    },
    /// The recipient opened the pickup's message (first time only).
    PickupOpened {
        /// The pickup.
        token_hash: Vec<u8>,
        /// Unix micros.
        at: i64,
    },
    /// The recipient was reminded that the pickup expires (once).
    PickupReminded {
        /// The pickup.
        token_hash: Vec<u8>,
        /// Unix micros.
        at: i64,
    },
    /// Retract a message's pickups: one recipient's, or all.
    RetractPickups {
        /// Tenant.
        tenant: TenantId,
        /// Message.
        message: MessageId,
        /// Only this recipient's (`None`: all).
        recipient: Option<RecipientId>,
        /// Unix micros.
        at: i64,
    },
    /// Change when a message's unretracted pickups expire.
    SetPickupExpiry {
        /// Tenant.
        tenant: TenantId,
        /// Message.
        message: MessageId,
        /// Unix micros.
        expires_at: i64,
    },
    /// A per-recipient event that is not a delivery attempt (a portal
    /// view, download or reply), with its webhook fan-out.
    RecipientEvent {
        /// Tenant.
        tenant: TenantId,
        /// Message.
        message: MessageId,
        /// Recipient.
        recipient: RecipientId,
        /// Event name (`portal_opened`, …).
        event: String,
        /// JSON detail (no PHI).
        detail: String,
        /// Webhook payload (no PHI); empty: none.
        webhook_payload: String,
    },
    /// Create a portal session.
    PutPortalSession(PortalSession),
    /// Keep a portal session alive (idle timeout counts from `seen_at`).
    TouchPortalSession {
        /// The session.
        id_hash: Vec<u8>,
        /// Unix micros.
        seen_at: i64,
    },
    /// End a portal session.
    DeletePortalSession(Vec<u8>),
    /// Write a recipient's sign-in state: insert when `expected_version`
    /// is `None`, else only over that version (a conflict otherwise).
    PutPortalRecipient {
        /// The new state (its `version` is written as given).
        state: PortalRecipient,
        /// The version it replaces.
        expected_version: Option<i64>,
    },
    /// These messages are in the search index now.
    MarkIndexed(Vec<MessageId>),
    /// Messages the indexer could not load (not disposed): left unindexed,
    /// retried after a backoff that grows with each failure.
    IndexRetryLater(Vec<MessageId>),
    /// These disposed messages are purged from the search index.
    MarkUnindexed(Vec<MessageId>),
    /// Record a search with its sealed query.
    LogSearch(SearchLogRecord),
    /// Put a leased recipient back in the queue without counting an attempt
    /// (its destination was busy or rate-limited).
    Requeue {
        /// Tenant.
        tenant: TenantId,
        /// The message.
        message: MessageId,
        /// The recipient's queue entry.
        recipient: RecipientId,
        /// When it is due again.
        next_attempt_at: i64,
    },
    /// Register a webhook endpoint.
    PutWebhook(WebhookRecord),
    /// Deactivate a webhook of a tenant.
    DeleteWebhook(TenantId, RecipientId),
    /// The result of posting one outbox item.
    OutboxResult {
        /// Outbox id.
        id: String,
        /// `pending` (retry), `delivered` or `failed`.
        state: String,
        /// Next attempt for `pending`.
        next_attempt_at: i64,
        /// Attempts including this one.
        attempts: i64,
        /// HTTP status, if one came back.
        last_status: Option<i64>,
    },
    /// Put a recipient key on file.
    PutRecipientKey(RecipientKeyRecord),
    /// Remove a recipient key of a tenant.
    DeleteRecipientKey(TenantId, RecipientId),
    /// Add a DKIM key; older keys of the same domain and algorithm stop signing.
    PutDkimKey(DkimKeyRecord),
    /// Add a sending domain, or replace the tenant's row for it (state,
    /// token). [`StoreError::Conflict`] when it would make a second tenant
    /// own a domain (verified or asserted).
    PutSendingDomain(SendingDomainRecord),
    /// Remove a tenant's sending domain; [`StoreError::Conflict`] if it has none.
    DeleteSendingDomain(TenantId, String),
    /// Add an address (as a keyed hash) to a tenant's suppression list.
    Suppress {
        /// Tenant.
        tenant: TenantId,
        /// Keyed hash of the normalized address.
        address_hash: Vec<u8>,
        /// `hard_bounce`, `unsubscribe`, `complaint`.
        reason: String,
    },
    /// Store messages' evaluated retention.
    SetRetention(Vec<RetentionUpdate>),
    /// A reviewer postponed a message's disposal until `until` (unix micros).
    ExtendRetention {
        /// Tenant.
        tenant: TenantId,
        /// The message.
        message: MessageId,
        /// New earliest disposal time.
        until: i64,
    },
    /// Create a legal hold; bumps the tenant's holds version.
    PutHold(HoldRecord),
    /// Change a hold's state; a release bumps the holds version.
    ChangeHold(HoldChange),
    /// Crypto-shred one message: checks the holds version, empties its
    /// wrapped key and sealed metadata, removes its queue rows and portal
    /// pickups, keeps its certificate. The blob is deleted after the commit.
    Dispose(Disposal),
    /// Crypto-shred a page of messages in one transaction: [`Op::Dispose`]
    /// for each, with set-based statements. Fails whole (a conflict) if the
    /// holds version moved or any message is gone or already disposed.
    DisposePage(DisposalPage),
    /// Disposed messages' blobs are gone: forget their references.
    BlobsRemoved(TenantId, Vec<MessageId>),
    /// Record a patient access request (state `open`).
    CreateAccessRequest(AccessRequestRecord),
    /// An access request's record set was searched: `open` becomes
    /// `searched`; a later state is left as it is.
    AccessRequestSearched(TenantId, EventId),
    /// An access request was fulfilled with the package whose SHA-256 is
    /// given. Fails with a conflict if it is unknown or already fulfilled.
    AccessRequestFulfilled {
        /// Tenant.
        tenant: TenantId,
        /// The request.
        id: EventId,
        /// Unix micros.
        at: i64,
        /// The package's SHA-256, lowercase hex.
        package_sha256: String,
    },
    /// Record an API export as `streaming`.
    CreateExport(ExportRecord),
    /// A `streaming` export ended. Fails with a conflict if it is unknown
    /// or already ended.
    FinishExport {
        /// Tenant.
        tenant: TenantId,
        /// The export.
        id: EventId,
        /// `complete` or `aborted`.
        state: String,
        /// Unix micros.
        at: i64,
        /// Bytes produced.
        bytes: i64,
        /// The package's SHA-256, lowercase hex (complete only).
        package_sha256: Option<String>,
    },
}

impl Commit {
    /// A commit holding only audit events.
    pub fn events(events: Vec<NewEvent>) -> Self {
        Commit { ops: Vec::new(), events }
    }
}

struct Request {
    commit: Commit,
    reply: oneshot::Sender<Result<Vec<i64>, StoreError>>,
}

pub(crate) struct Handle {
    tx: Mutex<Option<mpsc::Sender<Request>>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// The committer's metric names (described by [`describe_metrics`]). Their
/// only label is `stage`, a fixed word: nothing about tenants or messages.
pub mod metric_names {
    /// Histogram: one `Store::commit` call, from submission to its answer
    /// (waiting for the batch included), seconds.
    pub const COMMIT_LATENCY: &str = "sealpost_store_commit_latency_seconds";
    /// Histogram: one batch, blob sync through database commit, seconds.
    pub const BATCH_DURATION: &str = "sealpost_store_batch_duration_seconds";
    /// Histogram: commits gathered into one batch.
    pub const BATCH_SIZE: &str = "sealpost_store_batch_commits";
    /// Histogram: making a batch durable, by `stage`: `blobs` (segment write
    /// and fdatasync, or the object PUTs) and `database` (the COMMIT, which
    /// fsyncs the WAL), seconds.
    pub const FSYNC: &str = "sealpost_store_fsync_seconds";
}

/// Registers help text for the committer's metrics with the installed
/// recorder (without one, metrics are no-ops and this does nothing).
pub fn describe_metrics() {
    use metrics::{Unit, describe_histogram};
    describe_histogram!(
        metric_names::COMMIT_LATENCY,
        Unit::Seconds,
        "Time from submitting a commit to its durable answer, waiting for the group commit included."
    );
    describe_histogram!(
        metric_names::BATCH_DURATION,
        Unit::Seconds,
        "Time to write one group-commit batch: blob sync, rows, audit chain, COMMIT."
    );
    describe_histogram!(metric_names::BATCH_SIZE, Unit::Count, "Commits gathered into one group-commit batch.");
    describe_histogram!(
        metric_names::FSYNC,
        Unit::Seconds,
        "Time to make a batch durable, by stage: blobs (write + fdatasync, or object PUTs), database (COMMIT)."
    );
}

const MAX_BATCH: usize = 512;
const MAX_BATCH_BYTES: usize = 32 * 1024 * 1024;

struct Committer {
    db: Db,
    blobs: Blobs,
    signer: Option<CheckpointSigner>,
    checkpoint_every: i64,
}

impl Handle {
    pub(crate) fn start(db: Db, blobs: Blobs, signer: Option<CheckpointSigner>, checkpoint_every: i64) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        let committer = Committer { db, blobs, signer, checkpoint_every: checkpoint_every.max(1) };
        let task = tokio::spawn(committer.run(rx));
        Handle { tx: Mutex::new(Some(tx)), task: Mutex::new(Some(task)) }
    }

    pub(crate) async fn submit(&self, commit: Commit) -> Result<Vec<i64>, StoreError> {
        let started = std::time::Instant::now();
        let sender = self.tx.lock().await.clone().ok_or(StoreError::Closed)?;
        let (reply, rx) = oneshot::channel();
        sender.send(Request { commit, reply }).await.map_err(|_| StoreError::Closed)?;
        let result = rx.await.map_err(|_| StoreError::Closed)?;
        metrics::histogram!(metric_names::COMMIT_LATENCY).record(started.elapsed().as_secs_f64());
        result
    }

    pub(crate) async fn close(&self) {
        self.tx.lock().await.take();
        if let Some(task) = self.task.lock().await.take() {
            let _ = task.await;
        }
    }
}

fn commit_bytes(c: &Commit) -> usize {
    c.ops
        .iter()
        .map(|op| match op {
            Op::Message(m) => {
                m.sealed_blob.len()
                    + m.attachments.iter().filter_map(|a| a.sealed.as_ref()).map(|a| a.blob.len()).sum::<usize>()
            }
            _ => 64,
        })
        .sum()
}

impl Committer {
    async fn run(self, mut rx: mpsc::Receiver<Request>) {
        while let Some(first) = rx.recv().await {
            let mut bytes = commit_bytes(&first.commit);
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                match rx.try_recv() {
                    Ok(r) => {
                        bytes += commit_bytes(&r.commit);
                        batch.push(r);
                    }
                    Err(_) => break,
                }
            }
            let commits: Vec<&Commit> = batch.iter().map(|r| &r.commit).collect();
            metrics::histogram!(metric_names::BATCH_SIZE).record(commits.len() as f64);
            match self.apply(&commits, false).await {
                Ok(seqs) => {
                    for (req, s) in batch.into_iter().zip(seqs) {
                        let _ = req.reply.send(Ok(s));
                    }
                }
                Err(e) if batch.len() == 1 => {
                    let _ = batch.pop().map(|r| r.reply.send(Err(e)));
                }
                Err(e) => {
                    tracing::warn!(error = %e, size = batch.len(), "batch commit failed; retrying one by one");
                    for req in batch {
                        let result = self.apply(&[&req.commit], false).await.map(|mut s| s.remove(0));
                        let _ = req.reply.send(result);
                    }
                }
            }
        }
        if let Err(e) = self.apply(&[], true).await {
            tracing::warn!(error = %e, "final audit checkpoint failed");
        }
    }

    /// Writes `commits` in one transaction; returns each commit's event seqs.
    async fn apply(&self, commits: &[&Commit], force_checkpoint: bool) -> Result<Vec<Vec<i64>>, StoreError> {
        let started = std::time::Instant::now();
        let seqs = self.apply_timed(commits, force_checkpoint).await?;
        metrics::histogram!(metric_names::BATCH_DURATION).record(started.elapsed().as_secs_f64());
        Ok(seqs)
    }

    async fn apply_timed(&self, commits: &[&Commit], force_checkpoint: bool) -> Result<Vec<Vec<i64>>, StoreError> {
        // Write-unique names: a failed or retried commit can never overwrite
        // the blob of a message or attachment that is already stored.
        // `write_op` takes the references back in this order.
        let blobs: Vec<(String, Bytes)> = commits
            .iter()
            .flat_map(|c| c.ops.iter())
            .filter_map(|op| match op {
                Op::Message(m) => Some(m),
                _ => None,
            })
            .flat_map(|m| {
                let message =
                    (format!("t/{}/m/{}/{}", m.tenant, m.id, uuid::Uuid::new_v4().simple()), m.sealed_blob.clone());
                let attachments = m
                    .attachments
                    .iter()
                    .filter_map(|a| a.sealed.as_ref())
                    .map(|a| (format!("t/{}/a/{}", m.tenant, uuid::Uuid::new_v4().simple()), a.blob.clone()));
                std::iter::once(message).chain(attachments)
            })
            .collect();
        let any_blobs = !blobs.is_empty();
        let synced = std::time::Instant::now();
        let mut refs = self.blobs.put_batch(blobs).await?.into_iter();
        if any_blobs {
            metrics::histogram!(metric_names::FSYNC, "stage" => "blobs").record(synced.elapsed().as_secs_f64());
        }

        let mut tx = self.db.begin_write().await?;
        // Lock the chain head first: on PostgreSQL this serializes the chain
        // across nodes; on SQLite BEGIN IMMEDIATE already holds the lock.
        sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1").execute(&mut *tx).await?;
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&mut *tx).await?;
        let hash: Vec<u8> = row.try_get("hash")?;
        let mut head = ChainHead {
            seq: row.try_get("seq")?,
            hash: hash.try_into().map_err(|_| StoreError::Corrupt("audit head hash".into()))?,
        };
        let start_seq = head.seq;
        let mut all_seqs = Vec::with_capacity(commits.len());
        for commit in commits {
            for op in &commit.ops {
                write_op(&mut tx, op, &mut refs).await?;
            }
            let (rows, next) = chain(&head, commit.events.clone());
            let seqs = rows.iter().map(|r| r.seq).collect();
            // Multi-row inserts: a page of disposals chains hundreds of
            // events, and each statement is a round trip to the database.
            let mut rows = rows.into_iter().peekable();
            while rows.peek().is_some() {
                let chunk: Vec<_> = rows.by_ref().take(EVENT_CHUNK).collect();
                let values = (0..chunk.len())
                    .map(|i| format!("({})", placeholders(1 + i * 11, 11)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "INSERT INTO audit_events (seq, id, at_micros, tenant_id, actor, action, target, outcome, detail, \
                     prev_hash, hash) VALUES {values}"
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q
                        .bind(r.seq)
                        .bind(r.id)
                        .bind(r.at_micros)
                        .bind(r.tenant)
                        .bind(r.actor)
                        .bind(r.action)
                        .bind(r.target)
                        .bind(r.outcome)
                        .bind(r.detail)
                        .bind(r.prev_hash)
                        .bind(r.hash);
                }
                q.execute(&mut *tx).await?;
            }
            head = next;
            all_seqs.push(seqs);
        }
        if head.seq != start_seq {
            sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
                .bind(head.seq)
                .bind(head.hash.to_vec())
                .execute(&mut *tx)
                .await?;
        }
        self.maybe_checkpoint(&mut tx, &head, force_checkpoint).await?;
        let committed = std::time::Instant::now();
        tx.commit().await?;
        metrics::histogram!(metric_names::FSYNC, "stage" => "database").record(committed.elapsed().as_secs_f64());
        Ok(all_seqs)
    }

    async fn maybe_checkpoint(
        &self,
        tx: &mut Transaction<'static, Any>,
        head: &ChainHead,
        force: bool,
    ) -> Result<(), StoreError> {
        let Some(signer) = &self.signer else {
            return Ok(());
        };
        let last: Option<i64> =
            sqlx::query("SELECT MAX(seq) AS s FROM audit_checkpoints").fetch_one(&mut **tx).await?.try_get("s")?;
        let last = last.unwrap_or(0);
        if head.seq > last && (force || head.seq - last >= self.checkpoint_every) {
            let cp = signer.sign(head, now_micros());
            sqlx::query(
                "INSERT INTO audit_checkpoints (seq, hash, at_micros, key_id, signature) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(cp.seq)
            .bind(cp.hash)
            .bind(cp.at_micros)
            .bind(cp.key_id)
            .bind(cp.signature)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

fn conflict(e: sqlx::Error, what: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what.to_owned()),
        _ => StoreError::Db(e),
    }
}

/// One webhook outbox row per active webhook of the tenant, in the
/// transaction that records the event (R-OP-1).
async fn fan_out(tx: &mut Transaction<'static, Any>, tenant: &TenantId, payload: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO webhook_outbox (id, webhook_id, tenant_id, payload, state, attempts, next_attempt_at, created_at) \
         SELECT $1 || id, id, tenant_id, $2, 'pending', 0, $3, $4 FROM webhooks WHERE tenant_id = $5 AND active = 1",
    )
    .bind(sealpost_model::EventId::new().to_string())
    .bind(payload.to_owned())
    .bind(now_micros())
    .bind(now_micros())
    .bind(tenant.as_str().to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn write_op(
    tx: &mut Transaction<'static, Any>,
    op: &Op,
    refs: &mut impl Iterator<Item = String>,
) -> Result<(), StoreError> {
    match op {
        Op::Message(m) => {
            let blob_ref = refs.next().ok_or_else(|| StoreError::Blob("blob reference missing".into()))?;
            sqlx::query(
                "INSERT INTO messages (id, tenant_id, created_at, source, category, size, kek_version, wrapped_dek, sealed_meta, blob_ref, state, content_hash, message_date) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'accepted', $11, $12)",
            )
            .bind(m.id.to_string())
            .bind(m.tenant.as_str().to_owned())
            .bind(m.created_at)
            .bind(m.source.as_str())
            .bind(m.category.as_str())
            .bind(m.size)
            .bind(m.kek_version)
            .bind(m.wrapped_dek.clone())
            .bind(m.sealed_meta.clone())
            .bind(blob_ref)
            .bind(m.content_hash.clone())
            .bind(m.message_date)
            .execute(&mut **tx)
            .await
            .map_err(|e| conflict(e, "message id already exists"))?;
            for (i, rid) in m.recipients.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO queue (id, message_id, tenant_id, rcpt_index, state, next_attempt_at, attempts, stream) \
                     VALUES ($1, $2, $3, $4, 'queued', $5, 0, $6)",
                )
                .bind(rid.to_string())
                .bind(m.id.to_string())
                .bind(m.tenant.as_str().to_owned())
                .bind(i as i64)
                .bind(m.created_at)
                .bind(m.category.as_str())
                .execute(&mut **tx)
                .await
                .map_err(|e| conflict(e, "recipient id already exists"))?;
                if let Some(payload) = m.accepted_webhooks.get(i).filter(|p| !p.is_empty()) {
                    fan_out(tx, &m.tenant, payload).await?;
                }
            }
            for a in &m.attachments {
                reference_attachment(tx, m, a, refs).await?;
            }
        }
        Op::Idempotency(r) => {
            sqlx::query(
                "INSERT INTO idempotency (tenant_id, key_hash, request_hash, response, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(r.tenant.as_str().to_owned())
            .bind(r.key_hash.clone())
            .bind(r.request_hash.clone())
            .bind(r.response.clone())
            .bind(now_micros())
            .execute(&mut **tx)
            .await
            .map_err(|e| conflict(e, "idempotency key already used"))?;
        }
        Op::CreateTenant(t, kek) => {
            sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(t.id.as_str().to_owned())
                .bind(t.name.clone())
                .bind(t.created_at)
                .execute(&mut **tx)
                .await
                .map_err(|e| conflict(e, "tenant already exists"))?;
            insert_kek(tx, &t.id, kek).await?;
        }
        Op::AddKek(tenant, kek) => insert_kek(tx, tenant, kek).await?,
        Op::RewrapKeys { tenant, kek_version, keys } => {
            for (id, wrapped) in keys {
                // Only a live message: a disposal committed after the
                // rotation read the key destroyed it, and it stays destroyed.
                let done = sqlx::query(
                    "UPDATE messages SET wrapped_dek = $1, kek_version = $2 \
                     WHERE tenant_id = $3 AND id = $4 AND disposed_at IS NULL",
                )
                .bind(wrapped.clone())
                .bind(*kek_version)
                .bind(tenant.as_str().to_owned())
                .bind(id.to_string())
                .execute(&mut **tx)
                .await?;
                if done.rows_affected() != 1 {
                    let disposed = sqlx::query("SELECT 1 FROM messages WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.as_str().to_owned())
                        .bind(id.to_string())
                        .fetch_optional(&mut **tx)
                        .await?
                        .is_some();
                    if !disposed {
                        return Err(StoreError::Conflict(format!(
                            "re-wrap: message {id} not found in tenant {tenant}"
                        )));
                    }
                }
            }
        }
        Op::RewrapAttachmentKeys { tenant, kek_version, keys } => {
            for (hash, wrapped) in keys {
                // An attachment disposed meanwhile has no row to re-wrap:
                // nothing is lost by skipping it.
                sqlx::query(
                    "UPDATE attachments SET wrapped_key = $1, kek_version = $2 WHERE tenant_id = $3 AND hash = $4",
                )
                .bind(wrapped.clone())
                .bind(*kek_version)
                .bind(tenant.as_str().to_owned())
                .bind(hash.clone())
                .execute(&mut **tx)
                .await?;
            }
        }
        Op::GarbageRemoved(blob_refs) => {
            for chunk in blob_refs.chunks(IN_CHUNK) {
                let sql = format!("DELETE FROM blob_garbage WHERE blob_ref IN ({})", placeholders(1, chunk.len()));
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for blob_ref in chunk {
                    q = q.bind(blob_ref.clone());
                }
                q.execute(&mut **tx).await?;
            }
        }
        Op::CreateUser(u) => {
            sqlx::query(
                "INSERT INTO users (id, tenant_id, username, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(u.id.to_string())
            .bind(u.tenant.as_str().to_owned())
            .bind(u.username.clone())
            .bind(u.password_hash.clone())
            .bind(u.role.as_str())
            .bind(now_micros())
            .execute(&mut **tx)
            .await
            .map_err(|e| conflict(e, "user name already taken"))?;
        }
        Op::CreateApiKey(k) => {
            let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
            sqlx::query(
                "INSERT INTO api_keys (id, tenant_id, name, verifier, scopes, created_at, user_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(k.id.to_string())
            .bind(k.tenant.as_str().to_owned())
            .bind(k.name.clone())
            .bind(k.verifier.clone())
            .bind(scopes.join(","))
            .bind(k.created_at)
            .bind(k.user.map(|u| u.to_string()))
            .execute(&mut **tx)
            .await?;
        }
        Op::RevokeApiKey(tenant, id) => {
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL")
                .bind(now_micros())
                .bind(tenant.as_str().to_owned())
                .bind(id.to_string())
                .execute(&mut **tx)
                .await?;
        }
        Op::Delivery(d) => {
            let done = sqlx::query(
                "UPDATE queue SET state = $1, next_attempt_at = $2, attempts = $3, method = $4, tls_version = $5, \
                 tls_cipher = $6, last_code = $7, updated_at = $8, lease_until = NULL, lease_owner = NULL, \
                 delay_notified = $12 WHERE tenant_id = $9 AND id = $10 AND message_id = $11",
            )
            .bind(d.state.clone())
            .bind(d.next_attempt_at)
            .bind(d.attempts)
            .bind(d.method.clone())
            .bind(d.tls_version.clone())
            .bind(d.tls_cipher.clone())
            .bind(d.last_code)
            .bind(now_micros())
            .bind(d.tenant.as_str().to_owned())
            .bind(d.recipient.to_string())
            .bind(d.message.to_string())
            .bind(i64::from(d.delay_notified))
            .execute(&mut **tx)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!("recipient {} not found", d.recipient)));
            }
            sqlx::query(
                "INSERT INTO recipient_events (id, recipient_id, message_id, tenant_id, event, at_micros, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(sealpost_model::EventId::new().to_string())
            .bind(d.recipient.to_string())
            .bind(d.message.to_string())
            .bind(d.tenant.as_str().to_owned())
            .bind(d.event.clone())
            .bind(now_micros())
            .bind(d.detail.clone())
            .execute(&mut **tx)
            .await?;
            if !d.webhook_payload.is_empty() {
                fan_out(tx, &d.tenant, &d.webhook_payload).await?;
            }
        }
        Op::LogSearch(r) => {
            sqlx::query("INSERT INTO search_log (id, tenant_id, actor, at_micros, sealed) VALUES ($1, $2, $3, $4, $5)")
                .bind(r.id.to_string())
                .bind(r.tenant.as_str().to_owned())
                .bind(r.actor.clone())
                .bind(r.at)
                .bind(r.sealed.clone())
                .execute(&mut **tx)
                .await?;
        }
        Op::MarkUnindexed(ids) => {
            for id in ids {
                sqlx::query("UPDATE messages SET indexed = 2 WHERE id = $1 AND disposed_at IS NOT NULL")
                    .bind(id.to_string())
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Op::IndexRetryLater(ids) => {
            // Quadratic backoff from 1 s, at most an hour between attempts.
            let now = sealpost_model::now_micros();
            for id in ids {
                sqlx::query(
                    "UPDATE messages SET index_attempts = index_attempts + 1, index_retry_at = $1 + \
                     CASE WHEN index_attempts < 60 THEN (index_attempts + 1) * (index_attempts + 1) * 1000000 \
                     ELSE 3600000000 END WHERE id = $2 AND indexed = 0",
                )
                .bind(now)
                .bind(id.to_string())
                .execute(&mut **tx)
                .await?;
            }
        }
        Op::MarkIndexed(ids) => {
            // Taken at commit, after the index commit that holds them.
            let at = sealpost_model::now_micros();
            for id in ids {
                sqlx::query("UPDATE messages SET indexed = 1, indexed_at = $1, index_retry_at = NULL WHERE id = $2")
                    .bind(at)
                    .bind(id.to_string())
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Op::Requeue { tenant, message, recipient, next_attempt_at } => {
            // Not an attempt: no event, attempts unchanged (a busy destination, R-DL-4).
            sqlx::query(
                "UPDATE queue SET next_attempt_at = $1, lease_until = NULL, lease_owner = NULL \
                 WHERE tenant_id = $2 AND id = $3 AND message_id = $4",
            )
            .bind(*next_attempt_at)
            .bind(tenant.as_str().to_owned())
            .bind(recipient.to_string())
            .bind(message.to_string())
            .execute(&mut **tx)
            .await?;
        }
        Op::PutWebhook(w) => {
            sqlx::query(
                "INSERT INTO webhooks (id, tenant_id, url, sealed_secret, created_at, active) VALUES ($1, $2, $3, $4, $5, 1)",
            )
            .bind(w.id.to_string())
            .bind(w.tenant.as_str().to_owned())
            .bind(w.url.clone())
            .bind(w.sealed_secret.clone())
            .bind(w.created_at)
            .execute(&mut **tx)
            .await?;
        }
        Op::DeleteWebhook(tenant, id) => {
            let done = sqlx::query("UPDATE webhooks SET active = 0 WHERE tenant_id = $1 AND id = $2 AND active = 1")
                .bind(tenant.as_str().to_owned())
                .bind(id.to_string())
                .execute(&mut **tx)
                .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!("webhook {id} not found")));
            }
        }
        Op::OutboxResult { id, state, next_attempt_at, attempts, last_status } => {
            sqlx::query(
                "UPDATE webhook_outbox SET state = $1, next_attempt_at = $2, attempts = $3, last_status = $4, lease_until = NULL \
                 WHERE id = $5",
            )
            .bind(state.clone())
            .bind(*next_attempt_at)
            .bind(*attempts)
            .bind(*last_status)
            .bind(id.clone())
            .execute(&mut **tx)
            .await?;
        }
        Op::Pickup(p) => {
            sqlx::query(
                "INSERT INTO portal_pickups (token_hash, tenant_id, message_id, recipient_id, created_at, expires_at, \
                 address_hash, opened_at, retracted_at, reminded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(p.token_hash.clone())
            .bind(p.tenant.as_str().to_owned())
            .bind(p.message.to_string())
            .bind(p.recipient.to_string())
            .bind(p.created_at)
            .bind(p.expires_at)
            .bind(p.address_hash.clone())
            .bind(p.opened_at)
            .bind(p.retracted_at)
            .bind(p.reminded_at)
            .execute(&mut **tx)
            .await
            .map_err(|e| conflict(e, "pickup token already exists"))?;
        }
        Op::PickupAddress { token_hash, address_hash } => {
            sqlx::query("UPDATE portal_pickups SET address_hash = $1 WHERE token_hash = $2 AND address_hash IS NULL")
                .bind(address_hash.clone())
                .bind(token_hash.clone())
                .execute(&mut **tx)
                .await?;
        }
        Op::PickupOpened { token_hash, at } => {
            sqlx::query("UPDATE portal_pickups SET opened_at = $1 WHERE token_hash = $2 AND opened_at IS NULL")
                .bind(*at)
                .bind(token_hash.clone())
                .execute(&mut **tx)
                .await?;
        }
        Op::PickupReminded { token_hash, at } => {
            let done =
                sqlx::query("UPDATE portal_pickups SET reminded_at = $1 WHERE token_hash = $2 AND reminded_at IS NULL")
                    .bind(*at)
                    .bind(token_hash.clone())
                    .execute(&mut **tx)
                    .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict("pickup already reminded".into()));
            }
        }
        Op::RetractPickups { tenant, message, recipient, at } => {
            match recipient {
                Some(r) => sqlx::query(
                    "UPDATE portal_pickups SET retracted_at = $1 WHERE tenant_id = $2 AND message_id = $3 \
                     AND recipient_id = $4 AND retracted_at IS NULL",
                )
                .bind(*at)
                .bind(tenant.as_str().to_owned())
                .bind(message.to_string())
                .bind(r.to_string()),
                None => sqlx::query(
                    "UPDATE portal_pickups SET retracted_at = $1 WHERE tenant_id = $2 AND message_id = $3 \
                     AND retracted_at IS NULL",
                )
                .bind(*at)
                .bind(tenant.as_str().to_owned())
                .bind(message.to_string()),
            }
            .execute(&mut **tx)
            .await?;
        }
        Op::SetPickupExpiry { tenant, message, expires_at } => {
            sqlx::query(
                "UPDATE portal_pickups SET expires_at = $1 WHERE tenant_id = $2 AND message_id = $3 AND retracted_at IS NULL",
            )
            .bind(*expires_at)
            .bind(tenant.as_str().to_owned())
            .bind(message.to_string())
            .execute(&mut **tx)
            .await?;
        }
        Op::RecipientEvent { tenant, message, recipient, event, detail, webhook_payload } => {
            sqlx::query(
                "INSERT INTO recipient_events (id, recipient_id, message_id, tenant_id, event, at_micros, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(sealpost_model::EventId::new().to_string())
            .bind(recipient.to_string())
            .bind(message.to_string())
            .bind(tenant.as_str().to_owned())
            .bind(event.clone())
            .bind(now_micros())
            .bind(detail.clone())
            .execute(&mut **tx)
            .await?;
            if !webhook_payload.is_empty() {
                fan_out(tx, tenant, webhook_payload).await?;
            }
        }
        Op::PutPortalSession(p) => {
            sqlx::query(
                "INSERT INTO portal_sessions (id_hash, tenant_id, address_hash, entry_hash, signed_in, created_at, \
                 seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(p.id_hash.clone())
            .bind(p.tenant.as_str().to_owned())
            .bind(p.address_hash.clone())
            .bind(p.entry_hash.clone())
            .bind(i64::from(p.signed_in))
            .bind(p.created_at)
            .bind(p.seen_at)
            .bind(p.expires_at)
            .execute(&mut **tx)
            .await
            .map_err(|e| conflict(e, "portal session already exists"))?;
        }
        Op::TouchPortalSession { id_hash, seen_at } => {
            sqlx::query("UPDATE portal_sessions SET seen_at = $1 WHERE id_hash = $2")
                .bind(*seen_at)
                .bind(id_hash.clone())
                .execute(&mut **tx)
                .await?;
        }
        Op::DeletePortalSession(id_hash) => {
            sqlx::query("DELETE FROM portal_sessions WHERE id_hash = $1")
                .bind(id_hash.clone())
                .execute(&mut **tx)
                .await?;
        }
        Op::PutPortalRecipient { state: r, expected_version } => {
            let q = match expected_version {
                None => sqlx::query(
                    "INSERT INTO portal_recipients (tenant_id, address_hash, code_hash, code_expires_at, code_tries, \
                     window_start, codes_in_window, failures, locked_until, version) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                ),
                Some(_) => sqlx::query(
                    "UPDATE portal_recipients SET code_hash = $3, code_expires_at = $4, code_tries = $5, \
                     window_start = $6, codes_in_window = $7, failures = $8, locked_until = $9, version = $10 \
                     WHERE tenant_id = $1 AND address_hash = $2 AND version = $11",
                ),
            }
            .bind(r.tenant.as_str().to_owned())
            .bind(r.address_hash.clone())
            .bind(r.code_hash.clone())
            .bind(r.code_expires_at)
            .bind(r.code_tries)
            .bind(r.window_start)
            .bind(r.codes_in_window)
            .bind(r.failures)
            .bind(r.locked_until)
            .bind(r.version);
            let q = match expected_version {
                None => q,
                Some(v) => q.bind(*v),
            };
            let done = q.execute(&mut **tx).await.map_err(|e| conflict(e, "portal recipient changed meanwhile"))?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict("portal recipient changed meanwhile".into()));
            }
        }
        Op::PutRecipientKey(k) => {
            sqlx::query(
                "INSERT INTO recipient_keys (id, tenant_id, address_hash, kind, fingerprint, sealed, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(k.id.to_string())
            .bind(k.tenant.as_str().to_owned())
            .bind(k.address_hash.clone())
            .bind(k.kind.clone())
            .bind(k.fingerprint.clone())
            .bind(k.sealed.clone())
            .bind(k.created_at)
            .execute(&mut **tx)
            .await?;
        }
        Op::DeleteRecipientKey(tenant, id) => {
            let done = sqlx::query("DELETE FROM recipient_keys WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.as_str().to_owned())
                .bind(id.to_string())
                .execute(&mut **tx)
                .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!("recipient key {id} not found")));
            }
        }
        Op::PutSendingDomain(d) => {
            sqlx::query(
                "INSERT INTO sending_domains (tenant_id, domain, state, token, created_at, verified_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, domain) DO UPDATE SET \
                 state = excluded.state, token = excluded.token, verified_at = excluded.verified_at",
            )
            .bind(d.tenant.as_str().to_owned())
            .bind(d.domain.clone())
            .bind(d.state.as_str())
            .bind(d.token.clone())
            .bind(d.created_at)
            .bind(d.verified_at)
            .execute(&mut **tx)
            .await
            .map_err(|e| conflict(e, &format!("domain {} is a sending domain of another tenant", d.domain)))?;
        }
        Op::DeleteSendingDomain(tenant, domain) => {
            let done = sqlx::query("DELETE FROM sending_domains WHERE tenant_id = $1 AND domain = $2")
                .bind(tenant.as_str().to_owned())
                .bind(domain.clone())
                .execute(&mut **tx)
                .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!(
                    "domain {domain} is not a sending domain of tenant {tenant}"
                )));
            }
        }
        Op::PutDkimKey(k) => {
            sqlx::query("UPDATE dkim_keys SET active = 0 WHERE tenant_id = $1 AND domain = $2 AND algorithm = $3")
                .bind(k.tenant.as_str().to_owned())
                .bind(k.domain.clone())
                .bind(k.algorithm.clone())
                .execute(&mut **tx)
                .await?;
            sqlx::query(
                "INSERT INTO dkim_keys (tenant_id, domain, selector, algorithm, sealed, public_dns, created_at, active) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 1)",
            )
            .bind(k.tenant.as_str().to_owned())
            .bind(k.domain.clone())
            .bind(k.selector.clone())
            .bind(k.algorithm.clone())
            .bind(k.sealed.clone())
            .bind(k.public_dns.clone())
            .bind(k.created_at)
            .execute(&mut **tx)
            .await
            .map_err(|e| conflict(e, "DKIM selector already exists"))?;
        }
        Op::Suppress { tenant, address_hash, reason } => {
            sqlx::query(
                "INSERT INTO suppressions (tenant_id, address_hash, reason, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id, address_hash) DO NOTHING",
            )
            .bind(tenant.as_str().to_owned())
            .bind(address_hash.clone())
            .bind(reason.clone())
            .bind(now_micros())
            .execute(&mut **tx)
            .await?;
        }
        Op::CreateAccessRequest(r) => {
            sqlx::query(
                "INSERT INTO access_requests (id, tenant_id, created_at, due_at, state, sealed) VALUES ($1, $2, $3, $4, 'open', $5)",
            )
            .bind(r.id.to_string())
            .bind(r.tenant.as_str().to_owned())
            .bind(r.created_at)
            .bind(r.due_at)
            .bind(r.sealed.clone())
            .execute(&mut **tx)
            .await
            .map_err(|e| conflict(e, "access request id already exists"))?;
        }
        Op::AccessRequestSearched(tenant, id) => {
            // Zero rows is fine: a fulfilled request may be searched again.
            sqlx::query(
                "UPDATE access_requests SET state = 'searched' WHERE tenant_id = $1 AND id = $2 AND state = 'open'",
            )
            .bind(tenant.as_str().to_owned())
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?;
        }
        Op::AccessRequestFulfilled { tenant, id, at, package_sha256 } => {
            // The state guard makes two concurrent fulfilments record one package, not two.
            let done = sqlx::query(
                "UPDATE access_requests SET state = 'fulfilled', fulfilled_at = $1, package_sha256 = $2 \
                 WHERE tenant_id = $3 AND id = $4 AND state <> 'fulfilled'",
            )
            .bind(*at)
            .bind(package_sha256.clone())
            .bind(tenant.as_str().to_owned())
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!("access request {id} not found or already fulfilled")));
            }
        }
        Op::CreateExport(r) => {
            sqlx::query(
                "INSERT INTO exports (id, tenant_id, actor, query_id, format, count, state, sealed_ids, started_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(r.id.to_string())
            .bind(r.tenant.as_str().to_owned())
            .bind(r.actor.clone())
            .bind(r.query_id.to_string())
            .bind(r.format.clone())
            .bind(r.count)
            .bind(r.state.clone())
            .bind(r.sealed_ids.clone())
            .bind(r.started_at)
            .execute(&mut **tx)
            .await
            .map_err(|e| conflict(e, "export id already exists"))?;
        }
        Op::FinishExport { tenant, id, state, at, bytes, package_sha256 } => {
            // Only a streaming export ends, once: the producer is the only writer of its row.
            let done = sqlx::query(
                "UPDATE exports SET state = $1, finished_at = $2, bytes = $3, package_sha256 = $4 \
                 WHERE tenant_id = $5 AND id = $6 AND state = 'streaming'",
            )
            .bind(state.clone())
            .bind(*at)
            .bind(*bytes)
            .bind(package_sha256.clone())
            .bind(tenant.as_str().to_owned())
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!("export {id} not found or already ended")));
            }
        }
        Op::PutSecret(s) => {
            sqlx::query(
                "INSERT INTO secrets (name, sealed, public) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, public = excluded.public",
            )
            .bind(s.name.clone())
            .bind(s.sealed.clone())
            .bind(s.public.clone())
            .execute(&mut **tx)
            .await?;
        }
        Op::SetRetention(updates) => {
            for u in updates {
                sqlx::query(
                    "UPDATE messages SET retain_until = $1, retention_rule = $2, retention_action = $3, \
                     retention_version = $4 WHERE tenant_id = $5 AND id = $6 AND disposed_at IS NULL",
                )
                .bind(u.retain_until)
                .bind(u.rule.clone())
                .bind(u.action.clone())
                .bind(u.version)
                .bind(u.tenant.as_str().to_owned())
                .bind(u.message.to_string())
                .execute(&mut **tx)
                .await?;
            }
        }
        Op::ExtendRetention { tenant, message, until } => {
            let done = sqlx::query(
                "UPDATE messages SET extended_until = $1 WHERE tenant_id = $2 AND id = $3 AND disposed_at IS NULL",
            )
            .bind(*until)
            .bind(tenant.as_str().to_owned())
            .bind(message.to_string())
            .execute(&mut **tx)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!("message {message} not found or already disposed")));
            }
        }
        Op::PutHold(h) => {
            sqlx::query(
                "INSERT INTO holds (id, tenant_id, name_hash, sealed, state, created_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(h.id.to_string())
            .bind(h.tenant.as_str().to_owned())
            .bind(h.name_hash.clone())
            .bind(h.sealed.clone())
            .bind(h.state.clone())
            .bind(h.created_at)
            .bind(h.created_by.clone())
            .execute(&mut **tx)
            .await
            .map_err(|e| conflict(e, "a hold with this name already exists"))?;
            bump_holds_version(tx, &h.tenant).await?;
        }
        Op::ChangeHold(c) => {
            let now = now_micros();
            let sql = if c.to == "released" {
                "UPDATE holds SET state = $1, sealed = $2, released_by = $3, released_at = $4 \
                 WHERE tenant_id = $5 AND id = $6 AND state = $7"
            } else {
                "UPDATE holds SET state = $1, sealed = $2, release_requested_by = $3, release_requested_at = $4 \
                 WHERE tenant_id = $5 AND id = $6 AND state = $7"
            };
            let done = sqlx::query(sql)
                .bind(c.to.clone())
                .bind(c.sealed.clone())
                .bind(c.by.clone())
                .bind(now)
                .bind(c.tenant.as_str().to_owned())
                .bind(c.id.to_string())
                .bind(c.from.clone())
                .execute(&mut **tx)
                .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!("hold {} is not {}", c.id, c.from)));
            }
            if c.to == "released" {
                bump_holds_version(tx, &c.tenant).await?;
            }
        }
        Op::Dispose(d) => {
            dispose_page(tx, &d.tenant, d.holds_version, std::slice::from_ref(&d.certificate)).await?;
        }
        Op::DisposePage(p) => dispose_page(tx, &p.tenant, p.holds_version, &p.certificates).await?,
        Op::BlobsRemoved(tenant, messages) => {
            for chunk in messages.chunks(IN_CHUNK) {
                let sql = format!(
                    "UPDATE messages SET blob_ref = '' WHERE {TENANT_BY_ID} = $1 AND disposed_at IS NOT NULL AND id IN ({})",
                    placeholders(2, chunk.len())
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.as_str().to_owned());
                for id in chunk {
                    q = q.bind(id.to_string());
                }
                q.execute(&mut **tx).await?;
            }
        }
    }
    Ok(())
}

/// Every hold create or release changes which messages are preserved;
/// disposal compares this counter inside its own transaction.
async fn bump_holds_version(tx: &mut Transaction<'static, Any>, tenant: &TenantId) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO holds_version (tenant_id, version) VALUES ($1, 1) \
         ON CONFLICT (tenant_id) DO UPDATE SET version = holds_version.version + 1",
    )
    .bind(tenant.as_str().to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The tenant column, in statements that select rows by an `id IN (...)`
/// list. Written as an expression so SQLite's planner, which keeps no
/// statistics here, cannot pick `messages_expiry (tenant_id, disposed_at,
/// ...)` and scan every live (or disposed) message of the tenant for each
/// list instead of looking the ids up by primary key: at 100,000 messages
/// that was 42 ms against 2 ms per 250 ids, and it grows with the archive.
/// PostgreSQL plans it the same either way.
const TENANT_BY_ID: &str = "tenant_id || ''";

/// Parameters bound per statement. sqlx-sqlite looks up each parameter's
/// name when it binds (`sqlite3_bind_parameter_name`, a linear scan of the
/// statement's parameter list), so binding one statement costs the square of
/// its parameters: 5,500 of them (500 audit rows) made that lookup a third
/// of a retention run's CPU. A few hundred keep it negligible while still
/// saving most round trips.
const MAX_PARAMS: usize = 256;
/// Ids bound per `IN (...)` list (besides up to three fixed parameters).
const IN_CHUNK: usize = MAX_PARAMS - 3;
/// Audit rows per multi-row INSERT (11 parameters each).
const EVENT_CHUNK: usize = MAX_PARAMS / 11;
/// Certificate rows per multi-row INSERT (10 parameters each).
const CERT_CHUNK: usize = MAX_PARAMS / 10;

/// `$first, $first+1, ...` (`n` of them).
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Disposal of a page of one tenant's messages. The holds check and the
/// shredding are one transaction: a hold committed after the caller
/// computed coverage moves the version, and this commit fails instead of
/// destroying held mail. Set-based: a handful of statements per page, not
/// per message (each statement is a round trip to the database). Every
/// statement that disposal adds (e.g. attachment reference counts) belongs
/// here, once.
async fn dispose_page(
    tx: &mut Transaction<'static, Any>,
    tenant_id: &TenantId,
    holds_version: i64,
    certificates: &[CertificateRecord],
) -> Result<(), StoreError> {
    let tenant = tenant_id.as_str().to_owned();
    // Writing the row first takes its lock on PostgreSQL (SQLite already
    // holds the database lock), so a concurrent hold commit either precedes
    // this read or waits for this transaction to end.
    sqlx::query(
        "INSERT INTO holds_version (tenant_id, version) VALUES ($1, 0) \
         ON CONFLICT (tenant_id) DO UPDATE SET version = holds_version.version",
    )
    .bind(tenant.clone())
    .execute(&mut **tx)
    .await?;
    let version: i64 = sqlx::query("SELECT version FROM holds_version WHERE tenant_id = $1")
        .bind(tenant.clone())
        .fetch_one(&mut **tx)
        .await?
        .try_get("version")?;
    if version != holds_version {
        return Err(StoreError::Conflict(format!(
            "holds of tenant {tenant_id} changed during disposal (version {holds_version} now {version})"
        )));
    }
    let disposed_at = certificates.iter().map(|c| c.disposed_at).max().unwrap_or_default();
    for chunk in certificates.chunks(IN_CHUNK) {
        // The blobs (ciphertext whose key this transaction destroys) are
        // queued for deletion after the commit, with the attachments'.
        let sql = format!(
            "INSERT INTO blob_garbage (blob_ref, tenant_id, at_micros) SELECT blob_ref, tenant_id, $1 FROM messages \
             WHERE {TENANT_BY_ID} = $2 AND disposed_at IS NULL AND blob_ref <> '' AND id IN ({})",
            placeholders(3, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(disposed_at).bind(tenant.clone());
        for c in chunk {
            q = q.bind(c.message.to_string());
        }
        q.execute(&mut **tx).await?;
        let sql = format!(
            "UPDATE messages SET wrapped_dek = $1, sealed_meta = $1, blob_ref = '', disposed_at = $2, \
             state = 'disposed' WHERE {TENANT_BY_ID} = $3 AND disposed_at IS NULL AND id IN ({})",
            placeholders(4, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(Vec::<u8>::new()).bind(disposed_at).bind(tenant.clone());
        for c in chunk {
            q = q.bind(c.message.to_string());
        }
        let done = q.execute(&mut **tx).await?;
        if done.rows_affected() != chunk.len() as u64 {
            // Whole page or nothing: the caller retries smaller or reports.
            return Err(StoreError::Conflict(format!(
                "{} of {} messages not found or already disposed",
                chunk.len() as u64 - done.rows_affected(),
                chunk.len()
            )));
        }
        for table in ["queue", "portal_pickups"] {
            let sql = format!(
                "DELETE FROM {table} WHERE tenant_id = $1 AND message_id IN ({ids})",
                ids = placeholders(2, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.clone());
            for c in chunk {
                q = q.bind(c.message.to_string());
            }
            q.execute(&mut **tx).await?;
        }
        let ids: Vec<String> = chunk.iter().map(|c| c.message.to_string()).collect();
        release_attachments(tx, tenant_id, &ids).await?;
    }
    for chunk in certificates.chunks(CERT_CHUNK) {
        let rows =
            (0..chunk.len()).map(|i| format!("({})", placeholders(1 + i * 10, 10))).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "INSERT INTO disposal_certificates (id, tenant_id, message_id, sealed_sha256, rule, action, message_date, \
             retain_until, disposed_at, actor) VALUES {rows}"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for c in chunk {
            q = q
                .bind(c.id.to_string())
                .bind(tenant.clone())
                .bind(c.message.to_string())
                .bind(c.sealed_sha256.clone())
                .bind(c.rule.clone())
                .bind(c.action.clone())
                .bind(c.message_date)
                .bind(c.retain_until)
                .bind(c.disposed_at)
                .bind(c.actor.clone());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Adds `m`'s reference to attachment `a`, storing it if it is new. Two
/// commits racing to store the same new attachment both succeed: the loser's
/// sealed copy is unreferenced and goes to `blob_garbage`.
async fn reference_attachment(
    tx: &mut Transaction<'static, Any>,
    m: &NewMessage,
    a: &NewAttachment,
    refs: &mut impl Iterator<Item = String>,
) -> Result<(), StoreError> {
    let tenant = m.tenant.as_str().to_owned();
    match &a.sealed {
        Some(sealed) => {
            let ours = refs.next().ok_or_else(|| StoreError::Blob("attachment blob reference missing".into()))?;
            let kept: String = sqlx::query(
                "INSERT INTO attachments (tenant_id, hash, kek_version, wrapped_key, blob_ref, size, refs, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 1, $7) \
                 ON CONFLICT (tenant_id, hash) DO UPDATE SET refs = attachments.refs + 1 RETURNING blob_ref",
            )
            .bind(tenant.clone())
            .bind(a.hash.clone())
            .bind(sealed.kek_version)
            .bind(sealed.wrapped_key.clone())
            .bind(ours.clone())
            .bind(sealed.size)
            .bind(m.created_at)
            .fetch_one(&mut **tx)
            .await?
            .try_get("blob_ref")?;
            if kept != ours {
                collect_garbage(tx, &tenant, ours).await?;
            }
        }
        None => {
            let done = sqlx::query("UPDATE attachments SET refs = refs + 1 WHERE tenant_id = $1 AND hash = $2")
                .bind(tenant.clone())
                .bind(a.hash.clone())
                .execute(&mut **tx)
                .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict(format!("an attachment of message {} is no longer stored", m.id)));
            }
        }
    }
    sqlx::query("INSERT INTO message_attachments (tenant_id, message_id, hash) VALUES ($1, $2, $3)")
        .bind(tenant)
        .bind(m.id.to_string())
        .bind(a.hash.clone())
        .execute(&mut **tx)
        .await
        .map_err(|e| conflict(e, "attachment listed twice for one message"))?;
    Ok(())
}

/// Drops the attachment references of disposed messages (`ids`, at most
/// [`IN_CHUNK`]). An attachment whose last references these were is
/// shredded with them: its row (and wrapped key) is deleted here, its blob
/// queued in `blob_garbage` for deletion after the commit.
async fn release_attachments(
    tx: &mut Transaction<'static, Any>,
    tenant: &TenantId,
    ids: &[String],
) -> Result<(), StoreError> {
    let tenant = tenant.as_str().to_owned();
    let sql = format!(
        "SELECT hash, COUNT(*) AS n FROM message_attachments WHERE tenant_id = $1 AND message_id IN ({}) GROUP BY hash",
        placeholders(2, ids.len())
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.clone());
    for id in ids {
        q = q.bind(id.clone());
    }
    let released: Vec<(Vec<u8>, i64)> = q
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("hash")?, r.try_get("n")?)))
        .collect::<Result<_, StoreError>>()?;
    if released.is_empty() {
        return Ok(());
    }
    for (hash, n) in released {
        let row = sqlx::query(
            "UPDATE attachments SET refs = refs - $1 WHERE tenant_id = $2 AND hash = $3 RETURNING refs, blob_ref",
        )
        .bind(n)
        .bind(tenant.clone())
        .bind(hash.clone())
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else { continue };
        if row.try_get::<i64, _>("refs")? <= 0 {
            sqlx::query("DELETE FROM attachments WHERE tenant_id = $1 AND hash = $2")
                .bind(tenant.clone())
                .bind(hash)
                .execute(&mut **tx)
                .await?;
            collect_garbage(tx, &tenant, row.try_get("blob_ref")?).await?;
        }
    }
    let sql = format!(
        "DELETE FROM message_attachments WHERE tenant_id = $1 AND message_id IN ({})",
        placeholders(2, ids.len())
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant);
    for id in ids {
        q = q.bind(id.clone());
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

async fn collect_garbage(tx: &mut Transaction<'static, Any>, tenant: &str, blob_ref: String) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO blob_garbage (blob_ref, tenant_id, at_micros) VALUES ($1, $2, $3)")
        .bind(blob_ref)
        .bind(tenant.to_owned())
        .bind(now_micros())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_kek(tx: &mut Transaction<'static, Any>, tenant: &TenantId, kek: &KekRecord) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO tenant_keys (tenant_id, version, wrapped, created_at) VALUES ($1, $2, $3, $4)")
        .bind(tenant.as_str().to_owned())
        .bind(kek.version)
        .bind(kek.wrapped.clone())
        .bind(now_micros())
        .execute(&mut **tx)
        .await
        .map_err(|e| conflict(e, "key version already exists"))?;
    Ok(())
}
