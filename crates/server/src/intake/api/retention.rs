//! Retention through the API (R-AR-2, R-AR-3), admin scope:
//! `GET/PUT /v1/retention/policy` (the policy as JSON, see
//! `sealpost_retention::Policy`), `POST /v1/retention/run`
//! (`{"dry_run": bool, "now": "YYYY-MM-DD"}`), the disposition queue
//! `GET /v1/retention/review`, `POST /v1/retention/review/{id}/approve`
//! and `POST /v1/retention/review/{id}/extend` (`{"until": "YYYY-MM-DD"}`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use sealpost_model::{MessageId, Scope, now_micros};
use sealpost_retention::Policy;
use serde::Deserialize;
use serde_json::json;

use super::caller::Caller;
use super::holds::archive_error;
use super::{ApiError, parse_json};
use crate::ServerError;
use crate::app::App;
use crate::archive::disposal::RunOptions;
use crate::archive::retention::{date_micros, parse_date};

/// `GET /v1/retention/policy`: `{"version": n, "policy": {...}}`.
pub async fn get_policy(State(app): State<Arc<App>>, caller: Caller) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let policy = app.retention_policy(p.tenant()).await.map_err(ApiError::internal)?;
    Ok(Json(policy).into_response())
}

/// `PUT /v1/retention/policy`: the whole policy; answers the new version.
pub async fn put_policy(
    State(app): State<Arc<App>>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let policy: Policy = parse_json(&body)?;
    match app.put_retention_policy(p.tenant(), p.actor(), policy).await {
        Ok(version) => Ok(Json(json!({ "version": version })).into_response()),
        Err(ServerError::Invalid(m)) => Err(ApiError::invalid("invalid_policy", "rules", m)),
        Err(e) => Err(ApiError::internal(e)),
    }
}

fn now_from(text: Option<&str>, field: &str) -> Result<i64, ApiError> {
    match text {
        None => Ok(now_micros()),
        Some(t) => parse_date(t)
            .map(date_micros)
            .ok_or_else(|| ApiError::invalid("invalid_date", field, "expected YYYY-MM-DD")),
    }
}

/// `POST /v1/retention/run` body.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    now: Option<String>,
}

/// `POST /v1/retention/run`: one run for the caller's tenant; the report.
pub async fn run(State(app): State<Arc<App>>, caller: Caller, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let req: RunRequest = if body.is_empty() { RunRequest::default() } else { parse_json(&body)? };
    let opts = RunOptions { now: now_from(req.now.as_deref(), "now")?, dry_run: req.dry_run, actor: p.actor() };
    let report = app.run_retention(p.tenant(), &opts).await.map_err(archive_error)?;
    Ok(Json(report).into_response())
}

/// `GET /v1/retention/review`.
pub async fn review_list(State(app): State<Arc<App>>, caller: Caller) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let items = app.review_queue(p.tenant(), now_micros()).await.map_err(archive_error)?;
    Ok(Json(json!({ "messages": items })).into_response())
}

fn message_id(id: &str) -> Result<MessageId, ApiError> {
    MessageId::parse(id).map_err(|_| ApiError::not_found())
}

/// `POST /v1/retention/review/{id}/approve`: disposes of the message now (unless held).
pub async fn review_approve(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let id = message_id(&id)?;
    app.approve_review(p.tenant(), &id, p.actor(), now_micros()).await.map_err(archive_error)?;
    Ok(Json(json!({ "id": id.to_string(), "state": "disposed" })).into_response())
}

/// `POST /v1/retention/review/{id}/extend` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendRequest {
    until: String,
}

/// `POST /v1/retention/review/{id}/extend`.
pub async fn review_extend(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let id = message_id(&id)?;
    let req: ExtendRequest = parse_json(&body)?;
    let until =
        parse_date(&req.until).ok_or_else(|| ApiError::invalid("invalid_date", "until", "expected YYYY-MM-DD"))?;
    app.extend_review(p.tenant(), &id, until, p.actor(), now_micros()).await.map_err(archive_error)?;
    Ok(Json(json!({ "id": id.to_string(), "extended_until": req.until })).into_response())
}
