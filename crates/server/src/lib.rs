//! The composition root: builds every service once ([`Services::open`])
//! and runs them ([`serve`]): the listeners (SMTP, HTTPS API, metrics) and
//! the supervised background workers (indexer, delivery, webhooks,
//! retention schedule, authentication-failure audit).
//!
//! The crates below it, top to bottom (ARCHITECTURE.md has the picture):
//! edges (`sealpost-api`, `sealpost-smtpd`), domains (`sealpost-archive`,
//! `sealpost-deliver`, `sealpost-identity`, `sealpost-webhooks`), and
//! `sealpost-core`. A domain never depends on another domain.

pub mod bootstrap;

use std::path::Path;
use std::sync::Arc;

use sealpost_archive::Archive;
use sealpost_audit::{Action, Actor, NewEvent, Outcome};
use sealpost_core::access::MessageReader;
use sealpost_core::config::{Config, ListenerTls, resolve};
use sealpost_core::keys::Keys;
use sealpost_core::pipeline::Accept;
use sealpost_core::senders::SendingDomains;
use sealpost_core::settings::Settings;
use sealpost_core::{Core, ServerError, system_tenant, telemetry, tls};
use sealpost_identity::Identity;
use sealpost_webhooks::Webhooks;
use tokio::net::TcpListener;

/// Every service, built once. Cheap to clone (each is an `Arc`).
#[derive(Clone)]
pub struct Services {
    /// The store, configuration, root key and tenant keys.
    pub core: Arc<Core>,
    /// Tenants' settings.
    pub settings: Arc<Settings>,
    /// Recipient keys, DKIM keys, KEK rotation.
    pub keys: Arc<Keys>,
    /// The accept path.
    pub accept: Arc<Accept>,
    /// Audited message reads.
    pub reader: Arc<MessageReader>,
    /// Search, holds, retention, disposal, export, import, access requests.
    pub archive: Arc<Archive>,
    /// Tenants, users, API keys, sign-in.
    pub identity: Arc<Identity>,
    /// Webhook endpoints and the outbox worker.
    pub webhooks: Arc<Webhooks>,
    /// Each tenant's sending domains, checked on every intake path.
    pub senders: Arc<SendingDomains>,
    /// The secure portal.
    pub portal: Arc<sealpost_portal::Portal>,
}

impl Services {
    /// Opens an initialized data directory and builds every service on it.
    pub async fn open(data_dir: &Path, cfg: Config) -> Result<Services, ServerError> {
        Ok(Services::on(Core::open(data_dir, cfg).await?))
    }

    /// Builds every service on an opened core.
    pub fn on(core: Arc<Core>) -> Services {
        let settings = Settings::new(core.clone());
        let accept = Accept::new(core.clone());
        let reader = MessageReader::new(core.clone());
        Services {
            keys: Keys::new(core.clone()),
            archive: Archive::new(core.clone(), settings.clone(), reader.clone(), accept.clone()),
            identity: Identity::new(core.clone()),
            webhooks: Webhooks::new(core.clone()),
            senders: Arc::new(SendingDomains::new(core.clone())),
            portal: sealpost_portal::Portal::new(core.clone(), settings.clone(), reader.clone(), accept.clone()),
            core,
            settings,
            accept,
            reader,
        }
    }

    /// What the HTTPS API calls.
    pub fn api(&self) -> Arc<sealpost_api::Api> {
        Arc::new(sealpost_api::Api {
            core: self.core.clone(),
            settings: self.settings.clone(),
            keys: self.keys.clone(),
            accept: self.accept.clone(),
            reader: self.reader.clone(),
            archive: self.archive.clone(),
            identity: self.identity.clone(),
            webhooks: self.webhooks.clone(),
            senders: self.senders.clone(),
            portal: self.portal.clone(),
        })
    }

    /// What the SMTP listeners call.
    pub fn smtpd(&self) -> Arc<sealpost_smtpd::Smtpd> {
        Arc::new(sealpost_smtpd::Smtpd {
            core: self.core.clone(),
            settings: self.settings.clone(),
            accept: self.accept.clone(),
            identity: self.identity.clone(),
            senders: self.senders.clone(),
        })
    }
}

/// Binds every listener, then serves until `shutdown` resolves. Returns the
/// bound addresses through `on_ready` before serving (for the start banner).
pub async fn serve(
    app: Services,
    shutdown: impl std::future::Future<Output = ()>,
    on_ready: impl FnOnce(&[(String, std::net::SocketAddr)]),
) -> Result<(), ServerError> {
    let cfg = &app.core.cfg;
    tls::ensure_certificate(
        &resolve(&app.core.data_dir, &cfg.tls.cert),
        &resolve(&app.core.data_dir, &cfg.tls.key),
        &cfg.hostname,
    )?;
    let acceptor =
        tls::acceptor(&resolve(&app.core.data_dir, &cfg.tls.cert), &resolve(&app.core.data_dir, &cfg.tls.key))?;
    if cfg.metrics.enabled() {
        telemetry::install();
    }
    let api = app.api();
    let smtpd = app.smtpd();
    let mut tasks = Vec::new();
    let mut bound = Vec::new();
    for l in &cfg.smtp {
        let listener = TcpListener::bind(l.addr).await.map_err(ServerError::io(format!("binding smtp {}", l.addr)))?;
        let addr = listener.local_addr().map_err(ServerError::io("local address"))?;
        let kind = match l.tls {
            ListenerTls::Starttls => "smtp (STARTTLS)",
            ListenerTls::Implicit => "smtp (implicit TLS)",
            ListenerTls::None => "smtp (plaintext)",
        };
        let kind =
            if l.trusted_networks.is_empty() { kind.to_owned() } else { format!("{kind}, relay for trusted networks") };
        bound.push((kind, addr));
        tasks.push(worker(
            &app,
            "smtp listener",
            sealpost_smtpd::run_listener(smtpd.clone(), listener, l.clone(), acceptor.clone()),
        ));
    }
    let http =
        TcpListener::bind(cfg.http.addr).await.map_err(ServerError::io(format!("binding https {}", cfg.http.addr)))?;
    bound.push(("https API".to_owned(), http.local_addr().map_err(ServerError::io("local address"))?));
    let portal = sealpost_web::router(app.portal.clone());
    let limits = cfg.limits.clone();
    let pages = sealpost_api::router(api.clone()).merge(portal.clone());
    tasks.push(worker(
        &app,
        "https listener",
        sealpost_api::serve_router(pages, limits.clone(), http, acceptor.clone()),
    ));
    if let Some(addr) = cfg.portal.listen {
        let listener = TcpListener::bind(addr).await.map_err(ServerError::io(format!("binding portal {addr}")))?;
        bound.push(("https portal".to_owned(), listener.local_addr().map_err(ServerError::io("local address"))?));
        tasks.push(worker(&app, "portal listener", sealpost_api::serve_router(portal, limits, listener, acceptor)));
    }
    app.archive.become_indexer();
    match app.archive.abort_interrupted_exports().await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(exports = n, "API exports interrupted by the previous run marked aborted"),
        Err(e) => tracing::warn!(error = %e, "marking interrupted API exports failed"),
    }
    tasks.push(worker(&app, "indexer", app.archive.clone().run_indexer()));
    tasks.push(worker(&app, "auth failure audit", app.identity.clone().run_auth_failure_flusher()));
    tasks.push(worker(&app, "portal housekeeping", app.portal.clone().run_housekeeping()));
    if cfg.delivery.enabled {
        let deliverer = sealpost_deliver::Deliverer::new(
            app.core.clone(),
            app.settings.clone(),
            app.keys.clone(),
            app.reader.clone(),
            app.accept.clone(),
        )?;
        tasks.push(worker(&app, "delivery", deliverer.run()));
        tasks.push(worker(&app, "webhooks", app.webhooks.clone().run()));
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
        tasks.push(worker(&app, "metrics listener", sealpost_api::prometheus::serve_plain(api.clone(), listener)));
    }
    if cfg.archive.disposal_interval_hours > 0 {
        tasks.push(worker(&app, "retention schedule", sealpost_archive::disposal::run_schedule(app.archive.clone())));
    }
    let mut started = vec![NewEvent::new(system_tenant(), Actor::system(), Action::ServerStarted, Outcome::Success)];
    let mut ops = Vec::new();
    if let Some(op) = config_change(&app.core).await? {
        started.push(NewEvent::new(system_tenant(), Actor::system(), Action::ConfigChanged, Outcome::Success));
        ops.push(op);
    }
    app.core.store.commit(sealpost_store::Commit { ops, events: started }).await?;
    app.core.health.mark_started();
    on_ready(&bound);
    shutdown.await;
    for t in &tasks {
        t.abort();
    }
    // Failures counted since the last flush are recorded before the stop.
    if let Err(e) = app.identity.flush_auth_failures().await {
        tracing::warn!(error = %e, "writing aggregated authentication failures at shutdown failed");
    }
    app.core
        .audit(vec![NewEvent::new(system_tenant(), Actor::system(), Action::ServerStopped, Outcome::Success)])
        .await?;
    app.core.store.close().await;
    Ok(())
}

/// Spawns a task that runs until shutdown; readiness fails if it ends.
fn worker(
    app: &Services,
    name: &'static str,
    task: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let handle = tokio::spawn(task);
    app.core.health.register_worker(name, handle.abort_handle());
    handle
}

/// The configuration's fingerprint is kept (as the public half of a
/// `config-fingerprint` record); a start with a different file is audited as
/// `config.changed` (R-AU-1). Returns the op that records the new fingerprint.
async fn config_change(app: &Core) -> Result<Option<sealpost_store::Op>, ServerError> {
    const NAME: &str = "config-fingerprint";
    let text = std::fs::read(app.data_dir.join(sealpost_core::config::CONFIG_FILE)).unwrap_or_default();
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
