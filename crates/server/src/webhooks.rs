//! Webhooks (R-OP-1): tenants register endpoints; every per-recipient event
//! (R-DL-6) is written to an outbox in the same transaction as the event,
//! and a worker posts it signed the Standard Webhooks way
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<HMAC-SHA256>`),
//! retrying with backoff. Payloads carry ids, event names and codes — no PHI.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_model::{RecipientId, TenantId, now_micros};
use sealpost_store::{Commit, Op, OutboxItem, WebhookRecord};

use crate::ServerError;
use crate::app::App;

/// Attempts before an event is given up (about a day with the backoff below).
const MAX_ATTEMPTS: i64 = 12;

fn purpose(tenant: &TenantId, id: &RecipientId) -> String {
    format!("webhook|{tenant}|{id}")
}

/// The payload of one recipient event (R-DL-6, R-OP-1): ids, the event name
/// and its PHI-free detail (a flat JSON object of codes and names).
pub fn event_payload(
    message: &sealpost_model::MessageId,
    recipient: &RecipientId,
    event: &str,
    detail: &str,
) -> String {
    serde_json::json!({
        "type": format!("message.{event}"),
        "timestamp": sealpost_audit::rfc3339_micros(now_micros()),
        "data": {
            "message_id": message.to_string(),
            "recipient_id": recipient.to_string(),
            "event": event,
            "detail": serde_json::from_str::<serde_json::Value>(detail).unwrap_or(serde_json::Value::Null),
        },
    })
    .to_string()
}

/// Whether `url` may receive events: HTTPS, or HTTP to a loopback host.
pub fn acceptable_url(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else { return false };
    match (u.scheme(), u.host_str()) {
        ("https", Some(_)) => true,
        ("http", Some(h)) => h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()),
        _ => false,
    }
}

/// The Standard Webhooks signature of `body`.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, ServerError> {
    use aws_lc_rs::hmac;
    let raw = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = B64.decode(raw).map_err(|_| ServerError::State("webhook secret is not base64".into()))?;
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", B64.encode(tag.as_ref())))
}

impl App {
    /// Registers a webhook; returns its id and the secret (shown once).
    pub async fn create_webhook(
        &self,
        tenant: &TenantId,
        url: &str,
        actor: Actor,
    ) -> Result<(RecipientId, String), ServerError> {
        if !acceptable_url(url) {
            return Err(ServerError::State("url must be https:// (or http:// to a loopback address)".into()));
        }
        let mut raw = [0u8; 24];
        aws_lc_rs::rand::fill(&mut raw).map_err(|_| ServerError::State("random".into()))?;
        let secret = format!("whsec_{}", B64.encode(raw));
        let id = RecipientId::new();
        let rec = WebhookRecord {
            id,
            tenant: tenant.clone(),
            url: url.to_owned(),
            sealed_secret: self.root().seal_secret(&purpose(tenant, &id), secret.as_bytes())?,
            created_at: now_micros(),
        };
        let ev = NewEvent::new(tenant.clone(), actor, Action::ConfigChanged, Outcome::Success)
            .target(id)
            .detail("webhook", DetailValue::Name("created"));
        self.store.commit(Commit { ops: vec![Op::PutWebhook(rec)], events: vec![ev] }).await?;
        Ok((id, secret))
    }

    /// Deactivates a webhook of `tenant`.
    pub async fn delete_webhook(&self, tenant: &TenantId, id: &RecipientId, actor: Actor) -> Result<(), ServerError> {
        let ev = NewEvent::new(tenant.clone(), actor, Action::ConfigChanged, Outcome::Success)
            .target(*id)
            .detail("webhook", DetailValue::Name("deleted"));
        self.store.commit(Commit { ops: vec![Op::DeleteWebhook(tenant.clone(), *id)], events: vec![ev] }).await?;
        Ok(())
    }
}

/// Posts outbox items until the task is dropped.
pub async fn run(app: Arc<App>) {
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook client");
            return;
        }
    };
    loop {
        let now = now_micros();
        let items = app.store.lease_outbox(now, now + 60_000_000, 32).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not lease webhook events");
            Vec::new()
        });
        let busy = !items.is_empty();
        let posts = items.into_iter().map(|item| {
            let (app, client) = (app.clone(), client.clone());
            async move {
                let id = item.id.clone();
                if let Err(e) = post_one(&app, &client, item).await {
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

async fn post_one(app: &App, client: &reqwest::Client, item: OutboxItem) -> Result<(), ServerError> {
    let hook = app.store.webhook(&item.webhook.to_string()).await?;
    let attempts = item.attempts + 1;
    let status = match &hook {
        None => None,
        Some(h) => {
            let secret = app.root().open_secret(&purpose(&h.tenant, &h.id), &h.sealed_secret)?;
            let secret = String::from_utf8_lossy(&secret).into_owned();
            let ts = now_micros() / 1_000_000;
            let sig = signature(&secret, &item.id, ts, &item.payload)?;
            let sent = client
                .post(&h.url)
                .header("content-type", "application/json")
                .header("webhook-id", &item.id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", sig)
                .body(item.payload.clone())
                .send()
                .await;
            sent.ok().map(|r| r.status().as_u16())
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
    app.store
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
    crate::telemetry::webhook_post(if state == "pending" { "retry" } else { state });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_urls_are_accepted() {
        assert!(acceptable_url("https://hooks.example.org/x"));
        assert!(acceptable_url("http://127.0.0.1:9000/hook"));
        assert!(acceptable_url("http://localhost/hook"));
        assert!(!acceptable_url("http://hooks.example.org/x"));
        assert!(!acceptable_url("ftp://127.0.0.1/"));
        assert!(!acceptable_url("not a url"));
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
