//! What a delivery-status callback says, whichever provider sent it.

/// Where a message stands at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmsStatus {
    /// Accepted by the provider, not yet handed to a carrier.
    Queued,
    /// Handed to a carrier.
    Sent,
    /// The carrier reports the handset received it.
    Delivered,
    /// The carrier could not deliver it.
    Undelivered,
    /// The provider could not send it.
    Failed,
}

impl SmsStatus {
    /// Whether no later callback can change the outcome.
    pub fn is_final(self) -> bool {
        matches!(self, SmsStatus::Delivered | SmsStatus::Undelivered | SmsStatus::Failed)
    }
}

/// One delivery-status callback, verified and parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    /// The id the provider gave the message (`SentSms::provider_id`).
    pub provider_id: String,
    /// The new status.
    pub status: SmsStatus,
    /// The provider's error code for an undelivered or failed message.
    pub error_code: Option<String>,
}
