//! Recipient keys through the API (R-KY-3), `admin` scope:
//! `POST /v1/recipient-keys`, `GET /v1/recipient-keys`,
//! `DELETE /v1/recipient-keys/{id}`. Listings show fingerprints, never addresses.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sealpost_model::{RecipientId, Scope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::extract::{ApiPath, Body};
use super::{ApiError, parse_json};
use crate::Api;
use sealpost_core::ServerError;

/// `POST /v1/recipient-keys` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddKey {
    /// An ASCII-armored OpenPGP public key or a PEM S/MIME certificate.
    pub key: String,
}

/// A key put on file.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyAdded {
    /// `openpgp` or `smime`.
    pub kind: String,
    /// The key's fingerprint.
    pub fingerprint: String,
    /// How many addresses it was filed under.
    pub addresses: usize,
}

/// One key on file.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyItem {
    /// The key's id.
    pub id: String,
    /// `openpgp` or `smime`.
    pub kind: String,
    /// The key's fingerprint.
    pub fingerprint: String,
    /// When it was added (RFC 3339).
    pub created_at: String,
}

/// `GET /v1/recipient-keys` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// The tenant's keys.
    pub keys: Vec<KeyItem>,
}

/// Puts a recipient's OpenPGP key or S/MIME certificate on file.
///
/// Mail to the addresses it names is then encrypted to it.
#[utoipa::path(
    post, path = "/v1/recipient-keys", operation_id = "add_recipient_key", tag = "recipient keys",
    security(("api_key" = ["admin"])),
    request_body = AddKey,
    responses((status = 201, description = "On file", body = KeyAdded))
)]
pub async fn add(State(app): State<Arc<Api>>, caller: Caller, Body(body): Body) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let req: AddKey = parse_json(&body)?;
    match app.keys.add_recipient_key(p.tenant(), req.key.as_bytes(), p.actor()).await {
        Ok((kind, fingerprint, n)) => Ok((
            StatusCode::CREATED,
            Json(KeyAdded { kind: kind.to_string(), fingerprint: fingerprint.to_string(), addresses: n }),
        )
            .into_response()),
        Err(ServerError::State(msg)) => Err(ApiError::invalid("invalid_key", "key", msg)),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Lists the tenant's recipient keys (fingerprints, no addresses).
#[utoipa::path(
    get, path = "/v1/recipient-keys", operation_id = "list_recipient_keys", tag = "recipient keys",
    security(("api_key" = ["admin"])),
    responses((status = 200, description = "The keys", body = KeyList))
)]
pub async fn list(State(app): State<Arc<Api>>, caller: Caller) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let keys = app.keys.list_recipient_keys(p.tenant()).await.map_err(ApiError::internal)?;
    let keys = keys
        .iter()
        .map(|k| KeyItem {
            id: k.id.to_string(),
            kind: k.kind.to_string(),
            fingerprint: k.fingerprint.to_string(),
            created_at: sealpost_audit::rfc3339_micros(k.created_at),
        })
        .collect();
    Ok(Json(KeyList { keys }).into_response())
}

/// Removes a recipient key.
#[utoipa::path(
    delete, path = "/v1/recipient-keys/{id}", operation_id = "remove_recipient_key", tag = "recipient keys",
    security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 204, description = "Removed"))
)]
pub async fn remove(
    State(app): State<Arc<Api>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let id = RecipientId::parse(&id).map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such key"))?;
    match app.keys.remove_recipient_key(p.tenant(), &id, p.actor()).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(ServerError::Store(sealpost_store::StoreError::Conflict(_))) => {
            Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such key"))
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}
