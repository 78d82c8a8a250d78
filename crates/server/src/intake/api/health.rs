//! `GET /livez` and `GET /readyz` (R-OP-3): no authentication, one word per
//! check (see [`crate::health`]).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::App;

/// The process is up and serving requests.
pub async fn livez() -> &'static str {
    "ok"
}

/// 200 when every readiness check passes, else 503; the body names each
/// check's word (`ok`, `fail`, `starting`) and nothing more.
pub async fn readyz(State(app): State<Arc<App>>) -> Response {
    let r = app.readiness().await;
    let (status, word) =
        if r.ready() { (StatusCode::OK, "ready") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready") };
    (status, Json(json!({ "status": word, "checks": r }))).into_response()
}
