//! Tenant settings through the API, `admin` scope: `GET /v1/settings` and
//! `PUT /v1/settings` (the whole document; see [`TenantSettings`]).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use sealpost_model::Scope;

use super::caller::Caller;
use super::{ApiError, parse_json};
use crate::ServerError;
use crate::app::App;
use crate::settings::TenantSettings;

/// `GET /v1/settings`.
pub async fn get(State(app): State<Arc<App>>, caller: Caller) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let s = app.settings(p.tenant()).await.map_err(ApiError::internal)?;
    Ok(Json(&s.settings).into_response())
}

/// `PUT /v1/settings`.
pub async fn put(State(app): State<Arc<App>>, caller: Caller, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let req: TenantSettings = parse_json(&body)?;
    match app.put_settings(p.tenant(), p.actor(), &req).await {
        Ok(()) => Ok(Json(&req).into_response()),
        Err(ServerError::Invalid(msg)) => {
            let field = msg.split(':').next().unwrap_or("settings").to_owned();
            Err(ApiError::invalid("invalid_settings", field, msg))
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}
