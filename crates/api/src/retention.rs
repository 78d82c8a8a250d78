//! Retention through the API (R-AR-2, R-AR-3), admin scope:
//! `GET/PUT /v1/retention/policy` (the policy as JSON, see
//! `sealpost_retention::Policy`), `POST /v1/retention/run`
//! (`{"dry_run": bool, "now": "YYYY-MM-DD"}`), the disposition queue
//! `GET /v1/retention/review`, `POST /v1/retention/review/{id}/approve`
//! and `POST /v1/retention/review/{id}/extend` (`{"until": "YYYY-MM-DD"}`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use sealpost_model::{MessageId, Scope, now_micros};
use sealpost_retention::Policy;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::error::ErrorBody;
use super::extract::{ApiPath, Body};
use super::holds::archive_error;
use super::{ApiError, parse_json};
use crate::Api;
use sealpost_archive::disposal::{RunOptions, RunReport};
use sealpost_archive::retention::{RetentionView, date_micros, parse_date};
use sealpost_archive::review::ReviewItem;
use sealpost_core::ServerError;

/// A message's retention: dates, a rule id and fixed words, no PHI.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RetentionBody {
    /// `YYYY-MM-DD`, `indefinite`, or null when not evaluated yet.
    pub until: Option<String>,
    /// The deciding rule (`state-XX` for the state table).
    pub rule: Option<String>,
    /// `dispose` or `review`.
    pub action: Option<String>,
    /// "rule hipaa-documentation, until 2032-11-23".
    pub explanation: String,
    /// A reviewer postponed disposal until this date.
    pub extended_until: Option<String>,
    /// When the message was disposed of (RFC 3339).
    pub disposed_at: Option<String>,
}

impl From<RetentionView> for RetentionBody {
    fn from(v: RetentionView) -> Self {
        RetentionBody {
            until: v.until,
            rule: v.rule,
            action: v.action,
            explanation: v.explanation,
            extended_until: v.extended_until,
            disposed_at: v.disposed_at,
        }
    }
}

/// The tenant's retention policy and its version (0: the built-in default).
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyDocument {
    /// Moves by one at every change.
    pub version: i64,
    /// The rules (see docs/design/retention.md for the rule language).
    #[schema(value_type = Object)]
    pub policy: Policy,
}

/// The version a change made.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyVersion {
    /// The new version.
    pub version: i64,
}

/// The policy as `PUT` takes it (parsed by `sealpost_retention::Policy`;
/// the rule language is in docs/design/retention.md).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documentation only: the body is parsed as `Policy`
pub struct PolicyBody {
    /// The rules, in order (order only breaks ties: the longest retention wins).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    rules: Vec<serde_json::Value>,
}

/// The tenant's retention policy.
#[utoipa::path(
    get, path = "/v1/retention/policy", operation_id = "get_retention_policy", tag = "retention",
    security(("api_key" = ["admin"])),
    responses((status = 200, description = "The policy", body = PolicyDocument))
)]
pub async fn get_policy(State(app): State<Arc<Api>>, caller: Caller) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let policy = app.archive.retention_policy(p.tenant()).await.map_err(ApiError::internal)?;
    Ok(Json(PolicyDocument { version: policy.version, policy: policy.policy }).into_response())
}

/// Replaces the retention policy (the whole policy); answers the new version.
#[utoipa::path(
    put, path = "/v1/retention/policy", operation_id = "put_retention_policy", tag = "retention",
    security(("api_key" = ["admin"])),
    request_body = PolicyBody,
    responses((status = 200, description = "Saved", body = PolicyVersion))
)]
pub async fn put_policy(State(app): State<Arc<Api>>, caller: Caller, Body(body): Body) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let policy: Policy = parse_json(&body)?;
    match app.archive.put_retention_policy(p.tenant(), p.actor(), policy).await {
        Ok(version) => Ok(Json(PolicyVersion { version }).into_response()),
        Err(ServerError::Invalid(e)) => Err(ApiError::input("invalid_policy", e)),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// How far ahead of this server's clock a real run's date may be (clock
/// skew between the caller and the server).
const FUTURE_SKEW_MICROS: i64 = 5 * 60 * 1_000_000;

fn now_from(text: Option<&str>, field: &str) -> Result<i64, ApiError> {
    match text {
        None => Ok(now_micros()),
        Some(t) => parse_date(t)
            .map(date_micros)
            .ok_or_else(|| ApiError::invalid("invalid_date", field, "expected YYYY-MM-DD")),
    }
}

/// `POST /v1/retention/run` body (may be empty).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Report what would be disposed of, dispose of nothing.
    #[serde(default)]
    dry_run: bool,
    /// Run as of this day (`YYYY-MM-DD`); default now.
    #[serde(default)]
    now: Option<String>,
}

/// What a run did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunReportBody {
    /// Messages (re-)evaluated first.
    pub evaluation: EvaluationBody,
    /// Disposed of (or, in a dry run, that would be): message ids.
    pub disposed: Vec<String>,
    /// Expired but preserved by a hold: `[message id, hold id]` pairs.
    #[schema(value_type = Vec<Vec<String>>)]
    pub held: Vec<(String, String)>,
    /// Expired `review` messages waiting in the disposition queue.
    pub awaiting_review: Vec<String>,
    /// Messages that failed (left in place).
    pub failed: usize,
    /// A dry run.
    pub dry_run: bool,
}

/// The evaluation pass of a run.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluationBody {
    /// Messages (re-)evaluated.
    pub evaluated: usize,
    /// Messages that could not be opened (left unevaluated: never disposed).
    pub failed: usize,
}

impl From<RunReport> for RunReportBody {
    fn from(r: RunReport) -> Self {
        RunReportBody {
            evaluation: EvaluationBody { evaluated: r.evaluation.evaluated, failed: r.evaluation.failed },
            disposed: r.disposed,
            held: r.held,
            awaiting_review: r.awaiting_review,
            failed: r.failed,
            dry_run: r.dry_run,
        }
    }
}

/// Runs retention for the caller's tenant now; answers the report.
#[utoipa::path(
    post, path = "/v1/retention/run", operation_id = "run_retention", tag = "retention",
    security(("api_key" = ["admin"])),
    request_body(content = Option<RunRequest>, description = "Optional; an empty body is a real run as of now"),
    responses(
        (status = 200, description = "The run's report", body = RunReportBody),
        (status = 503, description = "A keyword rule needs the search index, which is not available", body = ErrorBody),
    )
)]
pub async fn run(State(app): State<Arc<Api>>, caller: Caller, Body(body): Body) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    // No body, or `null`, is a real run as of now.
    let req: RunRequest = if body.trim_ascii().is_empty() || body.trim_ascii() == b"null" {
        RunRequest::default()
    } else {
        parse_json(&body)?
    };
    let now = now_from(req.now.as_deref(), "now")?;
    // A real run dated in the future would dispose of messages before their
    // time (issue 13.12); a dry run may look ahead. The CLI, run by the
    // operator on the machine, keeps `--now` for tests and recovery.
    if !req.dry_run && now > now_micros() + FUTURE_SKEW_MICROS {
        return Err(ApiError::invalid(
            "future_date",
            "now",
            "a real retention run cannot be dated in the future; set dry_run to forecast",
        ));
    }
    let opts = RunOptions { now, dry_run: req.dry_run, actor: p.actor() };
    let report = app.archive.run_retention(p.tenant(), &opts).await.map_err(archive_error)?;
    Ok(Json(RunReportBody::from(report)).into_response())
}

/// One message waiting for review.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewItemBody {
    /// The message's id.
    pub id: String,
    /// Its date, `YYYY-MM-DD`.
    pub message_date: Option<String>,
    /// Its category.
    pub category: String,
    /// Its retention.
    pub retention: RetentionBody,
}

impl From<ReviewItem> for ReviewItemBody {
    fn from(r: ReviewItem) -> Self {
        ReviewItemBody {
            id: r.id,
            message_date: r.message_date,
            category: r.category.to_owned(),
            retention: r.retention.into(),
        }
    }
}

/// `GET /v1/retention/review` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewQueue {
    /// Expired messages whose rule says `review`, by id.
    pub messages: Vec<ReviewItemBody>,
}

/// The disposition queue: expired messages waiting for a person's decision.
#[utoipa::path(
    get, path = "/v1/retention/review", operation_id = "review_queue", tag = "retention",
    security(("api_key" = ["admin"])),
    responses((status = 200, description = "The queue", body = ReviewQueue))
)]
pub async fn review_list(State(app): State<Arc<Api>>, caller: Caller) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let items = app.archive.review_queue(p.tenant(), now_micros()).await.map_err(archive_error)?;
    Ok(Json(ReviewQueue { messages: items.into_iter().map(ReviewItemBody::from).collect() }).into_response())
}

fn message_id(id: &str) -> Result<MessageId, ApiError> {
    MessageId::parse(id).map_err(|_| ApiError::not_found())
}

/// A message's id and its new state.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewDisposed {
    /// The message's id.
    pub id: String,
    /// `disposed`.
    pub state: String,
}

/// Approves disposal of a message in the queue: disposes of it now (unless held).
#[utoipa::path(
    post, path = "/v1/retention/review/{id}/approve", operation_id = "approve_review", tag = "retention",
    security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "The message's id")),
    responses((status = 200, description = "Disposed of", body = ReviewDisposed))
)]
pub async fn review_approve(
    State(app): State<Arc<Api>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let id = message_id(&id)?;
    app.archive.approve_review(p.tenant(), &id, p.actor(), now_micros()).await.map_err(archive_error)?;
    Ok(Json(ReviewDisposed { id: id.to_string(), state: "disposed".into() }).into_response())
}

/// `POST /v1/retention/review/{id}/extend` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendRequest {
    /// Keep the message until this day, `YYYY-MM-DD` (after today).
    until: String,
}

/// A message kept longer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewExtended {
    /// The message's id.
    pub id: String,
    /// Kept until this day.
    pub extended_until: String,
}

/// Keeps a message in the queue longer.
#[utoipa::path(
    post, path = "/v1/retention/review/{id}/extend", operation_id = "extend_review", tag = "retention",
    security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "The message's id")),
    request_body = ExtendRequest,
    responses((status = 200, description = "Kept longer", body = ReviewExtended))
)]
pub async fn review_extend(
    State(app): State<Arc<Api>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let id = message_id(&id)?;
    let req: ExtendRequest = parse_json(&body)?;
    let until =
        parse_date(&req.until).ok_or_else(|| ApiError::invalid("invalid_date", "until", "expected YYYY-MM-DD"))?;
    app.archive.extend_review(p.tenant(), &id, until, p.actor(), now_micros()).await.map_err(archive_error)?;
    Ok(Json(ReviewExtended { id: id.to_string(), extended_until: req.until }).into_response())
}
