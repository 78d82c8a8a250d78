//! Webhook endpoints through the API (R-OP-1), `admin` scope:
//! `POST /v1/webhooks` (the secret is shown once), `GET /v1/webhooks`,
//! `DELETE /v1/webhooks/{id}`.

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

/// `POST /v1/webhooks` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddWebhook {
    /// Endpoint: `https://…`, or `http://` to a loopback address.
    pub url: String,
}

/// `POST /v1/webhooks`.
pub async fn add(State(app): State<Arc<App>>, caller: Caller, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let req: AddWebhook = parse_json(&body)?;
    match app.create_webhook(p.tenant(), &req.url, p.actor()).await {
        Ok((id, secret)) => {
            Ok((StatusCode::CREATED, Json(json!({"id": id.to_string(), "url": req.url, "secret": secret})))
                .into_response())
        }
        Err(ServerError::State(msg)) => Err(ApiError::invalid("invalid_url", "url", msg)),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// `GET /v1/webhooks`.
pub async fn list(State(app): State<Arc<App>>, caller: Caller) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let hooks = app.store.webhooks(p.tenant()).await.map_err(ApiError::internal)?;
    let items: Vec<_> = hooks.iter().map(|h| json!({"id": h.id.to_string(), "url": h.url})).collect();
    Ok(Json(json!({ "webhooks": items })).into_response())
}

/// `DELETE /v1/webhooks/{id}`.
pub async fn remove(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such webhook");
    let id = RecipientId::parse(&id).map_err(|_| not_found())?;
    match app.delete_webhook(p.tenant(), &id, p.actor()).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(ServerError::Store(sealpost_store::StoreError::Conflict(_))) => Err(not_found()),
        Err(e) => Err(ApiError::internal(e)),
    }
}
