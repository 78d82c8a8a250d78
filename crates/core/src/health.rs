//! Liveness and readiness (R-OP-3). `GET /livez` answers while the process
//! serves requests; `GET /readyz` answers 200 only when the store is
//! reachable, the schema is current, the keys are unlocked and every
//! background worker is running, else 503. Both are unauthenticated, so
//! they say no more than one word per check: no versions, paths or errors
//! (those go to the log).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::AbortHandle;

use crate::Core;

/// How long a readiness answer is reused: probes from anywhere cannot make
/// the store work harder than one trivial query a second.
const CACHE: Duration = Duration::from_secs(1);
/// A store that does not answer within this is not ready.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// One check's word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Passed.
    Ok,
    /// Failed (why is in the log).
    Fail,
    /// The server has not finished starting.
    Starting,
}

/// The readiness answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// The metadata database answers.
    pub store: Check,
    /// The schema is the one this binary knows.
    pub migrations: Check,
    /// The root key is unlocked and usable.
    pub keys: Check,
    /// Every background worker (listeners, indexer, delivery, webhooks,
    /// retention schedule) is running.
    pub workers: Check,
}

impl Readiness {
    /// Whether every check passed.
    pub fn ready(&self) -> bool {
        [self.store, self.migrations, self.keys, self.workers].iter().all(|c| *c == Check::Ok)
    }
}

/// What readiness needs to know about the running server.
#[derive(Default)]
pub struct Health {
    started: AtomicBool,
    workers: Mutex<Vec<(&'static str, AbortHandle)>>,
    last: tokio::sync::Mutex<Option<(Instant, Readiness)>>,
}

impl Health {
    /// A task that must keep running while the server is ready.
    pub fn register_worker(&self, name: &'static str, task: AbortHandle) {
        self.workers.lock().unwrap_or_else(|p| p.into_inner()).push((name, task));
    }

    /// Every listener and worker has started.
    pub fn mark_started(&self) {
        self.started.store(true, Ordering::SeqCst);
    }

    fn workers(&self) -> Check {
        if !self.started.load(Ordering::SeqCst) {
            return Check::Starting;
        }
        let workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        match workers.iter().find(|(_, t)| t.is_finished()) {
            Some((name, _)) => {
                tracing::warn!(worker = name, "readiness: a background worker has stopped");
                Check::Fail
            }
            None => Check::Ok,
        }
    }
}

impl Core {
    /// The readiness checks (answers reused for a second).
    pub async fn readiness(&self) -> Readiness {
        let mut last = self.health.last.lock().await;
        if let Some((at, r)) = *last
            && at.elapsed() < CACHE
        {
            return r;
        }
        let store = match tokio::time::timeout(STORE_TIMEOUT, self.store.ping()).await {
            Ok(Ok(())) => Check::Ok,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: store not reachable");
                Check::Fail
            }
            Err(_) => {
                tracing::warn!("readiness: store did not answer in time");
                Check::Fail
            }
        };
        let r = Readiness {
            store,
            migrations: if store == Check::Ok { migrations_applied(self).await } else { Check::Fail },
            keys: self.keys_unlocked(),
            workers: self.health.workers(),
        };
        *last = Some((Instant::now(), r));
        r
    }

    /// The root key is loaded and seals and opens a secret.
    fn keys_unlocked(&self) -> Check {
        const PURPOSE: &str = "readiness-probe";
        let sealed = self.root().seal_secret(PURPOSE, b"probe");
        match sealed.and_then(|s| self.root().open_secret(PURPOSE, &s)) {
            Ok(p) if p.as_slice() == b"probe" => Check::Ok,
            Ok(_) => Check::Fail,
            Err(e) => {
                tracing::warn!(error = %e, "readiness: root key unusable");
                Check::Fail
            }
        }
    }
}

/// Whether the database schema is the one this binary expects: migrated to
/// the newest version it ships (`Store::open` migrates or refuses; another
/// node that migrated past this binary makes this fail).
async fn migrations_applied(app: &Core) -> Check {
    match app.store.schema_version().await {
        Ok(v) if v == sealpost_store::Store::known_schema_version() => Check::Ok,
        Ok(_) => Check::Fail,
        Err(e) => {
            tracing::warn!(error = %e, "readiness: schema version unreadable");
            Check::Fail
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn workers_are_starting_then_ok_then_fail_when_one_stops() {
        let h = Health::default();
        let forever = tokio::spawn(std::future::pending::<()>());
        let brief = tokio::spawn(async {});
        h.register_worker("forever", forever.abort_handle());
        assert_eq!(h.workers(), Check::Starting);
        h.mark_started();
        assert_eq!(h.workers(), Check::Ok);
        h.register_worker("brief", brief.abort_handle());
        let _ = brief.await;
        assert_eq!(h.workers(), Check::Fail);
        forever.abort();
    }

    #[test]
    fn readiness_needs_every_check() {
        let ok = Readiness { store: Check::Ok, migrations: Check::Ok, keys: Check::Ok, workers: Check::Ok };
        assert!(ok.ready());
        assert!(!Readiness { workers: Check::Starting, ..ok }.ready());
        assert!(!Readiness { store: Check::Fail, ..ok }.ready());
        let json = serde_json::to_string(&Readiness { keys: Check::Fail, ..ok }).unwrap();
        assert_eq!(json, r#"{"store":"ok","migrations":"ok","keys":"fail","workers":"ok"}"#);
    }
}
