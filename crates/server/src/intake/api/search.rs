//! `GET /v1/search?q=…&page=0&per_page=50` (R-AR-5), `admin` scope: one
//! page of the tenant's matching messages, newest first; a syntax error is
//! a 400 naming the character position. Audited with the query sealed.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sealpost_model::Scope;
use serde::Deserialize;
use serde_json::json;

use super::ApiError;
use super::caller::Caller;
use crate::app::App;
use crate::archive::index::SearchFailure;

/// Query string of `GET /v1/search`.
#[derive(Debug, Deserialize)]
pub struct SearchParams {
    /// The query.
    pub q: String,
    /// Page, from 0.
    #[serde(default)]
    pub page: usize,
    /// Results per page (1..=1000, default 50).
    #[serde(default = "default_per_page")]
    pub per_page: usize,
}

fn default_per_page() -> usize {
    50
}

/// `GET /v1/search`.
pub async fn search(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(params): Query<SearchParams>,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    match app.search(p.tenant(), p.actor(), &params.q, params.page, params.per_page).await {
        Ok(r) => {
            let results: Vec<_> = r
                .hits
                .iter()
                .map(|(id, date)| json!({"id": id.to_string(), "date": sealpost_audit::rfc3339_micros(*date)}))
                .collect();
            Ok(Json(json!({"total": r.total, "page": params.page, "per_page": params.per_page, "results": results}))
                .into_response())
        }
        Err(SearchFailure::Syntax(e)) => {
            let mut body = json!({"error": {"code": "invalid_query", "message": e.to_string(), "field": "q"}});
            body["error"]["position"] = json!(e.position);
            Ok((StatusCode::BAD_REQUEST, Json(body)).into_response())
        }
        Err(SearchFailure::Page) => {
            Err(ApiError::invalid("page_out_of_range", "page", SearchFailure::Page.to_string()))
        }
        Err(SearchFailure::Server(e)) => Err(ApiError::internal(e)),
    }
}
