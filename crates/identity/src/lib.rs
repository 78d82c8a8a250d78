//! Identity: tenants, users and API keys (R-ID), and who is calling —
//! passwords (Argon2id), API keys, failure delay and lockout (R-ID-5),
//! with an audit event for every attempt.

pub mod admin;
pub mod auth;

use std::sync::Arc;

use sealpost_core::Core;

pub use admin::generated_password;
pub use auth::{AUTH_FAILURE_INTERVAL, AuthFailure, format_api_key};

/// The identity service: it alone holds the login guard, the aggregated
/// authentication failures and the bound on concurrent password hashes.
pub struct Identity {
    core: Arc<Core>,
    guard: auth::LoginGuard,
    auth_failures: auth::FailureAggregator,
    /// Bounds the password hashes computed at once (19 MiB each).
    password_hashes: tokio::sync::Semaphore,
}

impl Identity {
    /// Builds the service.
    pub fn new(core: Arc<Core>) -> Arc<Identity> {
        let permits = core.cfg.limits.max_concurrent_password_hashes;
        Arc::new(Identity {
            core,
            guard: Default::default(),
            auth_failures: Default::default(),
            password_hashes: tokio::sync::Semaphore::new(permits),
        })
    }
}
