//! Patient access requests (R-AR-7), `admin` scope:
//! `POST /v1/access-requests` (record one), `GET /v1/access-requests[?overdue=true]`
//! (ids, states, dates — no patient data), `GET /v1/access-requests/{id}` (with
//! the patient's details; the read is audited) and
//! `POST /v1/access-requests/{id}/search` (the matching message ids).
//!
//! There is deliberately no export here: the package holds the messages in
//! clear, and the server must not write that into its data directory. The
//! export is `sealpost access-request export`, to a place the operator picks.
//!
//! The bodies here are the API's own; the domain's [`AccessRequest`] and
//! its sealed stored form change without changing them.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sealpost_model::{EventId, Scope};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::extract::{ApiPath, ApiQuery, Body};
use super::{ApiError, parse_json};
use crate::Api;
use sealpost_archive::access::{AccessRequest, AccessRequestState, AccessRequestSummary, AccessRequestView};
use sealpost_core::ServerError;

/// Query string of `GET /v1/access-requests`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only requests not fulfilled and past due.
    #[serde(default)]
    pub overdue: bool,
}

/// `POST /v1/access-requests` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccessRequest {
    /// The patient's name, searched as a phrase.
    pub patient_name: String,
    /// Other identifiers: MRN, date of birth, email address… (at most 32).
    #[serde(default)]
    pub identifiers: Vec<String>,
    /// Who asked (the patient, a personal representative…).
    #[serde(default)]
    pub requester: Option<String>,
    /// Free notes for the people handling the request.
    #[serde(default)]
    pub notes: Option<String>,
    /// Days until the answer is due (default 30, at most 60).
    #[serde(default)]
    #[schema(minimum = 0)]
    pub due_days: Option<u32>,
    /// A query whose matches are added to the record set (`OR`).
    #[serde(default)]
    pub widen: Option<String>,
    /// A query every match must also satisfy (`AND`), applied after `widen`.
    #[serde(default)]
    pub narrow: Option<String>,
}

impl From<CreateAccessRequest> for AccessRequest {
    fn from(b: CreateAccessRequest) -> Self {
        AccessRequest {
            patient_name: b.patient_name,
            identifiers: b.identifiers,
            requester: b.requester,
            notes: b.notes,
            due_days: b.due_days,
            widen: b.widen,
            narrow: b.narrow,
        }
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccessRequestStateName {
    /// Recorded, not searched yet.
    Open,
    /// The record set was searched at least once.
    Searched,
    /// The export was produced.
    Fulfilled,
}

impl From<AccessRequestState> for AccessRequestStateName {
    fn from(s: AccessRequestState) -> Self {
        match s {
            AccessRequestState::Open => AccessRequestStateName::Open,
            AccessRequestState::Searched => AccessRequestStateName::Searched,
            AccessRequestState::Fulfilled => AccessRequestStateName::Fulfilled,
        }
    }
}

/// A request as listed: ids, state and dates, nothing about the patient.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessRequestSummaryBody {
    /// The request's id.
    pub id: String,
    /// Where it stands.
    pub state: AccessRequestStateName,
    /// When it was recorded (RFC 3339).
    pub created_at: String,
    /// When the answer is due (RFC 3339).
    pub due_at: String,
    /// Not fulfilled and past due.
    pub overdue: bool,
    /// When the export was produced (RFC 3339).
    pub fulfilled_at: Option<String>,
    /// The export package's SHA-256, lowercase hex.
    pub package_sha256: Option<String>,
}

impl From<&AccessRequestSummary> for AccessRequestSummaryBody {
    fn from(s: &AccessRequestSummary) -> Self {
        AccessRequestSummaryBody {
            id: s.id.to_string(),
            state: s.state.into(),
            created_at: sealpost_audit::rfc3339_micros(s.created_at),
            due_at: sealpost_audit::rfc3339_micros(s.due_at),
            overdue: s.overdue,
            fulfilled_at: s.fulfilled_at.map(sealpost_audit::rfc3339_micros),
            package_sha256: s.package_sha256.clone(),
        }
    }
}

/// One request with the patient's details as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessRequestDetail {
    /// Ids, state and dates.
    #[serde(flatten)]
    pub summary: AccessRequestSummaryBody,
    /// The patient's name.
    pub patient_name: String,
    /// Other identifiers.
    pub identifiers: Vec<String>,
    /// Who asked.
    pub requester: Option<String>,
    /// Notes.
    pub notes: Option<String>,
    /// The widening query.
    pub widen: Option<String>,
    /// The narrowing query.
    pub narrow: Option<String>,
}

impl From<&AccessRequestView> for AccessRequestDetail {
    fn from(v: &AccessRequestView) -> Self {
        let r = &v.request;
        AccessRequestDetail {
            summary: (&v.summary).into(),
            patient_name: r.patient_name.clone(),
            identifiers: r.identifiers.clone(),
            requester: r.requester.clone(),
            notes: r.notes.clone(),
            widen: r.widen.clone(),
            narrow: r.narrow.clone(),
        }
    }
}

/// `GET /v1/access-requests` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessRequestList {
    /// Soonest due first.
    pub access_requests: Vec<AccessRequestSummaryBody>,
}

/// The designated record set: matching message ids, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordSet {
    /// How many.
    pub total: usize,
    /// The message ids.
    pub ids: Vec<String>,
}

fn request_id(id: &str) -> Result<EventId, ApiError> {
    EventId::parse(id).map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such access request"))
}

/// Maps a server error: bad input is a 400 naming the field, an unknown id
/// a 404, anything else a 500.
fn error(e: ServerError) -> ApiError {
    match e {
        ServerError::Invalid(e) => ApiError::input("invalid_access_request", e),
        ServerError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such access request"),
        e => ApiError::internal(e),
    }
}

/// Records a patient access request (45 CFR 164.524), due in 30 days by default.
#[utoipa::path(
    post, path = "/v1/access-requests", operation_id = "create_access_request", tag = "access requests",
    security(("api_key" = ["admin"])),
    request_body = CreateAccessRequest,
    responses((status = 201, description = "Recorded", body = AccessRequestSummaryBody))
)]
pub async fn create(State(app): State<Arc<Api>>, caller: Caller, Body(body): Body) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let req: CreateAccessRequest = parse_json(&body)?;
    let summary = app.archive.create_access_request(p.tenant(), p.actor(), req.into()).await.map_err(error)?;
    Ok((StatusCode::CREATED, Json(AccessRequestSummaryBody::from(&summary))).into_response())
}

/// Lists access requests (no patient data), soonest due first.
#[utoipa::path(
    get, path = "/v1/access-requests", operation_id = "list_access_requests", tag = "access requests",
    security(("api_key" = ["admin"])),
    params(ListParams),
    responses((status = 200, description = "The requests", body = AccessRequestList))
)]
pub async fn list(
    State(app): State<Arc<Api>>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let list = app.archive.list_access_requests(p.tenant(), params.overdue).await.map_err(error)?;
    let access_requests = list.iter().map(AccessRequestSummaryBody::from).collect();
    Ok(Json(AccessRequestList { access_requests }).into_response())
}

/// One request with the patient's details; the read is audited.
#[utoipa::path(
    get, path = "/v1/access-requests/{id}", operation_id = "get_access_request", tag = "access requests",
    security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "The request's id")),
    responses((status = 200, description = "The request", body = AccessRequestDetail))
)]
pub async fn get(
    State(app): State<Arc<Api>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let id = request_id(&id)?;
    let view = app.archive.access_request(p.tenant(), p.actor(), &id).await.map_err(error)?;
    Ok(Json(AccessRequestDetail::from(&view)).into_response())
}

/// Searches the request's designated record set; audited.
#[utoipa::path(
    post, path = "/v1/access-requests/{id}/search", operation_id = "search_access_request", tag = "access requests",
    security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "The request's id")),
    responses((status = 200, description = "The matching messages", body = RecordSet))
)]
pub async fn search(
    State(app): State<Arc<Api>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let id = request_id(&id)?;
    let ids = app.archive.search_access_request(p.tenant(), p.actor(), &id).await.map_err(error)?;
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    Ok(Json(RecordSet { total: ids.len(), ids }).into_response())
}
