//! `GET /v1/search?q=…&page=0&per_page=50` (R-AR-5), `admin` scope: one
//! page of the tenant's matching messages, newest first; a syntax error is
//! a 400 naming the character position. Audited with the query sealed.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use sealpost_model::Scope;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use super::caller::Caller;
use super::extract::ApiQuery;
use crate::Api;
use sealpost_archive::index::SearchFailure;

/// Query string of `GET /v1/search`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The query (`from:`, `to:`, `subject:`, `after:`, `patient:`, … see docs/).
    pub q: String,
    /// Page, from 0.
    #[serde(default)]
    #[param(minimum = 0)]
    pub page: usize,
    /// Results per page (1..=1000, default 50).
    #[serde(default = "default_per_page")]
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: usize,
}

fn default_per_page() -> usize {
    50
}

/// One page of results.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    /// Matches in all.
    pub total: usize,
    /// This page, from 0.
    pub page: usize,
    /// Results per page.
    pub per_page: usize,
    /// This page's matches, newest first.
    pub results: Vec<SearchHit>,
}

/// One match.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHit {
    /// The message's id.
    pub id: String,
    /// Its date (RFC 3339).
    pub date: String,
}

/// Searches the tenant's archive.
///
/// Audited with the query sealed. A syntax error is a 400 with
/// `error.position`.
#[utoipa::path(
    get, path = "/v1/search", operation_id = "search", tag = "archive",
    security(("api_key" = ["admin"])),
    params(SearchParams),
    responses((status = 200, description = "One page of matches", body = SearchResults))
)]
pub async fn search(
    State(app): State<Arc<Api>>,
    caller: Caller,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    match app.archive.search(p.tenant(), p.actor(), &params.q, params.page, params.per_page).await {
        Ok(r) => {
            let results = r
                .hits
                .iter()
                .map(|(id, date)| SearchHit { id: id.to_string(), date: sealpost_audit::rfc3339_micros(*date) })
                .collect();
            Ok(Json(SearchResults { total: r.total, page: params.page, per_page: params.per_page, results })
                .into_response())
        }
        Err(SearchFailure::Syntax(e)) => Err(ApiError::query("q", &e)),
        Err(SearchFailure::Page) => {
            Err(ApiError::invalid("page_out_of_range", "page", SearchFailure::Page.to_string()))
        }
        Err(SearchFailure::Server(e)) => Err(ApiError::internal(e)),
    }
}
