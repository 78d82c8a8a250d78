//! Operational counts for health and metrics (R-OP-3): whether the database
//! answers, and backlog sizes — counts and ages only, never tenant data.
//! Each query reads an index (`queue_due`, `messages_to_index`,
//! `webhook_outbox_due`), so a scrape costs a few milliseconds even with a
//! large archive; its cost grows with the backlogs, not with the archive.

use sealpost_model::{Category, MessageId};
use sqlx::Row;

use crate::{Store, StoreError};

/// Recipients waiting for delivery in one stream and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueBacklog {
    /// The delivery stream.
    pub stream: Category,
    /// `queued` (never tried) or `deferred` (tried, will retry).
    pub state: &'static str,
    /// Recipients.
    pub recipients: i64,
    /// When the oldest waiting message was accepted (unix micros).
    pub oldest_created_at: Option<i64>,
}

/// Backlogs across every tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperationalCounts {
    /// The delivery queue, per stream and state (only non-empty ones).
    pub queue: Vec<QueueBacklog>,
    /// How far the search index is behind.
    pub index: crate::IndexLag,
    /// Webhook events waiting to be posted (state `pending`).
    pub webhook_pending: i64,
}

impl Store {
    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").fetch_one(&self.db().pool).await?;
        Ok(())
    }

    /// The delivery queue, the indexer's and the webhook outbox's backlogs.
    pub async fn operational_counts(&self) -> Result<OperationalCounts, StoreError> {
        let pool = &self.db().pool;
        // Ids are UUIDv7 (time-ordered): the smallest waiting message id is
        // the oldest message, whose acceptance time is one primary-key read,
        // instead of a join over the whole backlog.
        let rows = sqlx::query(
            "SELECT stream, state, COUNT(*) AS n, MIN(message_id) AS oldest FROM queue \
             WHERE state IN ('queued', 'deferred') GROUP BY stream, state",
        )
        .fetch_all(pool)
        .await?;
        let mut queue = Vec::with_capacity(rows.len());
        for r in &rows {
            let Ok(stream) = Category::parse(&r.try_get::<String, _>("stream")?) else { continue };
            let state = if r.try_get::<String, _>("state")? == "queued" { "queued" } else { "deferred" };
            let oldest = match r.try_get::<Option<String>, _>("oldest")?.and_then(|s| MessageId::parse(&s).ok()) {
                Some(id) => sqlx::query("SELECT created_at FROM messages WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(pool)
                    .await?
                    .map(|row| row.try_get::<i64, _>("created_at"))
                    .transpose()?,
                None => None,
            };
            queue.push(QueueBacklog { stream, state, recipients: r.try_get("n")?, oldest_created_at: oldest });
        }
        let index = self.index_lag().await?;
        let webhook_pending: i64 = sqlx::query("SELECT COUNT(*) AS n FROM webhook_outbox WHERE state = 'pending'")
            .fetch_one(pool)
            .await?
            .try_get("n")?;
        Ok(OperationalCounts { queue, index, webhook_pending })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlobConfig, StoreConfig};

    #[tokio::test]
    async fn an_empty_store_has_no_backlog_and_answers_pings() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = StoreConfig {
            database_url: format!("sqlite://{}/t.db", dir.path().display()),
            blobs: BlobConfig::Local { dir: dir.path().join("blobs") },
            checkpoint_every: 1000,
        };
        let store = Store::open(&cfg, None).await.unwrap();
        store.ping().await.unwrap();
        assert_eq!(store.operational_counts().await.unwrap(), OperationalCounts::default());
        store.close().await;
    }
}
