//! A generic JSON webhook: `POST url` with `{"to","from","text","id"}`
//! (`from` only when configured; `id` ours, random), signed the Standard
//! Webhooks way with `webhook-id`, `webhook-timestamp` and
//! `webhook-signature`. Our `id` is the message's provider id.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::client::{SentSms, describe, https_url, provider_error, read_reply};
use crate::config::webhook_key;
use crate::{SmsError, standard_webhooks};

/// A configured webhook endpoint.
pub(crate) struct Webhook {
    url: reqwest::Url,
    key: Vec<u8>,
    from: Option<String>,
}

#[derive(Serialize)]
struct Outgoing<'a> {
    to: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'a str>,
    text: &'a str,
    id: &'a str,
}

impl Webhook {
    pub(crate) fn new(url: &str, secret: &str, from: Option<String>) -> Result<Self, SmsError> {
        Ok(Webhook { url: https_url("webhook url", url)?, key: webhook_key(secret)?, from })
    }

    pub(crate) fn url(&self) -> &reqwest::Url {
        &self.url
    }

    pub(crate) async fn send(&self, http: &reqwest::Client, to: &str, text: &str) -> Result<SentSms, SmsError> {
        let id = message_id()?;
        let body = serde_json::to_vec(&Outgoing { to, from: self.from.as_deref(), text, id: &id })
            .map_err(|e| SmsError::BadReply(format!("encoding the request: {e}")))?;
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0).to_string();
        let signature = standard_webhooks::sign(&self.key, &id, &timestamp, &body);
        let resp = http
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", &timestamp)
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| SmsError::Transport(describe(e)))?;
        let (status, reply) = read_reply(resp).await?;
        if !(200..300).contains(&status) {
            return Err(provider_error(status, &reply, text));
        }
        Ok(SentSms { provider_id: id })
    }
}

/// `msg_` and 128 random bits in hex.
fn message_id() -> Result<String, SmsError> {
    let mut raw = [0u8; 16];
    aws_lc_rs::rand::fill(&mut raw).map_err(|_| SmsError::Transport("no randomness for a message id".into()))?;
    Ok(format!("msg_{}", hex::encode(raw)))
}
