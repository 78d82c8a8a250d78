//! Webhooks (R-OP-1): tenants register endpoints; every per-recipient event
//! (R-DL-6) is written to an outbox in the same transaction as the event,
//! and a worker posts it signed the Standard Webhooks way
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<HMAC-SHA256>`),
//! retrying with backoff. Payloads carry ids, event names and codes — no PHI.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_model::{RecipientId, TenantId, now_micros};
use sealpost_store::{Commit, Op, OutboxItem, WebhookRecord};

use sealpost_core::destination::{AllowList, Refused};
use sealpost_core::{Core, ServerError};

/// Attempts before an event is given up (about a day with the backoff below).
const MAX_ATTEMPTS: i64 = 12;

fn purpose(tenant: &TenantId, id: &RecipientId) -> String {
    format!("webhook|{tenant}|{id}")
}

/// Checks a webhook endpoint URL before it is registered or posted to:
/// `https://` with a host, no user name or password, and a host that is not
/// an internal address literal (or `localhost`) unless `allow` lists it.
/// Names are checked again, on their resolved addresses, at connect time
/// ([`GuardedResolver`]). The error is a message for the API's `url` field.
pub fn check_url(url: &str, allow: &AllowList) -> Result<reqwest::Url, String> {
    check(url, allow, true)
}

/// [`check_url`] at delivery: address literals only (they never pass
/// through the resolver); names are judged by the addresses they resolve
/// to ([`GuardedResolver`]), `localhost` included.
fn check_url_to_post(url: &str, allow: &AllowList) -> Result<reqwest::Url, String> {
    check(url, allow, false)
}

fn check(url: &str, allow: &AllowList, names_too: bool) -> Result<reqwest::Url, String> {
    let u = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if u.scheme() != "https" {
        return Err(format!("must be https:// (not {}://)", u.scheme()));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    // The URL parser has normalised the host: IPv6 in brackets, IPv4 in
    // dotted quads (`https://2130706433/` is 127.0.0.1), names lower-cased.
    let Some(host) = u.host_str().filter(|h| !h.is_empty()) else { return Err("must name a host".into()) };
    let checked = if names_too { allow.check_host(host) } else { allow.check_literal(host) };
    checked.map_err(|e| format!("host {host}: {e}{}", hint(&e)))?;
    Ok(u)
}

fn hint(e: &Refused) -> &'static str {
    if e.can_be_allowed() { " (allowed only if [webhooks] allow_hosts lists it)" } else { "" }
}

/// Resolves webhook hosts once, drops every address the allow-list refuses
/// and hands reqwest only the checked ones: the connection goes to exactly
/// an address that was checked, so a name that resolves to loopback (or is
/// re-pointed there between a check and the connect) reaches nothing.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    allow: Arc<AllowList>,
}

impl GuardedResolver {
    /// A resolver that allows what `allow` lists besides public addresses.
    pub fn new(allow: AllowList) -> Self {
        Self { allow: Arc::new(allow) }
    }

    /// The permitted addresses of `host` (port 0: reqwest puts the URL's).
    pub async fn lookup(&self, host: &str) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let found: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
        if found.is_empty() {
            return Err(format!("{host} has no address").into());
        }
        let mut refused = None;
        let ok: Vec<SocketAddr> = found
            .into_iter()
            .filter(|a| match self.allow.check(host, a.ip()) {
                Ok(()) => true,
                Err(e) => {
                    refused = Some(e);
                    false
                }
            })
            .collect();
        match (ok.is_empty(), refused) {
            (true, Some(e)) => Err(format!("{host} refused: {e}{}", hint(&e)).into()),
            _ => Ok(ok),
        }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (this, host) = (self.clone(), name.as_str().to_owned());
        Box::pin(async move {
            let addrs: reqwest::dns::Addrs = Box::new(this.lookup(&host).await?.into_iter());
            Ok(addrs)
        })
    }
}

/// The webhook HTTP client: HTTPS only, TLS verified against the Mozilla
/// roots plus `[webhooks] extra_ca_files`, names through [`GuardedResolver`],
/// no proxy (it would resolve names itself), no redirects.
pub fn client(core: &Core) -> Result<reqwest::Client, ServerError> {
    let cfg = &core.cfg.webhooks;
    let cas: Vec<_> = cfg.extra_ca_files.iter().map(|p| sealpost_core::config::resolve(&core.data_dir, p)).collect();
    let roots = sealpost_outbound::trust_roots(&cas).map_err(ServerError::Config)?;
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ServerError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .https_only(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(GuardedResolver::new(cfg.allow_list()?))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("sealpost/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ServerError::Config(format!("webhook client: {e}")))
}

/// The Standard Webhooks signature of `body`.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, ServerError> {
    use aws_lc_rs::hmac;
    let raw = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = B64.decode(raw).map_err(|_| ServerError::State("webhook secret is not base64".into()))?;
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", B64.encode(tag.as_ref())))
}

impl Webhooks {
    /// Registers a webhook; returns its id and the secret (shown once).
    pub async fn create_webhook(
        &self,
        tenant: &TenantId,
        url: &str,
        actor: Actor,
    ) -> Result<(RecipientId, String), ServerError> {
        check_url(url, &self.core.cfg.webhooks.allow_list()?).map_err(ServerError::State)?;
        let mut raw = [0u8; 24];
        aws_lc_rs::rand::fill(&mut raw).map_err(|_| ServerError::State("random".into()))?;
        let secret = format!("whsec_{}", B64.encode(raw));
        let id = RecipientId::new();
        let rec = WebhookRecord {
            id,
            tenant: tenant.clone(),
            url: url.to_owned(),
            sealed_secret: self.core.root().seal_secret(&purpose(tenant, &id), secret.as_bytes())?,
            created_at: now_micros(),
        };
        let ev = NewEvent::new(tenant.clone(), actor, Action::ConfigChanged, Outcome::Success)
            .target(id)
            .detail("webhook", DetailValue::Name("created"));
        self.core.store.commit(Commit { ops: vec![Op::PutWebhook(rec)], events: vec![ev] }).await?;
        Ok((id, secret))
    }

    /// Deactivates a webhook of `tenant`.
    pub async fn delete_webhook(&self, tenant: &TenantId, id: &RecipientId, actor: Actor) -> Result<(), ServerError> {
        let ev = NewEvent::new(tenant.clone(), actor, Action::ConfigChanged, Outcome::Success)
            .target(*id)
            .detail("webhook", DetailValue::Name("deleted"));
        self.core.store.commit(Commit { ops: vec![Op::DeleteWebhook(tenant.clone(), *id)], events: vec![ev] }).await?;
        Ok(())
    }
}

/// Tenants' webhook endpoints.
pub struct Webhooks {
    core: Arc<Core>,
}

impl Webhooks {
    /// Builds the service.
    pub fn new(core: Arc<Core>) -> Arc<Webhooks> {
        Arc::new(Webhooks { core })
    }

    /// Posts outbox items until the task is dropped.
    pub async fn run(self: Arc<Self>) {
        run(self.core.clone()).await
    }
}

async fn run(core: Arc<Core>) {
    let client = match client(&core) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook client");
            return;
        }
    };
    loop {
        let now = now_micros();
        let items = core.store.lease_outbox(now, now + 60_000_000, 32).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not lease webhook events");
            Vec::new()
        });
        let busy = !items.is_empty();
        let posts = items.into_iter().map(|item| {
            let (core, client) = (core.clone(), client.clone());
            async move {
                let id = item.id.clone();
                if let Err(e) = post_one(&core, &client, item).await {
                    tracing::warn!(event = %id, error = %e, "webhook attempt failed");
                }
            }
        });
        futures::future::join_all(posts).await;
        if !busy {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// The error and its causes, without the URL.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn post_one(core: &Core, client: &reqwest::Client, item: OutboxItem) -> Result<(), ServerError> {
    let hook = core.store.webhook(&item.webhook.to_string()).await?;
    let attempts = item.attempts + 1;
    let status = match &hook {
        None => None,
        Some(h) => {
            let secret = core.root().open_secret(&purpose(&h.tenant, &h.id), &h.sealed_secret)?;
            let secret = String::from_utf8_lossy(&secret).into_owned();
            let ts = now_micros() / 1_000_000;
            let sig = signature(&secret, &item.id, ts, &item.payload)?;
            // Address literals never pass through the resolver: check them
            // (and the scheme) here, against today's allow-list.
            let url = check_url_to_post(&h.url, &core.cfg.webhooks.allow_list()?);
            if let Err(e) = &url {
                tracing::warn!(webhook = %h.id, error = %e, "webhook endpoint refused");
            }
            let sent = match url {
                Err(_) => None,
                Ok(url) => Some(
                    client
                        .post(url)
                        .header("content-type", "application/json")
                        .header("webhook-id", &item.id)
                        .header("webhook-timestamp", ts.to_string())
                        .header("webhook-signature", sig)
                        .body(item.payload.clone())
                        .send()
                        .await,
                ),
            };
            match sent {
                Some(Ok(r)) => Some(r.status().as_u16()),
                Some(Err(e)) => {
                    tracing::warn!(webhook = %h.id, error = %describe(e), "webhook post failed");
                    None
                }
                None => None,
            }
        }
    };
    let (state, next) = match status {
        Some(s) if (200..300).contains(&s) => ("delivered", now_micros()),
        _ if hook.is_none() || attempts >= MAX_ATTEMPTS => ("failed", now_micros()),
        _ => {
            let delay = (5_000_000i64 << attempts.min(14)).min(3_600_000_000);
            ("pending", now_micros() + delay)
        }
    };
    core.store
        .commit(Commit {
            ops: vec![Op::OutboxResult {
                id: item.id,
                state: state.into(),
                next_attempt_at: next,
                attempts,
                last_status: status.map(i64::from),
            }],
            events: vec![],
        })
        .await?;
    sealpost_core::telemetry::webhook_post(if state == "pending" { "retry" } else { state });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_to_public_or_listed_hosts_are_accepted() {
        let none = AllowList::default();
        assert!(check_url("https://hooks.example.org/x", &none).is_ok());
        assert!(check_url("https://93.184.216.34:8443/x", &none).is_ok());
        for bad in [
            "http://hooks.example.org/x",
            "http://127.0.0.1:9000/hook",
            "ftp://127.0.0.1/",
            "not a url",
            "https://user:pw@hooks.example.org/",
            "https://127.0.0.1:9000/hook",
            "https://localhost/hook",
            "https://10.0.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[fd00:ec2::254]/",
            "https://0.0.0.0/",
            "https://2130706433/",
        ] {
            assert!(check_url(bad, &none).is_err(), "{bad}");
        }
        let allow = AllowList::parse(&["127.0.0.1".into(), "localhost".into()]).unwrap();
        assert!(check_url("https://127.0.0.1:9000/hook", &allow).is_ok());
        assert!(check_url("https://localhost:9000/hook", &allow).is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook", &allow).is_err(), "https even when listed");
        assert!(check_url("https://[::1]/", &allow).is_err());
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses() {
        let guarded = GuardedResolver::new(AllowList::default());
        let e = guarded.lookup("localhost").await.unwrap_err().to_string();
        assert!(e.contains("loopback"), "{e}");
        let open = GuardedResolver::new(AllowList::parse(&["localhost".into()]).unwrap());
        assert!(open.lookup("localhost").await.unwrap().iter().all(|a| a.ip().is_loopback()));
    }

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example from the Standard Webhooks specification.
        let sig = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
