//! Who is calling: users (password, Argon2id) and API keys
//! (`sp_<id>_<secret>`), with failure delay and lockout (R-ID-5), and an
//! audit event for every attempt.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_crypto::{ApiKeySecret, PasswordHash, verify_password};
use sealpost_model::ApiKeyId;

use sealpost_core::principal::Principal;
use sealpost_core::{ServerError, system_tenant};

use crate::Identity;

/// Why authentication failed. Deliberately coarse towards the client.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// Wrong name, password or key (the client is not told which).
    Invalid,
    /// Too many recent failures for this name or client address.
    LockedOut,
}

/// Entries kept before stale ones are pruned.
const PRUNE_AT: usize = 10_000;

/// Counts failures per user name and per client IP; locks out after
/// `max_failures` within the lockout window.
#[derive(Default)]
pub struct LoginGuard {
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    failures: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

impl LoginGuard {
    fn is_locked(&self, keys: &[String]) -> bool {
        let now = Instant::now();
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter().any(|k| map.get(k).and_then(|e| e.locked_until).is_some_and(|t| t > now))
    }

    /// Records a failure; returns true if this failure locked a key.
    fn fail(&self, keys: &[String], max: u32, window: Duration) -> bool {
        let now = Instant::now();
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // A spray of names and addresses must not grow the map without bound:
        // forget entries whose window has passed and that are not locked.
        if map.len() >= PRUNE_AT {
            map.retain(|_, e| e.locked_until.is_some_and(|t| t > now) || now.duration_since(e.first) <= window);
        }
        let mut locked = false;
        for k in keys {
            let e = map.entry(k.clone()).or_insert(Entry { failures: 0, first: now, locked_until: None });
            if now.duration_since(e.first) > window {
                *e = Entry { failures: 0, first: now, locked_until: None };
            }
            e.failures += 1;
            if e.failures >= max && e.locked_until.is_none() {
                e.locked_until = Some(now + window);
                locked = true;
            }
        }
        locked
    }

    fn succeed(&self, name_key: &str) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).remove(name_key);
    }
}

/// How long repeated API authentication failures from one client are
/// counted before they are written as one audit event.
pub const AUTH_FAILURE_INTERVAL: Duration = Duration::from_secs(60);

/// API authentication failures per client address, aggregated (issue
/// 13.7): the first failure of a burst is audited at once, the repeats are
/// counted and written as one event with the count per interval, so
/// scanner noise neither grows the audit log without bound nor queues
/// behind every `202` in the group committer. Every burst is recorded.
#[derive(Default)]
pub struct FailureAggregator {
    pending: Mutex<HashMap<IpAddr, u64>>,
}

impl FailureAggregator {
    /// Counts a failure; true when it opens a burst (audit it now).
    fn record(&self, client: IpAddr) -> bool {
        let mut map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(&client) {
            Some(n) => {
                *n += 1;
                false
            }
            None => {
                map.insert(client, 0);
                true
            }
        }
    }

    /// The repeats counted since the last drain, per client (never zero); a
    /// client with none left its burst and is forgotten.
    fn drain(&self) -> Vec<(IpAddr, u64)> {
        let mut map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, n| *n > 0);
        map.iter_mut().map(|(ip, n)| (*ip, std::mem::take(n))).collect()
    }
}

/// `login.failed` for `count` API authentication failures from `client`.
fn api_auth_failures(client: Option<IpAddr>, count: u64) -> NewEvent {
    let ev = NewEvent::new(system_tenant(), Actor::unknown_login(), Action::LoginFailed, Outcome::Failure)
        .detail("via", DetailValue::Name("api"))
        .detail("count", DetailValue::Count(count as i64));
    match client {
        Some(ip) => ev.detail("client", DetailValue::Ip(ip)),
        None => ev,
    }
}

fn parse_api_key(text: &str) -> Option<(ApiKeyId, ApiKeySecret)> {
    let rest = text.strip_prefix("sp_")?;
    let (id, secret) = rest.split_once('_')?;
    Some((ApiKeyId::parse(id).ok()?, ApiKeySecret::from_presented(secret)))
}

/// Formats a full API key for showing once.
pub fn format_api_key(id: &ApiKeyId, secret: &ApiKeySecret) -> String {
    format!("sp_{id}_{}", secret.expose())
}

impl Identity {
    /// Checks an API key presented as a bearer token or SMTP password.
    /// Returns the key's principal, or None when it is unknown, wrong or revoked.
    pub async fn check_api_key(&self, presented: &str) -> Result<Option<Principal>, ServerError> {
        let Some((id, secret)) = parse_api_key(presented) else { return Ok(None) };
        let Some(rec) = self.core.store.api_key(&id).await? else { return Ok(None) };
        if rec.revoked_at.is_some() || !secret.matches(&rec.verifier) {
            return Ok(None);
        }
        Ok(Some(Principal::ApiKey { id: rec.id, tenant: rec.tenant, scopes: rec.scopes, user: rec.user }))
    }

    /// Authenticates an API request's bearer token from `client`, with the
    /// failure delay and lockout SMTP logins get (issue 13.7): failures
    /// count per client address (unless `[auth] api_lockout_exempt` lists
    /// it) and per presented key id; a locked-out caller is refused without
    /// its key being checked. Failures are audited aggregated per client.
    pub async fn authenticate_bearer(
        &self,
        token: Option<&str>,
        client: Option<IpAddr>,
    ) -> Result<Result<Principal, AuthFailure>, ServerError> {
        let auth = &self.core.cfg.auth;
        let key_id = token.and_then(parse_api_key).map(|(id, _)| format!("key:{id}"));
        let address = client
            .filter(|ip| !auth.api_lockout_exempt.iter().any(|net| net.contains(ip)))
            .map(|ip| format!("ip:{ip}"));
        let keys: Vec<String> = key_id.iter().chain(address.iter()).cloned().collect();
        if self.guard.is_locked(&keys) {
            sealpost_core::telemetry::auth_failure("api", "locked_out");
            self.api_auth_failed(client).await;
            return Ok(Err(AuthFailure::LockedOut));
        }
        let found = match token {
            Some(t) => self.check_api_key(t).await?,
            None => None,
        };
        if let Some(p) = found {
            if let Some(k) = &key_id {
                self.guard.succeed(k);
            }
            return Ok(Ok(p));
        }
        let locked = self.guard.fail(&keys, auth.max_failures, Duration::from_secs(auth.lockout_seconds));
        sealpost_core::telemetry::auth_failure("api", if locked { "locked_out" } else { "invalid" });
        self.api_auth_failed(client).await;
        Ok(Err(if locked { AuthFailure::LockedOut } else { AuthFailure::Invalid }))
    }

    /// An API request failed authentication: audited at the start of a
    /// burst, counted after (see [`FailureAggregator`]), delayed like an
    /// SMTP failure.
    pub async fn api_auth_failed(&self, client: Option<IpAddr>) {
        if client.is_none_or(|ip| self.auth_failures.record(ip)) {
            let _ = self.core.audit(vec![api_auth_failures(client, 1)]).await;
        }
        tokio::time::sleep(Duration::from_millis(self.core.cfg.auth.failure_delay_ms)).await;
    }

    /// Writes the counted repeats of API authentication failures: one event
    /// per client with its count. Run every [`AUTH_FAILURE_INTERVAL`] and at
    /// shutdown.
    pub async fn flush_auth_failures(&self) -> Result<(), ServerError> {
        let events: Vec<NewEvent> =
            self.auth_failures.drain().into_iter().map(|(ip, n)| api_auth_failures(Some(ip), n)).collect();
        if !events.is_empty() {
            self.core.audit(events).await?;
        }
        Ok(())
    }

    /// Flushes the aggregated failures every interval until dropped.
    pub async fn run_auth_failure_flusher(self: std::sync::Arc<Self>) {
        loop {
            tokio::time::sleep(AUTH_FAILURE_INTERVAL).await;
            if let Err(e) = self.flush_auth_failures().await {
                tracing::warn!(error = %e, "writing aggregated authentication failures failed; retried");
            }
        }
    }

    /// Authenticates a user name and password, or `apikey` and a key, from
    /// `client`. Applies the failure delay and lockout and audits the attempt.
    pub async fn login(&self, username: &str, password: &str, client: IpAddr) -> Result<Principal, AuthFailure> {
        // Failures count per client address and per account. Every API-key
        // login shares the user name `apikey`, so for those the account is
        // the key id (a malformed key counts against the address only):
        // counting the shared name would let anyone lock every tenant out.
        let name_key = if username == "apikey" {
            parse_api_key(password).map(|(id, _)| format!("key:{id}"))
        } else {
            Some(format!("name:{}", username.to_lowercase()))
        };
        let keys: Vec<String> = name_key.iter().cloned().chain([format!("ip:{client}")]).collect();
        let auth = &self.core.cfg.auth;
        if self.guard.is_locked(&keys) {
            let ev = NewEvent::new(system_tenant(), Actor::unknown_login(), Action::LoginLockedOut, Outcome::Failure)
                .detail("client", DetailValue::Ip(client));
            let _ = self.core.audit(vec![ev]).await;
            sealpost_core::telemetry::auth_failure("smtp", "locked_out");
            tokio::time::sleep(Duration::from_millis(auth.failure_delay_ms)).await;
            return Err(AuthFailure::LockedOut);
        }
        let found = match self.verify_credentials(username, password).await {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "credential check failed");
                None
            }
        };
        match found {
            Some(p) => {
                if let Some(k) = &name_key {
                    self.guard.succeed(k);
                }
                let action =
                    if matches!(p, Principal::ApiKey { .. }) { Action::ApiKeyUsed } else { Action::LoginSucceeded };
                let ev = NewEvent::new(p.tenant().clone(), p.actor(), action, Outcome::Success)
                    .detail("client", DetailValue::Ip(client))
                    .detail("via", DetailValue::Name("smtp-auth"));
                if let Err(e) = self.core.audit(vec![ev]).await {
                    tracing::error!(error = %e, "could not audit a login; refusing it");
                    return Err(AuthFailure::Invalid);
                }
                Ok(p)
            }
            None => {
                let locked = self.guard.fail(&keys, auth.max_failures, Duration::from_secs(auth.lockout_seconds));
                let action = if locked { Action::LoginLockedOut } else { Action::LoginFailed };
                let ev = NewEvent::new(system_tenant(), Actor::unknown_login(), action, Outcome::Failure)
                    .detail("client", DetailValue::Ip(client));
                let _ = self.core.audit(vec![ev]).await;
                sealpost_core::telemetry::auth_failure("smtp", if locked { "locked_out" } else { "invalid" });
                tokio::time::sleep(Duration::from_millis(auth.failure_delay_ms)).await;
                Err(if locked { AuthFailure::LockedOut } else { AuthFailure::Invalid })
            }
        }
    }

    async fn verify_credentials(&self, username: &str, password: &str) -> Result<Option<Principal>, ServerError> {
        if username == "apikey" {
            return self.check_api_key(password).await;
        }
        // Each hash costs 19 MiB and a core for a moment: at most
        // `max_concurrent_password_hashes` at once, the rest wait their turn.
        let _permit = self.password_hashes.acquire().await.map_err(|e| ServerError::State(e.to_string()))?;
        let Some(user) = self.core.store.user_by_name(username).await? else {
            // Spend the same time as a real check so timing does not reveal
            // which user names exist.
            let pw = password.to_owned();
            let _ = tokio::task::spawn_blocking(move || {
                verify_password(&pw, &PasswordHash::from_stored(DUMMY_HASH.into()))
            })
            .await;
            return Ok(None);
        };
        let pw = password.to_owned();
        let stored = PasswordHash::from_stored(user.password_hash.clone());
        let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &stored))
            .await
            .map_err(|e| ServerError::State(e.to_string()))?;
        Ok(ok.then_some(Principal::User { id: user.id, tenant: user.tenant, role: user.role }))
    }
}

// A valid Argon2id hash of a random string, for constant-time misses.
const DUMMY_HASH: &str = "argon2id$19456$2$1$c2VhbHBvc3QtZHVtbXk$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_after_max_failures_then_expiry() {
        let g = LoginGuard::default();
        let keys = ["name:a".to_string(), "ip:127.0.0.1".to_string()];
        for _ in 0..4 {
            assert!(!g.fail(&keys, 5, Duration::from_secs(60)));
        }
        assert!(!g.is_locked(&keys));
        assert!(g.fail(&keys, 5, Duration::from_secs(60)));
        assert!(g.is_locked(&keys));
        assert!(g.is_locked(&["ip:127.0.0.1".to_string()]), "the client address is locked too");
        let g2 = LoginGuard::default();
        for _ in 0..5 {
            g2.fail(&keys, 5, Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(5));
        assert!(!g2.is_locked(&keys));
    }

    #[test]
    fn stale_entries_are_pruned_but_locks_are_kept() {
        let g = LoginGuard::default();
        let locked = ["name:victim".to_string()];
        for _ in 0..3 {
            g.fail(&locked, 3, Duration::from_secs(60));
        }
        for i in 0..3 * PRUNE_AT {
            g.fail(&[format!("ip:spray-{i}")], 3, Duration::from_millis(1));
            if i % 1000 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let len = g.entries.lock().unwrap().len();
        assert!(len <= PRUNE_AT, "stale entries were not pruned: {len}");
        assert!(g.is_locked(&locked), "a live lockout must survive pruning");
    }

    #[test]
    fn api_key_text_parses_only_in_its_exact_shape() {
        let id = ApiKeyId::new();
        assert!(parse_api_key(&format!("sp_{id}_secret")).is_some());
        assert!(parse_api_key(&format!("{id}_secret")).is_none());
        assert!(parse_api_key("sp_nothex_secret").is_none());
    }
}
