//! The sender's side of the portal (issue 14): retract a message from the
//! portal (one recipient or all), change when it expires, and unlock a
//! recipient locked out by wrong codes. The recipient's pages are
//! `sealpost-web`'s.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sealpost_model::{MessageId, RecipientId, Scope};
use sealpost_portal::PortalError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::extract::{ApiPath, Body};
use super::{ApiError, parse_json};
use crate::Api;

/// `POST /v1/messages/{id}/retract` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Retract {
    /// Only this recipient's copy (a recipient id from `GET /v1/messages/{id}`); all when absent.
    #[serde(default)]
    pub recipient_id: Option<String>,
}

/// `POST /v1/messages/{id}/retract` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Retracted {
    /// How many portal copies were retracted now (already retracted ones are not counted).
    pub retracted: usize,
}

/// `PATCH /v1/messages/{id}/portal` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalExpiry {
    /// When the portal copies expire (RFC 3339).
    pub expires_at: String,
}

/// `POST /v1/portal/unlock` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Unlock {
    /// The recipient's address.
    pub address: String,
}

/// `POST /v1/portal/unlock` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Unlocked {
    /// Whether the recipient was locked out.
    pub was_locked: bool,
}

fn refusal(e: PortalError) -> ApiError {
    match e {
        PortalError::NotFound => ApiError::not_found(),
        other => ApiError::internal(other),
    }
}

fn message_id(id: &str) -> Result<MessageId, ApiError> {
    MessageId::parse(id).map_err(|_| ApiError::not_found())
}

/// Retracts a message from the portal: its recipients see "withdrawn".
#[utoipa::path(
    post, path = "/v1/messages/{id}/retract", operation_id = "retract_message", tag = "portal",
    security(("api_key" = ["send"])),
    params(("id" = String, Path, description = "The message's id")),
    request_body = Retract,
    responses(
        (status = 200, description = "Retracted", body = Retracted),
        (status = 404, description = "No such message on the portal (or recipient)", body = super::error::ErrorBody),
    )
)]
pub async fn retract(
    State(app): State<Arc<Api>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Send)?;
    let id = message_id(&id)?;
    let req: Retract = parse_json(&body)?;
    let recipient = match req.recipient_id {
        Some(r) => Some(
            RecipientId::parse(&r)
                .map_err(|_| ApiError::invalid("invalid_recipient", "recipient_id", "not a recipient id"))?,
        ),
        None => None,
    };
    let n = app.portal.retract(p.tenant(), p.actor(), &id, recipient).await.map_err(refusal)?;
    Ok(Json(Retracted { retracted: n }).into_response())
}

/// Changes when a message's portal copies expire (a retracted copy stays retracted).
#[utoipa::path(
    patch, path = "/v1/messages/{id}/portal", operation_id = "set_portal_expiry", tag = "portal",
    security(("api_key" = ["send"])),
    params(("id" = String, Path, description = "The message's id")),
    request_body = PortalExpiry,
    responses(
        (status = 204, description = "Changed"),
        (status = 404, description = "No such message on the portal", body = super::error::ErrorBody),
    )
)]
pub async fn expiry(
    State(app): State<Arc<Api>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Send)?;
    let id = message_id(&id)?;
    let req: PortalExpiry = parse_json(&body)?;
    let at = time::OffsetDateTime::parse(&req.expires_at, &time::format_description::well_known::Rfc3339)
        .map_err(|_| ApiError::invalid("invalid_time", "expires_at", "expected an RFC 3339 time"))?;
    let micros = i64::try_from(at.unix_timestamp_nanos() / 1000)
        .map_err(|_| ApiError::invalid("invalid_time", "expires_at", "out of range"))?;
    app.portal.set_expiry(p.tenant(), p.actor(), &id, micros).await.map_err(refusal)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Lifts a portal recipient's lockout (wrong codes).
#[utoipa::path(
    post, path = "/v1/portal/unlock", operation_id = "unlock_portal_recipient", tag = "portal",
    security(("api_key" = ["admin"])),
    request_body = Unlock,
    responses((status = 200, description = "Unlocked", body = Unlocked))
)]
pub async fn unlock(State(app): State<Arc<Api>>, caller: Caller, Body(body): Body) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let req: Unlock = parse_json(&body)?;
    if sealpost_model::EmailAddress::parse(&req.address, true).is_err() {
        return Err(ApiError::invalid("invalid_address", "address", "not an email address"));
    }
    let was_locked = app.portal.unlock(p.tenant(), p.actor(), &req.address).await.map_err(refusal)?;
    Ok(Json(Unlocked { was_locked }).into_response())
}
