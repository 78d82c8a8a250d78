//! `sealpost status`: how far the background work is behind, as JSON — the
//! schema version, the search index's lag (and what waits for a retry after
//! a failed load), the delivery queue and the webhook backlog. Counts and
//! ages only: nothing about any message's content or recipients.

use anyhow::Result;
use sealpost_store::Store;
use serde_json::json;

use crate::context::Context;

/// Prints the status; exits 0.
pub async fn exec(ctx: &mut Context) -> Result<i32> {
    let app = ctx.app().await?;
    let now = sealpost_model::now_micros();
    let age = |at: Option<i64>| at.map(|t| (now - t).max(0) / 1_000_000);
    let counts = app.core.store.operational_counts().await?;
    let lag = counts.index;
    let queue: Vec<_> = counts
        .queue
        .iter()
        .map(|q| {
            json!({
                "stream": q.stream.as_str(),
                "state": q.state,
                "recipients": q.recipients,
                "oldest_age_seconds": age(q.oldest_created_at),
            })
        })
        .collect();
    let status = json!({
        "schema": { "version": app.core.store.schema_version().await?, "known": Store::known_schema_version() },
        "index": {
            "unindexed": lag.unindexed,
            "retrying_after_failed_load": lag.retrying,
            "oldest_unindexed_age_seconds": age(lag.oldest_created_at),
        },
        "queue": queue,
        "webhooks_pending": counts.webhook_pending,
    });
    println!("{}", serde_json::to_string_pretty(&status)?);
    Ok(0)
}
