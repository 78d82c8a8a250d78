//! Legal holds through the API (R-AR-4): `POST /v1/holds`, `GET /v1/holds`,
//! `POST /v1/holds/{id}/release` (`{"justification": …}`) and
//! `POST /v1/holds/{id}/approve-release`. Admin scope. The two release
//! requests must come from different API keys: until console sessions
//! exist, an API key stands for the person it was issued to.
//!
//! The bodies here are the API's own: the sealed hold document
//! (`archive::holds::HoldDocument`) is a stored format.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sealpost_model::{RecipientId, Scope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::error::ErrorBody;
use super::extract::{ApiPath, Body};
use super::{ApiError, parse_json};
use crate::Api;
use sealpost_archive::holds::{ArchiveError, HoldScope, HoldView};

/// The API answer to an archive failure: refusals are 403 with the reason,
/// bad input 400 naming the field, unknown ids 404, a missing search index 503.
pub(super) fn archive_error(e: ArchiveError) -> ApiError {
    match e {
        ArchiveError::Refused(m) => ApiError::new(StatusCode::FORBIDDEN, "refused", m),
        ArchiveError::Invalid(e) => ApiError::input("invalid", e),
        ArchiveError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no such {m}")),
        ArchiveError::Unavailable(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m),
        ArchiveError::Server(e) => ApiError::internal(e),
    }
}

/// What a hold covers. Every part given must match; an empty scope covers
/// every message of the tenant.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldScopeBody {
    /// Custodian addresses (the sender of outbound mail, an import's custodian).
    #[serde(default)]
    pub custodians: Vec<String>,
    /// First message date covered, `YYYY-MM-DD` (inclusive).
    #[serde(default)]
    pub from: Option<String>,
    /// Last message date covered, `YYYY-MM-DD` (inclusive).
    #[serde(default)]
    pub until: Option<String>,
    /// A search query (the language of `/v1/search`).
    #[serde(default)]
    pub query: Option<String>,
}

impl From<HoldScopeBody> for HoldScope {
    fn from(b: HoldScopeBody) -> Self {
        HoldScope { custodians: b.custodians, from: b.from, until: b.until, query: b.query }
    }
}

impl From<HoldScope> for HoldScopeBody {
    fn from(s: HoldScope) -> Self {
        HoldScopeBody { custodians: s.custodians, from: s.from, until: s.until, query: s.query }
    }
}

/// `POST /v1/holds` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateHold {
    /// The matter's name (unique in the tenant).
    name: String,
    /// Why it is held.
    reason: String,
    /// What it covers; default everything.
    #[serde(default)]
    scope: HoldScopeBody,
}

/// `POST /v1/holds/{id}/release` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseHold {
    /// Why the hold may end.
    justification: String,
}

/// A hold's id and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldState {
    /// The hold's id.
    pub id: String,
    /// `active`, `release_requested` or `released`.
    pub state: String,
}

/// A hold as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldBody {
    /// The hold's id.
    pub id: String,
    /// `active`, `release_requested` or `released`.
    pub state: String,
    /// The matter's name.
    pub name: String,
    /// Why it is held.
    pub reason: String,
    /// What it covers.
    pub scope: HoldScopeBody,
    /// The justification given with the release request.
    pub release_justification: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Who created it (audit actor).
    pub created_by: String,
    /// Who asked for its release.
    pub release_requested_by: Option<String>,
    /// Who approved the release.
    pub released_by: Option<String>,
    /// When it was released (RFC 3339).
    pub released_at: Option<String>,
}

impl From<HoldView> for HoldBody {
    fn from(v: HoldView) -> Self {
        HoldBody {
            id: v.id,
            state: v.state,
            name: v.document.name,
            reason: v.document.reason,
            scope: v.document.scope.into(),
            release_justification: v.document.release_justification,
            created_at: v.created_at,
            created_by: v.created_by,
            release_requested_by: v.release_requested_by,
            released_by: v.released_by,
            released_at: v.released_at,
        }
    }
}

/// `GET /v1/holds` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldList {
    /// The tenant's holds.
    pub holds: Vec<HoldBody>,
}

fn hold_id(id: &str) -> Result<RecipientId, ApiError> {
    RecipientId::parse(id).map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such hold"))
}

/// Places a legal hold: covered messages are never disposed of while it is active.
#[utoipa::path(
    post, path = "/v1/holds", operation_id = "create_hold", tag = "holds",
    security(("api_key" = ["admin"])),
    request_body = CreateHold,
    responses(
        (status = 201, description = "The hold is active", body = HoldState),
        (status = 503, description = "A query scope needs the search index, which is not available", body = ErrorBody),
    )
)]
pub async fn create(State(app): State<Arc<Api>>, caller: Caller, Body(body): Body) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let req: CreateHold = parse_json(&body)?;
    let id = app
        .archive
        .create_hold(p.tenant(), p, &req.name, &req.reason, req.scope.into())
        .await
        .map_err(archive_error)?;
    Ok((StatusCode::CREATED, Json(HoldState { id: id.to_string(), state: "active".into() })).into_response())
}

/// Lists the tenant's holds with their names and reasons.
#[utoipa::path(
    get, path = "/v1/holds", operation_id = "list_holds", tag = "holds",
    security(("api_key" = ["admin"])),
    responses((status = 200, description = "The holds", body = HoldList))
)]
pub async fn list(State(app): State<Arc<Api>>, caller: Caller) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let holds = app.archive.list_holds(p.tenant()).await.map_err(archive_error)?;
    Ok(Json(HoldList { holds: holds.into_iter().map(HoldBody::from).collect() }).into_response())
}

/// Asks for a hold's release, with a justification (first of two people).
#[utoipa::path(
    post, path = "/v1/holds/{id}/release", operation_id = "request_hold_release", tag = "holds",
    security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "The hold's id")),
    request_body = ReleaseHold,
    responses((status = 200, description = "Release requested", body = HoldState))
)]
pub async fn release(
    State(app): State<Arc<Api>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let id = hold_id(&id)?;
    let req: ReleaseHold = parse_json(&body)?;
    app.archive.request_hold_release(p.tenant(), p, &id, &req.justification).await.map_err(archive_error)?;
    Ok(Json(HoldState { id: id.to_string(), state: "release_requested".into() }).into_response())
}

/// Approves a requested release (a second person: another API key).
#[utoipa::path(
    post, path = "/v1/holds/{id}/approve-release", operation_id = "approve_hold_release", tag = "holds",
    security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "The hold's id")),
    responses((status = 200, description = "Released", body = HoldState))
)]
pub async fn approve_release(
    State(app): State<Arc<Api>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let id = hold_id(&id)?;
    app.archive.approve_hold_release(p.tenant(), p, &id).await.map_err(archive_error)?;
    Ok(Json(HoldState { id: id.to_string(), state: "released".into() }).into_response())
}
