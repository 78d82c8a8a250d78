//! Delivery (issue 3): per stream (transactional, marketing), workers lease
//! due recipients, decide the method per recipient (R-DL-1/2), send over
//! verified TLS (or encrypted with OpenPGP/S/MIME) or hold for the portal
//! with a PHI-free notification, within per-destination limits and over
//! cached connections, and commit the outcome with its events and audit
//! records. See docs/design/delivery.md.
//!
//! The rule that matters most: the decision that PHI may travel over TLS
//! alone is taken after the handshake, from what was *verified* — never
//! from what the server advertised.

mod decide;
mod notice;
mod pool;
mod send;
mod throttle;

use std::sync::Arc;
use std::time::Duration;

use sealpost_model::Category;
use sealpost_outbound::{DaneResolver, HttpsFetcher, HttpsOptions, MtaSts, MxResolver, TlsClient, Wkd};
use sealpost_store::LeasedRecipient;
use tokio::sync::Semaphore;

use sealpost_core::access::MessageReader;
use sealpost_core::config::resolve;
use sealpost_core::keys::Keys;
use sealpost_core::pipeline::Accept;
use sealpost_core::settings::Settings;
use sealpost_core::{Core, ServerError};

pub use decide::Method;

/// Shared delivery state.
pub struct Deliverer {
    core: Arc<Core>,
    settings: Arc<Settings>,
    keys: Arc<Keys>,
    reader: Arc<MessageReader>,
    accept: Arc<Accept>,
    resolver: MxResolver,
    tls: TlsClient,
    node: String,
    throttle: throttle::Throttle,
    pool: pool::Pool,
    mta_sts: MtaSts,
    dane: DaneResolver,
    wkd: Wkd,
    /// MX addresses in non-public space that may be used anyway.
    internal_mx: sealpost_core::destination::AllowList,
}

impl Deliverer {
    /// Builds the resolver, trust roots, limits and connection cache from the configuration.
    pub fn new(
        core: Arc<Core>,
        settings: Arc<Settings>,
        keys: Arc<Keys>,
        reader: Arc<MessageReader>,
        accept: Arc<Accept>,
    ) -> Result<Arc<Deliverer>, ServerError> {
        let cfg = &core.cfg.delivery;
        let resolver = cfg.resolver()?;
        let cas: Vec<_> = cfg.extra_ca_files.iter().map(|p| resolve(&core.data_dir, p)).collect();
        let tls = TlsClient::new(&cas).map_err(|e| ServerError::Config(format!("delivery TLS: {e}")))?;
        let node = format!("node-{}", sealpost_model::EventId::new());
        let limits = cfg.clone();
        let throttle = throttle::Throttle::new(move |domain| limits.destination_limit(domain));
        let pool = pool::Pool::new(Duration::from_secs(cfg.connection_cache_seconds));
        let internal_mx = cfg.internal_mx()?;
        // MTA-STS policy and WKD key hosts are named by recipient domains
        // like MX hosts, so the same list opens internal ones (issue 13.10).
        let https = || {
            let opts = HttpsOptions {
                https_port: cfg.https_port,
                allow_internal: internal_mx.clone(),
                ..HttpsOptions::default()
            };
            HttpsFetcher::with_options(resolver.clone(), &cas, opts)
                .map_err(|e| ServerError::Config(format!("delivery HTTPS: {e}")))
        };
        let mta_sts = MtaSts::new(https()?, resolver.clone());
        let wkd = Wkd::new(https()?);
        // DANE trusts the AD bit, so only from resolvers the operator named.
        let dane = DaneResolver::with_servers(if cfg.dane { &cfg.name_servers } else { &[] });
        Ok(Arc::new(Deliverer {
            core,
            settings,
            keys,
            reader,
            accept,
            resolver,
            tls,
            node,
            throttle,
            pool,
            mta_sts,
            dane,
            wkd,
            internal_mx,
        }))
    }

    /// Delivers both streams until the task is dropped: each stream has its
    /// own queue and workers, so a marketing burst never holds up
    /// transactional mail (R-DL-4).
    pub async fn run(self: Arc<Self>) {
        let sweeper = {
            let this = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    this.pool.sweep().await;
                }
            })
        };
        let streams = [Category::Transactional, Category::Marketing].map(|stream| {
            let this = self.clone();
            tokio::spawn(async move { this.run_stream(stream).await })
        });
        for s in streams {
            let _ = s.await;
        }
        sweeper.abort();
    }

    async fn run_stream(self: Arc<Self>, stream: Category) {
        let slots = Arc::new(Semaphore::new(self.core.cfg.delivery.stream_workers(stream)));
        loop {
            let now = sealpost_model::now_micros();
            let want = slots.available_permits().max(1) as i64;
            let lease = Duration::from_secs(self.core.cfg.delivery.lease_seconds.max(1)).as_micros() as i64;
            let leased = match self.core.store.lease_due(stream, now, now + lease, &self.node, want).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "could not lease due recipients");
                    Vec::new()
                }
            };
            let full = leased.len() as i64 == want;
            for item in leased {
                let Ok(permit) = slots.clone().acquire_owned().await else { return };
                let this = self.clone();
                tokio::spawn(async move {
                    let (message, recipient) = (item.message_id, item.id);
                    if let Err(e) = this.deliver(stream, item).await {
                        // The lease expires and the recipient is retried.
                        tracing::warn!(%message, %recipient, error = %e, "delivery attempt failed");
                    }
                    drop(permit);
                });
            }
            if !full {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }

    async fn deliver(&self, stream: Category, item: LeasedRecipient) -> Result<(), ServerError> {
        let opened = self.reader.load_message(&item.tenant, &item.message_id, true).await?;
        send::deliver_one(self, stream, &item, opened).await
    }
}
