//! Per-destination limits (R-DL-4): at most N connections to a domain at
//! once (a connection holds its [`DestPermit`], also while it idles in the
//! connection cache) and at most R messages per minute (a token bucket that
//! refills continuously, with a burst of one second's worth, at least one).
//!
//! Nothing here waits long: a recipient whose destination is busy is put
//! back in the queue (not counted as an attempt) rather than holding a
//! worker and its lease.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Waiting longer than this for a connection slot or a rate token gives up
/// (the recipient is requeued). The slot wait is in `send.rs`, because a
/// slot may come free as a cached connection.
pub const MAX_WAIT: Duration = Duration::from_secs(2);

struct Destination {
    slots: Arc<Semaphore>,
    bucket: Mutex<Bucket>,
}

struct Bucket {
    per_minute: u32,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn burst(&self) -> f64 {
        (f64::from(self.per_minute) / 60.0).max(1.0)
    }

    /// Takes a token, or says how long until one is there.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let rate = f64::from(self.per_minute) / 60.0;
        self.tokens = (self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * rate).min(self.burst());
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

/// A connection slot to one destination.
pub struct DestPermit {
    _slot: OwnedSemaphorePermit,
}

/// Gives a domain's (connections, messages per minute; 0 unlimited).
type LimitFn = dyn Fn(&str) -> (usize, u32) + Send + Sync;

/// The limits of every destination seen so far.
pub struct Throttle {
    limit: Box<LimitFn>,
    map: Mutex<HashMap<String, Arc<Destination>>>,
}

impl Throttle {
    /// `limit(domain)` gives (connections, messages per minute; 0 unlimited).
    pub fn new(limit: impl Fn(&str) -> (usize, u32) + Send + Sync + 'static) -> Throttle {
        Throttle { limit: Box::new(limit), map: Mutex::new(HashMap::new()) }
    }

    fn destination(&self, domain: &str) -> Arc<Destination> {
        let key = domain.to_ascii_lowercase();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key)
            .or_insert_with(|| {
                let (connections, per_minute) = (self.limit)(domain);
                let bucket = Bucket { per_minute, tokens: 0.0, at: Instant::now() };
                let tokens = bucket.burst();
                Arc::new(Destination {
                    slots: Arc::new(Semaphore::new(connections.max(1))),
                    bucket: Mutex::new(Bucket { tokens, ..bucket }),
                })
            })
            .clone()
    }

    /// A connection slot if one is free now.
    pub fn try_connection(&self, domain: &str) -> Option<DestPermit> {
        self.destination(domain).slots.clone().try_acquire_owned().ok().map(|slot| DestPermit { _slot: slot })
    }

    /// A rate token for one message, waiting at most [`MAX_WAIT`]; `Err`
    /// says when to try again.
    pub async fn message(&self, domain: &str) -> Result<(), Duration> {
        let dest = self.destination(domain);
        let taken = dest.bucket.lock().unwrap_or_else(|p| p.into_inner()).take(Instant::now());
        match taken {
            Ok(()) => Ok(()),
            Err(wait) if wait <= MAX_WAIT => {
                tokio::time::sleep(wait).await;
                // Others may have taken it meanwhile: one more try, no more waiting.
                let again = dest.bucket.lock().unwrap_or_else(|p| p.into_inner()).take(Instant::now());
                again.map_err(|w| w.max(Duration::from_millis(100)))
            }
            Err(wait) => Err(wait),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_the_rate_and_no_more() {
        let t0 = Instant::now();
        let mut b = Bucket { per_minute: 60, tokens: 1.0, at: t0 };
        assert!(b.take(t0).is_ok());
        let wait = b.take(t0).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(b.take(t0 + Duration::from_millis(500)).is_err());
        assert!(b.take(t0 + Duration::from_millis(1001)).is_ok());
        // Idle time does not bank more than the burst.
        let later = t0 + Duration::from_secs(3600);
        assert!(b.take(later).is_ok());
        assert!(b.take(later).is_err());
        // 600/minute: a burst of 10.
        let mut b = Bucket { per_minute: 600, tokens: 10.0, at: t0 };
        assert_eq!((0..20).filter(|_| b.take(t0).is_ok()).count(), 10);
        // Unlimited.
        let mut b = Bucket { per_minute: 0, tokens: 0.0, at: t0 };
        assert!((0..1000).all(|_| b.take(t0).is_ok()));
    }

    #[test]
    fn connections_are_limited_per_destination() {
        let t = Throttle::new(|d| if d == "slow.example" { (2, 0) } else { (20, 0) });
        let a = t.try_connection("slow.example").unwrap();
        let _b = t.try_connection("SLOW.example").unwrap();
        assert!(t.try_connection("slow.example").is_none(), "no third connection");
        assert!(t.try_connection("other.example").is_some(), "other destinations are not affected");
        drop(a);
        assert!(t.try_connection("slow.example").is_some(), "a released slot is reused");
    }

    #[tokio::test]
    async fn rate_waits_briefly_then_requeues() {
        let t = Throttle::new(|_| (20, 60));
        assert!(t.message("r.example").await.is_ok());
        // The next token is a second away: within MAX_WAIT, so it waits and gets it.
        let start = Instant::now();
        assert!(t.message("r.example").await.is_ok());
        assert!(start.elapsed() >= Duration::from_millis(900));
        let t = Throttle::new(|_| (20, 6));
        assert!(t.message("r.example").await.is_ok());
        let wait = t.message("r.example").await.unwrap_err();
        assert!(wait > MAX_WAIT, "a token 10 s away is not waited for: {wait:?}");
    }
}
