//! Webhook endpoints through the API (R-OP-1), `admin` scope:
//! `POST /v1/webhooks` (the secret is shown once), `GET /v1/webhooks`,
//! `DELETE /v1/webhooks/{id}`.

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

/// `POST /v1/webhooks` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddWebhook {
    /// Endpoint: `https://…` to a public host. Internal addresses (loopback,
    /// private, link-local, unique-local, CGNAT, cloud metadata) are refused
    /// unless the installation lists them in `[webhooks] allow_hosts`; the
    /// check is repeated on the resolved address at every delivery, and
    /// redirects are not followed.
    pub url: String,
}

/// A new endpoint, with its signing secret (shown only here).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookCreated {
    /// The endpoint's id.
    pub id: String,
    /// Its URL.
    pub url: String,
    /// The Standard Webhooks signing secret (`whsec_…`).
    pub secret: String,
}

/// One endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookItem {
    /// The endpoint's id.
    pub id: String,
    /// Its URL.
    pub url: String,
}

/// `GET /v1/webhooks` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    /// The tenant's endpoints.
    pub webhooks: Vec<WebhookItem>,
}

/// Adds a webhook endpoint; its signing secret is shown once.
#[utoipa::path(
    post, path = "/v1/webhooks", operation_id = "add_webhook", tag = "webhooks",
    security(("api_key" = ["admin"])),
    request_body = AddWebhook,
    responses((status = 201, description = "Added", body = WebhookCreated))
)]
pub async fn add(State(app): State<Arc<Api>>, caller: Caller, Body(body): Body) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let req: AddWebhook = parse_json(&body)?;
    match app.webhooks.create_webhook(p.tenant(), &req.url, p.actor()).await {
        Ok((id, secret)) => Ok((
            StatusCode::CREATED,
            Json(WebhookCreated { id: id.to_string(), url: req.url, secret: secret.to_string() }),
        )
            .into_response()),
        Err(ServerError::State(msg)) => Err(ApiError::invalid("invalid_url", "url", msg)),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Lists the tenant's webhook endpoints.
#[utoipa::path(
    get, path = "/v1/webhooks", operation_id = "list_webhooks", tag = "webhooks",
    security(("api_key" = ["admin"])),
    responses((status = 200, description = "The endpoints", body = WebhookList))
)]
pub async fn list(State(app): State<Arc<Api>>, caller: Caller) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let hooks = app.core.store.webhooks(p.tenant()).await.map_err(ApiError::internal)?;
    let webhooks = hooks.iter().map(|h| WebhookItem { id: h.id.to_string(), url: h.url.clone() }).collect();
    Ok(Json(WebhookList { webhooks }).into_response())
}

/// Removes a webhook endpoint.
#[utoipa::path(
    delete, path = "/v1/webhooks/{id}", operation_id = "remove_webhook", tag = "webhooks",
    security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "The endpoint's id")),
    responses((status = 204, description = "Removed"))
)]
pub async fn remove(
    State(app): State<Arc<Api>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such webhook");
    let id = RecipientId::parse(&id).map_err(|_| not_found())?;
    match app.webhooks.delete_webhook(p.tenant(), &id, p.actor()).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(ServerError::Store(sealpost_store::StoreError::Conflict(_))) => Err(not_found()),
        Err(e) => Err(ApiError::internal(e)),
    }
}
