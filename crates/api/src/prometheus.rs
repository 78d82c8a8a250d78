//! `GET /metrics` (R-OP-3): Prometheus text, on the HTTPS API for API keys
//! with the `admin` scope, and optionally on a plain-HTTP listener bound to
//! a loopback address (checked when the configuration is loaded), where a
//! local agent scrapes it without a key.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sealpost_model::Scope;
use tokio::net::TcpListener;

use super::ApiError;
use super::caller::Caller;
use crate::Api;
use sealpost_core::telemetry;

/// The HTTPS route: 404 when `[metrics] api = false`, else 401/403 without
/// an admin key.
#[utoipa::path(
    get, path = "/metrics", operation_id = "metrics", tag = "meta",
    security(("api_key" = ["admin"])),
    responses(
        (status = 200, description = "Prometheus text exposition format (version 0.0.4)", body = String, content_type = "text/plain"),
        (status = 404, description = "`[metrics] api = false`: served on the loopback listener only", body = crate::error::ErrorBody)
    )
)]
pub async fn metrics(State(app): State<Arc<Api>>, caller: Result<Caller, ApiError>) -> Result<Response, ApiError> {
    if !app.core.cfg.metrics.api {
        return Err(ApiError::new(axum::http::StatusCode::NOT_FOUND, "not_found", "no such route"));
    }
    caller?.require(Scope::Admin)?;
    Ok(text(&app).await)
}

async fn text(app: &Api) -> Response {
    ([(CONTENT_TYPE, telemetry::CONTENT_TYPE)], telemetry::scrape(&app.core).await).into_response()
}

/// Serves `/metrics` (and `/livez`, `/readyz`) over plain HTTP on
/// `listener` until the task is dropped.
pub async fn serve_plain(app: Arc<Api>, listener: TcpListener) {
    let router = Router::new()
        .route("/metrics", get(|State(app): State<Arc<Api>>| async move { text(&app).await }))
        .route("/livez", get(super::health::livez))
        .route("/readyz", get(super::health::readyz))
        .with_state(app);
    if let Err(e) = axum::serve(listener, router).await {
        tracing::warn!(error = %e, "metrics listener stopped");
    }
}
