//! Legal holds through the API (R-AR-4): `POST /v1/holds`, `GET /v1/holds`,
//! `POST /v1/holds/{id}/release` (`{"justification": …}`) and
//! `POST /v1/holds/{id}/approve-release`. Admin scope. The two release
//! requests must come from different API keys: until console sessions
//! exist, an API key stands for the person it was issued to.

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
use crate::app::App;
use crate::archive::holds::{ArchiveError, HoldScope};

/// The API answer to an archive failure: refusals are 403 with the reason,
/// bad input 400, unknown ids 404, a missing search index 503.
pub(super) fn archive_error(e: ArchiveError) -> ApiError {
    match e {
        ArchiveError::Refused(m) => ApiError::new(StatusCode::FORBIDDEN, "refused", m),
        ArchiveError::Invalid(m) => {
            let field = m.split(':').next().unwrap_or("body").to_owned();
            ApiError::invalid("invalid", field, m)
        }
        ArchiveError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no such {m}")),
        ArchiveError::Unavailable(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m),
        ArchiveError::Server(e) => ApiError::internal(e),
    }
}

/// `POST /v1/holds` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateHold {
    name: String,
    reason: String,
    #[serde(default)]
    scope: HoldScope,
}

/// `POST /v1/holds/{id}/release` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseHold {
    justification: String,
}

fn hold_id(id: &str) -> Result<RecipientId, ApiError> {
    RecipientId::parse(id).map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such hold"))
}

/// `POST /v1/holds`.
pub async fn create(
    State(app): State<Arc<App>>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let req: CreateHold = parse_json(&body)?;
    let id = app.create_hold(p.tenant(), p, &req.name, &req.reason, req.scope).await.map_err(archive_error)?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id.to_string(), "state": "active" }))).into_response())
}

/// `GET /v1/holds`.
pub async fn list(State(app): State<Arc<App>>, caller: Caller) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let holds = app.list_holds(p.tenant()).await.map_err(archive_error)?;
    Ok(Json(json!({ "holds": holds })).into_response())
}

/// `POST /v1/holds/{id}/release`: the first person asks, with a justification.
pub async fn release(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let id = hold_id(&id)?;
    let req: ReleaseHold = parse_json(&body)?;
    app.request_hold_release(p.tenant(), p, &id, &req.justification).await.map_err(archive_error)?;
    Ok(Json(json!({ "id": id.to_string(), "state": "release_requested" })).into_response())
}

/// `POST /v1/holds/{id}/approve-release`: a second person approves.
pub async fn approve_release(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let id = hold_id(&id)?;
    app.approve_hold_release(p.tenant(), p, &id).await.map_err(archive_error)?;
    Ok(Json(json!({ "id": id.to_string(), "state": "released" })).into_response())
}
