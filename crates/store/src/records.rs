//! Plain records read from and written to the store. Sealed fields are
//! opaque bytes here: only the pipeline (with `sealpost-crypto`) opens them.

use sealpost_model::{ApiKeyId, Category, EventId, MessageId, RecipientId, Role, Scope, TenantId, UserId};

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
    /// The person the key acts for, if it was bound to one.
    pub user: Option<UserId>,
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
    /// `sealpost import` (archive only: never delivered).
    Import,
    /// A portal recipient's reply or new message.
    Portal,
}

impl Source {
    /// Storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Smtp => "smtp",
            Source::Api => "api",
            Source::ApiRaw => "api-raw",
            Source::Import => "import",
            Source::Portal => "portal",
        }
    }
    /// Parses the storage spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "smtp" => Some(Source::Smtp),
            "api" => Some(Source::Api),
            "api-raw" => Some(Source::ApiRaw),
            "import" => Some(Source::Import),
            "portal" => Some(Source::Portal),
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
    /// Tenant-keyed hash of the original bytes (finds duplicates on import
    /// without storing a plain content hash).
    pub content_hash: Vec<u8>,
    /// The message's own date (its `Date` header, else acceptance), unix
    /// micros: what retention counts from.
    pub message_date: i64,
    /// Per recipient (same order), the `accepted` webhook payload (no PHI);
    /// empty or missing: none. Fanned out to the tenant's active webhooks
    /// in the commit that stores the message.
    pub accepted_webhooks: Vec<String>,
    /// The attachments cut out of the blob (R-AR-1), one entry per distinct
    /// attachment. The splice table saying where each goes back is in the
    /// sealed metadata.
    pub attachments: Vec<NewAttachment>,
}

/// A message's reference to a deduplicated attachment.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    /// Tenant-keyed hash of the attachment's SHA-256 (its identity within
    /// the tenant; no plain content hash is stored).
    pub hash: Vec<u8>,
    /// The sealed attachment when the caller did not find it stored. Without
    /// it the commit only adds a reference, and fails with a conflict if the
    /// attachment is gone by then (disposed with its last message).
    pub sealed: Option<SealedAttachment>,
}

/// An attachment sealed under its own data key.
#[derive(Debug, Clone)]
pub struct SealedAttachment {
    /// KEK version that wraps its key.
    pub kek_version: i64,
    /// Its data key, wrapped by the tenant KEK.
    pub wrapped_key: Vec<u8>,
    /// The decoded attachment bytes, compressed and sealed.
    pub blob: bytes::Bytes,
    /// Decoded size in bytes.
    pub size: i64,
}

/// A stored attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRecord {
    /// Tenant-keyed hash (see [`NewAttachment::hash`]).
    pub hash: Vec<u8>,
    /// KEK version that wraps its key.
    pub kek_version: i64,
    /// Its wrapped data key.
    pub wrapped_key: Vec<u8>,
    /// Where its sealed bytes are.
    pub blob_ref: String,
    /// Decoded size in bytes.
    pub size: i64,
    /// How many messages reference it.
    pub refs: i64,
}

/// A search, its query sealed (R-AR-5: every search is audited with its
/// query; the audit event carries this record's id).
#[derive(Debug, Clone)]
pub struct SearchLogRecord {
    /// Id (referenced by the `search.performed` audit event).
    pub id: EventId,
    /// Tenant.
    pub tenant: TenantId,
    /// Who searched (the audit actor's text).
    pub actor: String,
    /// Unix micros.
    pub at: i64,
    /// The query, sealed under the root key.
    pub sealed: Vec<u8>,
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
    /// The message's own date, unix micros.
    pub message_date: i64,
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
    /// Delivery method chosen (`tls`, `portal`, `pgp`, `smime`, …), once decided.
    pub method: Option<String>,
    /// TLS version of the delivering connection.
    pub tls_version: Option<String>,
    /// TLS cipher of the delivering connection.
    pub tls_cipher: Option<String>,
    /// Last SMTP reply code from the receiver.
    pub last_code: Option<i64>,
}

/// A change of one recipient's delivery state, with its event (R-DL-6).
#[derive(Debug, Clone)]
pub struct DeliveryUpdate {
    /// Tenant.
    pub tenant: TenantId,
    /// The message.
    pub message: MessageId,
    /// The recipient's queue entry.
    pub recipient: RecipientId,
    /// New state: `delivered`, `deferred`, `bounced`, `portal`, `failed`.
    pub state: String,
    /// Next attempt (for `deferred`).
    pub next_attempt_at: i64,
    /// Attempts including this one.
    pub attempts: i64,
    /// Method.
    pub method: Option<String>,
    /// TLS version.
    pub tls_version: Option<String>,
    /// TLS cipher.
    pub tls_cipher: Option<String>,
    /// Receiver's reply code.
    pub last_code: Option<i64>,
    /// Event name (`delivered`, `deferred`, `bounced`, `portal_notified`, …).
    pub event: String,
    /// Event detail: a flat JSON object of codes, names and counts (no PHI).
    pub detail: String,
    /// The webhook payload for this event (no PHI); empty: none is sent.
    /// One outbox row per active webhook of the tenant is written with the update.
    pub webhook_payload: String,
    /// A delay notice has been sent for this recipient (at most one is).
    pub delay_notified: bool,
}

/// A stored per-recipient event.
#[derive(Debug, Clone)]
pub struct RecipientEventRecord {
    /// Recipient.
    pub recipient: RecipientId,
    /// Event name.
    pub event: String,
    /// Unix micros.
    pub at_micros: i64,
    /// JSON detail.
    pub detail: String,
}

/// A message held for secure-portal pickup by one recipient.
#[derive(Debug, Clone)]
pub struct PortalPickup {
    /// SHA-256 of the link token (the token itself is only in the notification).
    pub token_hash: Vec<u8>,
    /// Tenant.
    pub tenant: TenantId,
    /// Message.
    pub message: MessageId,
    /// Recipient.
    pub recipient: RecipientId,
    /// Unix micros.
    pub created_at: i64,
    /// Unix micros after which the link no longer works.
    pub expires_at: i64,
    /// Keyed lookup hash of the tenant and the recipient's address (`None`
    /// for links sent before the portal existed, until first used).
    pub address_hash: Option<Vec<u8>>,
    /// When the recipient first opened the message.
    pub opened_at: Option<i64>,
    /// When the sender retracted it.
    pub retracted_at: Option<i64>,
    /// When the recipient was reminded that it expires soon.
    pub reminded_at: Option<i64>,
}

/// A portal browser session (the cookie's SHA-256 is its key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSession {
    /// SHA-256 of the cookie value.
    pub id_hash: Vec<u8>,
    /// Tenant.
    pub tenant: TenantId,
    /// The recipient's keyed address hash.
    pub address_hash: Vec<u8>,
    /// Token hash of the pickup whose link started the session.
    pub entry_hash: Vec<u8>,
    /// Signed in (the address was proven), or only pending.
    pub signed_in: bool,
    /// Unix micros.
    pub created_at: i64,
    /// Last request, unix micros (the idle timeout counts from here).
    pub seen_at: i64,
    /// Absolute end, unix micros.
    pub expires_at: i64,
}

/// A portal recipient's sign-in state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalRecipient {
    /// Tenant.
    pub tenant: TenantId,
    /// The recipient's keyed address hash.
    pub address_hash: Vec<u8>,
    /// Keyed hash of the current one-time code.
    pub code_hash: Option<Vec<u8>>,
    /// When the current code stops working, unix micros.
    pub code_expires_at: i64,
    /// Tries left on the current code.
    pub code_tries: i64,
    /// Start of the current one-hour window of codes sent, unix micros.
    pub window_start: i64,
    /// Codes sent in that window.
    pub codes_in_window: i64,
    /// Failed code entries since the last success or unlock.
    pub failures: i64,
    /// Locked until then, unix micros (0: not locked).
    pub locked_until: i64,
    /// Bumped by every change; a change applies only to the version read.
    pub version: i64,
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
    /// A delay notice was already sent.
    pub delay_notified: bool,
}

/// A DKIM signing key of a tenant's sending domain (R-DL-3). The private key
/// is sealed under the root key; the public value is what DNS must publish.
#[derive(Debug, Clone)]
pub struct DkimKeyRecord {
    /// Tenant.
    pub tenant: TenantId,
    /// Sending domain (lowercase).
    pub domain: String,
    /// Selector.
    pub selector: String,
    /// `rsa-sha256` or `ed25519-sha256`.
    pub algorithm: String,
    /// PKCS#8, sealed under the root key.
    pub sealed: Vec<u8>,
    /// The TXT value to publish at `<selector>._domainkey.<domain>`.
    pub public_dns: String,
    /// Unix micros.
    pub created_at: i64,
    /// Signs new mail. A rotated-out key stays listed (and published) but inactive.
    pub active: bool,
}

/// A recipient's public key or certificate on file (R-KY-3). The key
/// material names the recipient's address, so it is sealed; lookups go by
/// a keyed hash of the address.
#[derive(Debug, Clone)]
pub struct RecipientKeyRecord {
    /// Id (one row per address the key covers).
    pub id: RecipientId,
    /// Tenant.
    pub tenant: TenantId,
    /// Keyed hash of the lowercase address.
    pub address_hash: Vec<u8>,
    /// `pgp` or `smime`.
    pub kind: String,
    /// Key fingerprint (hex), for listing and audit.
    pub fingerprint: String,
    /// The key material, sealed under the root key.
    pub sealed: Vec<u8>,
    /// Unix micros.
    pub created_at: i64,
}

/// A tenant's webhook endpoint (R-OP-1). The signing secret is sealed.
#[derive(Debug, Clone)]
pub struct WebhookRecord {
    /// Id.
    pub id: RecipientId,
    /// Tenant.
    pub tenant: TenantId,
    /// Endpoint URL.
    pub url: String,
    /// The `whsec_…` secret, sealed under the root key.
    pub sealed_secret: Vec<u8>,
    /// Unix micros.
    pub created_at: i64,
}

/// How a tenant holds a sending domain (issue 13.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendingDomainState {
    /// Added, waiting for its TXT record to be found: not yet usable.
    Pending,
    /// Its TXT record carried the tenant's token.
    Verified,
    /// The installation operator vouched for it (no DNS check).
    Asserted,
}

impl SendingDomainState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Verified => "verified",
            Self::Asserted => "asserted",
        }
    }
    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "verified" => Some(Self::Verified),
            "asserted" => Some(Self::Asserted),
            _ => None,
        }
    }
    /// Whether the tenant may send from the domain.
    pub fn is_owned(self) -> bool {
        self != Self::Pending
    }
}

/// A tenant's sending domain. The domain is lowercase ASCII (IDNA form).
/// At most one tenant holds a domain verified or asserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendingDomainRecord {
    /// Tenant.
    pub tenant: TenantId,
    /// Lowercase ASCII domain.
    pub domain: String,
    /// Pending, verified or asserted.
    pub state: SendingDomainState,
    /// The random token the TXT record must carry.
    pub token: String,
    /// Unix micros.
    pub created_at: i64,
    /// Unix micros it became verified or asserted.
    pub verified_at: Option<i64>,
}

/// One event waiting to be posted to one webhook.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    /// Id (also the `webhook-id` header: receivers deduplicate by it).
    pub id: String,
    /// The webhook.
    pub webhook: RecipientId,
    /// Tenant.
    pub tenant: TenantId,
    /// JSON payload (ids and codes only).
    pub payload: String,
    /// Attempts so far.
    pub attempts: i64,
    /// Unix micros the event was created (`webhook-timestamp` is the send time).
    pub created_at: i64,
}

/// `retain_until` of a message kept indefinitely (no end date): later than
/// any real date, so "expired" stays one SQL comparison.
pub const RETAIN_INDEFINITELY: i64 = i64::MAX;

/// A message's evaluated retention (R-AR-2), stored in clear columns: dates
/// and rule ids are not PHI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionUpdate {
    /// Tenant.
    pub tenant: TenantId,
    /// The message.
    pub message: MessageId,
    /// Unix micros when retention ends ([`RETAIN_INDEFINITELY`]: never).
    pub retain_until: i64,
    /// The deciding rule's id (`None`: no rule matched).
    pub rule: Option<String>,
    /// `dispose` or `review`.
    pub action: String,
    /// The tenant's policy version this was evaluated under.
    pub version: i64,
}

/// What the store knows about one message's retention and disposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRecord {
    /// The message.
    pub message: MessageId,
    /// The message's own date, unix micros.
    pub message_date: i64,
    /// Category.
    pub category: Category,
    /// Unix micros when retention ends; `None`: not evaluated yet.
    pub retain_until: Option<i64>,
    /// The deciding rule.
    pub rule: Option<String>,
    /// `dispose` or `review`.
    pub action: Option<String>,
    /// The policy version of the evaluation.
    pub version: Option<i64>,
    /// A reviewer postponed disposal until then (unix micros).
    pub extended_until: Option<i64>,
    /// Set once disposed (unix micros).
    pub disposed_at: Option<i64>,
}

/// A legal hold (R-AR-4). Name, reason, scope and justifications are sealed
/// under the root key; the name is found by a keyed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRecord {
    /// Id.
    pub id: RecipientId,
    /// Tenant.
    pub tenant: TenantId,
    /// Keyed hash of the name (unique per tenant).
    pub name_hash: Vec<u8>,
    /// The sealed document (name, reason, scope, justification).
    pub sealed: Vec<u8>,
    /// `active`, `release_requested` or `released`.
    pub state: String,
    /// Unix micros.
    pub created_at: i64,
    /// The audit actor text of its creator.
    pub created_by: String,
    /// Who asked for release (audit actor text).
    pub release_requested_by: Option<String>,
    /// When release was asked for.
    pub release_requested_at: Option<i64>,
    /// Who approved the release.
    pub released_by: Option<String>,
    /// When it was released.
    pub released_at: Option<i64>,
}

/// A hold's state change: from `from` to `to`, by `by`, with a new sealed
/// document. Fails with a conflict when the hold is not in state `from`.
#[derive(Debug, Clone)]
pub struct HoldChange {
    /// Tenant.
    pub tenant: TenantId,
    /// The hold.
    pub id: RecipientId,
    /// The state it must be in.
    pub from: String,
    /// `release_requested` or `released`.
    pub to: String,
    /// Audit actor text of the person acting.
    pub by: String,
    /// The sealed document after the change.
    pub sealed: Vec<u8>,
}

/// Disposal of one message (R-AR-3), with its certificate.
#[derive(Debug, Clone)]
pub struct Disposal {
    /// Tenant.
    pub tenant: TenantId,
    /// The message.
    pub message: MessageId,
    /// The tenant's holds version the caller checked coverage against; the
    /// commit fails with a conflict if holds changed since.
    pub holds_version: i64,
    /// The certificate to keep.
    pub certificate: CertificateRecord,
}

/// Disposal of a page of messages of one tenant (R-AR-3) in one
/// transaction: one holds-version check, set-based shredding, one
/// certificate per message (each certificate names its message).
#[derive(Debug, Clone)]
pub struct DisposalPage {
    /// Tenant.
    pub tenant: TenantId,
    /// The tenant's holds version the caller checked coverage against; the
    /// commit fails with a conflict if holds changed since.
    pub holds_version: i64,
    /// One per message to dispose of; the messages must be live.
    pub certificates: Vec<CertificateRecord>,
}

/// An expired, live message with everything disposal needs, read in one
/// query: its retention state and its row (wrapped key and sealed metadata
/// for the certificate's SHA-256 and the custodians, blob reference).
#[derive(Debug, Clone)]
pub struct ExpiredMessage {
    /// Retention state.
    pub retention: RetentionRecord,
    /// The stored row.
    pub message: MessageRecord,
    /// When the indexer marked it indexed (unix micros); `None` while the
    /// search index does not hold it.
    pub indexed_at: Option<i64>,
}

/// A disposal certificate: proof of what was destroyed, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    /// Certificate id.
    pub id: RecipientId,
    /// Tenant.
    pub tenant: TenantId,
    /// The disposed message.
    pub message: MessageId,
    /// SHA-256 (hex) of the original bytes, sealed under the root key (a
    /// plain hash of a short message could confirm a guess of its content).
    pub sealed_sha256: Vec<u8>,
    /// The deciding rule.
    pub rule: Option<String>,
    /// `dispose`, or `review` when a reviewer approved it.
    pub action: String,
    /// The message's date, unix micros.
    pub message_date: i64,
    /// When its retention ended, unix micros.
    pub retain_until: i64,
    /// When it was disposed, unix micros.
    pub disposed_at: i64,
    /// Audit actor text of who ran the disposal.
    pub actor: String,
}

/// A patient access request (R-AR-7, 45 CFR 164.524). Who the patient is
/// lives only in `sealed`; the clear columns are ids, times, a state and
/// the package hash.
#[derive(Debug, Clone)]
pub struct AccessRequestRecord {
    /// Id (audit events name it).
    pub id: EventId,
    /// Tenant.
    pub tenant: TenantId,
    /// Unix micros.
    pub created_at: i64,
    /// When the answer is due, unix micros.
    pub due_at: i64,
    /// `open`, `searched` or `fulfilled`.
    pub state: String,
    /// Patient name, identifiers, requester, notes: JSON sealed under the root key.
    pub sealed: Vec<u8>,
    /// When the export was produced, unix micros.
    pub fulfilled_at: Option<i64>,
    /// The produced package's SHA-256, lowercase hex.
    pub package_sha256: Option<String>,
}

/// An export streamed through the API (R-AR-6). The clear columns are ids,
/// a format, counts, a state, times and the package hash; which messages it
/// holds is sealed (`sealed_ids`), so the manifest can be regenerated.
#[derive(Debug, Clone)]
pub struct ExportRecord {
    /// Id (audit events and the API name it).
    pub id: EventId,
    /// Tenant.
    pub tenant: TenantId,
    /// Who asked (the audit actor's text).
    pub actor: String,
    /// The `search_log` row holding the query, sealed.
    pub query_id: EventId,
    /// `mbox` or `eml-zip`.
    pub format: String,
    /// Messages in the package.
    pub count: i64,
    /// `streaming`, `complete` or `aborted`.
    pub state: String,
    /// The message ids, in package order, sealed under the root key.
    pub sealed_ids: Vec<u8>,
    /// Unix micros.
    pub started_at: i64,
    /// When it completed or was aborted, unix micros.
    pub finished_at: Option<i64>,
    /// Bytes produced (all of them when complete, those sent when aborted).
    pub bytes: Option<i64>,
    /// The package's SHA-256, lowercase hex (complete exports only).
    pub package_sha256: Option<String>,
}

/// How far the search index is behind the messages (`Store::index_lag`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IndexLag {
    /// Messages not in the index yet.
    pub unindexed: i64,
    /// Of those, how many failed to load at least once and wait for a retry.
    pub retrying: i64,
    /// When the oldest of them was accepted (unix micros).
    pub oldest_created_at: Option<i64>,
}
