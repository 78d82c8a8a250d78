//! The API caller: `Authorization: Bearer <api key>` resolved to a
//! [`Principal`]. A failed attempt is audited.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_model::Scope;

use super::{ApiError, ClientAddr};
use crate::app::{App, system_tenant};
use crate::auth::Principal;

/// The authenticated caller of a request.
pub struct Caller(pub Principal);

impl Caller {
    /// Fails with 403 unless the caller has `scope`.
    pub fn require(&self, scope: Scope) -> Result<&Principal, ApiError> {
        if self.0.allows(scope) {
            return Ok(&self.0);
        }
        crate::telemetry::auth_failure("api", "scope");
        Err(ApiError::forbidden(scope.as_str()))
    }
}

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let principal = match token {
            Some(t) => app.check_api_key(t).await.map_err(ApiError::from)?,
            None => None,
        };
        match principal {
            Some(p) => Ok(Caller(p)),
            None => {
                let mut ev =
                    NewEvent::new(system_tenant(), Actor::unknown_login(), Action::LoginFailed, Outcome::Failure)
                        .detail("via", DetailValue::Name("api"));
                if let Some(ClientAddr(a)) = parts.extensions.get::<ClientAddr>() {
                    ev = ev.detail("client", DetailValue::Ip(a.ip()));
                }
                let _ = app.audit(vec![ev]).await;
                crate::telemetry::auth_failure("api", "invalid");
                Err(ApiError::unauthorized())
            }
        }
    }
}
