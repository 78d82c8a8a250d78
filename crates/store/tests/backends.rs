//! One suite, run against both storage backends:
//!
//! * embedded: a SQLite file and a local segment-log blob dir in a tempdir;
//! * scale-out: PostgreSQL and S3 (moto), started by `sealpost-testkit` (one
//!   cluster and one moto per test binary, a database and a bucket per test).
//!
//! Each test is an `async fn(Env)`; `backend_tests!` makes one
//! `#[tokio::test]` per backend for it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sealpost_audit::{Action, Actor, CheckpointSigner, NewEvent, Outcome, VerifyReport, verify};
use sealpost_model::{ApiKeyId, Category, MessageId, RecipientId, Role, Scope, TenantId, UserId, now_micros};
use sealpost_store::{
    ApiKeyRecord, Backend, BlobConfig, Commit, DeliveryUpdate, IdempotencyRecord, KekRecord, NewMessage, Op,
    PRUNE_BATCH_ROWS, PortalPickup, PortalRecipient, PortalSession, PruneBefore, SearchLogRecord, SecretRecord,
    SendingDomainRecord, SendingDomainState, Source, Store, StoreConfig, StoreError, TenantRecord, UserRecord,
    WebhookRecord,
};
use sealpost_testkit::{DataDir, shared_postgres, shared_s3};

/// A store under test and what it takes to open it again.
struct Env {
    store: Store,
    cfg: StoreConfig,
    signer_pkcs8: Vec<u8>,
    /// Holds the embedded backend's files until the test ends.
    _dir: Option<DataDir>,
}

impl Env {
    async fn embedded() -> Env {
        let dir = DataDir::new().unwrap();
        let cfg = StoreConfig {
            database_url: format!("sqlite://{}", dir.join("sealpost.db").display()),
            blobs: BlobConfig::Local { dir: dir.join("blobs") },
            checkpoint_every: 50,
        };
        Env::open_new(cfg, Some(dir)).await
    }

    async fn scale_out() -> Env {
        let pg = shared_postgres().unwrap();
        let s3 = shared_s3().unwrap();
        let cfg = StoreConfig {
            database_url: pg.fresh_database().unwrap(),
            blobs: BlobConfig::S3 {
                endpoint: s3.endpoint.clone(),
                bucket: s3.fresh_bucket().unwrap(),
                region: s3.region.clone(),
                access_key_id: s3.access_key_id.clone(),
                secret_access_key: s3.secret_access_key.clone(),
                allow_http: true,
            },
            checkpoint_every: 50,
        };
        Env::open_new(cfg, None).await
    }

    async fn open_new(cfg: StoreConfig, dir: Option<DataDir>) -> Env {
        let signer_pkcs8 = CheckpointSigner::generate_pkcs8().unwrap();
        let store = open(&cfg, &signer_pkcs8).await;
        Env { store, cfg, signer_pkcs8, _dir: dir }
    }

    /// Closes the store and opens it again from the same configuration.
    async fn reopen(&mut self) {
        self.store.close().await;
        self.store = open(&self.cfg, &self.signer_pkcs8).await;
    }
}

async fn open(cfg: &StoreConfig, pkcs8: &[u8]) -> Store {
    let signer = CheckpointSigner::new_from_pkcs8(pkcs8).unwrap();
    let (key_id, public) = (signer.key_id().to_owned(), signer.public_key());
    let store = Store::open(cfg, Some(signer)).await.unwrap();
    store.register_audit_key(&key_id, &public).await.unwrap();
    store
}

macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let env = super::Env::embedded().await;
                    assert_eq!(env.store.backend(), super::Backend::Sqlite);
                    super::$name(env).await;
                }
            )+
        }
        mod scale_out {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let env = super::Env::scale_out().await;
                    assert_eq!(env.store.backend(), super::Backend::Postgres);
                    super::$name(env).await;
                }
            )+
        }
    };
}

backend_tests!(
    committed_message_reads_back,
    tenants_are_isolated,
    concurrent_commits_all_land_and_the_audit_chain_verifies,
    idempotency_conflict_stores_nothing_of_its_commit,
    a_conflicting_commit_does_not_fail_its_batch,
    reopen_keeps_everything,
    kek_rotation_rewraps_data_keys,
    a_failed_commit_never_touches_a_stored_blob,
    leases_are_exclusive_and_expire,
    delivery_updates_record_state_events_pickups_and_suppressions,
    disposal_checks_the_holds_version_in_its_own_transaction,
    attachments_are_stored_once_and_shredded_with_their_last_message,
    a_disposal_page_shreds_exactly_its_messages_or_nothing,
    a_rewrap_never_restores_a_shredded_key,
    pruning_keeps_pending_and_leased_outbox_rows_and_newer_ones,
    pruning_idempotency_keeps_fresh_records_and_runs_in_batches,
    pruning_the_search_log_is_per_tenant_and_crosses_full_batches,
    a_sending_domain_has_at_most_one_owner,
    portal_pickups_sessions_and_sign_in_state,
);

// ---- helpers ---------------------------------------------------------------

fn tenant(slug: &str) -> TenantId {
    TenantId::parse(slug).unwrap()
}

fn create_tenant(t: &TenantId) -> Op {
    Op::CreateTenant(
        TenantRecord { id: t.clone(), name: format!("{t} clinic"), created_at: now_micros() },
        KekRecord { version: 1, wrapped: format!("kek-1-of-{t}").into_bytes() },
    )
}

/// A message whose sealed fields are recognizable bytes (every byte value,
/// so a text round trip would show).
fn message(t: &TenantId, recipients: usize, blob_len: usize) -> NewMessage {
    let id = MessageId::new();
    let sealed_blob: Vec<u8> = (0..blob_len).map(|i| (i * 7 + id.as_bytes()[15] as usize) as u8).collect();
    NewMessage {
        id,
        tenant: t.clone(),
        created_at: now_micros(),
        source: Source::ApiRaw,
        category: Category::Marketing,
        size: blob_len as i64 * 2,
        kek_version: 1,
        wrapped_dek: [b"dek-".as_slice(), id.as_bytes()].concat(),
        sealed_meta: [b"meta-\0\xff".as_slice(), id.as_bytes()].concat(),
        sealed_blob: Bytes::from(sealed_blob),
        recipients: (0..recipients).map(|_| RecipientId::new()).collect(),
        accepted_webhooks: Vec::new(),
        content_hash: id.as_bytes().to_vec(),
        message_date: now_micros() - 86_400_000_000,
        attachments: Vec::new(),
    }
}

fn accepted(m: &NewMessage) -> NewEvent {
    NewEvent::new(m.tenant.clone(), Actor::system(), Action::MessageAccepted, Outcome::Success).target(m.id)
}

fn commit_message(m: &NewMessage) -> Commit {
    Commit { ops: vec![Op::Message(m.clone())], events: vec![accepted(m)] }
}

fn idempotency(t: &TenantId, key: &[u8], response: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        tenant: t.clone(),
        key_hash: key.to_vec(),
        request_hash: format!("request for {response}").into_bytes(),
        response: response.to_owned(),
    }
}

/// Verifies the whole audit log as `sealpost audit verify` would.
async fn verify_audit(store: &Store) -> VerifyReport {
    let events = store.audit_events(0, 1_000_000).await.unwrap();
    let checkpoints = store.audit_checkpoints().await.unwrap();
    let head = store.audit_head().await.unwrap();
    let keys = store.audit_keys().await.unwrap();
    verify(events, &checkpoints, Some(&head), &keys)
}

async fn event_count(store: &Store) -> usize {
    store.audit_events(0, 1_000_000).await.unwrap().len()
}

/// Asserts `m` is stored exactly as given, with its blob and queue entries.
async fn assert_stored(store: &Store, m: &NewMessage) {
    let rec = store.message(&m.tenant, &m.id).await.unwrap().unwrap_or_else(|| panic!("{} not found", m.id));
    assert_eq!(rec.id, m.id);
    assert_eq!(rec.tenant, m.tenant);
    assert_eq!(rec.created_at, m.created_at);
    assert_eq!(rec.source, m.source);
    assert_eq!(rec.category, m.category);
    assert_eq!(rec.size, m.size);
    assert_eq!(rec.kek_version, m.kek_version);
    assert_eq!(rec.wrapped_dek, m.wrapped_dek);
    assert_eq!(rec.sealed_meta, m.sealed_meta);
    assert_eq!(rec.state, "accepted");
    let blob = store.read_blob(&rec.blob_ref).await.unwrap();
    assert!(blob == m.sealed_blob, "blob of {} differs ({} vs {} bytes)", m.id, blob.len(), m.sealed_blob.len());
    let queue = store.recipients(&m.tenant, &m.id).await.unwrap();
    assert_eq!(queue.iter().map(|q| q.id).collect::<Vec<_>>(), m.recipients, "one queue entry per recipient, in order");
    for (i, q) in queue.iter().enumerate() {
        assert_eq!(q.rcpt_index, i as i64);
        assert_eq!(q.state, "queued");
        assert_eq!(q.attempts, 0);
        assert_eq!(q.next_attempt_at, m.created_at);
    }
}

/// Counts the committer's "batch commit failed; retrying one by one"
/// warnings, the only evidence from outside that commits were grouped.
mod batch_retries {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Once};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    static COUNT: AtomicU64 = AtomicU64::new(0);

    struct Counter;

    struct Message(bool);

    impl Visit for Message {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" && format!("{value:?}").starts_with("batch commit failed") {
                self.0 = true;
            }
        }
    }

    impl Subscriber for Counter {
        fn enabled(&self, m: &Metadata<'_>) -> bool {
            *m.level() == Level::WARN && m.target().starts_with("sealpost_store")
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut m = Message(false);
            event.record(&mut m);
            if m.0 {
                COUNT.fetch_add(1, Ordering::SeqCst);
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    /// Retries seen so far in this process (installs the counter first).
    pub fn count() -> u64 {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            let _ = tracing::subscriber::set_global_default(Arc::new(Counter));
        });
        COUNT.load(Ordering::SeqCst)
    }
}

// ---- tests -----------------------------------------------------------------

async fn leases_are_exclusive_and_expire(env: Env) {
    let store = &env.store;
    let t = tenant("lease");
    store.commit(Commit { ops: vec![create_tenant(&t)], events: vec![] }).await.unwrap();
    let mut all = std::collections::BTreeSet::new();
    for _ in 0..10 {
        let m = message(&t, 4, 64);
        all.extend(m.recipients.iter().copied());
        store.commit(commit_message(&m)).await.unwrap();
    }
    let now = now_micros() + 1_000_000;
    // Four workers race for 40 due recipients, 7 at a time.
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store
                    .lease_due(Category::Marketing, now, now + 60_000_000, &format!("worker-{w}"), 7)
                    .await
                    .unwrap();
                if got.is_empty() {
                    break mine;
                }
                mine.extend(got.into_iter().map(|r| r.id));
            }
        }));
    }
    let mut claimed = Vec::new();
    for t in tasks {
        claimed.extend(t.await.unwrap());
    }
    let unique: std::collections::BTreeSet<_> = claimed.iter().copied().collect();
    assert_eq!(unique.len(), claimed.len(), "a recipient was leased twice");
    assert_eq!(unique, all, "every due recipient is leased exactly once");
    // Streams are separate queues: these are marketing rows.
    assert!(
        store
            .lease_due(Category::Transactional, now + 61_000_000, now + 62_000_000, "tx", 100)
            .await
            .unwrap()
            .is_empty()
    );
    // Nothing is due while the leases live; everything again once they expire.
    assert!(store.lease_due(Category::Marketing, now, now + 1, "late", 100).await.unwrap().is_empty());
    let after_expiry = now + 61_000_000;
    let again =
        store.lease_due(Category::Marketing, after_expiry, after_expiry + 60_000_000, "retry", 100).await.unwrap();
    assert_eq!(again.len(), 40);
    // A requeue releases the lease without counting an attempt.
    let r = &again[0];
    let requeue = Op::Requeue {
        tenant: r.tenant.clone(),
        message: r.message_id,
        recipient: r.id,
        next_attempt_at: after_expiry + 5,
    };
    store.commit(Commit { ops: vec![requeue], events: vec![] }).await.unwrap();
    let back = store.lease_due(Category::Marketing, after_expiry + 5, after_expiry + 6, "w", 100).await.unwrap();
    assert_eq!(back.iter().map(|b| (b.id, b.attempts)).collect::<Vec<_>>(), vec![(r.id, 0)]);
    // Not yet due: a queue row whose next attempt is in the future is left alone.
    let future = message(&t, 1, 8);
    store.commit(commit_message(&future)).await.unwrap();
    assert!(
        store
            .lease_due(Category::Marketing, future.created_at - 1, future.created_at, "early", 10)
            .await
            .unwrap()
            .is_empty()
    );
    store.close().await;
}

async fn delivery_updates_record_state_events_pickups_and_suppressions(env: Env) {
    let store = &env.store;
    let (t, other) = (tenant("deliv"), tenant("deliv-other"));
    store.commit(Commit { ops: vec![create_tenant(&t), create_tenant(&other)], events: vec![] }).await.unwrap();
    let m = message(&t, 2, 32);
    store.commit(commit_message(&m)).await.unwrap();
    let now = now_micros() + 1;
    let leased = store.lease_due(Category::Marketing, now, now + 60_000_000, "w", 10).await.unwrap();
    assert_eq!(leased.len(), 2);
    let update = |rid, state: &str, event: &str| DeliveryUpdate {
        tenant: t.clone(),
        message: m.id,
        recipient: rid,
        state: state.into(),
        next_attempt_at: now,
        attempts: 1,
        method: Some("tls".into()),
        tls_version: Some("TLSv1.3".into()),
        tls_cipher: Some("TLS13_AES_256_GCM_SHA384".into()),
        last_code: Some(250),
        event: event.into(),
        detail: r#"{"code":250}"#.into(),
        webhook_payload: String::new(),
        delay_notified: false,
    };
    let pickup = PortalPickup {
        token_hash: vec![7; 32],
        tenant: t.clone(),
        message: m.id,
        recipient: m.recipients[1],
        created_at: now,
        expires_at: now + 1_000,
        address_hash: None,
        opened_at: None,
        retracted_at: None,
        reminded_at: None,
    };
    store
        .commit(Commit {
            ops: vec![
                Op::Delivery(update(m.recipients[0], "delivered", "delivered")),
                Op::Delivery(DeliveryUpdate {
                    method: Some("portal".into()),
                    ..update(m.recipients[1], "portal", "portal_notified")
                }),
                Op::Pickup(pickup),
                Op::Suppress { tenant: t.clone(), address_hash: vec![9; 32], reason: "hard_bounce".into() },
            ],
            events: vec![],
        })
        .await
        .unwrap();
    let rows = store.recipients(&t, &m.id).await.unwrap();
    assert_eq!((rows[0].state.as_str(), rows[0].method.as_deref()), ("delivered", Some("tls")));
    assert_eq!(rows[0].tls_version.as_deref(), Some("TLSv1.3"));
    assert_eq!((rows[1].state.as_str(), rows[1].method.as_deref()), ("portal", Some("portal")));
    let events = store.recipient_events(&t, &m.id).await.unwrap();
    assert_eq!(events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(), ["delivered", "portal_notified"]);
    assert!(store.recipient_events(&other, &m.id).await.unwrap().is_empty(), "events are tenant-scoped");
    // Leases were released and delivered rows are not due again.
    assert!(
        store.lease_due(Category::Marketing, now + 120_000_000, now + 180_000_000, "w", 10).await.unwrap().is_empty()
    );
    assert_eq!(store.pickup(&[7; 32]).await.unwrap().map(|p| p.recipient), Some(m.recipients[1]));
    assert!(store.pickup(&[8; 32]).await.unwrap().is_none());
    assert!(store.is_suppressed(&t, &[9; 32]).await.unwrap());
    assert!(!store.is_suppressed(&other, &[9; 32]).await.unwrap(), "suppressions are tenant-scoped");
    // An update for another tenant's recipient fails and changes nothing.
    let wrong = DeliveryUpdate { tenant: other.clone(), ..update(m.recipients[0], "bounced", "bounced") };
    let r = store.commit(Commit { ops: vec![Op::Delivery(wrong)], events: vec![] }).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert_eq!(store.recipients(&t, &m.id).await.unwrap()[0].state, "delivered");
    store.close().await;
}

async fn committed_message_reads_back(env: Env) {
    let store = &env.store;
    let t = tenant("acme");
    store.commit(Commit { ops: vec![create_tenant(&t)], events: vec![] }).await.unwrap();
    let m = message(&t, 3, 300 * 1024);
    let seqs = store.commit(commit_message(&m)).await.unwrap();
    assert_eq!(seqs.len(), 1, "one seq per event");

    assert_stored(store, &m).await;
    assert_eq!(store.message_count(&t).await.unwrap(), 1);
    let listed = store.messages_after(&t, None, 10).await.unwrap();
    assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![m.id]);

    let events = store.audit_events(0, 100).await.unwrap();
    let ev = events.iter().find(|e| e.seq == seqs[0]).expect("the commit's event is in the log");
    assert_eq!(ev.action, "message.accepted");
    assert_eq!(ev.target.as_deref(), Some(m.id.to_string().as_str()));
    assert_eq!(ev.tenant, "acme");
    assert!(verify_audit(store).await.is_ok());
    store.close().await;
}

async fn tenants_are_isolated(env: Env) {
    let store = &env.store;
    let (a, b) = (tenant("tenant-a"), tenant("tenant-b"));
    store.commit(Commit { ops: vec![create_tenant(&a), create_tenant(&b)], events: vec![] }).await.unwrap();
    let m = message(&a, 2, 1000);
    let mut c = commit_message(&m);
    c.ops.push(Op::Idempotency(idempotency(&a, b"key-1", "{\"id\":\"a\"}")));
    store.commit(c).await.unwrap();

    // A sees its message...
    assert!(store.message(&a, &m.id).await.unwrap().is_some());
    assert_eq!(store.recipients(&a, &m.id).await.unwrap().len(), 2);
    // ...B, knowing the id, sees nothing of it.
    assert!(store.message(&b, &m.id).await.unwrap().is_none(), "tenant B read tenant A's message");
    assert!(store.recipients(&b, &m.id).await.unwrap().is_empty(), "tenant B read tenant A's queue");
    assert_eq!(store.message_count(&b).await.unwrap(), 0);
    assert!(store.messages_after(&b, None, 100).await.unwrap().is_empty());
    assert!(store.idempotency(&b, b"key-1").await.unwrap().is_none());
    assert!(store.idempotency(&a, b"key-1").await.unwrap().is_some());
    // The same idempotency key is independent per tenant.
    store.commit(Commit { ops: vec![Op::Idempotency(idempotency(&b, b"key-1", "b"))], events: vec![] }).await.unwrap();
    assert_eq!(store.idempotency(&a, b"key-1").await.unwrap().unwrap().response, "{\"id\":\"a\"}");
    assert_eq!(store.idempotency(&b, b"key-1").await.unwrap().unwrap().response, "b");
    // Keys are per tenant.
    let keks_a = store.keks(&a).await.unwrap();
    let keks_b = store.keks(&b).await.unwrap();
    assert_eq!(keks_a.len(), 1);
    assert_eq!(keks_b.len(), 1);
    assert_ne!(keks_a[0].wrapped, keks_b[0].wrapped);
    store.close().await;
}

async fn concurrent_commits_all_land_and_the_audit_chain_verifies(env: Env) {
    const TASKS: usize = 200;
    let store = Arc::new(env.store.clone());
    let t = tenant("busy");
    store.commit(Commit { ops: vec![create_tenant(&t)], events: vec![] }).await.unwrap();
    let events_before = event_count(&store).await;

    let mut handles = Vec::new();
    for i in 0..TASKS {
        let (store, t) = (store.clone(), t.clone());
        handles.push(tokio::spawn(async move {
            let m = message(&t, 1 + i % 3, 2048 + i);
            let mut c = commit_message(&m);
            c.events.push(
                NewEvent::new(t.clone(), Actor::api_key(ApiKeyId::new()), Action::ApiKeyUsed, Outcome::Success)
                    .target(m.id),
            );
            let seqs = store.commit(c).await;
            (m, seqs)
        }));
    }
    let mut all_seqs = BTreeSet::new();
    let mut messages = Vec::new();
    for h in handles {
        let (m, seqs) = h.await.unwrap();
        let seqs = seqs.unwrap_or_else(|e| panic!("commit of {} failed: {e}", m.id));
        assert_eq!(seqs.len(), 2);
        assert_eq!(seqs[1], seqs[0] + 1, "a commit's events are chained together, in order");
        all_seqs.extend(seqs);
        messages.push(m);
    }
    assert_eq!(all_seqs.len(), 2 * TASKS, "every event got its own seq");
    assert_eq!(event_count(&store).await, events_before + 2 * TASKS);
    assert_eq!(store.message_count(&t).await.unwrap(), TASKS as i64);
    for m in &messages {
        assert_stored(&store, m).await;
    }

    let report = verify_audit(&store).await;
    match &report {
        VerifyReport::Ok { events, checkpoints, .. } => {
            assert_eq!(*events as usize, events_before + 2 * TASKS);
            assert!(*checkpoints >= 1, "checkpoint_every = 50 must have produced checkpoints");
        }
        VerifyReport::Broken(p) => panic!("audit chain broken: {p}"),
    }
    // Closing writes a final checkpoint at the head, and the log still verifies.
    store.close().await;
    let head = store.audit_head().await.unwrap();
    let last = store.audit_checkpoints().await.unwrap().last().map(|c| c.seq);
    assert_eq!(last, Some(head.seq));
    assert!(verify_audit(&store).await.is_ok());
}

async fn idempotency_conflict_stores_nothing_of_its_commit(env: Env) {
    let store = &env.store;
    let t = tenant("idem");
    let first = message(&t, 1, 500);
    let mut c = commit_message(&first);
    c.ops.push(Op::Idempotency(idempotency(&t, b"same-key", "first")));
    store.commit(c).await.unwrap();
    let events_before = event_count(store).await;
    let head_before = store.audit_head().await.unwrap();

    // The message op comes first, so its rows are written in the transaction
    // before the idempotency insert fails: they must be rolled back.
    let second = message(&t, 2, 700);
    let mut c = commit_message(&second);
    c.ops.push(Op::Idempotency(idempotency(&t, b"same-key", "second")));
    match store.commit(c).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }

    assert!(store.message(&t, &second.id).await.unwrap().is_none(), "message of the failed commit is visible");
    assert!(store.recipients(&t, &second.id).await.unwrap().is_empty(), "queue of the failed commit is visible");
    assert_eq!(store.message_count(&t).await.unwrap(), 1);
    assert_eq!(store.idempotency(&t, b"same-key").await.unwrap().unwrap().response, "first");
    assert_eq!(event_count(store).await, events_before, "the failed commit's event was chained");
    assert_eq!(store.audit_head().await.unwrap(), head_before);
    assert_stored(store, &first).await;
    assert!(verify_audit(store).await.is_ok());

    // The store keeps working after the failure.
    let third = message(&t, 1, 10);
    store.commit(commit_message(&third)).await.unwrap();
    assert_stored(store, &third).await;
    store.close().await;
}

async fn a_conflicting_commit_does_not_fail_its_batch(env: Env) {
    const N: usize = 60;
    let store = &env.store;
    let t = tenant("batch");
    store
        .commit(Commit { ops: vec![Op::Idempotency(idempotency(&t, b"taken", "old"))], events: vec![] })
        .await
        .unwrap();
    let events_before = event_count(store).await;

    // Submitted together so the committer groups them. Commit 20 reuses a
    // stored key; commits 30 and 31 race for one new key (one must lose).
    let messages: Vec<NewMessage> = (0..N).map(|i| message(&t, 1, 4096 + i)).collect();
    let commits = messages.iter().enumerate().map(|(i, m)| {
        let mut c = commit_message(m);
        match i {
            20 => c.ops.push(Op::Idempotency(idempotency(&t, b"taken", "new"))),
            30 | 31 => c.ops.push(Op::Idempotency(idempotency(&t, b"raced", &format!("winner {i}")))),
            _ => {}
        }
        store.commit(c)
    });
    let retries_before = batch_retries::count();
    let results = futures::future::join_all(commits).await;
    // Without grouping this test would prove nothing: the committer must
    // have met a conflict inside a batch and retried it commit by commit.
    assert!(batch_retries::count() > retries_before, "no batch held a conflicting commit");

    assert!(matches!(results[20], Err(StoreError::Conflict(_))), "commit 20: {:?}", results[20]);
    let (winner, loser) = match (&results[30], &results[31]) {
        (Ok(_), Err(StoreError::Conflict(_))) => (30, 31),
        (Err(StoreError::Conflict(_)), Ok(_)) => (31, 30),
        other => panic!("exactly one of two commits with one new key must win: {other:?}"),
    };
    for (i, (m, r)) in messages.iter().zip(&results).enumerate() {
        if i == 20 || i == loser {
            assert!(store.message(&t, &m.id).await.unwrap().is_none(), "message of failed commit {i} is visible");
        } else {
            assert!(r.is_ok(), "commit {i} failed with its neighbour: {r:?}");
            assert_stored(store, m).await;
        }
    }
    assert_eq!(store.message_count(&t).await.unwrap(), N as i64 - 2);
    assert_eq!(store.idempotency(&t, b"raced").await.unwrap().unwrap().response, format!("winner {winner}"));
    assert_eq!(store.idempotency(&t, b"taken").await.unwrap().unwrap().response, "old");
    assert_eq!(event_count(store).await, events_before + N - 2);
    assert!(verify_audit(store).await.is_ok());
    store.close().await;
}

async fn reopen_keeps_everything(mut env: Env) {
    let t = tenant("durable");
    let user = UserRecord {
        id: UserId::new(),
        tenant: t.clone(),
        username: "admin@durable".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        role: Role::Admin,
    };
    let key = ApiKeyRecord {
        id: ApiKeyId::new(),
        tenant: t.clone(),
        name: "ci".into(),
        verifier: vec![7; 32],
        scopes: vec![Scope::Send, Scope::ReadEvents],
        created_at: now_micros(),
        user: Some(user.id),
        revoked_at: None,
    };
    let secret = SecretRecord { name: "audit-signing".into(), sealed: vec![1, 2, 3], public: Some(vec![4, 5]) };
    let messages: Vec<NewMessage> = (0..5).map(|i| message(&t, 1 + i, 10_000 * (i + 1))).collect();
    env.store
        .commit(Commit {
            ops: vec![
                create_tenant(&t),
                Op::CreateUser(user.clone()),
                Op::CreateApiKey(key.clone()),
                Op::PutSecret(secret.clone()),
                Op::Idempotency(idempotency(&t, b"k", "r")),
            ],
            events: vec![NewEvent::new(t.clone(), Actor::cli(), Action::TenantCreated, Outcome::Success).target(&t)],
        })
        .await
        .unwrap();
    for m in &messages {
        env.store.commit(commit_message(m)).await.unwrap();
    }
    let head_before = env.store.audit_head().await.unwrap();

    env.reopen().await;
    let store = &env.store;

    assert_eq!(store.tenant_ids().await.unwrap(), vec![t.clone()]);
    assert_eq!(store.tenant(&t).await.unwrap().unwrap().name, "durable clinic");
    assert_eq!(store.keks(&t).await.unwrap().len(), 1);
    let u = store.user_by_name("admin@durable").await.unwrap().unwrap();
    assert_eq!((u.id, u.tenant, u.password_hash, u.role), (user.id, t.clone(), user.password_hash, Role::Admin));
    let k = store.api_key(&key.id).await.unwrap().unwrap();
    assert_eq!((k.tenant, k.verifier, k.scopes, k.revoked_at), (t.clone(), key.verifier, key.scopes, None));
    assert_eq!(k.user, Some(user.id), "the key's person survives a reopen");
    let s = store.secret("audit-signing").await.unwrap().unwrap();
    assert_eq!((s.sealed, s.public), (secret.sealed, secret.public));
    assert_eq!(store.idempotency(&t, b"k").await.unwrap().unwrap().response, "r");
    for m in &messages {
        assert_stored(store, m).await;
    }
    let head = store.audit_head().await.unwrap();
    assert_eq!(head, head_before, "the chain head survives a reopen");
    assert!(verify_audit(store).await.is_ok());

    // The chain continues where it stopped, and new blobs land next to old ones.
    let later = message(&t, 1, 123);
    let seqs = store.commit(commit_message(&later)).await.unwrap();
    assert_eq!(seqs, vec![head.seq + 1]);
    assert_stored(store, &later).await;
    for m in &messages {
        assert_stored(store, m).await;
    }
    assert!(verify_audit(store).await.is_ok());
    store.close().await;
}

async fn kek_rotation_rewraps_data_keys(env: Env) {
    let store = &env.store;
    let (t, other) = (tenant("rotating"), tenant("bystander"));
    store.commit(Commit { ops: vec![create_tenant(&t), create_tenant(&other)], events: vec![] }).await.unwrap();
    let messages: Vec<NewMessage> = (0..3).map(|_| message(&t, 1, 100)).collect();
    for m in &messages {
        store.commit(commit_message(m)).await.unwrap();
    }
    let blob_refs_before: Vec<String> = futures::future::join_all(messages.iter().map(|m| store.message(&t, &m.id)))
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap().blob_ref)
        .collect();

    // A second KEK, and two of the three data keys re-wrapped under it.
    let rewrapped = |m: &NewMessage| [b"v2-".as_slice(), m.id.as_bytes()].concat();
    store
        .commit(Commit {
            ops: vec![
                Op::AddKek(t.clone(), KekRecord { version: 2, wrapped: b"kek-2".to_vec() }),
                Op::RewrapKeys {
                    tenant: t.clone(),
                    kek_version: 2,
                    keys: messages[..2].iter().map(|m| (m.id, rewrapped(m))).collect(),
                },
            ],
            events: vec![NewEvent::new(t.clone(), Actor::cli(), Action::KeyRotated, Outcome::Success).target(&t)],
        })
        .await
        .unwrap();

    let keks = store.keks(&t).await.unwrap();
    assert_eq!(keks.iter().map(|k| k.version).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(keks[1].wrapped, b"kek-2");
    for (i, m) in messages.iter().enumerate() {
        let rec = store.message(&t, &m.id).await.unwrap().unwrap();
        if i < 2 {
            assert_eq!((rec.kek_version, rec.wrapped_dek), (2, rewrapped(m)), "message {i} not re-wrapped");
        } else {
            assert_eq!((rec.kek_version, &rec.wrapped_dek), (1, &m.wrapped_dek), "message {i} changed");
        }
        // Rotation re-wraps keys only: the body and metadata are untouched.
        assert_eq!(rec.blob_ref, blob_refs_before[i]);
        assert_eq!(rec.sealed_meta, m.sealed_meta);
        assert!(store.read_blob(&rec.blob_ref).await.unwrap() == m.sealed_blob);
    }
    assert_eq!(store.keks(&other).await.unwrap().len(), 1, "another tenant's keys changed");

    // A version that exists is a conflict, and another tenant cannot re-wrap
    // this tenant's keys.
    let dup = store
        .commit(Commit { ops: vec![Op::AddKek(t.clone(), KekRecord { version: 2, wrapped: vec![0] })], events: vec![] })
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let cross = store
        .commit(Commit {
            ops: vec![Op::RewrapKeys {
                tenant: other.clone(),
                kek_version: 9,
                keys: vec![(messages[2].id, b"evil".to_vec())],
            }],
            events: vec![],
        })
        .await;
    assert!(matches!(cross, Err(StoreError::Conflict(_))), "a re-wrap that misses must fail: {cross:?}");
    let rec = store.message(&t, &messages[2].id).await.unwrap().unwrap();
    assert_eq!(
        (rec.kek_version, rec.wrapped_dek),
        (1, messages[2].wrapped_dek.clone()),
        "cross-tenant re-wrap took effect"
    );
    assert!(verify_audit(store).await.is_ok());
    store.close().await;
}

async fn a_failed_commit_never_touches_a_stored_blob(env: Env) {
    let store = &env.store;
    let t = tenant("clobber");
    let original = message(&t, 1, 4000);
    store.commit(commit_message(&original)).await.unwrap();

    // The same id again (a pipeline retry that re-sealed the message with a
    // new data key): the commit must fail and the stored message must still
    // open, i.e. its row and its blob must still belong together.
    let mut again = message(&t, 1, 5000);
    again.id = original.id;
    let result = store.commit(commit_message(&again)).await;
    assert!(result.is_err(), "a second message with the same id was accepted");
    assert_stored(store, &original).await;
    assert!(verify_audit(store).await.is_ok());
    store.close().await;
}

fn hold_record(t: &TenantId, name: &[u8]) -> sealpost_store::HoldRecord {
    sealpost_store::HoldRecord {
        id: RecipientId::new(),
        tenant: t.clone(),
        name_hash: name.to_vec(),
        sealed: b"sealed hold".to_vec(),
        state: "active".into(),
        created_at: now_micros(),
        created_by: "cli".into(),
        release_requested_by: None,
        release_requested_at: None,
        released_by: None,
        released_at: None,
    }
}

fn disposal(t: &TenantId, m: &NewMessage, holds_version: i64) -> Commit {
    let certificate = sealpost_store::CertificateRecord {
        id: RecipientId::new(),
        tenant: t.clone(),
        message: m.id,
        sealed_sha256: b"sealed sha".to_vec(),
        rule: Some("hipaa-documentation".into()),
        action: "dispose".into(),
        message_date: m.message_date,
        retain_until: m.message_date + 1,
        disposed_at: now_micros(),
        actor: "cli".into(),
    };
    Commit {
        ops: vec![Op::Dispose(sealpost_store::Disposal {
            tenant: t.clone(),
            message: m.id,
            holds_version,
            certificate,
        })],
        events: vec![NewEvent::new(t.clone(), Actor::cli(), Action::MessageDisposed, Outcome::Success).target(m.id)],
    }
}

/// R-AR-4: a hold committed after the disposer computed coverage (the
/// holds version it read) makes the disposal commit fail, changing nothing;
/// with the current version the message is crypto-shredded in one commit.
async fn disposal_checks_the_holds_version_in_its_own_transaction(env: Env) {
    let store = &env.store;
    let t = tenant("acme");
    store.commit(Commit { ops: vec![create_tenant(&t)], events: vec![] }).await.unwrap();
    let m = message(&t, 2, 4096);
    store.commit(commit_message(&m)).await.unwrap();
    let seen = store.holds_version(&t).await.unwrap();
    assert_eq!(seen, 0);

    // A hold lands between the disposer's read and its commit.
    let hold = hold_record(&t, b"matter-1");
    store.commit(Commit { ops: vec![Op::PutHold(hold.clone())], events: vec![] }).await.unwrap();
    assert_eq!(store.holds_version(&t).await.unwrap(), 1);
    let events_before = event_count(store).await;
    let err = store.commit(disposal(&t, &m, seen)).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(e) if e.contains("holds")), "{err}");
    assert_stored(store, &m).await;
    assert!(store.disposal_certificates(&t).await.unwrap().is_empty());
    assert_eq!(event_count(store).await, events_before, "no event of the failed commit");

    // A release request does not move the version (still preserving); the release does.
    let change = |from: &str, to: &str| sealpost_store::HoldChange {
        tenant: t.clone(),
        id: hold.id,
        from: from.into(),
        to: to.into(),
        by: "user:a".into(),
        sealed: b"sealed hold 2".to_vec(),
    };
    store
        .commit(Commit { ops: vec![Op::ChangeHold(change("active", "release_requested"))], events: vec![] })
        .await
        .unwrap();
    assert_eq!(store.holds_version(&t).await.unwrap(), 1);
    let err = store.commit(Commit { ops: vec![Op::ChangeHold(change("active", "released"))], events: vec![] }).await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "a change from the wrong state is refused");
    store
        .commit(Commit { ops: vec![Op::ChangeHold(change("release_requested", "released"))], events: vec![] })
        .await
        .unwrap();
    assert_eq!(store.holds_version(&t).await.unwrap(), 2);
    let released = store.hold(&t, &hold.id).await.unwrap().expect("hold");
    assert_eq!((released.state.as_str(), released.released_by.as_deref()), ("released", Some("user:a")));

    // With the current version: shredded, queue rows gone, certificate kept,
    // the blob queued for deletion.
    let blob_ref = store.message(&t, &m.id).await.unwrap().expect("stored").blob_ref;
    store.commit(disposal(&t, &m, 2)).await.unwrap();
    let rec = store.message(&t, &m.id).await.unwrap().expect("row kept");
    assert!(rec.wrapped_dek.is_empty() && rec.sealed_meta.is_empty(), "key and metadata destroyed");
    assert!(rec.blob_ref.is_empty(), "the row no longer points at its ciphertext");
    assert_eq!(rec.state, "disposed");
    assert!(store.recipients(&t, &m.id).await.unwrap().is_empty());
    assert!(store.message_retention(&t, &m.id).await.unwrap().expect("retention").disposed_at.is_some());
    assert_eq!(store.disposal_certificates(&t).await.unwrap().len(), 1);
    assert!(store.disposed_blobs(&t, 10).await.unwrap().is_empty());
    assert_eq!(store.blob_garbage(10).await.unwrap(), vec![blob_ref.clone()]);
    store.delete_blob(&blob_ref).await.unwrap();
    store.commit(Commit { ops: vec![Op::GarbageRemoved(vec![blob_ref])], events: vec![] }).await.unwrap();
    assert!(store.blob_garbage(10).await.unwrap().is_empty());
    store.compact_after_disposal().await.unwrap();
    // Disposing twice is a conflict, not a second certificate.
    assert!(matches!(store.commit(disposal(&t, &m, 2)).await, Err(StoreError::Conflict(_))));
    assert!(verify_audit(store).await.is_ok());
    store.close().await;
}

fn sealed_attachment(hash: &[u8], blob: &[u8]) -> sealpost_store::NewAttachment {
    sealpost_store::NewAttachment {
        hash: hash.to_vec(),
        sealed: Some(sealpost_store::SealedAttachment {
            kek_version: 1,
            wrapped_key: [b"att-key-".as_slice(), blob].concat(),
            blob: Bytes::from(blob.to_vec()),
            size: blob.len() as i64,
        }),
    }
}

fn reference(hash: &[u8]) -> sealpost_store::NewAttachment {
    sealpost_store::NewAttachment { hash: hash.to_vec(), sealed: None }
}

/// R-AR-1: one stored copy per tenant and hash, counted references, a race
/// that seals the same attachment twice keeps one copy and queues the other
/// as garbage, and the last disposal shreds the attachment (row and key
/// gone, blob queued for deletion) — not before.
async fn attachments_are_stored_once_and_shredded_with_their_last_message(env: Env) {
    let store = &env.store;
    let (t, other) = (tenant("acme"), tenant("other"));
    store.commit(Commit { ops: vec![create_tenant(&t), create_tenant(&other)], events: vec![] }).await.unwrap();

    let mut first = message(&t, 1, 512);
    first.attachments = vec![sealed_attachment(b"hash-a", b"sealed bytes of A")];
    store.commit(commit_message(&first)).await.unwrap();
    let stored = store.attachment(&t, b"hash-a").await.unwrap().expect("stored");
    assert_eq!((stored.refs, stored.size), (1, 17));
    assert_eq!(store.read_blob(&stored.blob_ref).await.unwrap(), b"sealed bytes of A");
    assert!(store.attachment(&other, b"hash-a").await.unwrap().is_none(), "per tenant");

    // A second message found it: a reference only. A third raced and sealed
    // it again: its copy is garbage, the first copy stays.
    let mut second = message(&t, 1, 512);
    second.attachments = vec![reference(b"hash-a")];
    let mut third = message(&t, 1, 512);
    third.attachments = vec![sealed_attachment(b"hash-a", b"second copy of A")];
    store.commit(commit_message(&second)).await.unwrap();
    store.commit(commit_message(&third)).await.unwrap();
    let stored = store.attachment(&t, b"hash-a").await.unwrap().expect("stored");
    assert_eq!(stored.refs, 3);
    assert_eq!(store.read_blob(&stored.blob_ref).await.unwrap(), b"sealed bytes of A");
    let garbage = store.blob_garbage(10).await.unwrap();
    assert_eq!(garbage.len(), 1);
    assert_eq!(store.read_blob(&garbage[0]).await.unwrap(), b"second copy of A");
    store.delete_blob(&garbage[0]).await.unwrap();
    store.commit(Commit { ops: vec![Op::GarbageRemoved(garbage)], events: vec![] }).await.unwrap();
    assert!(store.blob_garbage(10).await.unwrap().is_empty());

    // A reference to an attachment that is not stored is a conflict and
    // stores nothing of its message.
    let mut orphan = message(&t, 1, 512);
    orphan.attachments = vec![reference(b"hash-missing")];
    assert!(matches!(store.commit(commit_message(&orphan)).await, Err(StoreError::Conflict(_))));
    assert!(store.message(&t, &orphan.id).await.unwrap().is_none());

    // Disposal drops one reference per message; the last one shreds. Each
    // message's own blob is garbage at once.
    let own_blob = |m: &NewMessage| {
        let id = m.id;
        let t = t.clone();
        async move { store.message(&t, &id).await.unwrap().expect("stored").blob_ref }
    };
    let mut message_blobs = vec![own_blob(&first).await, own_blob(&second).await, own_blob(&third).await];
    store.commit(disposal(&t, &first, 0)).await.unwrap();
    store.commit(disposal(&t, &second, 0)).await.unwrap();
    assert_eq!(store.attachment(&t, b"hash-a").await.unwrap().expect("still referenced").refs, 1);
    let mut garbage = store.blob_garbage(10).await.unwrap();
    garbage.sort();
    let mut expected = message_blobs[..2].to_vec();
    expected.sort();
    assert_eq!(garbage, expected, "the messages' blobs, not the shared attachment's");
    store.commit(disposal(&t, &third, 0)).await.unwrap();
    assert!(store.attachment(&t, b"hash-a").await.unwrap().is_none(), "row and wrapped key gone");
    let mut garbage = store.blob_garbage(10).await.unwrap();
    garbage.sort();
    message_blobs.push(stored.blob_ref.clone());
    message_blobs.sort();
    assert_eq!(garbage, message_blobs);

    // Stored again later, it is a new attachment.
    let mut fourth = message(&t, 1, 512);
    fourth.attachments = vec![sealed_attachment(b"hash-a", b"sealed bytes of A again")];
    store.commit(commit_message(&fourth)).await.unwrap();
    assert_eq!(store.attachment(&t, b"hash-a").await.unwrap().expect("new").refs, 1);
    assert!(verify_audit(store).await.is_ok());
    store.close().await;
}

fn certificate(t: &TenantId, m: &NewMessage) -> sealpost_store::CertificateRecord {
    sealpost_store::CertificateRecord {
        id: RecipientId::new(),
        tenant: t.clone(),
        message: m.id,
        sealed_sha256: b"sealed sha".to_vec(),
        rule: Some("hipaa-documentation".into()),
        action: "dispose".into(),
        message_date: m.message_date,
        retain_until: 10,
        disposed_at: now_micros(),
        actor: "cli".into(),
    }
}

/// The page-wise run's store side: `expired_page` selects exactly the
/// expired, live, un-extended messages (in `(retain_until, id)` pages), and
/// `DisposePage` shreds a page whole or not at all (stale holds version, or
/// a message already disposed), with one certificate and event each.
async fn a_disposal_page_shreds_exactly_its_messages_or_nothing(env: Env) {
    let store = &env.store;
    let t = tenant("acme");
    store.commit(Commit { ops: vec![create_tenant(&t)], events: vec![] }).await.unwrap();
    let ms: Vec<NewMessage> = (0..5).map(|_| message(&t, 1, 2048)).collect();
    let mut blob_refs = Vec::new();
    for m in &ms {
        store.commit(commit_message(m)).await.unwrap();
        blob_refs.push(store.message(&t, &m.id).await.unwrap().unwrap().blob_ref);
    }
    // 0, 1, 2 expired (retain_until 10, 20, 30); 3 not yet (100); 4 expired but extended by review to 100.
    let until = [10, 20, 30, 100, 10];
    let updates = ms
        .iter()
        .zip(until)
        .map(|(m, u)| sealpost_store::RetentionUpdate {
            tenant: t.clone(),
            message: m.id,
            retain_until: u,
            rule: Some("r".into()),
            action: "dispose".into(),
            version: 0,
        })
        .collect();
    store.commit(Commit { ops: vec![Op::SetRetention(updates)], events: vec![] }).await.unwrap();
    store
        .commit(Commit {
            ops: vec![Op::ExtendRetention { tenant: t.clone(), message: ms[4].id, until: 100 }],
            events: vec![],
        })
        .await
        .unwrap();
    // Another tenant's expired message is never in the page.
    let other = tenant("other");
    store.commit(Commit { ops: vec![create_tenant(&other)], events: vec![] }).await.unwrap();
    let foreign = message(&other, 0, 100);
    store.commit(commit_message(&foreign)).await.unwrap();
    let foreign_retention = sealpost_store::RetentionUpdate {
        tenant: other.clone(),
        message: foreign.id,
        retain_until: 5,
        rule: None,
        action: "dispose".into(),
        version: 0,
    };
    store.commit(Commit { ops: vec![Op::SetRetention(vec![foreign_retention])], events: vec![] }).await.unwrap();

    // Paging one at a time walks the expired set in (retain_until, id) order.
    let (mut seen, mut after) = (Vec::new(), None);
    while let Some(e) = store.expired_page(&t, 50, after, 1).await.unwrap().pop() {
        assert!(!e.message.blob_ref.is_empty(), "the row comes with its blob reference");
        assert_eq!(e.message.wrapped_dek, ms.iter().find(|m| m.id == e.retention.message).unwrap().wrapped_dek);
        after = Some((e.retention.retain_until.unwrap(), e.retention.message));
        seen.push(e.retention.message);
    }
    assert_eq!(seen, vec![ms[0].id, ms[1].id, ms[2].id], "expired, live, not extended, this tenant");

    let page = |ids: &[usize], version: i64| Commit {
        ops: vec![Op::DisposePage(sealpost_store::DisposalPage {
            tenant: t.clone(),
            holds_version: version,
            certificates: ids.iter().map(|&i| certificate(&t, &ms[i])).collect(),
        })],
        events: ids
            .iter()
            .map(|&i| {
                NewEvent::new(t.clone(), Actor::cli(), Action::MessageDisposed, Outcome::Success).target(ms[i].id)
            })
            .collect(),
    };
    // A hold landed after coverage was computed: nothing of the page happens.
    store.commit(Commit { ops: vec![Op::PutHold(hold_record(&t, b"m"))], events: vec![] }).await.unwrap();
    let before = event_count(store).await;
    assert!(matches!(store.commit(page(&[0, 1], 0)).await, Err(StoreError::Conflict(_))));
    assert_eq!(event_count(store).await, before);
    assert!(store.disposal_certificates(&t).await.unwrap().is_empty());

    // Message 2 is "held" (left out of the page by the caller): 0 and 1 go.
    store.commit(page(&[0, 1], 1)).await.unwrap();
    for (i, m) in ms.iter().enumerate() {
        let rec = store.message(&t, &m.id).await.unwrap().unwrap();
        assert_eq!(rec.wrapped_dek.is_empty(), i < 2, "message {i}: shredded exactly when in the page");
        assert_eq!(store.recipients(&t, &m.id).await.unwrap().is_empty(), i < 2, "message {i}: queue rows");
    }
    assert_eq!(store.disposal_certificates(&t).await.unwrap().len(), 2);
    assert_eq!(event_count(store).await, before + 2);
    let left: Vec<_> =
        store.expired_page(&t, 50, None, 10).await.unwrap().into_iter().map(|e| e.retention.message).collect();
    assert_eq!(left, vec![ms[2].id]);

    // A page holding an already-disposed message fails whole: 2 stays live.
    assert!(matches!(store.commit(page(&[1, 2], 1)).await, Err(StoreError::Conflict(_))));
    assert!(!store.message(&t, &ms[2].id).await.unwrap().unwrap().wrapped_dek.is_empty());
    assert_eq!(store.disposal_certificates(&t).await.unwrap().len(), 2);

    // The page queued exactly its two blobs; removing them is one op.
    assert!(store.disposed_blobs(&t, 10).await.unwrap().is_empty(), "disposed rows keep no blob reference");
    let mut garbage = store.blob_garbage(10).await.unwrap();
    garbage.sort();
    let mut expected = blob_refs[..2].to_vec();
    expected.sort();
    assert_eq!(garbage, expected);
    assert!(store.delete_blobs(&garbage).await.iter().all(Result::is_ok));
    store.commit(Commit { ops: vec![Op::GarbageRemoved(garbage)], events: vec![] }).await.unwrap();
    assert!(store.blob_garbage(10).await.unwrap().is_empty());
    // Forgetting blob references never touches a live message.
    store
        .commit(Commit { ops: vec![Op::BlobsRemoved(t.clone(), vec![ms[0].id, ms[1].id, ms[2].id])], events: vec![] })
        .await
        .unwrap();
    let live = store.message(&t, &ms[2].id).await.unwrap().unwrap();
    assert_eq!(live.blob_ref, blob_refs[2], "a live blob ref stays");
    assert_eq!(store.read_blob(&live.blob_ref).await.unwrap(), ms[2].sealed_blob);
    assert_stored(store, &foreign).await;
    assert!(verify_audit(store).await.is_ok());
    store.close().await;
}

// ---- schema migrations --------------------------------------------------------

/// Four processes' worth of stores opening one new database at once: each
/// migration step is applied exactly once (a second application would fail
/// on `schema_migrations`' primary key), and every open succeeds.
async fn concurrent_opens_migrate_once(cfg: StoreConfig) {
    let opens = (0..4).map(|_| Store::open(&cfg, None));
    let stores = futures::future::join_all(opens).await;
    for s in &stores {
        let s = s.as_ref().expect("every concurrent open succeeds");
        assert_eq!(s.schema_version().await.unwrap(), Store::known_schema_version());
    }
    for s in stores.into_iter().flatten() {
        s.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_opens_migrate_once_embedded() {
    let dir = DataDir::new().unwrap();
    let cfg = StoreConfig {
        database_url: format!("sqlite://{}", dir.join("sealpost.db").display()),
        blobs: BlobConfig::Local { dir: dir.join("blobs") },
        checkpoint_every: 50,
    };
    concurrent_opens_migrate_once(cfg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_opens_migrate_once_scale_out() {
    let pg = shared_postgres().unwrap();
    let s3 = shared_s3().unwrap();
    let cfg = StoreConfig {
        database_url: pg.fresh_database().unwrap(),
        blobs: BlobConfig::S3 {
            endpoint: s3.endpoint.clone(),
            bucket: s3.fresh_bucket().unwrap(),
            region: s3.region.clone(),
            access_key_id: s3.access_key_id.clone(),
            secret_access_key: s3.secret_access_key.clone(),
            allow_http: true,
        },
        checkpoint_every: 50,
    };
    concurrent_opens_migrate_once(cfg).await;
}

/// Issue 13.4: a KEK rotation that read a message before a disposal shredded
/// it must not write a wrapped key back onto it: the re-wrap is conditional
/// on the message being live, and skipping a disposed one is not an error.
async fn a_rewrap_never_restores_a_shredded_key(env: Env) {
    let store = &env.store;
    let t = tenant("racing");
    store.commit(Commit { ops: vec![create_tenant(&t)], events: vec![] }).await.unwrap();
    let (gone, live) = (message(&t, 1, 100), message(&t, 1, 100));
    for m in [&gone, &live] {
        store.commit(commit_message(m)).await.unwrap();
    }
    let version = store.holds_version(&t).await.unwrap();
    let dispose = Commit {
        ops: vec![Op::DisposePage(sealpost_store::DisposalPage {
            tenant: t.clone(),
            holds_version: version,
            certificates: vec![certificate(&t, &gone)],
        })],
        events: vec![NewEvent::new(t.clone(), Actor::cli(), Action::MessageDisposed, Outcome::Success).target(gone.id)],
    };
    store.commit(dispose).await.unwrap();
    // The rotation's page was read before the disposal: both keys re-wrapped.
    let rewrap = Commit {
        ops: vec![
            Op::AddKek(t.clone(), KekRecord { version: 2, wrapped: b"kek-2".to_vec() }),
            Op::RewrapKeys {
                tenant: t.clone(),
                kek_version: 2,
                keys: vec![(gone.id, b"v2-gone".to_vec()), (live.id, b"v2-live".to_vec())],
            },
        ],
        events: vec![],
    };
    store.commit(rewrap).await.expect("a disposed message is skipped, not a conflict");
    let shredded = store.message(&t, &gone.id).await.unwrap().unwrap();
    assert!(shredded.wrapped_dek.is_empty(), "a shredded key came back");
    let rewrapped = store.message(&t, &live.id).await.unwrap().unwrap();
    assert_eq!((rewrapped.kek_version, rewrapped.wrapped_dek), (2, b"v2-live".to_vec()));
}

// ---- pruning (issue 13.14) -------------------------------------------------

/// Rows as the database holds them, read past the store (whose API has no
/// reader for finished outbox rows or for whole tables).
async fn db_rows(cfg: &StoreConfig, sql: &'static str) -> Vec<sqlx::any::AnyRow> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&cfg.database_url).await.unwrap();
    let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
    pool.close().await;
    rows
}

/// Every outbox row: id -> (state, lease_until).
async fn outbox_rows(cfg: &StoreConfig) -> BTreeMap<String, (String, Option<i64>)> {
    use sqlx::Row;
    db_rows(cfg, "SELECT id, state, lease_until FROM webhook_outbox")
        .await
        .iter()
        .map(|r| (r.get("id"), (r.get("state"), r.get("lease_until"))))
        .collect()
}

/// Search-log rows per tenant.
async fn search_log_counts(cfg: &StoreConfig) -> BTreeMap<String, i64> {
    use sqlx::Row;
    db_rows(cfg, "SELECT tenant_id, count(*) AS n FROM search_log GROUP BY tenant_id")
        .await
        .iter()
        .map(|r| (r.get("tenant_id"), r.get("n")))
        .collect()
}

/// Lets the clock move past what was just written, so a cut-off taken
/// between two writes separates them.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(5)).await;
}

fn search_logged(t: &TenantId, at: i64) -> SearchLogRecord {
    SearchLogRecord {
        id: sealpost_model::EventId::new(),
        tenant: t.clone(),
        actor: "user:auditor".into(),
        at,
        sealed: format!("sealed query of {t} at {at}").into_bytes(),
    }
}

/// Pruning the outbox takes delivered and failed rows created before the
/// cut-off, in batches, and nothing else: pending rows (waiting for a
/// retry, or leased by a worker) stay whatever their age, rows created
/// after the cut-off stay, and tables without a cut-off are not touched.
async fn pruning_keeps_pending_and_leased_outbox_rows_and_newer_ones(env: Env) {
    let store = &env.store;
    let t = tenant("hooks");
    let hook = |n: u8| {
        Op::PutWebhook(WebhookRecord {
            id: RecipientId::new(),
            tenant: t.clone(),
            url: format!("https://hooks.example.org/{n}"),
            sealed_secret: vec![n; 16],
            created_at: now_micros(),
        })
    };
    store.commit(Commit { ops: vec![create_tenant(&t), hook(1), hook(2)], events: vec![] }).await.unwrap();
    let with_webhooks = |recipients: usize| {
        let mut m = message(&t, recipients, 64);
        m.accepted_webhooks = vec![r#"{"type":"message.accepted"}"#.to_owned(); recipients];
        m
    };
    let result = |id: &str, state: &str, next_attempt_at: i64| Op::OutboxResult {
        id: id.to_owned(),
        state: state.to_owned(),
        next_attempt_at,
        attempts: 1,
        last_status: Some(200),
    };
    let hour = 3_600_000_000;

    // Old: 4 recipients x 2 webhooks = 8 rows; 3 delivered, 2 failed, 1
    // waiting for a retry, 2 still leased by a worker.
    store.commit(commit_message(&with_webhooks(4))).await.unwrap();
    let now = now_micros() + 1_000_000;
    let old = store.lease_outbox(now, now + hour, 100).await.unwrap();
    let old: Vec<String> = old.into_iter().map(|i| i.id).collect();
    assert_eq!(old.len(), 8);
    let mut ops: Vec<Op> = old[..3].iter().map(|id| result(id, "delivered", now)).collect();
    ops.extend(old[3..5].iter().map(|id| result(id, "failed", now)));
    ops.push(result(&old[5], "pending", now + hour));
    store.commit(Commit { ops, events: vec![] }).await.unwrap();

    tick().await;
    let cut = now_micros();
    tick().await;

    // New: 2 recipients x 2 webhooks, all delivered; and rows of the
    // other tables, older than the cut-off.
    store.commit(commit_message(&with_webhooks(2))).await.unwrap();
    let now = now_micros() + 1_000_000;
    let new = store.lease_outbox(now, now + hour, 100).await.unwrap();
    assert_eq!(new.len(), 4, "the old pending rows are leased or not due");
    let ops = new.iter().map(|i| result(&i.id, "delivered", now)).collect();
    store.commit(Commit { ops, events: vec![] }).await.unwrap();
    let logged = search_logged(&t, cut - hour);
    let idem = idempotency(&t, b"key-1", r#"{"ids":[]}"#);
    store
        .commit(Commit { ops: vec![Op::LogSearch(logged.clone()), Op::Idempotency(idem)], events: vec![] })
        .await
        .unwrap();

    let before = outbox_rows(&env.cfg).await;
    assert_eq!(before.len(), 12);
    assert_eq!(store.operational_counts().await.unwrap().webhook_pending, 3);

    let only_outbox = PruneBefore { webhook_outbox: Some(cut), ..PruneBefore::default() };
    let pruned = store.prune_operational_in_batches(&only_outbox, 2).await.unwrap();
    assert_eq!((pruned.webhook_outbox, pruned.batches), (5, 3), "5 rows in batches of 2: 2 + 2 + 1");
    assert_eq!((pruned.idempotency, pruned.search_log.len()), (0, 0));

    let after = outbox_rows(&env.cfg).await;
    let mut expected = before.clone();
    for id in &old[..5] {
        expected.remove(id);
    }
    assert_eq!(after, expected, "exactly the old finished rows are gone");
    assert!(old[5..].iter().all(|id| after[id].0 == "pending"));
    assert!(old[6..].iter().all(|id| after[id].1.is_some()), "the leased rows keep their lease");
    assert_eq!(store.operational_counts().await.unwrap().webhook_pending, 3);
    assert!(store.search_log(&t, &logged.id).await.unwrap().is_some(), "no cut-off, not pruned");
    assert!(store.idempotency(&t, b"key-1").await.unwrap().is_some(), "no cut-off, not pruned");

    // A cut-off of now takes the new finished rows too; pending rows stay.
    let all_finished = PruneBefore { webhook_outbox: Some(now_micros()), ..PruneBefore::default() };
    let pruned = store.prune_operational(&all_finished).await.unwrap();
    assert_eq!((pruned.webhook_outbox, pruned.batches), (4, 1));
    let left: BTreeSet<String> = outbox_rows(&env.cfg).await.into_keys().collect();
    assert_eq!(left, old[5..].iter().cloned().collect::<BTreeSet<_>>());
    store.close().await;
}

/// Idempotency records created before the cut-off go, in batches of the
/// size asked; fresh records still answer lookups and still refuse a
/// second use of their key; a pruned key may be used again. A cut-off in
/// the future is refused before anything is deleted.
async fn pruning_idempotency_keeps_fresh_records_and_runs_in_batches(env: Env) {
    let store = &env.store;
    let (t, other) = (tenant("acme"), tenant("other"));
    store.commit(Commit { ops: vec![create_tenant(&t), create_tenant(&other)], events: vec![] }).await.unwrap();
    let old: Vec<IdempotencyRecord> = (0..23)
        .map(|i| idempotency(if i % 2 == 0 { &t } else { &other }, format!("old-{i}").as_bytes(), &format!("old {i}")))
        .collect();
    store.commit(Commit { ops: old.iter().cloned().map(Op::Idempotency).collect(), events: vec![] }).await.unwrap();
    tick().await;
    let cut = now_micros();
    tick().await;
    let fresh: Vec<IdempotencyRecord> =
        (0..3).map(|i| idempotency(&t, format!("fresh-{i}").as_bytes(), &format!("fresh {i}"))).collect();
    store.commit(Commit { ops: fresh.iter().cloned().map(Op::Idempotency).collect(), events: vec![] }).await.unwrap();

    let in_an_hour = now_micros() + 3_600_000_000;
    let future = PruneBefore {
        idempotency: Some(cut),
        search_log: BTreeMap::from([(t.clone(), in_an_hour)]),
        ..PruneBefore::default()
    };
    assert!(matches!(store.prune_operational(&future).await, Err(StoreError::Config(_))));
    let no_batch = store.prune_operational_in_batches(&PruneBefore::default(), 0).await;
    assert!(matches!(no_batch, Err(StoreError::Config(_))));
    for r in &old {
        assert!(store.idempotency(&r.tenant, &r.key_hash).await.unwrap().is_some(), "a refused run deletes nothing");
    }

    let before_cut = PruneBefore { idempotency: Some(cut), ..PruneBefore::default() };
    let pruned = store.prune_operational_in_batches(&before_cut, 10).await.unwrap();
    assert_eq!((pruned.idempotency, pruned.batches), (23, 3), "23 rows in batches of 10: 10 + 10 + 3");
    assert_eq!((pruned.webhook_outbox, pruned.search_log.len()), (0, 0));
    for r in &old {
        assert!(store.idempotency(&r.tenant, &r.key_hash).await.unwrap().is_none(), "{:?} pruned", r.response);
    }
    for r in &fresh {
        let kept = store.idempotency(&r.tenant, &r.key_hash).await.unwrap().expect("a fresh record is kept");
        assert_eq!((kept.request_hash, kept.response), (r.request_hash.clone(), r.response.clone()));
    }
    let reused = store.commit(Commit { ops: vec![Op::Idempotency(fresh[0].clone())], events: vec![] }).await;
    assert!(matches!(reused, Err(StoreError::Conflict(_))), "a fresh key is still taken");
    store.commit(Commit { ops: vec![Op::Idempotency(old[0].clone())], events: vec![] }).await.unwrap();
    assert_eq!(store.idempotency(&t, &old[0].key_hash).await.unwrap().expect("stored again").response, "old 0");

    // Nothing before the cut-off is left: one empty batch.
    let again = store.prune_operational_in_batches(&before_cut, 10).await.unwrap();
    assert_eq!((again.idempotency, again.batches), (0, 1));
    store.close().await;
}

/// The search log is pruned per tenant, by the time of the search: rows
/// logged before the tenant's cut-off go (more than one full batch of
/// them, at the real batch size), a row logged at the cut-off stays, and a
/// tenant without a cut-off keeps its log.
async fn pruning_the_search_log_is_per_tenant_and_crosses_full_batches(env: Env) {
    let store = &env.store;
    let (t, other) = (tenant("acme"), tenant("other"));
    store.commit(Commit { ops: vec![create_tenant(&t), create_tenant(&other)], events: vec![] }).await.unwrap();
    let cut = now_micros() - 3_600_000_000;
    let old: Vec<SearchLogRecord> = (0..PRUNE_BATCH_ROWS + 7).map(|i| search_logged(&t, cut - 1 - i)).collect();
    let kept = [search_logged(&t, cut), search_logged(&t, cut + 1)];
    let others: Vec<SearchLogRecord> = (0..3).map(|i| search_logged(&other, cut - 1 - i)).collect();
    let ops = old.iter().chain(&kept).chain(&others).cloned().map(Op::LogSearch).collect();
    store.commit(Commit { ops, events: vec![] }).await.unwrap();
    let counts = |acme: i64, other: i64| BTreeMap::from([("acme".to_owned(), acme), ("other".to_owned(), other)]);
    assert_eq!(search_log_counts(&env.cfg).await, counts(PRUNE_BATCH_ROWS + 9, 3));

    let only_acme = PruneBefore { search_log: BTreeMap::from([(t.clone(), cut)]), ..PruneBefore::default() };
    let pruned = store.prune_operational(&only_acme).await.unwrap();
    assert_eq!(pruned.search_log, BTreeMap::from([(t.clone(), PRUNE_BATCH_ROWS + 7)]));
    assert_eq!(pruned.batches, 2, "one full batch and the rest");
    assert_eq!(search_log_counts(&env.cfg).await, counts(2, 3));
    for r in [&old[0], &old[old.len() - 1]] {
        assert!(store.search_log(&t, &r.id).await.unwrap().is_none());
    }
    for r in kept.iter().chain(&others) {
        let row = store.search_log(&r.tenant, &r.id).await.unwrap().expect("kept");
        assert_eq!((row.at, row.sealed), (r.at, r.sealed.clone()));
    }

    let both =
        PruneBefore { search_log: BTreeMap::from([(t.clone(), cut), (other.clone(), cut)]), ..PruneBefore::default() };
    let pruned = store.prune_operational(&both).await.unwrap();
    assert_eq!(pruned.search_log, BTreeMap::from([(t.clone(), 0), (other.clone(), 3)]));
    assert_eq!(search_log_counts(&env.cfg).await, BTreeMap::from([("acme".to_owned(), 2)]));
    store.close().await;
}

/// Any number of tenants may have a domain pending; once one verified or
/// asserted it, no other tenant can, and a refused claim changes nothing.
/// Removing it frees the domain.
async fn a_sending_domain_has_at_most_one_owner(env: Env) {
    let store = &env.store;
    let (a, b) = (tenant("doma"), tenant("domb"));
    store.commit(Commit { ops: vec![create_tenant(&a), create_tenant(&b)], events: vec![] }).await.unwrap();
    let row = |t: &TenantId, state: SendingDomainState| SendingDomainRecord {
        tenant: t.clone(),
        domain: "clinic.example".into(),
        state,
        token: format!("token-of-{t}"),
        created_at: 1,
        verified_at: state.is_owned().then_some(2),
    };
    let put = |r: SendingDomainRecord| Commit { ops: vec![Op::PutSendingDomain(r)], events: vec![] };
    store.commit(put(row(&a, SendingDomainState::Pending))).await.unwrap();
    store.commit(put(row(&b, SendingDomainState::Pending))).await.unwrap();
    assert_eq!(store.sending_domain_owner("clinic.example").await.unwrap(), None);

    store.commit(put(row(&a, SendingDomainState::Verified))).await.unwrap();
    assert_eq!(store.sending_domain_owner("clinic.example").await.unwrap(), Some(a.clone()));
    for state in [SendingDomainState::Verified, SendingDomainState::Asserted] {
        match store.commit(put(row(&b, state))).await {
            Err(StoreError::Conflict(m)) => assert!(m.contains("clinic.example"), "{m}"),
            other => panic!("a second owner was recorded: {other:?}"),
        }
    }
    assert_eq!(store.sending_domains(&b).await.unwrap(), vec![row(&b, SendingDomainState::Pending)]);
    assert_eq!(store.sending_domains(&a).await.unwrap(), vec![row(&a, SendingDomainState::Verified)]);

    store
        .commit(Commit { ops: vec![Op::DeleteSendingDomain(a.clone(), "clinic.example".into())], events: vec![] })
        .await
        .unwrap();
    assert!(store.sending_domains(&a).await.unwrap().is_empty());
    assert!(matches!(
        store
            .commit(Commit { ops: vec![Op::DeleteSendingDomain(a.clone(), "clinic.example".into())], events: vec![] })
            .await,
        Err(StoreError::Conflict(_))
    ));
    store.commit(put(row(&b, SendingDomainState::Asserted))).await.unwrap();
    assert_eq!(store.sending_domain_owner("clinic.example").await.unwrap(), Some(b));
}

/// The portal's state (issue 14): pickups found by address hash and
/// recipient, opened once, retracted per recipient or all, expiry changed;
/// sessions created, touched and ended; a recipient's sign-in state written
/// only over the version that was read; a recipient event fans out.
async fn portal_pickups_sessions_and_sign_in_state(env: Env) {
    let store = &env.store;
    let (t, other) = (tenant("portal"), tenant("portal-other"));
    store.commit(Commit { ops: vec![create_tenant(&t), create_tenant(&other)], events: vec![] }).await.unwrap();
    let (m1, m2) = (message(&t, 2, 32), message(&t, 1, 32));
    store.commit(commit_message(&m1)).await.unwrap();
    store.commit(commit_message(&m2)).await.unwrap();
    let pickup = |token: u8, m: &NewMessage, r: usize, created: i64, address: Option<u8>| PortalPickup {
        token_hash: vec![token; 32],
        tenant: t.clone(),
        message: m.id,
        recipient: m.recipients[r],
        created_at: created,
        expires_at: created + 1_000_000,
        address_hash: address.map(|a| vec![a; 32]),
        opened_at: None,
        retracted_at: None,
        reminded_at: None,
    };
    let ops = vec![
        Op::Pickup(pickup(1, &m1, 0, 10, Some(0xaa))),
        Op::Pickup(pickup(2, &m1, 1, 11, Some(0xbb))),
        Op::Pickup(pickup(3, &m2, 0, 12, None)),
    ];
    store.commit(Commit { ops, events: vec![] }).await.unwrap();
    let of = async |a: u8| -> Vec<u8> {
        store.pickups_of_address(&t, &[a; 32]).await.unwrap().iter().map(|p| p.token_hash[0]).collect()
    };
    assert_eq!(of(0xaa).await, [1]);
    // A link sent before the portal learns its address once; newest first.
    let learn = |token: u8, a: u8| Op::PickupAddress { token_hash: vec![token; 32], address_hash: vec![a; 32] };
    store.commit(Commit { ops: vec![learn(3, 0xaa)], events: vec![] }).await.unwrap();
    store.commit(Commit { ops: vec![learn(3, 0xbb)], events: vec![] }).await.unwrap();
    assert_eq!(of(0xaa).await, [3, 1], "newest first; the address is not overwritten");
    assert!(store.pickups_of_address(&other, &[0xaa; 32]).await.unwrap().is_empty(), "tenant-scoped");
    let by_rcpt = store.pickup_of_recipient(&t, &m1.recipients[1]).await.unwrap().unwrap();
    assert_eq!(by_rcpt.token_hash, vec![2; 32]);
    assert!(store.pickup_of_recipient(&other, &m1.recipients[1]).await.unwrap().is_none());

    let opened = |at| Op::PickupOpened { token_hash: vec![1; 32], at };
    store.commit(Commit { ops: vec![opened(50)], events: vec![] }).await.unwrap();
    store.commit(Commit { ops: vec![opened(60)], events: vec![] }).await.unwrap();
    assert_eq!(store.pickup(&[1; 32]).await.unwrap().unwrap().opened_at, Some(50), "the first view is kept");

    let retract =
        |r: Option<RecipientId>, at| Op::RetractPickups { tenant: t.clone(), message: m1.id, recipient: r, at };
    store.commit(Commit { ops: vec![retract(Some(m1.recipients[0]), 70)], events: vec![] }).await.unwrap();
    let expiry = Op::SetPickupExpiry { tenant: t.clone(), message: m1.id, expires_at: 99 };
    store.commit(Commit { ops: vec![expiry], events: vec![] }).await.unwrap();
    let rows = store.pickups_of_message(&t, &m1.id).await.unwrap();
    let row = |token: u8| rows.iter().find(|p| p.token_hash[0] == token).unwrap().clone();
    assert_eq!((row(1).retracted_at, row(1).expires_at), (Some(70), 1_000_010), "retracted: expiry unchanged");
    assert_eq!((row(2).retracted_at, row(2).expires_at), (None, 99));
    store.commit(Commit { ops: vec![retract(None, 80)], events: vec![] }).await.unwrap();
    let rows = store.pickups_of_message(&t, &m1.id).await.unwrap();
    assert!(rows.iter().all(|p| p.retracted_at.is_some()), "all retracted");
    assert_eq!(rows.iter().find(|p| p.token_hash[0] == 1).unwrap().retracted_at, Some(70), "first retraction kept");

    let session = PortalSession {
        id_hash: vec![5; 32],
        tenant: t.clone(),
        address_hash: vec![0xaa; 32],
        entry_hash: vec![1; 32],
        signed_in: true,
        created_at: 1,
        seen_at: 2,
        expires_at: 3,
    };
    store.commit(Commit { ops: vec![Op::PutPortalSession(session.clone())], events: vec![] }).await.unwrap();
    let again = store.commit(Commit { ops: vec![Op::PutPortalSession(session.clone())], events: vec![] }).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let touch = Op::TouchPortalSession { id_hash: vec![5; 32], seen_at: 9 };
    store.commit(Commit { ops: vec![touch], events: vec![] }).await.unwrap();
    assert_eq!(store.portal_session(&[5; 32]).await.unwrap(), Some(PortalSession { seen_at: 9, ..session.clone() }));
    store.commit(Commit { ops: vec![Op::DeletePortalSession(vec![5; 32])], events: vec![] }).await.unwrap();
    assert!(store.portal_session(&[5; 32]).await.unwrap().is_none());
    // Idle and expired sessions are pruned; a live one stays.
    let live = PortalSession { id_hash: vec![6; 32], seen_at: 100, expires_at: 1_000, ..session.clone() };
    let idle = PortalSession { id_hash: vec![7; 32], seen_at: 10, expires_at: 1_000, ..session.clone() };
    let over = PortalSession { id_hash: vec![8; 32], seen_at: 100, expires_at: 50, ..session.clone() };
    let ops = vec![Op::PutPortalSession(live), Op::PutPortalSession(idle), Op::PutPortalSession(over)];
    store.commit(Commit { ops, events: vec![] }).await.unwrap();
    assert_eq!(store.prune_portal_sessions(60, 50).await.unwrap(), 2);
    assert!(store.portal_session(&[6; 32]).await.unwrap().is_some());
    assert!(store.portal_session(&[7; 32]).await.unwrap().is_none());

    // Reminders: due when expiring within the window, unopened, unretracted,
    // not yet reminded; a pickup is reminded once.
    let due = store.pickups_due_reminder(0, i64::MAX, 10).await.unwrap();
    assert_eq!(due.iter().map(|p| p.token_hash[0]).collect::<Vec<_>>(), [3], "1 was opened, 2 retracted");
    assert!(store.pickups_due_reminder(0, 100, 10).await.unwrap().is_empty(), "not within the window");
    let remind = || Commit { ops: vec![Op::PickupReminded { token_hash: vec![3; 32], at: 90 }], events: vec![] };
    store.commit(remind()).await.unwrap();
    assert!(matches!(store.commit(remind()).await, Err(StoreError::Conflict(_))), "once");
    assert!(store.pickups_due_reminder(0, i64::MAX, 10).await.unwrap().is_empty());

    let state = PortalRecipient {
        tenant: t.clone(),
        address_hash: vec![0xaa; 32],
        code_hash: Some(vec![1; 32]),
        code_expires_at: 100,
        code_tries: 5,
        window_start: 1,
        codes_in_window: 1,
        failures: 0,
        locked_until: 0,
        version: 1,
    };
    let put = |s: PortalRecipient, v| Commit {
        ops: vec![Op::PutPortalRecipient { state: s, expected_version: v }],
        events: vec![],
    };
    store.commit(put(state.clone(), None)).await.unwrap();
    assert!(matches!(store.commit(put(state.clone(), None)).await, Err(StoreError::Conflict(_))), "one row");
    let tried = PortalRecipient { code_tries: 4, failures: 1, version: 2, ..state.clone() };
    store.commit(put(tried.clone(), Some(1))).await.unwrap();
    let stale = PortalRecipient { code_tries: 4, failures: 1, version: 2, ..state.clone() };
    let r = store.commit(put(stale, Some(1))).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "a write over a stale version is refused: {r:?}");
    assert_eq!(store.portal_recipient(&t, &[0xaa; 32]).await.unwrap(), Some(tried));
    assert!(store.portal_recipient(&other, &[0xaa; 32]).await.unwrap().is_none());

    let event = Op::RecipientEvent {
        tenant: t.clone(),
        message: m2.id,
        recipient: m2.recipients[0],
        event: "portal_opened".into(),
        detail: "{}".into(),
        webhook_payload: String::new(),
    };
    store.commit(Commit { ops: vec![event], events: vec![] }).await.unwrap();
    let events = store.recipient_events(&t, &m2.id).await.unwrap();
    assert_eq!(events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(), ["portal_opened"]);
    store.close().await;
}
