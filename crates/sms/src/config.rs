//! Which provider texts go through, as the operator configures it.

use std::fmt;

use serde::Deserialize;

/// The default Twilio API origin.
pub const TWILIO_BASE_URL: &str = "https://api.twilio.com";

fn twilio_base_url() -> String {
    TWILIO_BASE_URL.to_owned()
}

/// An SMS provider, from configuration (`kind = "twilio"` or
/// `kind = "webhook"`). `Debug` hides the token and the secret.
#[derive(Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ProviderConfig {
    /// Twilio's Messages API, or any provider speaking it.
    Twilio {
        /// The API origin, `https://api.twilio.com` unless set.
        #[serde(default = "twilio_base_url")]
        base_url: String,
        /// The account SID (the Basic-auth user, and part of the path).
        account_sid: String,
        /// The auth token (the Basic-auth password; also signs callbacks).
        auth_token: String,
        /// The sending number (E.164) or messaging service sender.
        from: String,
        /// Where the provider should post delivery-status callbacks.
        #[serde(default)]
        status_callback: Option<String>,
    },
    /// A JSON POST signed the Standard Webhooks way.
    Webhook {
        /// The endpoint (HTTPS).
        url: String,
        /// The signing secret: `whsec_` and base64, or the raw key.
        secret: String,
        /// The sender, passed on as `from` when set.
        #[serde(default)]
        from: Option<String>,
    },
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProviderConfig::Twilio { base_url, account_sid, auth_token: _, from, status_callback } => f
                .debug_struct("Twilio")
                .field("base_url", base_url)
                .field("account_sid", account_sid)
                .field("auth_token", &"<redacted>")
                .field("from", from)
                .field("status_callback", status_callback)
                .finish(),
            ProviderConfig::Webhook { url, secret: _, from } => {
                f.debug_struct("Webhook").field("url", url).field("secret", &"<redacted>").field("from", from).finish()
            }
        }
    }
}

/// The HMAC key of a Standard Webhooks secret: the bytes after `whsec_`
/// decoded from base64, or the secret's own bytes when it has no prefix.
pub(crate) fn webhook_key(secret: &str) -> Result<Vec<u8>, crate::SmsError> {
    use base64::Engine as _;
    match secret.strip_prefix("whsec_") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| crate::SmsError::Config("webhook secret: not base64 after \"whsec_\"".into())),
        None if secret.is_empty() => Err(crate::SmsError::Config("webhook secret is empty".into())),
        None => Ok(secret.as_bytes().to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_credentials() {
        let twilio: ProviderConfig = serde_json::from_str(
            r#"{"kind":"twilio","account_sid":"AC1","auth_token":"tok-SECRET","from":"+15005550006"}"#,
        )
        .unwrap();
        let shown = format!("{twilio:?}");
        assert!(!shown.contains("tok-SECRET") && shown.contains("<redacted>"), "{shown}");
        assert!(shown.contains(TWILIO_BASE_URL), "{shown}");
        let hook: ProviderConfig =
            serde_json::from_str(r#"{"kind":"webhook","url":"https://sms.example/","secret":"whsec_c2VjcmV0"}"#)
                .unwrap();
        let shown = format!("{hook:?}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
    }

    #[test]
    fn webhook_secrets() {
        assert_eq!(webhook_key("whsec_c2VjcmV0").unwrap(), b"secret");
        assert_eq!(webhook_key("plain").unwrap(), b"plain");
        assert!(webhook_key("whsec_***").is_err());
        assert!(webhook_key("").is_err());
    }
}
