//! Delivery (issue 3, in progress): workers lease due recipients, decide the
//! method per recipient (R-DL-1/2), send over verified TLS or hold for the
//! portal with a PHI-free notification, and commit the outcome with its
//! events and audit records. See docs/design/delivery.md.
//!
//! The rule that matters most: the decision that PHI may travel over TLS
//! alone is taken after the handshake, from what was *verified* — never
//! from what the server advertised.

mod decide;
mod notice;
mod send;

use std::sync::Arc;
use std::time::Duration;

use sealpost_classify::{Classifier, TenantRules};
use sealpost_outbound::{MxResolver, TlsClient};
use sealpost_store::LeasedRecipient;
use tokio::sync::Semaphore;

use crate::ServerError;
use crate::app::App;
use crate::config::resolve;

pub use decide::Method;

/// Shared delivery state.
pub struct Deliverer {
    app: Arc<App>,
    resolver: MxResolver,
    tls: TlsClient,
    classifier: Classifier,
    node: String,
    slots: Arc<Semaphore>,
}

impl Deliverer {
    /// Builds the resolver, trust roots and classifier from the configuration.
    pub fn new(app: Arc<App>) -> Result<Arc<Deliverer>, ServerError> {
        let cfg = &app.cfg.delivery;
        let resolver = if cfg.name_servers.is_empty() {
            MxResolver::system()
        } else {
            MxResolver::with_servers(&cfg.name_servers, cfg.smtp_port)
        }
        .map_err(|e| ServerError::Config(format!("delivery resolver: {e}")))?;
        let cas: Vec<_> = cfg.extra_ca_files.iter().map(|p| resolve(&app.data_dir, p)).collect();
        let tls = TlsClient::new(&cas).map_err(|e| ServerError::Config(format!("delivery TLS: {e}")))?;
        let classifier = Classifier::new(&TenantRules::default()).map_err(|e| ServerError::Config(e.to_string()))?;
        let slots = Arc::new(Semaphore::new(cfg.workers.max(1)));
        let node = format!("node-{}", sealpost_model::EventId::new());
        Ok(Arc::new(Deliverer { app, resolver, tls, classifier, node, slots }))
    }

    /// Leases and delivers due recipients until the task is dropped.
    pub async fn run(self: Arc<Self>) {
        loop {
            let now = sealpost_model::now_micros();
            let want = self.slots.available_permits().max(1) as i64;
            let lease = Duration::from_secs(self.app.cfg.delivery.lease_seconds.max(1)).as_micros() as i64;
            let leased = match self.app.store.lease_due(now, now + lease, &self.node, want).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "could not lease due recipients");
                    Vec::new()
                }
            };
            let full = leased.len() as i64 == want;
            for item in leased {
                let Ok(permit) = self.slots.clone().acquire_owned().await else { return };
                let this = self.clone();
                tokio::spawn(async move {
                    let (message, recipient) = (item.message_id, item.id);
                    if let Err(e) = this.deliver(item).await {
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

    async fn deliver(&self, item: LeasedRecipient) -> Result<(), ServerError> {
        let opened = self.app.load_message(&item.tenant, &item.message_id, true).await?;
        send::deliver_one(self, &item, opened).await
    }
}
