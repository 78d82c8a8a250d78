//! Patient access requests (R-AR-7), `admin` scope:
//! `POST /v1/access-requests` (record one), `GET /v1/access-requests[?overdue=true]`
//! (ids, states, dates — no patient data), `GET /v1/access-requests/{id}` (with
//! the patient's details; the read is audited) and
//! `POST /v1/access-requests/{id}/search` (the matching message ids).
//!
//! There is deliberately no export here: the package holds the messages in
//! clear, and the server must not write that into its data directory. The
//! export is `sealpost access-request export`, to a place the operator picks.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sealpost_model::{EventId, Scope};
use serde::Deserialize;
use serde_json::json;

use super::caller::Caller;
use super::{ApiError, parse_json};
use crate::ServerError;
use crate::app::App;
use crate::archive::access::AccessRequest;

/// Query string of `GET /v1/access-requests`.
#[derive(Debug, Deserialize)]
pub struct ListParams {
    /// Only requests not fulfilled and past due.
    #[serde(default)]
    pub overdue: bool,
}

fn request_id(id: &str) -> Result<EventId, ApiError> {
    EventId::parse(id).map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such access request"))
}

/// Maps a server error: bad input is a 400 naming the field, an unknown id
/// a 404, anything else a 500.
fn error(e: ServerError) -> ApiError {
    match e {
        ServerError::Invalid(msg) => {
            let field = msg.split(':').next().unwrap_or("request").to_owned();
            ApiError::invalid("invalid_access_request", field, msg)
        }
        ServerError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such access request"),
        e => ApiError::internal(e),
    }
}

/// `POST /v1/access-requests`: 201 with the id, state and dates.
pub async fn create(
    State(app): State<Arc<App>>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let req: AccessRequest = parse_json(&body)?;
    let summary = app.create_access_request(p.tenant(), p.actor(), req).await.map_err(error)?;
    Ok((StatusCode::CREATED, Json(summary.to_json())).into_response())
}

/// `GET /v1/access-requests[?overdue=true]`.
pub async fn list(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let list = app.list_access_requests(p.tenant(), params.overdue).await.map_err(error)?;
    let items: Vec<_> = list.iter().map(|s| s.to_json()).collect();
    Ok(Json(json!({ "access_requests": items })).into_response())
}

/// `GET /v1/access-requests/{id}`.
pub async fn get(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let id = request_id(&id)?;
    let view = app.access_request(p.tenant(), p.actor(), &id).await.map_err(error)?;
    Ok(Json(view.to_json()).into_response())
}

/// `POST /v1/access-requests/{id}/search`: `{"total", "ids"}`, newest first.
pub async fn search(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let id = request_id(&id)?;
    let ids = app.search_access_request(p.tenant(), p.actor(), &id).await.map_err(error)?;
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    Ok(Json(json!({ "total": ids.len(), "ids": ids })).into_response())
}
