//! Pruning of operational tables that would otherwise grow forever
//! (issue 13.14): finished webhook deliveries (`webhook_outbox`), API
//! idempotency records (`idempotency`) and the sealed search log
//! (`search_log`), each by age against a cut-off the caller chooses.
//!
//! Rows go in bounded batches, one short write transaction each, so a
//! large backlog never holds SQLite's write lock (or PostgreSQL's row
//! locks) for long; between batches the pruner pauses so waiting writers
//! (the group committer) get the lock. Each batch finds its rows through an
//! index on age (migration 4), so a batch costs the same however large the
//! backlog is.
//!
//! Pruning chains no audit events: the store never builds events, and the
//! batches are separate transactions. The caller records what it pruned,
//! from the counts returned.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sealpost_model::{TenantId, now_micros};

use crate::{Store, StoreError};

/// Rows deleted per transaction by [`Store::prune_operational`]: a few tens
/// of milliseconds of write lock on SQLite.
pub const PRUNE_BATCH_ROWS: i64 = 10_000;

/// The least pause after a full batch (a backlog that keeps the pruner
/// busy). SQLite's busy handler sleeps up to 100 ms between its tries for
/// the lock: a shorter pause could let the pruner take the lock again
/// before a waiting writer wakes, batch after batch.
const MIN_PAUSE_AFTER_FULL_BATCH: Duration = Duration::from_millis(100);

// One batch each: `$1` the cut-off, `$2` the batch size, `$3` the tenant.
// The conditions are in the subquery only, which walks an index of
// migration 4; the outer statement deletes by primary key. Repeated
// outside, they make SQLite walk every old row for each batch instead.
const PRUNE_OUTBOX: &str = "DELETE FROM webhook_outbox WHERE id IN (SELECT id FROM webhook_outbox \
     WHERE state IN ('delivered', 'failed') AND created_at < $1 LIMIT $2)";
const PRUNE_IDEMPOTENCY: &str = "DELETE FROM idempotency WHERE (tenant_id, key_hash) IN \
     (SELECT tenant_id, key_hash FROM idempotency WHERE created_at < $1 LIMIT $2)";
const PRUNE_SEARCH_LOG: &str = "DELETE FROM search_log WHERE id IN (SELECT id FROM search_log \
     WHERE tenant_id = $3 AND at_micros < $1 LIMIT $2)";

/// What to prune: per table, rows older than a cut-off (unix micros, the
/// tables' unit). `None` (or a tenant left out) keeps that table's rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneBefore {
    /// Webhook deliveries that ended (`delivered` or `failed`) and were
    /// created before this. Pending rows, leased or not, are never pruned.
    pub webhook_outbox: Option<i64>,
    /// Idempotency records created before this: a request repeating one of
    /// their keys is then processed as new.
    pub idempotency: Option<i64>,
    /// Per tenant, search-log rows logged before the time given. Per tenant
    /// because the search log must not outlive the messages its queries
    /// name, and message retention is each tenant's policy. The audit
    /// events of pruned searches stay, naming a log row that is gone.
    pub search_log: BTreeMap<TenantId, i64>,
}

/// Rows deleted by one pruning call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneCounts {
    /// Finished webhook deliveries.
    pub webhook_outbox: i64,
    /// Idempotency records.
    pub idempotency: i64,
    /// Search-log rows, per tenant named in [`PruneBefore::search_log`]
    /// (zero included), for the caller's per-tenant audit event.
    pub search_log: BTreeMap<TenantId, i64>,
    /// Delete transactions run, all tables together.
    pub batches: i64,
}

impl Store {
    /// Deletes the rows [`PruneBefore`] names, [`PRUNE_BATCH_ROWS`] per
    /// transaction, and counts them. See [`Store::prune_operational_in_batches`].
    pub async fn prune_operational(&self, before: &PruneBefore) -> Result<PruneCounts, StoreError> {
        self.prune_operational_in_batches(before, PRUNE_BATCH_ROWS).await
    }

    /// Deletes the rows [`PruneBefore`] names, at most `batch_rows` per
    /// transaction, until none is left. A cut-off later than now is refused
    /// before anything is deleted: it would take fresh rows, and it is what
    /// a unit mistake (nanoseconds for micros) looks like. A failure stops
    /// the run; the batches committed before it stay deleted, and the next
    /// run carries on.
    pub async fn prune_operational_in_batches(
        &self,
        before: &PruneBefore,
        batch_rows: i64,
    ) -> Result<PruneCounts, StoreError> {
        if batch_rows < 1 {
            return Err(StoreError::Config(format!("prune batch of {batch_rows} rows")));
        }
        let now = now_micros();
        let cutoffs = [("webhook outbox", before.webhook_outbox), ("idempotency", before.idempotency)]
            .into_iter()
            .filter_map(|(table, cut)| cut.map(|c| (table, c)))
            .chain(before.search_log.values().map(|c| ("search log", *c)));
        for (table, cut) in cutoffs {
            if cut > now {
                return Err(StoreError::Config(format!(
                    "{table} prune cut-off {cut} is in the future (now {now}, unix micros)"
                )));
            }
        }

        let mut pruner = Pruner { store: self, batch_rows, batches: 0, last_batch: None };
        let mut counts = PruneCounts::default();
        if let Some(cut) = before.webhook_outbox {
            counts.webhook_outbox = pruner.delete("webhook_outbox", PRUNE_OUTBOX, None, cut).await?;
        }
        if let Some(cut) = before.idempotency {
            counts.idempotency = pruner.delete("idempotency", PRUNE_IDEMPOTENCY, None, cut).await?;
        }
        for (tenant, cut) in &before.search_log {
            let n = pruner.delete("search_log", PRUNE_SEARCH_LOG, Some(tenant), *cut).await?;
            counts.search_log.insert(tenant.clone(), n);
        }
        counts.batches = pruner.batches;
        Ok(counts)
    }
}

/// Runs one delete statement in batches, pacing them.
struct Pruner<'a> {
    store: &'a Store,
    batch_rows: i64,
    batches: i64,
    /// When the previous batch started, how long it held the lock, and
    /// whether it was full.
    last_batch: Option<(Instant, Duration, bool)>,
}

impl Pruner<'_> {
    /// Runs `sql` (`$1` the cut-off, `$2` the batch size, `$3` the tenant
    /// if one is given) one transaction at a time until a batch deletes
    /// fewer than a full batch; returns the rows deleted. A failure is
    /// logged with the rows already deleted, which the caller's error
    /// cannot carry.
    async fn delete(
        &mut self,
        table: &'static str,
        sql: &'static str,
        tenant: Option<&TenantId>,
        cut: i64,
    ) -> Result<i64, StoreError> {
        let mut total = 0;
        loop {
            match self.batch(sql, tenant, cut).await {
                Ok(deleted) => {
                    total += deleted;
                    if deleted < self.batch_rows {
                        return Ok(total);
                    }
                }
                Err(e) => {
                    tracing::warn!(table, tenant = ?tenant, deleted = total, error = %e, "pruning stopped");
                    return Err(e);
                }
            }
        }
    }

    /// One batch in its own write transaction: the rows deleted.
    async fn batch(&mut self, sql: &'static str, tenant: Option<&TenantId>, cut: i64) -> Result<i64, StoreError> {
        self.pause().await;
        let mut tx = self.store.db().begin_write().await?;
        let started = Instant::now();
        let mut q = sqlx::query(sql).bind(cut).bind(self.batch_rows);
        if let Some(t) = tenant {
            q = q.bind(t.as_str().to_owned());
        }
        let deleted = q.execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        // At most `batch_rows`, an i64.
        let deleted = i64::try_from(deleted).unwrap_or(i64::MAX);
        self.batches += 1;
        self.last_batch = Some((started, started.elapsed(), deleted >= self.batch_rows));
        Ok(deleted)
    }

    /// Waits after a batch as long as it held the lock, so writers waiting
    /// for it get it at least half the time; after a full batch at least
    /// [`MIN_PAUSE_AFTER_FULL_BATCH`]. (A run over many tenants with
    /// little to delete is not slowed by a pause per tenant.)
    async fn pause(&self) {
        if let Some((started, held, full)) = self.last_batch {
            let pause = if full { held.max(MIN_PAUSE_AFTER_FULL_BATCH) } else { held };
            tokio::time::sleep_until((started + held + pause).into()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::*;
    use crate::db::Db;

    /// A batch must cost the same however large the backlog: SQLite finds
    /// the old rows through the age index and deletes by primary key,
    /// never scanning the table.
    #[tokio::test]
    async fn each_batch_walks_an_age_index_and_deletes_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        for (sql, index, key) in [
            (PRUNE_OUTBOX, "webhook_outbox_by_age", "sqlite_autoindex_webhook_outbox_1"),
            (PRUNE_IDEMPOTENCY, "idempotency_by_age", "sqlite_autoindex_idempotency_1"),
            (PRUNE_SEARCH_LOG, "search_log_by_age", "sqlite_autoindex_search_log_1"),
        ] {
            let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .bind(0_i64)
                .bind(10_i64)
                .bind("acme")
                .fetch_all(&db.pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>("detail"))
                .collect();
            let searches =
                |name: &str| plan.iter().any(|l| l.starts_with("SEARCH") && l.contains(&format!(" {name} (")));
            assert!(searches(index) && searches(key), "{sql}: {plan:?}");
            assert!(!plan.iter().any(|l| l.starts_with("SCAN")), "{sql}: {plan:?}");
        }
    }
}
