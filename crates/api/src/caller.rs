//! The API caller: `Authorization: Bearer <api key>` resolved to a
//! [`Principal`]. A failed attempt is audited (aggregated per client, see
//! [`sealpost_identity::auth::FailureAggregator`]).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sealpost_model::Scope;

use super::{ApiError, ClientAddr};
use crate::Api;
use sealpost_core::principal::Principal;

/// The authenticated caller of a request.
pub struct Caller(pub Principal);

impl Caller {
    /// Fails with 403 unless the caller has `scope`.
    pub fn require(&self, scope: Scope) -> Result<&Principal, ApiError> {
        if self.0.allows(scope) {
            return Ok(&self.0);
        }
        sealpost_core::telemetry::auth_failure("api", "scope");
        Err(ApiError::forbidden(scope.as_str()))
    }
}

impl FromRequestParts<Arc<Api>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<Api>) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let principal = match token {
            Some(t) => app.identity.check_api_key(t).await.map_err(ApiError::from)?,
            None => None,
        };
        match principal {
            Some(p) => Ok(Caller(p)),
            None => {
                let client = parts.extensions.get::<ClientAddr>().map(|ClientAddr(a)| a.ip());
                app.identity.api_auth_failed(client).await;
                sealpost_core::telemetry::auth_failure("api", "invalid");
                Err(ApiError::unauthorized())
            }
        }
    }
}
