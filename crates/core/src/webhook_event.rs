//! The JSON of a delivery event as the webhook outbox stores it: written
//! by delivery (in the same commit as the status change) and posted by the
//! webhook worker, so both sides share this one definition.

use sealpost_model::{RecipientId, now_micros};

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
