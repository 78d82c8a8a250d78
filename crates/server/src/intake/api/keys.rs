//! Recipient keys through the API (R-KY-3), `admin` scope:
//! `POST /v1/recipient-keys`, `GET /v1/recipient-keys`,
//! `DELETE /v1/recipient-keys/{id}`. Listings show fingerprints, never addresses.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sealpost_model::{RecipientId, Scope};
use serde::Deserialize;
use serde_json::json;

use super::caller::Caller;
use super::{ApiError, parse_json};
use crate::ServerError;
use crate::app::App;

/// `POST /v1/recipient-keys` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddKey {
    /// An ASCII-armored OpenPGP public key or a PEM S/MIME certificate.
    pub key: String,
}

/// `POST /v1/recipient-keys`.
pub async fn add(State(app): State<Arc<App>>, caller: Caller, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let req: AddKey = parse_json(&body)?;
    match app.add_recipient_key(p.tenant(), req.key.as_bytes(), p.actor()).await {
        Ok((kind, fingerprint, n)) => {
            Ok((StatusCode::CREATED, Json(json!({"kind": kind, "fingerprint": fingerprint, "addresses": n})))
                .into_response())
        }
        Err(ServerError::State(msg)) => Err(ApiError::invalid("invalid_key", "key", msg)),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// `GET /v1/recipient-keys`.
pub async fn list(State(app): State<Arc<App>>, caller: Caller) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let keys = app.list_recipient_keys(p.tenant()).await.map_err(ApiError::internal)?;
    let items: Vec<_> = keys
        .iter()
        .map(|k| {
            json!({"id": k.id.to_string(), "kind": k.kind, "fingerprint": k.fingerprint,
                   "created_at": sealpost_audit::rfc3339_micros(k.created_at)})
        })
        .collect();
    Ok(Json(json!({ "keys": items })).into_response())
}

/// `DELETE /v1/recipient-keys/{id}`.
pub async fn remove(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let id = RecipientId::parse(&id).map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such key"))?;
    match app.remove_recipient_key(p.tenant(), &id, p.actor()).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(ServerError::Store(sealpost_store::StoreError::Conflict(_))) => {
            Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such key"))
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}
