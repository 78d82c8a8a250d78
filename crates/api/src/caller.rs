//! The API caller: `Authorization: Bearer <api key>` resolved to a
//! [`Principal`], with the failure delay and lockout of
//! [`sealpost_identity::Identity::authenticate_bearer`]; a failed attempt is
//! audited (aggregated per client).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sealpost_model::Scope;

use super::{ApiError, ClientAddr};
use crate::Api;
use sealpost_core::principal::Principal;
use sealpost_identity::AuthFailure;

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
        let client = parts.extensions.get::<ClientAddr>().map(|ClientAddr(a)| a.ip());
        match app.identity.authenticate_bearer(token, client).await.map_err(ApiError::from)? {
            Ok(p) => Ok(Caller(p)),
            Err(AuthFailure::Invalid) => Err(ApiError::unauthorized()),
            Err(AuthFailure::LockedOut) => Err(ApiError::locked_out(app.core.cfg.auth.lockout_seconds)),
        }
    }
}
