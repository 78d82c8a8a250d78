//! Plain records read from and written to the store. Sealed fields are
//! opaque bytes here: only the pipeline (with `sealpost-crypto`) opens them.

use sealpost_model::{ApiKeyId, Category, MessageId, RecipientId, Role, Scope, TenantId, UserId};

/// A tenant.
#[derive(Debug, Clone)]
pub struct TenantRecord {
    /// Slug.
    pub id: TenantId,
    /// Display name (an organization name, not PHI).
    pub name: String,
    /// Unix micros.
    pub created_at: i64,
}

/// One version of a tenant's key-encryption key, wrapped by the root key.
#[derive(Debug, Clone)]
pub struct KekRecord {
    /// Version, counting from 1; the highest is current.
    pub version: i64,
    /// The KEK sealed under the root key.
    pub wrapped: Vec<u8>,
}

/// A user (console login and SMTP AUTH).
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// Id.
    pub id: UserId,
    /// Tenant.
    pub tenant: TenantId,
    /// Login name, unique across the installation.
    pub username: String,
    /// Argon2id hash in `sealpost_crypto::PasswordHash` form.
    pub password_hash: String,
    /// Role.
    pub role: Role,
}

/// An API key's stored half.
#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    /// Public id.
    pub id: ApiKeyId,
    /// Tenant.
    pub tenant: TenantId,
    /// Label given at creation.
    pub name: String,
    /// SHA-256 of the secret.
    pub verifier: Vec<u8>,
    /// What the key may do.
    pub scopes: Vec<Scope>,
    /// Unix micros.
    pub created_at: i64,
    /// Set once revoked.
    pub revoked_at: Option<i64>,
}

/// How a message came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// SMTP submission or relay.
    Smtp,
    /// `POST /v1/messages` (JSON, built into MIME by Sealpost).
    Api,
    /// `POST /v1/messages/raw`.
    ApiRaw,
}

impl Source {
    /// Storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Smtp => "smtp",
            Source::Api => "api",
            Source::ApiRaw => "api-raw",
        }
    }
    /// Parses the storage spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "smtp" => Some(Source::Smtp),
            "api" => Some(Source::Api),
            "api-raw" => Some(Source::ApiRaw),
            _ => None,
        }
    }
}

/// A message to store. Everything that could be PHI is sealed.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Id.
    pub id: MessageId,
    /// Tenant.
    pub tenant: TenantId,
    /// Unix micros of acceptance.
    pub created_at: i64,
    /// Intake path.
    pub source: Source,
    /// Category.
    pub category: Category,
    /// Size of the original bytes.
    pub size: i64,
    /// KEK version that wraps the data key.
    pub kek_version: i64,
    /// Data key wrapped by the tenant KEK.
    pub wrapped_dek: Vec<u8>,
    /// Envelope and headers of interest, sealed with the data key.
    pub sealed_meta: Vec<u8>,
    /// The original bytes, compressed and sealed with the data key.
    pub sealed_blob: bytes::Bytes,
    /// One queue entry per recipient, in envelope order.
    pub recipients: Vec<RecipientId>,
}

/// A stored message (without its blob bytes).
#[derive(Debug, Clone)]
pub struct MessageRecord {
    /// Id.
    pub id: MessageId,
    /// Tenant.
    pub tenant: TenantId,
    /// Unix micros.
    pub created_at: i64,
    /// Intake path.
    pub source: Source,
    /// Category.
    pub category: Category,
    /// Size of the original bytes.
    pub size: i64,
    /// KEK version.
    pub kek_version: i64,
    /// Wrapped data key.
    pub wrapped_dek: Vec<u8>,
    /// Sealed metadata.
    pub sealed_meta: Vec<u8>,
    /// Where the sealed blob is.
    pub blob_ref: String,
    /// `accepted` until delivery exists.
    pub state: String,
}

/// One recipient's queue entry.
#[derive(Debug, Clone)]
pub struct QueueRecord {
    /// Id.
    pub id: RecipientId,
    /// Position in the envelope (index into the sealed recipient list).
    pub rcpt_index: i64,
    /// `queued`, later `delivered`, `deferred`, `bounced`, …
    pub state: String,
    /// Unix micros of the next attempt.
    pub next_attempt_at: i64,
    /// Attempts so far.
    pub attempts: i64,
}

/// A stored idempotent response.
#[derive(Debug, Clone)]
pub struct IdempotencyRecord {
    /// Tenant.
    pub tenant: TenantId,
    /// SHA-256 of the client's key (the key itself is client text).
    pub key_hash: Vec<u8>,
    /// SHA-256 of the request body, to detect a key reused for another request.
    pub request_hash: Vec<u8>,
    /// The JSON response that was given.
    pub response: String,
}

/// A stored installation secret (sealed under the root key) and its public half.
#[derive(Debug, Clone)]
pub struct SecretRecord {
    /// Name, e.g. `audit-signing`.
    pub name: String,
    /// Sealed secret.
    pub sealed: Vec<u8>,
    /// Public half, if any.
    pub public: Option<Vec<u8>>,
}

/// A recipient claimed for a delivery attempt by [`crate::Store::lease_due`].
#[derive(Debug, Clone)]
pub struct LeasedRecipient {
    /// Queue entry id.
    pub id: RecipientId,
    /// The message.
    pub message_id: MessageId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Index into the sealed recipient list.
    pub rcpt_index: i64,
    /// Attempts so far.
    pub attempts: i64,
}
