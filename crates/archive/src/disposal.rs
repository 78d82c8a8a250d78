//! Disposal (R-AR-3): the retention run and its daily schedule.
//!
//! A run (1) evaluates messages not yet evaluated under the tenant's current
//! policy version (normally none: the indexer evaluates messages as it adds
//! them), (2) reads the expired messages a page at a time with everything
//! disposal needs in one query, (3) computes hold coverage in memory, and
//! (4) disposes of the page's expired, un-held `dispose` messages in one
//! store commit ([`Op::DisposePage`]): the holds version read in step 3 is
//! compared inside that transaction, so a hold created during the run wins
//! (the commit fails with a conflict, coverage is recomputed, the page is
//! checked again). The commit empties the wrapped data keys and the sealed
//! metadata (crypto-shredding), removes queue rows and portal pickups, keeps
//! a disposal certificate per message and audits `message.disposed` for
//! each, and queues the blobs as garbage. Every [`REMOVAL_PASS`] disposals
//! (and at the end of the run) the queued blobs are deleted in one pass (one
//! sync per segment file) and the messages leave the search index. `review`
//! messages wait in the disposition queue (`review.rs`).
//!
//! Test hook (debug builds only; compiled out of release builds): with
//! `SEALPOST_TEST_PAUSE_DISPOSAL=DIR`, a run that has
//! something to dispose writes `DIR/paused` after computing coverage and
//! waits (up to 60 s) for `DIR/resume` before its first commit, so a test
//! can create a hold in between.

use std::sync::Arc;
use std::time::Duration;

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_model::{MessageId, TenantId, now_micros};
use sealpost_store::{CertificateRecord, Commit, DisposalPage, ExpiredMessage, Op, RetentionRecord, StoreError};
use serde::Serialize;

use super::holds::{ActiveHolds, ArchiveError, Coverage, HoldId};
use super::retention::{EvaluationReport, decision_version};
use crate::Archive;
use crate::facts::custodians_of;
use sealpost_core::ServerError;
use sealpost_core::access::OpenedMessage;
use sealpost_core::pipeline::{EnvelopeMeta, seal_context};

/// How often a run retries one page whose commit found the holds changed.
const HOLD_RETRIES: usize = 5;
/// Expired messages read, and disposed of, per page (one commit each).
const PAGE: i64 = 500;
/// Disposed messages whose blobs and index entries are removed in one pass.
/// Each pass syncs every blob segment file it touched (a page's messages are
/// spread over most of them) and commits the index once, so passes are
/// fewer than pages. Until its pass, a disposed message's blob is
/// ciphertext whose key is already destroyed.
const REMOVAL_PASS: usize = 10_000;
#[cfg(debug_assertions)]
const PAUSE_ENV: &str = "SEALPOST_TEST_PAUSE_DISPOSAL";

/// What a run does.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// "Now", unix micros (`--now` for a fixed clock).
    pub now: i64,
    /// Report what would be disposed of, dispose of nothing.
    pub dry_run: bool,
    /// Who runs it (the CLI, the schedule, an API key).
    pub actor: Actor,
}

/// The outcome of one tenant's run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// Messages (re-)evaluated first.
    pub evaluation: EvaluationReport,
    /// Disposed of (or, in a dry run, that would be).
    pub disposed: Vec<String>,
    /// Expired but preserved by a hold: (message, hold).
    pub held: Vec<(String, String)>,
    /// Expired but kept for now: a query-scoped hold might cover them and
    /// the search index did not hold them when its query ran (imported or
    /// accepted since, or the server has not indexed them yet). A later
    /// run, after indexing, decides.
    pub unchecked: Vec<String>,
    /// Expired `review` messages waiting in the disposition queue.
    pub awaiting_review: Vec<String>,
    /// Messages that failed (left in place; see the log).
    pub failed: usize,
    /// A dry run.
    pub dry_run: bool,
}

/// One expired message, with what coverage and the certificate need.
struct Candidate {
    record: RetentionRecord,
    custodians: Vec<String>,
    sha256: String,
    indexed_at: Option<i64>,
}

impl Archive {
    /// One tenant's retention run. Audited `retention.run` with counts.
    pub async fn run_retention(&self, tenant: &TenantId, opts: &RunOptions) -> Result<RunReport, ArchiveError> {
        let result = self.run_retention_inner(tenant, opts).await;
        let event = match &result {
            Ok(r) => NewEvent::new(tenant.clone(), opts.actor.clone(), Action::RetentionRun, Outcome::Success)
                .detail("evaluated", DetailValue::Count(r.evaluation.evaluated as i64))
                .detail("disposed", DetailValue::Count(r.disposed.len() as i64))
                .detail("held", DetailValue::Count(r.held.len() as i64))
                .detail("unchecked", DetailValue::Count(r.unchecked.len() as i64))
                .detail("awaiting_review", DetailValue::Count(r.awaiting_review.len() as i64))
                .detail("failed", DetailValue::Count(r.failed as i64)),
            Err(_) => NewEvent::new(tenant.clone(), opts.actor.clone(), Action::RetentionRun, Outcome::Failure),
        }
        .detail("dry_run", DetailValue::Bool(opts.dry_run))
        .detail("now", DetailValue::Count(opts.now));
        self.core.audit(vec![event]).await?;
        if !opts.dry_run {
            sealpost_core::telemetry::retention_run(result.as_ref().ok().map(counts));
        }
        result
    }

    async fn run_retention_inner(&self, tenant: &TenantId, opts: &RunOptions) -> Result<RunReport, ArchiveError> {
        // The index is purged once, after the run (App::purge_settled).
        let _disposing = self.index.disposing();
        let mut report = RunReport { dry_run: opts.dry_run, ..RunReport::default() };
        report.evaluation = self.evaluate_retention(tenant).await?;
        if !opts.dry_run {
            self.finish_interrupted_disposals(tenant).await?;
        }
        let policy_version = decision_version(self.retention_policy(tenant).await?.version, &self.state_table()?);
        let mut holds = self.active_holds(tenant).await?;
        let mut after: Option<(i64, MessageId)> = None;
        let mut paused = false;
        let mut removal: Vec<MessageId> = Vec::new();
        loop {
            let page = self.core.store.expired_page(tenant, opts.now, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some((last.retention.retain_until.unwrap_or_default(), last.retention.message));
            let mut batch = Vec::with_capacity(page.len());
            for expired in page {
                let id = expired.retention.message;
                if expired.retention.action.as_deref() == Some("review") {
                    report.awaiting_review.push(id.to_string());
                    continue;
                }
                // A decision under another policy version (its evaluation
                // failed or waits for the index) is not a decision to act on.
                if expired.retention.version != Some(policy_version) {
                    report.unchecked.push(id.to_string());
                    continue;
                }
                let candidate = match self.page_candidate(tenant, expired).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(tenant = %tenant, message = %id, error = %e, "disposal: cannot open");
                        report.failed += 1;
                        continue;
                    }
                };
                if opts.dry_run {
                    match holds.coverage(
                        &id,
                        candidate.record.message_date,
                        &candidate.custodians,
                        candidate.indexed_at,
                    ) {
                        Coverage::Held(h) => report.held.push((id.to_string(), h.to_string())),
                        Coverage::Unknown => report.unchecked.push(id.to_string()),
                        Coverage::Free => report.disposed.push(id.to_string()),
                    }
                    continue;
                }
                batch.push(candidate);
            }
            if batch.is_empty() {
                continue;
            }
            if !paused {
                paused = true;
                test_pause().await;
            }
            // One commit per page: one sync for up to PAGE disposals.
            match self.dispose_batch(tenant, &batch, &mut holds, &opts.actor, "dispose", Vec::new(), &mut report).await
            {
                Ok((_, done)) => removal.extend(done),
                Err(e) => {
                    tracing::warn!(tenant = %tenant, error = %e, "disposal of a batch failed");
                    report.failed += batch.len();
                }
            }
            if removal.len() >= REMOVAL_PASS {
                self.remove_disposed(tenant, &std::mem::take(&mut removal)).await;
            }
        }
        if !removal.is_empty() {
            self.remove_disposed(tenant, &removal).await;
        }
        if !report.disposed.is_empty() && !opts.dry_run {
            self.core.store.compact_after_disposal().await?;
        }
        Ok(report)
    }

    /// A candidate from a row the page query returned: the metadata is
    /// opened in memory (no further query; the tenant's keys are cached).
    async fn page_candidate(&self, tenant: &TenantId, expired: ExpiredMessage) -> Result<Candidate, ServerError> {
        let ExpiredMessage { retention, message: record, indexed_at } = expired;
        let keys = self.core.tenant_keys_with(tenant, record.kek_version).await?;
        let kek = keys
            .get(record.kek_version)
            .ok_or_else(|| ServerError::NotFound(format!("key version {}", record.kek_version)))?;
        let ctx = seal_context(tenant.as_str(), &record.id);
        let dek = kek.unwrap_data_key(&record.wrapped_dek, &ctx)?;
        let meta: EnvelopeMeta = serde_json::from_slice(&dek.open_meta(&record.sealed_meta, &ctx)?)
            .map_err(|e| ServerError::State(format!("message {}: metadata: {e}", record.id)))?;
        let opened = OpenedMessage { record, recipients: Vec::new(), meta, raw: None };
        Ok(Candidate {
            custodians: custodians_of(&opened),
            sha256: opened.meta.sha256.clone(),
            record: retention,
            indexed_at,
        })
    }

    async fn candidate(&self, tenant: &TenantId, record: RetentionRecord) -> Result<Candidate, ArchiveError> {
        let opened = self.reader.load_message(tenant, &record.message, false).await?;
        let indexed_at = self.core.store.message_indexed_at(tenant, &record.message).await?;
        Ok(Candidate { custodians: custodians_of(&opened), sha256: opened.meta.sha256.clone(), record, indexed_at })
    }

    /// Disposes of one message unless a hold covers it (returns that hold).
    /// `extra` events are committed with the disposal (a review approval).
    async fn dispose(
        &self,
        tenant: &TenantId,
        c: Candidate,
        holds: &mut ActiveHolds,
        actor: &Actor,
        action: &'static str,
        extra: Vec<NewEvent>,
    ) -> Result<Option<HoldId>, ArchiveError> {
        let mut report = RunReport::default();
        let (held, done) =
            self.dispose_batch(tenant, std::slice::from_ref(&c), holds, actor, action, extra, &mut report).await?;
        if !done.is_empty() {
            self.remove_disposed(tenant, &done).await;
        }
        if !report.unchecked.is_empty() {
            return Err(ArchiveError::Unavailable(format!(
                "message {}: a query-scoped hold may cover it and the search index does not hold it yet; \
                 try again once it is indexed",
                c.record.message
            )));
        }
        Ok(held.first().map(|(_, hold)| *hold))
    }

    /// Disposes of `batch` in one commit, except the messages a hold covers.
    /// A hold created or released meanwhile fails the commit (holds-version
    /// check in the transaction): coverage is recomputed and it is retried.
    /// `extra` events go into the same commit (a review approval). Returns
    /// the held messages with their holds (also added to `report`) and the
    /// disposed ones, for [`App::remove_disposed`].
    #[allow(clippy::too_many_arguments)]
    async fn dispose_batch(
        &self,
        tenant: &TenantId,
        batch: &[Candidate],
        holds: &mut ActiveHolds,
        actor: &Actor,
        action: &'static str,
        extra: Vec<NewEvent>,
        report: &mut RunReport,
    ) -> Result<(Vec<(MessageId, HoldId)>, Vec<MessageId>), ArchiveError> {
        let mut sealed = Vec::with_capacity(batch.len());
        for c in batch {
            let cert_id = sealpost_model::RecipientId::new();
            let purpose = format!("disposal-certificate/{tenant}/{cert_id}");
            sealed.push((cert_id, self.core.root().seal_secret(&purpose, c.sha256.as_bytes())?));
        }
        for _ in 0..HOLD_RETRIES {
            let (mut certificates, mut events, mut done, mut held, mut unchecked) =
                (Vec::new(), extra.clone(), Vec::new(), Vec::new(), Vec::new());
            let now = now_micros();
            for (c, (cert_id, sealed_sha256)) in batch.iter().zip(&sealed) {
                let id = c.record.message;
                match holds.coverage(&id, c.record.message_date, &c.custodians, c.indexed_at) {
                    Coverage::Held(h) => {
                        held.push((id, h));
                        continue;
                    }
                    Coverage::Unknown => {
                        unchecked.push(id.to_string());
                        continue;
                    }
                    Coverage::Free => {}
                }
                let certificate = CertificateRecord {
                    id: *cert_id,
                    tenant: tenant.clone(),
                    message: id,
                    sealed_sha256: sealed_sha256.clone(),
                    rule: c.record.rule.clone(),
                    action: action.to_owned(),
                    message_date: c.record.message_date,
                    retain_until: c.record.retain_until.unwrap_or_default(),
                    disposed_at: now,
                    actor: actor.as_str().to_owned(),
                };
                events.push(
                    NewEvent::new(tenant.clone(), actor.clone(), Action::MessageDisposed, Outcome::Success)
                        .target(id)
                        .detail("certificate", DetailValue::id(*cert_id))
                        .detail("action", DetailValue::Name(action))
                        .detail("retain_until", DetailValue::Count(certificate.retain_until)),
                );
                certificates.push(certificate);
                done.push(id);
            }
            let held_text = held.iter().map(|(id, h)| (id.to_string(), h.to_string()));
            if certificates.is_empty() {
                report.held.extend(held_text);
                report.unchecked.extend(unchecked);
                return Ok((held, Vec::new()));
            }
            let page = DisposalPage { tenant: tenant.clone(), holds_version: holds.version, certificates };
            match self.core.store.commit(Commit { ops: vec![Op::DisposePage(page)], events }).await {
                Ok(_) => {
                    report.disposed.extend(done.iter().map(ToString::to_string));
                    report.held.extend(held_text);
                    report.unchecked.extend(unchecked);
                    return Ok((held, done));
                }
                Err(StoreError::Conflict(e)) if e.contains("holds of tenant") => {
                    *holds = self.active_holds(tenant).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ArchiveError::Refused("holds kept changing during the disposal; try again".into()))
    }

    /// After disposal commits: the messages leave the search index (deleted
    /// at once; the indexer purges the files once the run is over), and the
    /// blobs the commits queued as garbage are deleted (one sync per segment
    /// file touched). Failures leave only ciphertext whose
    /// key is gone, still queued; the next run retries.
    async fn remove_disposed(&self, tenant: &TenantId, ids: &[MessageId]) {
        if let Err(e) = self.index.unindex(tenant, ids).await {
            tracing::warn!(tenant = %tenant, error = %e, "disposal: unindex failed");
        }
        if let Err(e) = self.core.collect_blob_garbage().await {
            tracing::warn!(error = %e, "disposal: deleting disposed blobs failed; retried next run");
        }
    }

    /// Blobs of messages disposed of by a run that stopped before deleting
    /// them: still queued as garbage, or (disposed before disposal queued
    /// them) still referenced by their disposed rows.
    async fn finish_interrupted_disposals(&self, tenant: &TenantId) -> Result<(), ArchiveError> {
        self.core.collect_blob_garbage().await?;
        let left = self.core.store.disposed_blobs(tenant, REMOVAL_PASS as i64).await?;
        let refs: Vec<String> = left.iter().map(|(_, b)| b.clone()).collect();
        let mut removed = Vec::with_capacity(refs.len());
        for ((id, _), result) in left.iter().zip(self.core.store.delete_blobs(&refs).await) {
            match result {
                Ok(()) => removed.push(*id),
                Err(e) => tracing::warn!(tenant = %tenant, message = %id, error = %e, "disposal: blob deletion failed"),
            }
        }
        if !removed.is_empty() {
            let commit = Commit { ops: vec![Op::BlobsRemoved(tenant.clone(), removed)], events: Vec::new() };
            self.core.store.commit(commit).await?;
        }
        Ok(())
    }

    /// Approves one expired `review` message for disposal and disposes of
    /// it now, unless a hold covers it. Audited `disposition.reviewed`
    /// (in the disposal's commit) and `message.disposed`.
    pub async fn approve_review(
        &self,
        tenant: &TenantId,
        id: &MessageId,
        actor: Actor,
        now: i64,
    ) -> Result<(), ArchiveError> {
        let record = self.reviewable(tenant, id, now).await?;
        let candidate = self.candidate(tenant, record).await?;
        let mut holds = self.active_holds(tenant).await?;
        let reviewed = NewEvent::new(tenant.clone(), actor.clone(), Action::DispositionReviewed, Outcome::Success)
            .target(*id)
            .detail("decision", DetailValue::Name("approve"));
        match self.dispose(tenant, candidate, &mut holds, &actor, "review", vec![reviewed]).await? {
            None => Ok(()),
            Some(hold) => {
                let ev = NewEvent::new(tenant.clone(), actor, Action::DispositionReviewed, Outcome::Failure)
                    .target(*id)
                    .detail("decision", DetailValue::Name("approve"))
                    .detail("hold", DetailValue::id(hold));
                self.core.audit(vec![ev]).await?;
                Err(ArchiveError::Refused(format!("message {id} is preserved by legal hold {hold}")))
            }
        }
    }

    /// A message that is expired, live and waiting for review.
    pub(crate) async fn reviewable(
        &self,
        tenant: &TenantId,
        id: &MessageId,
        now: i64,
    ) -> Result<RetentionRecord, ArchiveError> {
        let r = self
            .core
            .store
            .message_retention(tenant, id)
            .await?
            .ok_or_else(|| ArchiveError::NotFound(format!("message {id}")))?;
        let expired = r.retain_until.is_some_and(|u| u <= now) && r.extended_until.is_none_or(|e| e <= now);
        if r.disposed_at.is_some() || r.action.as_deref() != Some("review") || !expired {
            return Err(ArchiveError::Invalid(sealpost_core::InvalidInput::general(format!(
                "message {id} is not waiting for review"
            ))));
        }
        Ok(r)
    }

    /// Runs retention for every tenant (the schedule, and `retention run` without `--tenant`).
    pub async fn run_retention_all(&self, opts: &RunOptions) -> Vec<(TenantId, Result<RunReport, ArchiveError>)> {
        let tenants = match self.core.store.tenant_ids().await {
            Ok(t) => t,
            Err(e) => return vec![(sealpost_core::system_tenant(), Err(e.into()))],
        };
        let mut out = Vec::new();
        for t in tenants {
            let r = self.run_retention(&t, opts).await;
            out.push((t, r));
        }
        out
    }
}

/// The daily schedule: a run every `[archive] disposal_interval_hours`, the
/// first five minutes after start (0 hours: off).
pub async fn run_schedule(app: Arc<Archive>) {
    let hours = app.core.cfg.archive.disposal_interval_hours;
    if hours == 0 {
        return;
    }
    let mut next = Duration::from_secs(300);
    loop {
        tokio::time::sleep(next).await;
        next = Duration::from_secs(hours.saturating_mul(3600));
        let opts = RunOptions { now: now_micros(), dry_run: false, actor: Actor::system() };
        let mut totals = sealpost_core::telemetry::RetentionCounts::default();
        for (tenant, result) in app.run_retention_all(&opts).await {
            match result {
                Ok(r) => {
                    tracing::info!(tenant = %tenant, disposed = r.disposed.len(), held = r.held.len(),
                        review = r.awaiting_review.len(), failed = r.failed, "retention run");
                    totals.add(counts(&r));
                }
                Err(e) => tracing::warn!(tenant = %tenant, error = %e, "retention run failed"),
            }
        }
        sealpost_core::telemetry::retention_schedule_ran(totals);
        match app.prune_operational(now_micros()).await {
            Ok(c) => tracing::info!(
                webhook_outbox = c.webhook_outbox,
                idempotency = c.idempotency,
                search_log = c.search_log.values().sum::<i64>(),
                "operational tables pruned"
            ),
            Err(e) => tracing::warn!(error = %e, "pruning operational tables failed; retried on the next run"),
        }
    }
}

/// A run's counts for metrics (no ids).
fn counts(r: &RunReport) -> sealpost_core::telemetry::RetentionCounts {
    sealpost_core::telemetry::RetentionCounts {
        disposed: r.disposed.len(),
        held: r.held.len(),
        review: r.awaiting_review.len(),
        failed: r.failed,
    }
}

/// Release builds have no hook: nothing in the environment of a production
/// server can stall a disposal run (issue 13.15). Tests run debug builds.
#[cfg(not(debug_assertions))]
async fn test_pause() {}

#[cfg(debug_assertions)]
async fn test_pause() {
    let Some(dir) = std::env::var_os(PAUSE_ENV).map(std::path::PathBuf::from) else { return };
    if std::fs::write(dir.join("paused"), b"").is_err() {
        return;
    }
    for _ in 0..600 {
        if dir.join("resume").exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A disposal certificate as shown to authorized callers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateView {
    /// Certificate id.
    pub id: String,
    /// The disposed message.
    pub message: String,
    /// SHA-256 (hex) of the original bytes.
    pub sha256: String,
    /// The deciding rule.
    pub rule: Option<String>,
    /// `dispose`, or `review` (approved by a reviewer).
    pub action: String,
    /// RFC 3339.
    pub message_date: String,
    /// RFC 3339 (absent for messages kept indefinitely).
    pub retain_until: Option<String>,
    /// RFC 3339.
    pub disposed_at: String,
    /// Audit actor of the run or reviewer.
    pub actor: String,
}

impl Archive {
    /// The tenant's disposal certificates, oldest first.
    pub async fn disposal_certificates(&self, tenant: &TenantId) -> Result<Vec<CertificateView>, ArchiveError> {
        let mut out = Vec::new();
        for c in self.core.store.disposal_certificates(tenant).await? {
            let sha =
                self.core.root().open_secret(&format!("disposal-certificate/{tenant}/{}", c.id), &c.sealed_sha256)?;
            out.push(CertificateView {
                id: c.id.to_string(),
                message: c.message.to_string(),
                sha256: String::from_utf8_lossy(&sha).into_owned(),
                rule: c.rule,
                action: c.action,
                message_date: sealpost_audit::rfc3339_micros(c.message_date),
                retain_until: (c.retain_until != sealpost_store::RETAIN_INDEFINITELY)
                    .then(|| sealpost_audit::rfc3339_micros(c.retain_until)),
                disposed_at: sealpost_audit::rfc3339_micros(c.disposed_at),
                actor: c.actor,
            });
        }
        Ok(out)
    }
}
