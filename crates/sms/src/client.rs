//! The SMS client: one reqwest client (HTTPS only, no redirects, no proxy,
//! short timeouts) and the configured provider.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;

use crate::config::ProviderConfig;
use crate::provider::{twilio::Twilio, webhook::Webhook};
use crate::{SmsError, normalize_e164};

/// Most characters a text may have (Twilio's limit; a link or a code needs
/// far fewer).
pub const MAX_TEXT_CHARS: usize = 1600;

/// Connect and whole-request timeouts: a provider that hangs must not hold
/// the caller's worker.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A text the provider accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentSms {
    /// The provider's id for it, which its status callbacks name.
    pub provider_id: String,
}

/// Sends texts through one provider (see the crate docs).
pub struct SmsClient {
    http: reqwest::Client,
    provider: Provider,
}

enum Provider {
    Twilio(Twilio),
    Webhook(Webhook),
}

impl fmt::Debug for SmsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, url) = match &self.provider {
            Provider::Twilio(t) => ("twilio", t.messages_url().as_str()),
            Provider::Webhook(w) => ("webhook", w.url().as_str()),
        };
        f.debug_struct("SmsClient").field("provider", &kind).field("url", &url).finish_non_exhaustive()
    }
}

impl SmsClient {
    /// A client for `cfg`, trusting the Mozilla roots plus `extra_roots`
    /// (a private CA, or the test CA).
    pub fn new(cfg: ProviderConfig, extra_roots: Vec<CertificateDer<'static>>) -> Result<Self, SmsError> {
        let provider = match cfg {
            ProviderConfig::Twilio { base_url, account_sid, auth_token, from, status_callback } => {
                Provider::Twilio(Twilio::new(&base_url, account_sid, auth_token, from, status_callback)?)
            }
            ProviderConfig::Webhook { url, secret, from } => Provider::Webhook(Webhook::new(&url, &secret, from)?),
        };
        Ok(SmsClient { http: http_client(extra_roots)?, provider })
    }

    /// Sends `text` to `to_e164` (normalized first, refused if it is not a
    /// number); the provider's id for the message on success.
    pub async fn send(&self, to_e164: &str, text: &str) -> Result<SentSms, SmsError> {
        let to = normalize_e164(to_e164)?;
        let chars = text.chars().count();
        if chars == 0 || chars > MAX_TEXT_CHARS {
            return Err(SmsError::InvalidText { chars, max: MAX_TEXT_CHARS });
        }
        match &self.provider {
            Provider::Twilio(t) => t.send(&self.http, &to, text).await,
            Provider::Webhook(w) => w.send(&self.http, &to, text).await,
        }
    }
}

fn http_client(extra_roots: Vec<CertificateDer<'static>>) -> Result<reqwest::Client, SmsError> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for cert in extra_roots {
        roots.add(cert).map_err(|e| SmsError::Config(format!("extra root certificate: {e}")))?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| SmsError::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .https_only(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("sealpost/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SmsError::Config(format!("HTTP client: {}", describe(e))))
}

/// A provider endpoint from configuration: HTTPS, no credentials in it.
pub(crate) fn https_url(what: &str, url: &str) -> Result<reqwest::Url, SmsError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| SmsError::Config(format!("{what}: not a URL: {e}")))?;
    if parsed.scheme() != "https" {
        return Err(SmsError::Config(format!("{what}: must be an https:// URL")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(SmsError::Config(format!("{what}: credentials do not belong in the URL")));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(SmsError::Config(format!("{what}: has no host")));
    }
    Ok(parsed)
}

/// A reqwest error and its causes, without the URL (it may name the
/// account) and never with the request body.
pub(crate) fn describe(e: reqwest::Error) -> String {
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

/// Most bytes of a provider reply read; a provider's reply is small.
const MAX_REPLY: usize = 64 * 1024;

/// The status and (at most [`MAX_REPLY`] bytes of) the body of a reply.
pub(crate) async fn read_reply(mut resp: reqwest::Response) -> Result<(u16, Vec<u8>), SmsError> {
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| SmsError::Transport(describe(e)))? {
        let room = MAX_REPLY - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == MAX_REPLY {
            break;
        }
    }
    Ok((status, body))
}

/// A provider's error message fit for a log: our own `text` cut out
/// should the provider quote it, control characters dropped, shortened.
pub(crate) fn provider_message(message: &str, text: &str) -> String {
    let message = if text.is_empty() { message.to_owned() } else { message.replace(text, "[message text]") };
    let clean: String = message.chars().filter(|c| !c.is_control()).take(300).collect();
    clean.trim().to_owned()
}

/// A provider's error code, which may be a JSON number or string.
pub(crate) fn error_code(value: Option<&serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) if !s.is_empty() => Some(s.chars().filter(|c| !c.is_control()).take(64).collect()),
        _ => None,
    }
}

/// A provider's `{"code", "message"}` error reply, as an error.
pub(crate) fn provider_error(status: u16, body: &[u8], text: &str) -> SmsError {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let code = error_code(json.as_ref().and_then(|j| j.get("code")));
    let message = json
        .as_ref()
        .and_then(|j| j.get("message"))
        .and_then(serde_json::Value::as_str)
        .map(|m| provider_message(m, text))
        .filter(|m| !m.is_empty());
    SmsError::Provider { status, code, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_without_credentials() {
        assert!(https_url("u", "https://api.twilio.com").is_ok());
        assert!(https_url("u", "http://api.twilio.com").is_err());
        assert!(https_url("u", "https://sid:token@api.twilio.com").is_err());
        assert!(https_url("u", "api.twilio.com").is_err());
    }

    #[test]
    fn provider_errors_never_quote_our_text() {
        let e = provider_error(400, br#"{"code":21617,"message":"Body 'code 314159' too long"}"#, "code 314159");
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("314159"), "{shown}");
        assert!(shown.contains("21617"), "{shown}");
        let e = provider_error(502, b"<html>bad gateway</html>", "x");
        assert!(matches!(e, SmsError::Provider { status: 502, code: None, message: None }), "{e:?}");
    }
}
