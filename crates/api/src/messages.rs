//! Message handlers: submit (JSON, batch, raw), state, raw bytes.
//! Request bodies are in `request.rs`; the answers are defined here.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sealpost_crypto::sha256;
use sealpost_model::{MessageId, Scope};
use sealpost_store::{IdempotencyRecord, Source, StoreError};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::build::build;
use super::caller::Caller;
use super::error::ErrorBody;
use super::extract::{ApiPath, Body};
use super::line_ends::to_crlf;
use super::request::{
    Accepted, AcceptedBatch, BatchRequest, CategoryName, MessageRequest, RawRequest, ValidMessage, decode_base64,
    parse_address, parse_category, parse_policy,
};
use super::retention::RetentionBody;
use super::{ApiError, parse_json};
use crate::Api;
use sealpost_core::ServerError;
use sealpost_core::pipeline::{
    EnvelopeMeta, RcptKind, RcptMeta, Submission, category_from_headers, policy_from_headers,
};
use sealpost_core::principal::Principal;
use sealpost_core::settings::TenantSettings;

fn check_size(app: &Api, raw: &[u8], field: &str) -> Result<(), ApiError> {
    if raw.len() > app.core.cfg.limits.max_message_size {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "message_too_large",
            format!("message exceeds {} octets", app.core.cfg.limits.max_message_size),
        )
        .within(field));
    }
    Ok(())
}

fn check_content(raw: &[u8], field: &str) -> Result<(), ApiError> {
    sealpost_smtp::check_message(raw).map_err(|e| ApiError::invalid("invalid_message", field, e.to_string()))
}

fn submission(
    app: &Api,
    p: &Principal,
    settings: &TenantSettings,
    m: ValidMessage,
    field: &str,
) -> Result<Submission, ApiError> {
    let raw = build(&m, &app.core.cfg.hostname).map_err(ApiError::internal)?;
    check_size(app, &raw, field)?;
    check_content(&raw, field)?;
    let rcpt =
        |kind| move |n: super::request::Named| RcptMeta { address: n.address.into(), kind, notify: None, orcpt: None };
    let mut recipients: Vec<RcptMeta> = m.to.into_iter().map(rcpt(RcptKind::To)).collect();
    recipients.extend(m.cc.into_iter().map(rcpt(RcptKind::Cc)));
    recipients.extend(m.bcc.into_iter().map(rcpt(RcptKind::Bcc)));
    let category = m.category.or_else(|| settings.category_for(Some(m.from.address.as_str()))).unwrap_or_default();
    let envelope = EnvelopeMeta {
        mail_from: Some(m.from.address.into()),
        recipients,
        tags: m.tags,
        metadata: m.metadata,
        policy: m.policy,
        require_tls: m.require_tls,
        ..EnvelopeMeta::default()
    };
    Ok(Submission { tenant: p.tenant().clone(), actor: p.actor(), source: Source::Api, category, envelope, raw })
}

/// Refuses a submission whose envelope sender (`{prefix}from`) or header
/// `From:` (`{prefix}{raw_field}`) is in a domain the tenant does not own.
async fn check_sender(app: &Api, sub: &Submission, prefix: &str, raw_field: &str) -> Result<(), ApiError> {
    let senders = &app.senders;
    let envelope = sub.envelope.mail_from.as_deref();
    if let Some(domain) = senders.foreign_among(&sub.tenant, envelope).await? {
        return Err(ApiError::sender_not_owned(format!("{prefix}from"), &domain));
    }
    if let Some(domain) = senders.foreign(&sub.tenant, None, &sub.raw).await? {
        return Err(ApiError::sender_not_owned(format!("{prefix}{raw_field}"), &domain));
    }
    Ok(())
}

/// An `Idempotency-Key` as stored: hashes of the key and of the request body.
struct IdemKey {
    key_hash: Vec<u8>,
    request_hash: Vec<u8>,
}

/// The idempotency key of a request, if any.
fn idempotency(headers: &HeaderMap, body: &[u8]) -> Result<Option<IdemKey>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    let key = v
        .to_str()
        .map_err(|_| ApiError::invalid("invalid_idempotency_key", "Idempotency-Key", "must be visible ASCII"))?;
    if key.is_empty() || key.len() > 255 {
        return Err(ApiError::invalid("invalid_idempotency_key", "Idempotency-Key", "must be 1-255 characters"));
    }
    Ok(Some(IdemKey { key_hash: sha256(key.as_bytes()).to_vec(), request_hash: sha256(body).to_vec() }))
}

/// Replays a stored response, or refuses a key reused for another body.
async fn replay(app: &Api, p: &Principal, key: &IdemKey) -> Result<Option<Response>, ApiError> {
    let Some(rec) = app.core.store.idempotency(p.tenant(), &key.key_hash).await.map_err(ApiError::internal)? else {
        return Ok(None);
    };
    if rec.request_hash != key.request_hash {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        ));
    }
    let body: Value = serde_json::from_str(&rec.response).map_err(ApiError::internal)?;
    Ok(Some((StatusCode::ACCEPTED, [("idempotent-replayed", "true")], Json(body)).into_response()))
}

/// Validates nothing more: commits `subs` and answers 202 with `shape(ids)`.
async fn commit<B: Serialize>(
    app: &Api,
    p: &Principal,
    subs: Vec<Submission>,
    key: Option<IdemKey>,
    shape: impl Fn(&[MessageId]) -> B + Sync,
) -> Result<Response, ApiError> {
    let shape = |ids: &[MessageId]| serde_json::to_value(shape(ids)).unwrap_or(Value::Null);
    if let Some(k) = &key
        && let Some(r) = replay(app, p, k).await?
    {
        return Ok(r);
    }
    // The response is stored in the same transaction as the messages, so a
    // retry after a crash either finds both or neither.
    let key_for_replay =
        key.as_ref().map(|k| IdemKey { key_hash: k.key_hash.clone(), request_hash: k.request_hash.clone() });
    let record = key.map(|IdemKey { key_hash, request_hash }| {
        let tenant = p.tenant().clone();
        let shape = &shape;
        move |ids: &[MessageId]| idempotency_record(tenant.clone(), key_hash.clone(), request_hash.clone(), &shape(ids))
    });
    let result = match &record {
        Some(r) => app.accept.accept(subs, Some(r)).await,
        None => app.accept.accept(subs, None).await,
    };
    match result {
        Ok(ids) => Ok((StatusCode::ACCEPTED, Json(shape(&ids))).into_response()),
        // A concurrent request with the same key committed first: answer as
        // it did. Any other conflict (an attachment disposed between sealing
        // and commit, say) is transient: nothing was stored, retry.
        Err(ServerError::Store(StoreError::Conflict(_))) => {
            let replayed = match &key_for_replay {
                Some(k) => replay(app, p, k).await?,
                None => None,
            };
            replayed.ok_or_else(ApiError::retry_later)
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Sends one message built from JSON fields.
///
/// Answers 202 only once the message is durably stored. With an
/// `Idempotency-Key`, a retry with the same body gets the first answer
/// again (marked `Idempotent-Replayed: true`).
#[utoipa::path(
    post, path = "/v1/messages", operation_id = "send_message", tag = "messages",
    security(("api_key" = ["send"])),
    params(IdempotencyKey),
    request_body = MessageRequest,
    responses(
        (status = 202, description = "Accepted and durably stored", body = Accepted, headers(("Idempotent-Replayed" = String, description = "`true` when this is the answer to an earlier request with the same Idempotency-Key"))),
        (status = 403, description = "`forbidden`: the key lacks the send scope; `sender_domain_not_owned`: the sender or header From: is not in a sending domain of the tenant", body = ErrorBody),
        (status = 503, description = "A transient storage conflict: nothing was stored; retry after `Retry-After` seconds (with the same Idempotency-Key, if any)", body = ErrorBody),
        (status = 422, description = "This Idempotency-Key was used with another body", body = ErrorBody),
    )
)]
pub async fn send(
    State(app): State<Arc<Api>>,
    caller: Caller,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Send)?;
    let key = idempotency(&headers, &body)?;
    let req: MessageRequest = parse_json(&body)?;
    let settings = app.settings.get(p.tenant()).await.map_err(ApiError::internal)?;
    let sub = submission(&app, p, &settings.settings, req.validate(app.core.cfg.limits.max_recipients)?, "message")?;
    check_sender(&app, &sub, "", "from").await?;
    commit(&app, p, vec![sub], key, |ids| Accepted { id: ids[0].to_string() }).await
}

/// Sends several messages at once, all or none.
///
/// Every message is validated first; one bad message fails the whole call
/// (its field is named `messages[i]…`) and nothing is stored.
#[utoipa::path(
    post, path = "/v1/messages/batch", operation_id = "send_batch", tag = "messages",
    security(("api_key" = ["send"])),
    params(IdempotencyKey),
    request_body = BatchRequest,
    responses(
        (status = 202, description = "All accepted and durably stored", body = AcceptedBatch, headers(("Idempotent-Replayed" = String, description = "`true` when this is the answer to an earlier request with the same Idempotency-Key"))),
        (status = 403, description = "`forbidden`: the key lacks the send scope; `sender_domain_not_owned`: the sender or header From: is not in a sending domain of the tenant", body = ErrorBody),
        (status = 503, description = "A transient storage conflict: nothing was stored; retry after `Retry-After` seconds (with the same Idempotency-Key, if any)", body = ErrorBody),
        (status = 422, description = "This Idempotency-Key was used with another body", body = ErrorBody),
    )
)]
pub async fn send_batch(
    State(app): State<Arc<Api>>,
    caller: Caller,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Send)?;
    let key = idempotency(&headers, &body)?;
    let req: BatchRequest = parse_json(&body)?;
    let max = app.core.cfg.limits.max_batch;
    if req.messages.is_empty() || req.messages.len() > max {
        return Err(ApiError::invalid("batch_size", "messages", format!("a batch holds 1 to {max} messages")));
    }
    let settings = app.settings.get(p.tenant()).await.map_err(ApiError::internal)?;
    let subs = req
        .messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let field = format!("messages[{i}]");
            let valid = m.validate(app.core.cfg.limits.max_recipients).map_err(|e| e.within(&field))?;
            submission(&app, p, &settings.settings, valid, &field)
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (i, sub) in subs.iter().enumerate() {
        check_sender(&app, sub, &format!("messages[{i}]."), "from").await?;
    }
    commit(&app, p, subs, key, |ids| AcceptedBatch {
        messages: ids.iter().map(|id| Accepted { id: id.to_string() }).collect(),
    })
    .await
}

/// Sends a message given as RFC 5322 bytes (base64).
///
/// Line ends may be CRLF, or LF throughout (stored as CRLF, as sendmail
/// does); mixed line ends and bare CR are refused.
#[utoipa::path(
    post, path = "/v1/messages/raw", operation_id = "send_raw", tag = "messages",
    security(("api_key" = ["send"])),
    params(IdempotencyKey),
    request_body = RawRequest,
    responses(
        (status = 202, description = "Accepted and durably stored", body = Accepted, headers(("Idempotent-Replayed" = String, description = "`true` when this is the answer to an earlier request with the same Idempotency-Key"))),
        (status = 403, description = "`forbidden`: the key lacks the send scope; `sender_domain_not_owned`: the sender or header From: is not in a sending domain of the tenant", body = ErrorBody),
        (status = 503, description = "A transient storage conflict: nothing was stored; retry after `Retry-After` seconds (with the same Idempotency-Key, if any)", body = ErrorBody),
        (status = 422, description = "This Idempotency-Key was used with another body", body = ErrorBody),
    )
)]
pub async fn send_raw(
    State(app): State<Arc<Api>>,
    caller: Caller,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Send)?;
    let key = idempotency(&headers, &body)?;
    let req: RawRequest = parse_json(&body)?;
    let from = parse_address(&req.from, "from")?;
    if req.to.is_empty() {
        return Err(ApiError::invalid("no_recipients", "to", "at least one recipient is required"));
    }
    if req.to.len() > app.core.cfg.limits.max_recipients {
        return Err(ApiError::invalid("too_many_recipients", "to", "too many recipients"));
    }
    let to =
        req.to.iter().enumerate().map(|(i, t)| parse_address(t, &format!("to[{i}]"))).collect::<Result<Vec<_>, _>>()?;
    let raw = decode_base64(&req.raw, "raw")?;
    let raw = to_crlf(&raw).map_err(|e| ApiError::invalid("invalid_message", "raw", e.to_string()))?.into_owned();
    check_size(&app, &raw, "raw")?;
    check_content(&raw, "raw")?;
    let settings = app.settings.get(p.tenant()).await.map_err(ApiError::internal)?;
    let category = match parse_category(req.category.as_deref(), "category")? {
        Some(c) => c,
        None => category_from_headers(&raw)
            .map_err(|e| ApiError::invalid("unknown_category", "raw", e.to_string()))?
            .or_else(|| settings.settings.category_for(Some(from.as_str())))
            .unwrap_or_default(),
    };
    let policy = match parse_policy(req.policy.as_deref(), "policy")? {
        Some(p) => Some(p),
        None => policy_from_headers(&raw).map_err(|e| ApiError::invalid("unknown_policy", "raw", e.to_string()))?,
    };
    let envelope = EnvelopeMeta {
        policy,
        require_tls: req.require_tls,
        smtputf8: from.is_utf8() || to.iter().any(|t| t.is_utf8()),
        mail_from: Some(from.into()),
        recipients: to
            .into_iter()
            .map(|t| RcptMeta { address: t.into(), kind: RcptKind::To, notify: None, orcpt: None })
            .collect(),
        ..EnvelopeMeta::default()
    };
    let sub =
        Submission { tenant: p.tenant().clone(), actor: p.actor(), source: Source::ApiRaw, category, envelope, raw };
    check_sender(&app, &sub, "", "raw").await?;
    commit(&app, p, vec![sub], key, |ids| Accepted { id: ids[0].to_string() }).await
}

/// The optional `Idempotency-Key` request header.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // documents the header; the handlers read it from the header map
pub struct IdempotencyKey {
    /// Makes a retry safe: the same key with the same body gets the first
    /// answer again; with another body, 422. Visible ASCII, 1-255 characters.
    #[param(rename = "Idempotency-Key", min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    idempotency_key: Option<String>,
}

fn parse_id(id: &str) -> Result<MessageId, ApiError> {
    // A malformed id is reported exactly like an unknown one.
    MessageId::parse(id).map_err(|_| ApiError::not_found())
}

fn not_found_or_internal(e: ServerError) -> ApiError {
    match e {
        ServerError::NotFound(_) => ApiError::not_found(),
        e => ApiError::internal(e),
    }
}

/// A message's state: per recipient, no content.
///
/// Addresses, delivery states and events, and the message's retention. A
/// disposed-of (crypto-shredded) message shows only its id, `disposed` and
/// its retention.
#[utoipa::path(
    get, path = "/v1/messages/{id}", operation_id = "message_state", tag = "messages",
    security(("api_key" = ["read-events"]), ("api_key" = ["send"])),
    params(("id" = String, Path, description = "The message's id")),
    responses((status = 200, description = "The message's state", body = MessageState))
)]
pub async fn state(
    State(app): State<Arc<Api>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let p = if caller.0.allows(Scope::ReadEvents) { &caller.0 } else { caller.require(Scope::Send)? };
    let id = parse_id(&id)?;
    let retention =
        app.archive.retention_of(p.tenant(), &id).await.map_err(ApiError::internal)?.ok_or_else(ApiError::not_found)?;
    let retention = RetentionBody::from(retention);
    if retention.disposed_at.is_some() {
        // Crypto-shredded: nothing left to open but its disposal.
        return Ok(Json(MessageState {
            id: id.to_string(),
            state: "disposed".into(),
            created_at: None,
            source: None,
            category: None,
            size: None,
            sha256: None,
            recipients: None,
            retention,
        })
        .into_response());
    }
    let m = app.reader.open_message(p.tenant(), &id, p.actor(), false).await.map_err(not_found_or_internal)?;
    let at = sealpost_audit::rfc3339_micros(m.record.created_at);
    let events = app.core.store.recipient_events(p.tenant(), &id).await.map_err(ApiError::internal)?;
    let recipients = m
        .recipients
        .iter()
        .map(|r| {
            // A `read-events` key follows delivery, it does not learn who
            // the patients are: addresses only for senders and admins.
            let address = if p.allows(Scope::Send) {
                m.meta.recipients.get(r.rcpt_index as usize).map(|x| x.address.clone())
            } else {
                None
            };
            let mut history = vec![RecipientEvent { event: "accepted".into(), at: at.clone(), detail: None }];
            history.extend(events.iter().filter(|e| e.recipient == r.id).map(|e| RecipientEvent {
                event: e.event.clone(),
                at: sealpost_audit::rfc3339_micros(e.at_micros),
                detail: Some(serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::Null)),
            }));
            RecipientState {
                id: r.id.to_string(),
                address,
                state: r.state.clone(),
                attempts: r.attempts,
                method: r.method.clone(),
                tls_version: r.tls_version.clone(),
                tls_cipher: r.tls_cipher.clone(),
                last_code: r.last_code,
                events: history,
            }
        })
        .collect();
    Ok(Json(MessageState {
        id: m.record.id.to_string(),
        state: m.record.state.clone(),
        created_at: Some(at),
        source: Some(m.record.source.as_str().to_owned()),
        category: Some(m.record.category.into()),
        size: Some(m.record.size),
        sha256: Some(m.meta.sha256.clone()),
        recipients: Some(recipients),
        retention,
    })
    .into_response())
}

/// `GET /v1/messages/{id}`: a message's state. Fields other than `id`,
/// `state` and `retention` are absent once the message is disposed of.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageState {
    /// The message's id.
    pub id: String,
    /// `accepted`, `delivered`, … or `disposed`.
    pub state: String,
    /// When it was accepted (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// How it came in (`api`, `api-raw`, `smtp`, `import`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Its category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<CategoryName>,
    /// Its size in octets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// SHA-256 of its bytes, lowercase hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// One entry per recipient.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<RecipientState>>,
    /// Its retention.
    pub retention: RetentionBody,
}

/// One recipient's delivery state.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientState {
    /// The recipient's id.
    pub id: String,
    /// The address.
    pub address: Option<String>,
    /// `queued`, `delivered`, `deferred`, `failed`, `portal`, …
    pub state: String,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// How it was delivered (`tls`, `pgp`, `smime`, `portal`).
    pub method: Option<String>,
    /// The TLS version of the delivery.
    pub tls_version: Option<String>,
    /// The TLS cipher suite of the delivery.
    pub tls_cipher: Option<String>,
    /// The last SMTP reply code.
    pub last_code: Option<i64>,
    /// What happened, oldest first (the first is `accepted`).
    pub events: Vec<RecipientEvent>,
}

/// One event of a recipient.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientEvent {
    /// What happened.
    pub event: String,
    /// When (RFC 3339).
    pub at: String,
    /// The event's details (ids, codes, counts: no content).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

/// A message's original bytes.
///
/// The read is audited.
#[utoipa::path(
    get, path = "/v1/messages/{id}/raw", operation_id = "message_raw", tag = "messages",
    security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "The message's id")),
    responses((status = 200, description = "The message as stored", body = Vec<u8>, content_type = "message/rfc822"))
)]
pub async fn raw(
    State(app): State<Arc<Api>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let id = parse_id(&id)?;
    let m = app.reader.open_message(p.tenant(), &id, p.actor(), true).await.map_err(not_found_or_internal)?;
    let bytes = m.raw.unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "message/rfc822")], bytes).into_response())
}

/// Builds the idempotency record for a response body.
pub(crate) fn idempotency_record(
    tenant: sealpost_model::TenantId,
    key_hash: Vec<u8>,
    request_hash: Vec<u8>,
    body: &Value,
) -> IdempotencyRecord {
    IdempotencyRecord { tenant, key_hash, request_hash, response: body.to_string() }
}
