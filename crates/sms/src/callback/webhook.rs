//! The webhook provider's status callbacks: a JSON POST
//! `{"id": "<our message id>", "status": "queued|sent|delivered|undelivered|failed", "error_code": …}`
//! signed like our own requests (Standard Webhooks, same secret).

use serde::Deserialize;

use crate::config::webhook_key;
use crate::{SmsError, SmsStatus, StatusUpdate, standard_webhooks};

/// The three Standard Webhooks headers of a callback, as received.
#[derive(Debug, Clone, Copy)]
pub struct WebhookHeaders<'a> {
    /// `webhook-id`.
    pub id: &'a str,
    /// `webhook-timestamp` (Unix seconds).
    pub timestamp: &'a str,
    /// `webhook-signature` (one or more space-separated `v1,<base64>`).
    pub signature: &'a str,
}

/// Whether the callback is signed with `secret` (`whsec_<base64>` or the raw
/// key) and its timestamp is within `tolerance_secs` of `now_unix` either
/// way (an old callback replayed is refused). Constant-time comparison.
pub fn verify_webhook_callback(
    secret: &str,
    headers: WebhookHeaders<'_>,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: u64,
) -> bool {
    let Ok(key) = webhook_key(secret) else { return false };
    if headers.id.is_empty() || headers.timestamp.is_empty() || !headers.timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(timestamp) = headers.timestamp.parse::<i64>() else { return false };
    if timestamp.abs_diff(now_unix) > tolerance_secs {
        return false;
    }
    standard_webhooks::verify(&key, headers.id, headers.timestamp, body, headers.signature)
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum WireStatus {
    Queued,
    Sent,
    Delivered,
    Undelivered,
    Failed,
}

#[derive(Deserialize)]
struct Incoming {
    id: String,
    status: WireStatus,
    #[serde(default)]
    error_code: Option<serde_json::Value>,
}

/// The status update in a (verified) webhook callback body.
pub fn parse_webhook_status(body: &[u8]) -> Result<StatusUpdate, SmsError> {
    // serde's message may quote the body: say only where it went wrong.
    let incoming: Incoming = serde_json::from_slice(body).map_err(|e| {
        SmsError::BadCallback(format!(
            "not a status callback ({:?} at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    if incoming.id.is_empty() {
        return Err(SmsError::BadCallback("empty id".into()));
    }
    let status = match incoming.status {
        WireStatus::Queued => SmsStatus::Queued,
        WireStatus::Sent => SmsStatus::Sent,
        WireStatus::Delivered => SmsStatus::Delivered,
        WireStatus::Undelivered => SmsStatus::Undelivered,
        WireStatus::Failed => SmsStatus::Failed,
    };
    let error_code = crate::client::error_code(incoming.error_code.as_ref());
    Ok(StatusUpdate { provider_id: incoming.id, status, error_code })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_parse() {
        let u = parse_webhook_status(br#"{"id":"msg_1","status":"failed","error_code":30008}"#).unwrap();
        assert_eq!(
            u,
            StatusUpdate { provider_id: "msg_1".into(), status: SmsStatus::Failed, error_code: Some("30008".into()) }
        );
        let u = parse_webhook_status(br#"{"id":"msg_1","status":"delivered"}"#).unwrap();
        assert_eq!((u.status, u.error_code), (SmsStatus::Delivered, None));
        assert!(parse_webhook_status(br#"{"id":"msg_1","status":"lost"}"#).is_err());
        assert!(parse_webhook_status(br#"{"id":"","status":"sent"}"#).is_err());
        assert!(parse_webhook_status(b"status=sent").is_err());
    }
}
