//! Twilio's status callbacks: a form POST signed in `X-Twilio-Signature`.
//!
//! The signature is Twilio's documented one: the full URL the callback was
//! posted to (as configured, query included), then every POST parameter
//! sorted by name with its name and value appended, HMAC-SHA1 keyed with the
//! auth token, base64.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::{SmsError, SmsStatus, StatusUpdate};

/// Whether `header` (the `X-Twilio-Signature` value) signs a callback to
/// `full_url` with these decoded POST `params`. Constant-time comparison;
/// an empty token or a malformed header is simply `false`.
pub fn verify_twilio_signature(auth_token: &str, full_url: &str, params: &[(String, String)], header: &str) -> bool {
    if auth_token.is_empty() {
        return false;
    }
    let Ok(tag) = B64.decode(header.trim()) else { return false };
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // By name; a repeated name keeps its values in sorted order too.
    sorted.sort();
    let mut data = full_url.as_bytes().to_vec();
    for (name, value) in sorted {
        data.extend_from_slice(name.as_bytes());
        data.extend_from_slice(value.as_bytes());
    }
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, auth_token.as_bytes());
    hmac::verify(&key, &data, &tag).is_ok()
}

/// The one value of `name` (or of its older alias), refusing two
/// different values.
fn field<'a>(params: &'a [(String, String)], names: &[&str]) -> Result<Option<&'a str>, SmsError> {
    let mut found: Option<&str> = None;
    for (name, value) in params {
        if names.contains(&name.as_str()) {
            match found {
                Some(seen) if seen != value => {
                    return Err(SmsError::BadCallback(format!("{} given twice with different values", names[0])));
                }
                _ => found = Some(value),
            }
        }
    }
    Ok(found)
}

/// The status update in a (verified) Twilio callback: `MessageSid`,
/// `MessageStatus` and, for failures, `ErrorCode` (the older `SmsSid` and
/// `SmsStatus` are read too).
pub fn parse_twilio_status(params: &[(String, String)]) -> Result<StatusUpdate, SmsError> {
    let provider_id = field(params, &["MessageSid", "SmsSid"])?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| SmsError::BadCallback("no MessageSid".into()))?;
    let status = field(params, &["MessageStatus", "SmsStatus"])?
        .ok_or_else(|| SmsError::BadCallback("no MessageStatus".into()))?;
    let status = match status {
        "accepted" | "scheduled" | "queued" => SmsStatus::Queued,
        "sending" | "sent" => SmsStatus::Sent,
        "delivered" | "read" => SmsStatus::Delivered,
        "undelivered" => SmsStatus::Undelivered,
        "failed" | "canceled" => SmsStatus::Failed,
        other => {
            let shown: String = other.chars().filter(|c| c.is_ascii_graphic()).take(32).collect();
            return Err(SmsError::BadCallback(format!("unknown MessageStatus {shown:?}")));
        }
    };
    let error_code = field(params, &["ErrorCode"])?.filter(|c| !c.is_empty()).map(str::to_owned);
    Ok(StatusUpdate { provider_id: provider_id.to_owned(), status, error_code })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn statuses_map() {
        let p = params(&[("MessageSid", "SM1"), ("MessageStatus", "undelivered"), ("ErrorCode", "30003")]);
        let u = parse_twilio_status(&p).unwrap();
        assert_eq!(
            u,
            StatusUpdate {
                provider_id: "SM1".into(),
                status: SmsStatus::Undelivered,
                error_code: Some("30003".into())
            }
        );
        let p = params(&[("SmsSid", "SM2"), ("SmsStatus", "sent"), ("ErrorCode", "")]);
        assert_eq!(parse_twilio_status(&p).unwrap().status, SmsStatus::Sent);
        assert_eq!(parse_twilio_status(&p).unwrap().error_code, None);
        assert!(parse_twilio_status(&params(&[("MessageSid", "SM1"), ("MessageStatus", "lost")])).is_err());
        assert!(parse_twilio_status(&params(&[("MessageStatus", "sent")])).is_err());
        let twice = params(&[("MessageSid", "SM1"), ("MessageStatus", "failed"), ("MessageStatus", "delivered")]);
        assert!(parse_twilio_status(&twice).is_err());
    }

    #[test]
    fn malformed_headers_are_false() {
        let p = params(&[("MessageSid", "SM1")]);
        assert!(!verify_twilio_signature("t", "https://x/", &p, "not base64!"));
        assert!(!verify_twilio_signature("", "https://x/", &p, ""));
    }
}
