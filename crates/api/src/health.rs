//! `GET /livez` and `GET /readyz` (R-OP-3): no authentication, one word per
//! check (see [`sealpost_core::health`]).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Api;

/// The process is up and serving requests.
#[utoipa::path(
    get, path = "/livez", operation_id = "livez", tag = "meta",
    responses((status = 200, description = "The process serves requests", body = String, content_type = "text/plain"))
)]
pub async fn livez() -> &'static str {
    "ok"
}

/// Readiness as served: a word overall and one per check.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the JSON the handler writes
struct ReadyzBody {
    /// `ready` or `not ready`.
    status: String,
    /// `store`, `migrations`, `keys`, `workers`: each `ok`, `fail` or `starting`.
    checks: std::collections::BTreeMap<String, String>,
}

/// 200 when every readiness check passes, else 503; the body names each
/// check's word (`ok`, `fail`, `starting`) and nothing more.
#[utoipa::path(
    get, path = "/readyz", operation_id = "readyz", tag = "meta",
    responses(
        (status = 200, description = "Ready: store reachable, schema current, keys unlocked, workers running", body = ReadyzBody),
        (status = 503, description = "Not ready; the failing check says `fail` or `starting`", body = ReadyzBody)
    )
)]
pub async fn readyz(State(app): State<Arc<Api>>) -> Response {
    let r = app.core.readiness().await;
    let (status, word) =
        if r.ready() { (StatusCode::OK, "ready") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready") };
    (status, Json(json!({ "status": word, "checks": r }))).into_response()
}
