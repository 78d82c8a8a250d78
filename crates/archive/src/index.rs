//! The search index (R-AR-5, R-KY-1): one encrypted index per tenant under
//! `<data>/index/<tenant>/`, its key derived from the root key. The server
//! feeds it from committed state: a worker picks up messages not yet
//! indexed, opens them, extracts headers, text and attachment names,
//! classifies them (PHI kinds), adds them, commits the index, and only then
//! marks them indexed in the database — so a crash re-indexes (adding a
//! message twice replaces it) and never skips one.
//!
//! Only `sealpost serve` writes an index. Other processes (the CLI) open it
//! read-only and see its last commit; messages stored while no server runs
//! are indexed when it next starts.
//!
//! Every search is audited (`search.performed`) with the query sealed in
//! the `search_log` table: the audit event carries the log id and counts,
//! never the query text (it may name a patient).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_model::{EventId, MessageId, TenantId, now_micros};
use sealpost_search::{ArchiveIndex, IndexOptions, Query, SearchError};
use sealpost_store::{Commit, Op, SearchLogRecord};

use futures::future::BoxFuture;
use sealpost_core::Core;
use sealpost_core::ServerError;
use sealpost_core::access::{MessageReader, OpenedMessage};
use sealpost_core::settings::Settings;
use sealpost_store::RetentionUpdate;

/// Results per page at most (the search crate's limit).
pub const MAX_PER_PAGE: usize = 1000;
/// Messages indexed per batch (one index commit each).
const BATCH: i64 = 1000;
/// Pause when the indexer has caught up. An index commit writes and syncs
/// several files: committing at most every couple of seconds keeps that off
/// the intake's fsync path (search lags by about this much).
const IDLE: Duration = Duration::from_secs(2);

/// The search index service. It calls neither holds nor retention: a
/// query's `hold:NAME` terms are resolved through [`HoldResolver`], and
/// retention is evaluated at index time through [`IndexTimeRetention`];
/// the archive implements both.
pub struct Index {
    core: Arc<Core>,
    settings: Arc<Settings>,
    reader: Arc<MessageReader>,
    indexes: Indexes,
}

/// Resolves `hold:NAME` in a query to the ids the hold covers.
pub trait HoldResolver: Sync {
    /// The ids of `tenant`'s messages that hold `name` covers.
    fn held_ids<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Vec<MessageId>, ServerError>>;
}

/// Retention evaluated as messages are indexed, from the bytes the indexer
/// already opened and classified.
pub trait IndexTimeRetention: Send + Sync {
    /// The decider for a batch of `tenant`'s messages; `None` when the
    /// policy cannot be evaluated at index time (the run evaluates then).
    fn decider<'a>(
        &'a self,
        tenant: &'a TenantId,
    ) -> BoxFuture<'a, Result<Option<Arc<dyn DecideRetention>>, ServerError>>;
}

/// One retention decision, as the update that stores it. Pure CPU.
pub trait DecideRetention: Send + Sync {
    /// The decision for `m`, opened with its bytes; `phi`: what the
    /// classifier found.
    fn decide(&self, tenant: &TenantId, m: &OpenedMessage, phi: Option<bool>) -> RetentionUpdate;
}

/// Open indexes by tenant.
#[derive(Default)]
struct Indexes {
    /// This process indexes (the server); others only read.
    writer: std::sync::atomic::AtomicBool,
    open: Mutex<HashMap<TenantId, Arc<ArchiveIndex>>>,
    /// Disposal runs in progress in this process: no purge meanwhile.
    disposing: std::sync::atomic::AtomicUsize,
    /// Deleted documents per tenant index at the previous idle check.
    deleted_seen: Mutex<HashMap<TenantId, u64>>,
    /// Every tenant's index was checked once for deletions a crash left
    /// unpurged (later checks look at the indexes this process writes).
    swept: std::sync::atomic::AtomicBool,
}

/// Held by a disposal run: the indexer does not purge while one is running
/// (each purge rewrites every segment holding a deleted document, which is
/// most of the index when disposals are spread over it).
pub struct DisposingGuard<'a>(&'a Indexes);

impl Drop for DisposingGuard<'_> {
    fn drop(&mut self) {
        self.0.disposing.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// One page of search results.
#[derive(Debug, Clone)]
pub struct SearchResults {
    /// Matches in all.
    pub total: usize,
    /// This page: (id, message date in unix micros), newest first.
    pub hits: Vec<(MessageId, i64)>,
    /// The `search_log` row holding the sealed query.
    pub log_id: EventId,
}

/// A query could not be run.
#[derive(Debug, thiserror::Error)]
pub enum SearchFailure {
    /// The query has a syntax error (position in characters).
    #[error("{0}")]
    Syntax(sealpost_search::QueryError),
    /// Page size or offset out of range.
    #[error("page out of range: at most {MAX_PER_PAGE} per page and 100000 results deep")]
    Page,
    /// Anything else.
    #[error(transparent)]
    Server(#[from] ServerError),
}

fn search_err(e: SearchError) -> ServerError {
    ServerError::State(format!("search index: {e}"))
}

impl Index {
    /// Builds the service.
    pub fn new(core: Arc<Core>, settings: Arc<Settings>, reader: Arc<MessageReader>) -> Arc<Index> {
        Arc::new(Index { core, settings, reader, indexes: Indexes::default() })
    }

    /// Makes this process the indexer (called by `serve`).
    pub fn become_indexer(&self) {
        self.indexes.writer.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn index_dir(&self, tenant: &TenantId) -> PathBuf {
        self.core.data_dir.join("index").join(tenant.as_str())
    }

    /// The tenant's index: writable in the indexer, read-only (as of its
    /// last commit) elsewhere. `None` when a reader finds no index yet.
    fn index(&self, tenant: &TenantId) -> Result<Option<Arc<ArchiveIndex>>, ServerError> {
        let writer = self.indexes.writer.load(std::sync::atomic::Ordering::SeqCst);
        let mut open = self.indexes.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = open.get(tenant) {
            return Ok(Some(i.clone()));
        }
        let dir = self.index_dir(tenant);
        let key = self.core.root().search_index_key(tenant.as_str());
        let index = if writer {
            ArchiveIndex::open_with(&dir, key, IndexOptions::default())
        } else {
            match ArchiveIndex::open_reader(&dir, key, IndexOptions::default()) {
                Err(SearchError::NotAnIndex) => return Ok(None),
                other => other,
            }
        }
        .map_err(search_err)?;
        let index = Arc::new(index);
        // A reader is opened per call (it must see new commits); the writer is kept.
        if writer {
            open.insert(tenant.clone(), index.clone());
        }
        Ok(Some(index))
    }

    /// Purges disposed messages from the index (a disposal run by the CLI
    /// cannot write the index; the server finishes it here).
    async fn purge_disposed(&self) -> Result<usize, ServerError> {
        let disposed = self.core.store.disposed_but_indexed(BATCH).await?;
        let mut by_tenant: BTreeMap<TenantId, Vec<MessageId>> = BTreeMap::new();
        for (t, id) in &disposed {
            by_tenant.entry(t.clone()).or_default().push(*id);
        }
        for (tenant, ids) in by_tenant {
            self.unindex(&tenant, &ids).await?;
        }
        Ok(disposed.len())
    }

    /// Indexes up to one batch of messages (and purges disposed ones);
    /// returns how many were processed.
    pub async fn index_pending(&self, retention: &dyn IndexTimeRetention) -> Result<usize, ServerError> {
        let purged = self.purge_disposed().await?;
        let pending = self.core.store.unindexed(BATCH).await?;
        if pending.is_empty() {
            return Ok(purged);
        }
        let mut by_tenant: BTreeMap<TenantId, Vec<MessageId>> = BTreeMap::new();
        for (t, id) in &pending {
            by_tenant.entry(t.clone()).or_default().push(*id);
        }
        for (tenant, ids) in by_tenant {
            let settings = self.settings.get(&tenant).await?;
            // Retention is evaluated here, from the bytes already opened and
            // classified, so a retention run normally has nothing to evaluate.
            let evaluator = retention.decider(&tenant).await.unwrap_or_else(|e| {
                tracing::warn!(tenant = %tenant, error = %e, "retention not evaluated at index time");
                None
            });
            let mut docs = Vec::with_capacity(ids.len());
            let mut retention = Vec::new();
            let (mut done, mut retry) = (Vec::with_capacity(ids.len()), Vec::new());
            for id in &ids {
                let opened = match self.reader.load_message(&tenant, id, true).await {
                    Ok(o) => o,
                    Err(e) => {
                        // Only a confirmed disposal may be skipped. Anything
                        // else (a storage timeout, an unreadable blob) would
                        // make the message vanish from search, exports,
                        // access requests and query-scoped holds: retried
                        // with backoff, counted in the index lag.
                        let disposed = match self.core.store.message_retention(&tenant, id).await {
                            Ok(Some(r)) => r.disposed_at.is_some(),
                            Ok(None) => true,
                            Err(_) => false,
                        };
                        if disposed {
                            done.push(*id);
                        } else {
                            tracing::warn!(tenant = %tenant, message = %id, error = %e, "indexing: cannot load; retried later");
                            retry.push(*id);
                        }
                        continue;
                    }
                };
                done.push(*id);
                let patients = patients(&opened.meta.metadata);
                let (category, date) = (opened.record.category.as_str().to_owned(), opened.record.message_date);
                let classifier = settings.clone();
                let id_text = id.to_string();
                let (evaluator, t) = (evaluator.clone(), tenant.clone());
                let (doc, update) = tokio::task::spawn_blocking(move || {
                    let raw = opened.raw.as_deref().unwrap_or_default();
                    let scan = classifier.classifier.scan_message_report(raw);
                    let found = !scan.findings.is_empty() || scan.truncated;
                    let update = evaluator.map(|e| e.decide(&t, &opened, Some(found)));
                    let phi = scan.findings.kinds().map(|(k, _)| k.as_str().to_owned()).collect();
                    (sealpost_search::extract(raw).into_doc(id_text, date, &category, phi, patients), update)
                })
                .await
                .map_err(|e| ServerError::State(e.to_string()))?;
                docs.push(doc);
                retention.extend(update);
            }
            let docs_added = docs.len();
            let index = self.index(&tenant)?.ok_or_else(|| ServerError::State("no index".into()))?;
            tokio::task::spawn_blocking(move || -> Result<(), SearchError> {
                index.add(&docs)?;
                index.commit()
            })
            .await
            .map_err(|e| ServerError::State(e.to_string()))?
            .map_err(search_err)?;
            let mut ops = vec![Op::MarkIndexed(done)];
            if !retry.is_empty() {
                ops.push(Op::IndexRetryLater(retry));
            }
            if !retention.is_empty() {
                ops.push(Op::SetRetention(retention));
            }
            self.core.store.commit(Commit { ops, events: Vec::new() }).await?;
            sealpost_core::telemetry::indexed(docs_added);
        }
        Ok(pending.len())
    }

    /// Runs the indexer until the task is dropped.
    pub async fn run_indexer(self: Arc<Self>, retention: Arc<dyn IndexTimeRetention>) {
        loop {
            match self.index_pending(&*retention).await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => {
                    if let Err(e) = self.purge_settled().await {
                        tracing::warn!(error = %e, "index purge failed; retrying");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "indexing failed; retrying"),
            }
            tokio::time::sleep(IDLE).await;
        }
    }

    /// Marks a disposal run in progress until the guard drops.
    pub fn disposing(&self) -> DisposingGuard<'_> {
        self.indexes.disposing.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        DisposingGuard(&self.indexes)
    }

    /// Purges each tenant index whose deleted documents have settled: some
    /// are waiting and none were added since the previous idle check, and
    /// no disposal run of this process is in progress. So a disposal run of
    /// any size (here or by the CLI, whose disposals this indexer unindexes
    /// as they appear) costs one rewrite of the affected segments, after
    /// it, instead of one per batch — which at 1,000,000 messages rewrote
    /// the whole index every 1,000 disposals. Until then the documents are
    /// deleted (no search finds them) and their terms are sealed under the
    /// index key. The first check after start reads every tenant's index,
    /// so deletions a crash left unpurged are found; later ones look only
    /// at the indexes this process has open for writing (where deletions
    /// happen), so tenants without activity get no writer.
    pub async fn purge_settled(&self) -> Result<(), ServerError> {
        if !self.indexes.writer.load(std::sync::atomic::Ordering::SeqCst)
            || self.indexes.disposing.load(std::sync::atomic::Ordering::SeqCst) > 0
        {
            return Ok(());
        }
        if !self.indexes.swept.swap(true, std::sync::atomic::Ordering::SeqCst) {
            for tenant in self.core.store.tenant_ids().await? {
                let key = self.core.root().search_index_key(tenant.as_str());
                let deleted = match ArchiveIndex::open_reader(&self.index_dir(&tenant), key, IndexOptions::default()) {
                    Ok(reader) => reader.deleted_docs().map_err(search_err)?,
                    Err(SearchError::NotAnIndex) => 0,
                    Err(e) => return Err(search_err(e)),
                };
                if deleted > 0 {
                    self.index(&tenant)?;
                }
            }
        }
        let open: Vec<(TenantId, Arc<ArchiveIndex>)> = {
            let open = self.indexes.open.lock().unwrap_or_else(|p| p.into_inner());
            open.iter().map(|(t, i)| (t.clone(), i.clone())).collect()
        };
        for (tenant, index) in open {
            let deleted = index.deleted_docs().map_err(search_err)?;
            let before =
                self.indexes.deleted_seen.lock().unwrap_or_else(|p| p.into_inner()).insert(tenant.clone(), deleted);
            if deleted == 0 || before != Some(deleted) {
                continue;
            }
            tokio::task::spawn_blocking(move || index.purge())
                .await
                .map_err(|e| ServerError::State(e.to_string()))?
                .map_err(search_err)?;
            tracing::info!(tenant = %tenant, documents = deleted, "index purged of deleted documents");
            self.indexes.deleted_seen.lock().unwrap_or_else(|p| p.into_inner()).insert(tenant, 0);
        }
        Ok(())
    }

    /// One page of `tenant`'s messages matching `query`, audited for `actor`
    /// with the query sealed in the search log.
    pub async fn search(
        &self,
        tenant: &TenantId,
        actor: Actor,
        query: &str,
        page: usize,
        per_page: usize,
        holds: &dyn HoldResolver,
    ) -> Result<SearchResults, SearchFailure> {
        let parsed = sealpost_search::query::parse(query).map_err(SearchFailure::Syntax)?;
        if per_page == 0 || per_page > MAX_PER_PAGE {
            return Err(SearchFailure::Page);
        }
        let page_result = self.run_query(tenant, &parsed, page, per_page, Some(holds)).await?;
        let log_id = self.log_query(tenant, &actor, query).await?;
        let event = NewEvent::new(tenant.clone(), actor, Action::SearchPerformed, Outcome::Success)
            .detail("query", DetailValue::id(log_id))
            .detail("total", DetailValue::Count(page_result.0 as i64))
            .detail("page", DetailValue::Count(page as i64));
        self.core.audit(vec![event]).await?;
        Ok(SearchResults { total: page_result.0, hits: page_result.1, log_id })
    }

    /// Keeps `query` sealed in the search log; the returned id is what audit
    /// events name (the text itself may identify a patient).
    pub(crate) async fn log_query(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        query: &str,
    ) -> Result<EventId, ServerError> {
        let id = EventId::new();
        let sealed = self.core.root().seal_secret(&format!("search-query/{tenant}/{id}"), query.as_bytes())?;
        let record =
            SearchLogRecord { id, tenant: tenant.clone(), actor: actor.as_str().to_owned(), at: now_micros(), sealed };
        self.core.store.commit(Commit { ops: vec![Op::LogSearch(record)], events: Vec::new() }).await?;
        Ok(id)
    }

    /// The query text of a logged search (for auditors), itself audited.
    pub async fn logged_query(&self, tenant: &TenantId, actor: Actor, id: &EventId) -> Result<String, ServerError> {
        let record =
            self.core.store.search_log(tenant, id).await?.ok_or_else(|| ServerError::NotFound(id.to_string()))?;
        let purpose = format!("search-query/{tenant}/{id}");
        let text = self.core.root().open_secret(&purpose, &record.sealed)?;
        self.core
            .audit(vec![
                NewEvent::new(tenant.clone(), actor, Action::MessageAccessed, Outcome::Success)
                    .detail("search_query", DetailValue::id(*id)),
            ])
            .await?;
        String::from_utf8(text.to_vec()).map_err(|_| ServerError::State("logged query is not UTF-8".into()))
    }

    async fn run_query(
        &self,
        tenant: &TenantId,
        query: &Query,
        page: usize,
        per_page: usize,
        holds: Option<&dyn HoldResolver>,
    ) -> Result<(usize, Vec<(MessageId, i64)>), SearchFailure> {
        let Some(index) = self.index_or_nothing_indexed(tenant).await? else {
            return Ok((0, Vec::new()));
        };
        let holds = self.resolve_holds(tenant, query, holds).await?;
        let query = query.clone();
        let found = tokio::task::spawn_blocking(move || {
            index.search(&query, &|name| holds.get(name).cloned().unwrap_or_default(), page, per_page)
        })
        .await
        .map_err(|e| ServerError::State(e.to_string()))?;
        let found = match found {
            Ok(f) => f,
            Err(SearchError::PageOutOfRange) => return Err(SearchFailure::Page),
            Err(e) => return Err(search_err(e).into()),
        };
        let hits = found.hits.into_iter().filter_map(|h| Some((MessageId::parse(&h.id).ok()?, h.date))).collect();
        Ok((found.total, hits))
    }

    /// The tenant's index, or `None` when it has none and nothing is marked
    /// indexed (no answer can be short then).
    async fn index_or_nothing_indexed(&self, tenant: &TenantId) -> Result<Option<Arc<ArchiveIndex>>, ServerError> {
        if let Some(index) = self.index(tenant)? {
            return Ok(Some(index));
        }
        // No index yet is "nothing indexed yet" only while the database
        // agrees; otherwise the index was lost and every answer (a
        // hold's coverage, an access request) would be silently short.
        if self.core.store.any_indexed(tenant).await? {
            return Err(ServerError::State(format!(
                "the search index of tenant {tenant} is missing although messages are marked indexed"
            )));
        }
        Ok(None)
    }

    /// The ids each hold `query` names covers (`hold:NAME`); none resolved
    /// (so `hold:NAME` matches nothing) without a resolver.
    async fn resolve_holds(
        &self,
        tenant: &TenantId,
        query: &Query,
        resolver: Option<&dyn HoldResolver>,
    ) -> Result<HashMap<String, Vec<String>>, ServerError> {
        let mut holds = HashMap::new();
        let Some(resolver) = resolver else { return Ok(holds) };
        for name in hold_names(query) {
            let ids = resolver.held_ids(tenant, &name).await?;
            holds.insert(name, ids.iter().map(ToString::to_string).collect::<Vec<_>>());
        }
        Ok(holds)
    }

    /// Ids of `tenant`'s messages matching `query` (the search language of
    /// R-AR-5), newest first, as of the index's last commit; not audited as
    /// a search (callers audit what they do with them: holds, exports).
    pub async fn matching_ids(
        &self,
        tenant: &TenantId,
        query: &str,
        holds: &dyn HoldResolver,
    ) -> Result<Vec<MessageId>, ServerError> {
        self.all_matching(tenant, query, Some(holds)).await
    }

    /// [`Index::matching_ids`] where `hold:NAME` matches nothing: for a hold's
    /// own scope query, so holds cannot be defined by (or loop through) holds.
    pub async fn matching_ids_without_holds(
        &self,
        tenant: &TenantId,
        query: &str,
    ) -> Result<Vec<MessageId>, ServerError> {
        self.all_matching(tenant, query, None).await
    }

    /// Every match, from one snapshot of the index (its last commit), with
    /// no paging: no depth limit, and a commit or disposal landing meanwhile
    /// cannot shift a page and skip a message.
    async fn all_matching(
        &self,
        tenant: &TenantId,
        query: &str,
        holds: Option<&dyn HoldResolver>,
    ) -> Result<Vec<MessageId>, ServerError> {
        let parsed = sealpost_search::query::parse(query)
            .map_err(|e| ServerError::Invalid(sealpost_core::InvalidInput::field("query", e.to_string())))?;
        let Some(index) = self.index_or_nothing_indexed(tenant).await? else {
            return Ok(Vec::new());
        };
        let holds = self.resolve_holds(tenant, &parsed, holds).await?;
        let found = tokio::task::spawn_blocking(move || {
            index.search_all(&parsed, &|name| holds.get(name).cloned().unwrap_or_default())
        })
        .await
        .map_err(|e| ServerError::State(e.to_string()))?
        .map_err(search_err)?;
        Ok(found.into_iter().filter_map(|h| MessageId::parse(&h.id).ok()).collect())
    }

    /// Removes disposed messages from `tenant`'s index (no search finds
    /// them after this); [`Index::purge_settled`] later removes their terms
    /// from its files. In a process that is not the indexer this does
    /// nothing: the server's indexer unindexes disposed messages it finds
    /// still indexed.
    pub async fn unindex(&self, tenant: &TenantId, ids: &[MessageId]) -> Result<(), ServerError> {
        if !self.indexes.writer.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        if let Some(index) = self.index(tenant)? {
            let texts: Vec<String> = ids.iter().map(ToString::to_string).collect();
            tokio::task::spawn_blocking(move || -> Result<(), SearchError> {
                index.delete(&texts)?;
                index.commit()
            })
            .await
            .map_err(|e| ServerError::State(e.to_string()))?
            .map_err(search_err)?;
        }
        self.core.store.commit(Commit { ops: vec![Op::MarkUnindexed(ids.to_vec())], events: Vec::new() }).await?;
        Ok(())
    }
}

/// Patient identifiers given at submission (API metadata `patient`,
/// `patient_id` or a `patients` list).
fn patients(metadata: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["patient", "patient_id", "patient_name", "mrn"] {
        if let Some(v) = metadata.get(key).and_then(|v| v.as_str()) {
            out.push(v.to_owned());
        }
    }
    if let Some(list) = metadata.get("patients").and_then(|v| v.as_array()) {
        out.extend(list.iter().filter_map(|v| v.as_str().map(str::to_owned)));
    }
    out
}

/// The hold names a query mentions (`hold:NAME`).
fn hold_names(q: &Query) -> Vec<String> {
    match q {
        Query::Hold(name) => vec![name.clone()],
        Query::And(parts) | Query::Or(parts) => parts.iter().flat_map(hold_names).collect(),
        Query::Not(inner) => hold_names(inner),
        _ => Vec::new(),
    }
}
