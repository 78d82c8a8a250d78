//! Sealpost's running parts, wired by the `sealpost` binary:
//!
//! * [`config`] — `sealpost.toml`;
//! * [`app::App`] — shared state: store, keys, login guard;
//! * [`intake`] — the SMTP listeners and the HTTPS API;
//! * [`pipeline`] — classify, seal and commit an accepted message;
//! * [`access`], [`admin`], [`bootstrap`] — reads, administration, `init`;
//! * [`health`], [`telemetry`] — readiness and Prometheus metrics.
//!
//! Invariant: a listener acknowledges a message (SMTP 250, HTTP 202) only
//! with the id [`app::App::accept`] returned, and `accept` returns only after
//! the group commit is durable.

pub mod access;
pub mod admin;
pub mod app;
pub mod archive;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod deliver;
pub mod destination;
pub mod dkim_keys;
mod error;
mod fsutil;
pub mod health;
pub mod intake;
pub mod pipeline;
pub mod recipient_keys;
pub mod settings;
pub mod telemetry;
pub mod tls;
pub mod webhooks;

pub use error::{InvalidInput, ServerError};

use std::sync::Arc;

use sealpost_audit::{Action, Actor, NewEvent, Outcome};
use tokio::net::TcpListener;

use crate::app::{App, system_tenant};
use crate::config::resolve;

/// Binds every listener, then serves until `shutdown` resolves. Returns the
/// bound addresses through `on_ready` before serving (for the start banner).
pub async fn serve(
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()>,
    on_ready: impl FnOnce(&[(String, std::net::SocketAddr)]),
) -> Result<(), ServerError> {
    let cfg = &app.cfg;
    tls::ensure_certificate(
        &resolve(&app.data_dir, &cfg.tls.cert),
        &resolve(&app.data_dir, &cfg.tls.key),
        &cfg.hostname,
    )?;
    let acceptor = tls::acceptor(&resolve(&app.data_dir, &cfg.tls.cert), &resolve(&app.data_dir, &cfg.tls.key))?;
    if cfg.metrics.enabled() {
        telemetry::install();
    }
    let mut tasks = Vec::new();
    let mut bound = Vec::new();
    for l in &cfg.smtp {
        let listener = TcpListener::bind(l.addr).await.map_err(ServerError::io(format!("binding smtp {}", l.addr)))?;
        let addr = listener.local_addr().map_err(ServerError::io("local address"))?;
        let kind = match l.tls {
            config::ListenerTls::Starttls => "smtp (STARTTLS)",
            config::ListenerTls::Implicit => "smtp (implicit TLS)",
            config::ListenerTls::None => "smtp (plaintext)",
        };
        let kind =
            if l.trusted_networks.is_empty() { kind.to_owned() } else { format!("{kind}, relay for trusted networks") };
        bound.push((kind, addr));
        tasks.push(worker(
            &app,
            "smtp listener",
            intake::smtp::run_listener(app.clone(), listener, l.clone(), acceptor.clone()),
        ));
    }
    let http =
        TcpListener::bind(cfg.http.addr).await.map_err(ServerError::io(format!("binding https {}", cfg.http.addr)))?;
    bound.push(("https API".to_owned(), http.local_addr().map_err(ServerError::io("local address"))?));
    tasks.push(worker(&app, "https listener", intake::api::serve(app.clone(), http, acceptor)));
    app.become_indexer();
    match app.abort_interrupted_exports().await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(exports = n, "API exports interrupted by the previous run marked aborted"),
        Err(e) => tracing::warn!(error = %e, "marking interrupted API exports failed"),
    }
    tasks.push(worker(&app, "indexer", app.clone().run_indexer()));
    tasks.push(worker(&app, "auth failure audit", app.clone().run_auth_failure_flusher()));
    if cfg.delivery.enabled {
        let deliverer = deliver::Deliverer::new(app.clone())?;
        tasks.push(worker(&app, "delivery", deliverer.run()));
        tasks.push(worker(&app, "webhooks", webhooks::run(app.clone())));
        bound
            .push(("delivery workers".to_owned(), "0.0.0.0:0".parse().map_err(|_| ServerError::State("addr".into()))?));
    }
    if let Some(addr) = cfg.metrics.listen {
        let listener =
            TcpListener::bind(addr).await.map_err(ServerError::io(format!("binding metrics listener {addr}")))?;
        bound.push((
            "metrics (plain HTTP, loopback)".to_owned(),
            listener.local_addr().map_err(ServerError::io("local address"))?,
        ));
        tasks.push(worker(&app, "metrics listener", intake::api::prometheus::serve_plain(app.clone(), listener)));
    }
    if cfg.archive.disposal_interval_hours > 0 {
        tasks.push(worker(&app, "retention schedule", archive::disposal::run_schedule(app.clone())));
    }
    let mut started = vec![NewEvent::new(system_tenant(), Actor::system(), Action::ServerStarted, Outcome::Success)];
    let mut ops = Vec::new();
    if let Some(op) = config_change(&app).await? {
        started.push(NewEvent::new(system_tenant(), Actor::system(), Action::ConfigChanged, Outcome::Success));
        ops.push(op);
    }
    app.store.commit(sealpost_store::Commit { ops, events: started }).await?;
    app.health.mark_started();
    on_ready(&bound);
    shutdown.await;
    for t in &tasks {
        t.abort();
    }
    // Failures counted since the last flush are recorded before the stop.
    if let Err(e) = app.flush_auth_failures().await {
        tracing::warn!(error = %e, "writing aggregated authentication failures at shutdown failed");
    }
    app.audit(vec![NewEvent::new(system_tenant(), Actor::system(), Action::ServerStopped, Outcome::Success)]).await?;
    app.store.close().await;
    Ok(())
}

/// Spawns a task that runs until shutdown; readiness fails if it ends.
fn worker(
    app: &App,
    name: &'static str,
    task: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let handle = tokio::spawn(task);
    app.health.register_worker(name, handle.abort_handle());
    handle
}

/// The configuration's fingerprint is kept (as the public half of a
/// `config-fingerprint` record); a start with a different file is audited as
/// `config.changed` (R-AU-1). Returns the op that records the new fingerprint.
async fn config_change(app: &App) -> Result<Option<sealpost_store::Op>, ServerError> {
    const NAME: &str = "config-fingerprint";
    let text = std::fs::read(app.data_dir.join(config::CONFIG_FILE)).unwrap_or_default();
    let fingerprint = sealpost_crypto::sha256(&text).to_vec();
    let previous = app.store.secret(NAME).await?.and_then(|r| r.public);
    if previous.as_deref() == Some(&fingerprint[..]) {
        return Ok(None);
    }
    Ok(Some(sealpost_store::Op::PutSecret(sealpost_store::SecretRecord {
        name: NAME.into(),
        sealed: Vec::new(),
        public: Some(fingerprint),
    })))
}
