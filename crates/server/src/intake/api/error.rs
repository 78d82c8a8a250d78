//! API errors: a status and `{"error": {"code", "message", "field"}}`.
//! Messages describe what is wrong and where, never echo submitted content.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An API failure.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
}

impl ApiError {
    /// 400 with the offending field's JSON path.
    pub fn invalid(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code, message: message.into(), field: Some(field.into()) }
    }
    /// Any status, no field.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None }
    }
    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing or invalid API key")
    }
    /// 403.
    pub fn forbidden(scope: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", format!("this API key lacks the {scope} scope"))
    }
    /// 404.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such message")
    }
    /// 500, logged; the client learns nothing internal.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "api request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; nothing was stored")
    }
    /// Prefixes the field path (for batch items).
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = Some(match self.field {
            Some(f) => format!("{prefix}.{f}"),
            None => prefix.to_owned(),
        });
        self
    }
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"code": self.code, "message": self.message});
        if let Some(f) = self.field {
            body["field"] = json!(f);
        }
        (self.status, Json(json!({ "error": body }))).into_response()
    }
}

impl From<crate::ServerError> for ApiError {
    fn from(e: crate::ServerError) -> Self {
        ApiError::internal(e)
    }
}

/// Parses a JSON request body; a failure is a 400 naming the field and
/// position (serde's message never quotes the value).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))
}
