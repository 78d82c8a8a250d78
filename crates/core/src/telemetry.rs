//! Prometheus metrics (R-OP-3): the `metrics` facade, recorded where things
//! happen, rendered by `metrics-exporter-prometheus` into `GET /metrics`
//! (the HTTPS API with an admin key, or a loopback-only plain listener).
//!
//! `sealpost serve` installs the recorder once per process ([`install`]);
//! without it (the CLI) every recording is a no-op. Hot paths only bump
//! counters and histograms; backlog gauges (queue, index lag, webhook
//! outbox) are read from the store at scrape time, at most every
//! [`GAUGE_TTL`].
//!
//! Invariant: no PHI, address, subject, domain or tenant in any label. Every
//! label value passed from here is a `&'static str` of a closed vocabulary
//! (sources, streams, methods, outcomes, listeners), so no value that came
//! from a message or a request can reach a label.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sealpost_model::{Category, now_micros};
use sealpost_store::Source;

use crate::Core;

/// Metric names (besides the store's, [`sealpost_store::metric_names`]).
pub mod names {
    /// Counter: messages accepted, by `source` and `stream`.
    pub const ACCEPTED: &str = "sealpost_messages_accepted_total";
    /// Counter: recipients delivered (or handed to the portal), by `method` and `stream`.
    pub const DELIVERED: &str = "sealpost_deliveries_delivered_total";
    /// Counter: delivery attempts deferred for a retry, by `stream`.
    pub const DEFERRED: &str = "sealpost_deliveries_deferred_total";
    /// Counter: recipients bounced (failed for good, or suppressed), by `reason` and `stream`.
    pub const BOUNCED: &str = "sealpost_deliveries_bounced_total";
    /// Histogram: acceptance to delivery of a recipient, by `method` and `stream`.
    pub const DELIVERY_LATENCY: &str = "sealpost_delivery_latency_seconds";
    /// Gauge: recipients waiting, by `stream` and `state`.
    pub const QUEUE_DEPTH: &str = "sealpost_queue_recipients";
    /// Gauge: age of the oldest waiting message, by `stream`.
    pub const QUEUE_OLDEST: &str = "sealpost_queue_oldest_age_seconds";
    /// Counter: authentication failures, by `listener` and `kind`.
    pub const AUTH_FAILURES: &str = "sealpost_auth_failures_total";
    pub const CONNECTIONS_REFUSED: &str = "sealpost_connections_refused_total";
    /// Counter: messages added to the search index.
    pub const INDEXED: &str = "sealpost_index_messages_total";
    /// Gauge: messages committed but not yet indexed.
    pub const INDEX_LAG: &str = "sealpost_index_lag_messages";
    /// Counter: retention runs of one tenant, by `result`.
    pub const RETENTION_RUNS: &str = "sealpost_retention_runs_total";
    /// Counter: messages handled by retention runs, by `outcome`.
    pub const RETENTION_MESSAGES: &str = "sealpost_retention_messages_total";
    /// Gauge: when the last scheduled run over every tenant ended (unix seconds).
    pub const RETENTION_LAST_RUN: &str = "sealpost_retention_last_run_timestamp_seconds";
    /// Gauge: messages of the last scheduled run over every tenant, by `outcome`.
    pub const RETENTION_LAST_RUN_MESSAGES: &str = "sealpost_retention_last_run_messages";
    /// Gauge: webhook events waiting to be posted.
    pub const WEBHOOK_BACKLOG: &str = "sealpost_webhook_backlog_events";
    /// Counter: webhook posts, by `result`.
    pub const WEBHOOK_POSTS: &str = "sealpost_webhook_posts_total";
}

/// Backlog gauges are read from the store at most this often.
pub const GAUGE_TTL: Duration = Duration::from_secs(5);

const SECONDS_BUCKETS: &[f64] =
    &[0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
const LATENCY_BUCKETS: &[f64] =
    &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14_400.0, 86_400.0];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder for this process (once; later calls
/// return the same handle) and starts its upkeep. `None` if another
/// recorder was installed first (metrics then go there, not to `/metrics`).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(names::DELIVERY_LATENCY.into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(sealpost_store::metric_names::BATCH_SIZE.into()),
                        BATCH_BUCKETS,
                    )
                })
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS))
                .map(PrometheusBuilder::install_recorder);
            let handle = match built {
                Ok(Ok(h)) => h,
                Ok(Err(e)) | Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    return None;
                }
            };
            describe();
            // Histograms keep their samples until rendered: drain them even
            // when nobody scrapes, so memory stays bounded.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .map_err(|e| tracing::warn!(error = %e, "metrics upkeep thread not started"))
                .ok();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    sealpost_store::describe_metrics();
    describe_counter!(names::ACCEPTED, Unit::Count, "Messages accepted (durably committed), by source and stream.");
    describe_counter!(
        names::DELIVERED,
        Unit::Count,
        "Recipients delivered, by method (tls, opportunistic, pgp, smime, portal) and stream."
    );
    describe_counter!(names::DEFERRED, Unit::Count, "Delivery attempts deferred for a retry, by stream.");
    describe_counter!(names::BOUNCED, Unit::Count, "Recipients that failed for good, by reason and stream.");
    describe_histogram!(
        names::DELIVERY_LATENCY,
        Unit::Seconds,
        "Time from acceptance to delivery of a recipient, by method and stream."
    );
    describe_gauge!(names::QUEUE_DEPTH, Unit::Count, "Recipients waiting for delivery, by stream and state.");
    describe_gauge!(names::QUEUE_OLDEST, Unit::Seconds, "Age of the oldest message waiting for delivery, by stream.");
    describe_counter!(
        names::AUTH_FAILURES,
        Unit::Count,
        "Failed authentications, by listener (smtp, api) and kind (invalid, locked_out, scope)."
    );
    describe_counter!(
        names::CONNECTIONS_REFUSED,
        Unit::Count,
        "Connections closed at once for being over a listener's connection caps, by listener (smtp, https)."
    );
    describe_counter!(names::INDEXED, Unit::Count, "Messages added to the search index.");
    describe_gauge!(names::INDEX_LAG, Unit::Count, "Messages committed but not yet in the search index.");
    describe_counter!(names::RETENTION_RUNS, Unit::Count, "Retention runs of one tenant, by result.");
    describe_counter!(
        names::RETENTION_MESSAGES,
        Unit::Count,
        "Messages handled by retention runs, by outcome (disposed, held, review, failed)."
    );
    describe_gauge!(
        names::RETENTION_LAST_RUN,
        Unit::Seconds,
        "When the last scheduled retention run over every tenant ended, unix seconds."
    );
    describe_gauge!(
        names::RETENTION_LAST_RUN_MESSAGES,
        Unit::Count,
        "Messages of the last scheduled retention run over every tenant, by outcome."
    );
    describe_gauge!(names::WEBHOOK_BACKLOG, Unit::Count, "Webhook events waiting to be posted.");
    describe_counter!(names::WEBHOOK_POSTS, Unit::Count, "Webhook posts, by result (delivered, retry, failed).");
    // Known label sets start at zero, so dashboards and rate() see a series
    // before its first event.
    let streams = [Category::Transactional, Category::Marketing].map(Category::as_str);
    for stream in streams {
        for source in [Source::Smtp, Source::Api, Source::ApiRaw, Source::Import] {
            counter!(names::ACCEPTED, "source" => source.as_str(), "stream" => stream).increment(0);
        }
        for method in ["tls", "opportunistic", "pgp", "smime", "portal"] {
            counter!(names::DELIVERED, "method" => method, "stream" => stream).increment(0);
        }
        counter!(names::DEFERRED, "stream" => stream).increment(0);
        for reason in ["failed", "suppressed"] {
            counter!(names::BOUNCED, "reason" => reason, "stream" => stream).increment(0);
        }
    }
    for listener in ["smtp", "api"] {
        for kind in ["invalid", "locked_out", "scope"] {
            counter!(names::AUTH_FAILURES, "listener" => listener, "kind" => kind).increment(0);
        }
    }
}

/// A message was committed.
pub fn accepted(source: Source, stream: Category) {
    counter!(names::ACCEPTED, "source" => source.as_str(), "stream" => stream.as_str()).increment(1);
}

/// A recipient was delivered by `method`, `latency` after acceptance.
pub fn delivered(method: &'static str, stream: Category, latency: Duration) {
    counter!(names::DELIVERED, "method" => method, "stream" => stream.as_str()).increment(1);
    histogram!(names::DELIVERY_LATENCY, "method" => method, "stream" => stream.as_str()).record(latency.as_secs_f64());
}

/// A delivery attempt was deferred.
pub fn deferred(stream: Category) {
    counter!(names::DEFERRED, "stream" => stream.as_str()).increment(1);
}

/// A recipient bounced: `reason` is `failed` or `suppressed`.
pub fn bounced(reason: &'static str, stream: Category) {
    counter!(names::BOUNCED, "reason" => reason, "stream" => stream.as_str()).increment(1);
}

/// An authentication failed on `listener` (`smtp`, `api`); `kind` is
/// `invalid`, `locked_out` or `scope` (authenticated, not allowed). Never
/// the user name or key.
pub fn auth_failure(listener: &'static str, kind: &'static str) {
    counter!(names::AUTH_FAILURES, "listener" => listener, "kind" => kind).increment(1);
}

/// A connection over a listener's caps was closed at once.
pub fn connection_refused(listener: &'static str) {
    counter!(names::CONNECTIONS_REFUSED, "listener" => listener).increment(1);
}

/// `n` messages were added to the search index.
pub fn indexed(n: usize) {
    counter!(names::INDEXED).increment(n as u64);
}

/// Counts of one (non-dry) retention run, or totals over every tenant.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetentionCounts {
    pub disposed: usize,
    pub held: usize,
    pub review: usize,
    pub failed: usize,
}

impl RetentionCounts {
    /// Adds another run's counts.
    pub fn add(&mut self, other: RetentionCounts) {
        self.disposed += other.disposed;
        self.held += other.held;
        self.review += other.review;
        self.failed += other.failed;
    }

    fn each(&self) -> [(&'static str, usize); 4] {
        [("disposed", self.disposed), ("held", self.held), ("review", self.review), ("failed", self.failed)]
    }
}

/// One tenant's retention run ended (`None`: it failed).
pub fn retention_run(counts: Option<RetentionCounts>) {
    counter!(names::RETENTION_RUNS, "result" => if counts.is_some() { "success" } else { "failure" }).increment(1);
    for (outcome, n) in counts.unwrap_or_default().each() {
        counter!(names::RETENTION_MESSAGES, "outcome" => outcome).increment(n as u64);
    }
}

/// The scheduled run over every tenant ended with these totals.
pub fn retention_schedule_ran(totals: RetentionCounts) {
    gauge!(names::RETENTION_LAST_RUN).set(now_micros() as f64 / 1e6);
    for (outcome, n) in totals.each() {
        gauge!(names::RETENTION_LAST_RUN_MESSAGES, "outcome" => outcome).set(n as f64);
    }
}

/// A webhook post ended: `delivered`, `retry` or `failed`.
pub fn webhook_post(result: &'static str) {
    counter!(names::WEBHOOK_POSTS, "result" => result).increment(1);
}

/// When the backlog gauges were last read from the store.
static GAUGES_READ: Mutex<Option<Instant>> = Mutex::new(None);

/// Reads the backlog gauges from the store, unless they were read within
/// [`GAUGE_TTL`]. A failed read leaves the previous values (and is logged).
async fn refresh_gauges(app: &Core) {
    {
        let mut last = GAUGES_READ.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| t.elapsed() < GAUGE_TTL) {
            return;
        }
        *last = Some(Instant::now());
    }
    let counts = match app.store.operational_counts().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: backlog counts not read");
            return;
        }
    };
    let now = now_micros();
    for stream in [Category::Transactional, Category::Marketing] {
        let waiting = counts.queue.iter().filter(|q| q.stream == stream);
        let oldest = waiting.clone().filter_map(|q| q.oldest_created_at).min();
        for state in ["queued", "deferred"] {
            let n: i64 = waiting.clone().filter(|q| q.state == state).map(|q| q.recipients).sum();
            gauge!(names::QUEUE_DEPTH, "stream" => stream.as_str(), "state" => state).set(n as f64);
        }
        let age = oldest.map(|t| (now - t).max(0) as f64 / 1e6).unwrap_or(0.0);
        gauge!(names::QUEUE_OLDEST, "stream" => stream.as_str()).set(age);
    }
    gauge!(names::INDEX_LAG).set(counts.index.unindexed as f64);
    gauge!(names::WEBHOOK_BACKLOG).set(counts.webhook_pending as f64);
}

/// The Prometheus text exposition: backlog gauges refreshed, then every
/// metric. Empty if this process has no recorder of its own.
pub async fn scrape(app: &Core) -> String {
    let Some(handle) = HANDLE.get().and_then(Option::as_ref) else { return String::new() };
    refresh_gauges(app).await;
    handle.render()
}

/// The `Content-Type` of [`scrape`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
