//! Message handlers: submit (JSON, batch, raw), state, raw bytes.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sealpost_crypto::sha256;
use sealpost_model::{MessageId, Scope};
use sealpost_store::{IdempotencyRecord, Source, StoreError};
use serde_json::{Value, json};

use super::build::build;
use super::caller::Caller;
use super::request::{
    BatchRequest, MessageRequest, RawRequest, ValidMessage, decode_base64, parse_address, parse_category, parse_policy,
};
use super::{ApiError, parse_json};
use crate::ServerError;
use crate::app::App;
use crate::auth::Principal;
use crate::pipeline::{EnvelopeMeta, RcptKind, RcptMeta, Submission, category_from_headers, policy_from_headers};
use crate::settings::TenantSettings;

fn check_size(app: &App, raw: &[u8], field: &str) -> Result<(), ApiError> {
    if raw.len() > app.cfg.limits.max_message_size {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "message_too_large",
            format!("message exceeds {} octets", app.cfg.limits.max_message_size),
        )
        .within(field));
    }
    Ok(())
}

fn check_content(raw: &[u8], field: &str) -> Result<(), ApiError> {
    sealpost_smtp::check_message(raw).map_err(|e| ApiError::invalid("invalid_message", field, e.to_string()))
}

fn submission(
    app: &App,
    p: &Principal,
    settings: &TenantSettings,
    m: ValidMessage,
    field: &str,
) -> Result<Submission, ApiError> {
    let raw = build(&m, &app.cfg.hostname).map_err(ApiError::internal)?;
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
async fn replay(app: &App, p: &Principal, key: &IdemKey) -> Result<Option<Response>, ApiError> {
    let Some(rec) = app.store.idempotency(p.tenant(), &key.key_hash).await.map_err(ApiError::internal)? else {
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
async fn commit(
    app: &App,
    p: &Principal,
    subs: Vec<Submission>,
    key: Option<IdemKey>,
    shape: impl Fn(&[MessageId]) -> Value + Sync,
) -> Result<Response, ApiError> {
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
        Some(r) => app.accept(subs, Some(r)).await,
        None => app.accept(subs, None).await,
    };
    match result {
        Ok(ids) => Ok((StatusCode::ACCEPTED, Json(shape(&ids))).into_response()),
        // A concurrent request with the same key committed first: answer as it did.
        Err(ServerError::Store(StoreError::Conflict(_))) => {
            let replayed = match &key_for_replay {
                Some(k) => replay(app, p, k).await?,
                None => None,
            };
            replayed.ok_or_else(|| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_conflict",
                    "a request with this Idempotency-Key is in progress; retry to get its response",
                )
            })
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// `POST /v1/messages`.
pub async fn send(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Send)?;
    let key = idempotency(&headers, &body)?;
    let req: MessageRequest = parse_json(&body)?;
    let settings = app.settings(p.tenant()).await.map_err(ApiError::internal)?;
    let sub = submission(&app, p, &settings.settings, req.validate(app.cfg.limits.max_recipients)?, "message")?;
    commit(&app, p, vec![sub], key, |ids| json!({ "id": ids[0].to_string() })).await
}

/// `POST /v1/messages/batch`: all messages are validated first; one bad
/// message fails the whole call and nothing is stored.
pub async fn send_batch(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Send)?;
    let key = idempotency(&headers, &body)?;
    let req: BatchRequest = parse_json(&body)?;
    let max = app.cfg.limits.max_batch;
    if req.messages.is_empty() || req.messages.len() > max {
        return Err(ApiError::invalid("batch_size", "messages", format!("a batch holds 1 to {max} messages")));
    }
    let settings = app.settings(p.tenant()).await.map_err(ApiError::internal)?;
    let subs = req
        .messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let field = format!("messages[{i}]");
            let valid = m.validate(app.cfg.limits.max_recipients).map_err(|e| e.within(&field))?;
            submission(&app, p, &settings.settings, valid, &field)
        })
        .collect::<Result<Vec<_>, _>>()?;
    commit(
        &app,
        p,
        subs,
        key,
        |ids| json!({ "messages": ids.iter().map(|id| json!({"id": id.to_string()})).collect::<Vec<_>>() }),
    )
    .await
}

/// `POST /v1/messages/raw`.
pub async fn send_raw(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Send)?;
    let key = idempotency(&headers, &body)?;
    let req: RawRequest = parse_json(&body)?;
    let from = parse_address(&req.from, "from")?;
    if req.to.is_empty() {
        return Err(ApiError::invalid("no_recipients", "to", "at least one recipient is required"));
    }
    if req.to.len() > app.cfg.limits.max_recipients {
        return Err(ApiError::invalid("too_many_recipients", "to", "too many recipients"));
    }
    let to =
        req.to.iter().enumerate().map(|(i, t)| parse_address(t, &format!("to[{i}]"))).collect::<Result<Vec<_>, _>>()?;
    let raw = decode_base64(&req.raw, "raw")?;
    check_size(&app, &raw, "raw")?;
    check_content(&raw, "raw")?;
    let settings = app.settings(p.tenant()).await.map_err(ApiError::internal)?;
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
    commit(&app, p, vec![sub], key, |ids| json!({ "id": ids[0].to_string() })).await
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

/// `GET /v1/messages/{id}`: state per recipient, no content.
pub async fn state(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let p = if caller.0.allows(Scope::ReadEvents) { &caller.0 } else { caller.require(Scope::Send)? };
    let id = parse_id(&id)?;
    let retention =
        app.retention_of(p.tenant(), &id).await.map_err(ApiError::internal)?.ok_or_else(ApiError::not_found)?;
    if retention.disposed_at.is_some() {
        // Crypto-shredded: nothing left to open but its disposal.
        return Ok(Json(json!({ "id": id.to_string(), "state": "disposed", "retention": retention })).into_response());
    }
    let m = app.open_message(p.tenant(), &id, p.actor(), false).await.map_err(not_found_or_internal)?;
    let at = sealpost_audit::rfc3339_micros(m.record.created_at);
    let events = app.store.recipient_events(p.tenant(), &id).await.map_err(ApiError::internal)?;
    let recipients: Vec<Value> = m
        .recipients
        .iter()
        .map(|r| {
            let address = m.meta.recipients.get(r.rcpt_index as usize).map(|x| x.address.clone());
            let mut history = vec![json!({"event": "accepted", "at": at})];
            history.extend(events.iter().filter(|e| e.recipient == r.id).map(|e| {
                json!({
                    "event": e.event,
                    "at": sealpost_audit::rfc3339_micros(e.at_micros),
                    "detail": serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::Null),
                })
            }));
            json!({
                "id": r.id.to_string(),
                "address": address,
                "state": r.state,
                "attempts": r.attempts,
                "method": r.method,
                "tls_version": r.tls_version,
                "tls_cipher": r.tls_cipher,
                "last_code": r.last_code,
                "events": history,
            })
        })
        .collect();
    Ok(Json(json!({
        "id": m.record.id.to_string(),
        "state": m.record.state,
        "created_at": at,
        "source": m.record.source.as_str(),
        "category": m.record.category.as_str(),
        "size": m.record.size,
        "sha256": m.meta.sha256,
        "recipients": recipients,
        "retention": retention,
    }))
    .into_response())
}

/// `GET /v1/messages/{id}/raw`: the original bytes (admin scope).
pub async fn raw(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let id = parse_id(&id)?;
    let m = app.open_message(p.tenant(), &id, p.actor(), true).await.map_err(not_found_or_internal)?;
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
