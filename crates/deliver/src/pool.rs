//! The connection cache (R-DL-4: connection reuse): after a transaction, a
//! connection to a destination waits a few seconds for the next message to
//! the same domain on the same stream, like Postfix's `smtp_connection_cache`.
//! It keeps its destination slot while it waits, so cached connections
//! count against the destination's connection limit.
//!
//! A cached connection carries the TLS it was opened with (and whether that
//! verified), so the decision "may this message use it?" is made exactly as
//! for a fresh one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sealpost_model::Category;
use sealpost_outbound::Connection;

use super::throttle::DestPermit;

/// A connection and its destination slot.
pub struct Pooled {
    /// The open SMTP session, between transactions.
    pub conn: Connection,
    /// Its slot.
    pub permit: DestPermit,
    idle_since: Instant,
}

/// Idle connections by (stream, destination domain).
pub struct Pool {
    keep: Duration,
    idle: Mutex<HashMap<(Category, String), Vec<Pooled>>>,
}

impl Pool {
    /// A cache keeping connections `keep` long (zero: none are kept).
    pub fn new(keep: Duration) -> Pool {
        Pool { keep, idle: Mutex::new(HashMap::new()) }
    }

    /// The most recently used idle connection to `domain`, if one is fresh.
    pub fn take(&self, stream: Category, domain: &str) -> Option<Pooled> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(&(stream, domain.to_ascii_lowercase()))?;
        while let Some(p) = list.pop() {
            if p.idle_since.elapsed() < self.keep {
                return Some(p);
            }
            // Stale ones are dropped (closed without QUIT; the sweeper says QUIT to most).
        }
        None
    }

    /// Keeps a connection for the next message, or says QUIT when caching is off.
    pub async fn put(&self, stream: Category, domain: &str, conn: Connection, permit: DestPermit) {
        if self.keep.is_zero() {
            conn.quit().await;
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.entry((stream, domain.to_ascii_lowercase())).or_default().push(Pooled {
            conn,
            permit,
            idle_since: Instant::now(),
        });
    }

    /// Closes every idle connection to `domain` (any stream), freeing their
    /// destination slots for a message that needs one now.
    pub async fn evict(&self, domain: &str) -> usize {
        let domain = domain.to_ascii_lowercase();
        let evicted: Vec<Pooled> = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let keys: Vec<_> = idle.keys().filter(|(_, d)| *d == domain).cloned().collect();
            keys.into_iter().filter_map(|k| idle.remove(&k)).flatten().collect()
        };
        let n = evicted.len();
        for p in evicted {
            p.conn.quit().await;
        }
        n
    }

    /// Closes connections idle longer than the keep time (run every second).
    pub async fn sweep(&self) {
        let stale: Vec<Pooled> = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let mut out = Vec::new();
            for list in idle.values_mut() {
                let (old, fresh): (Vec<_>, Vec<_>) = list.drain(..).partition(|p| p.idle_since.elapsed() >= self.keep);
                *list = fresh;
                out.extend(old);
            }
            idle.retain(|_, l| !l.is_empty());
            out
        };
        for p in stale {
            p.conn.quit().await;
        }
    }
}
