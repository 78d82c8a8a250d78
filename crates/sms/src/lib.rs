//! Secure text: Sealpost's SMS channel for portal recipients who are a
//! phone number.
//!
//! A text carries a portal link or a one-time sign-in code and nothing
//! else: no PHI goes to an SMS provider. This crate
//!
//! * turns what a person typed into an E.164 number ([`normalize_e164`]),
//! * sends a text through the configured provider ([`SmsClient`]): a
//!   Twilio-compatible Messages API, or a JSON webhook signed the Standard
//!   Webhooks way ([`ProviderConfig`]),
//! * verifies and parses the provider's delivery-status callbacks
//!   ([`verify_twilio_signature`] + [`parse_twilio_status`],
//!   [`verify_webhook_callback`] + [`parse_webhook_status`]) into a
//!   [`StatusUpdate`].
//!
//! Invariants: the client speaks HTTPS only, follows no redirect and uses no
//! proxy; a callback is parsed only after its signature has been checked by
//! the caller, and every check compares in constant time; `Debug` and
//! errors never show a token, a secret, the text of a message or the number
//! it went to. This crate knows nothing of the store, tenants or portal
//! links: the caller decides what to send and records what comes back.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sealpost_sms::SmsError> {
//! use sealpost_sms::{ProviderConfig, SmsClient, normalize_e164};
//! let cfg = ProviderConfig::Webhook {
//!     url: "https://sms-gateway.example/send".into(),
//!     secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
//!     from: None,
//! };
//! let client = SmsClient::new(cfg, Vec::new())?;
//! let to = normalize_e164("+1 (415) 555-0100")?;
//! let sent = client.send(&to, "Your Sealpost sign-in code is 314159").await?;
//! println!("provider id {}", sent.provider_id);
//! # Ok(()) }
//! ```

mod callback;
mod client;
mod config;
mod e164;
mod error;
mod provider;
mod standard_webhooks;
mod status;

pub use callback::twilio::{parse_twilio_status, verify_twilio_signature};
pub use callback::webhook::{WebhookHeaders, parse_webhook_status, verify_webhook_callback};
pub use client::{MAX_TEXT_CHARS, SentSms, SmsClient};
pub use config::{ProviderConfig, TWILIO_BASE_URL};
pub use e164::{MAX_DIGITS, MIN_DIGITS, NumberError, normalize_e164};
pub use error::SmsError;
pub use status::{SmsStatus, StatusUpdate};
