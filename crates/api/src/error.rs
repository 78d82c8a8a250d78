//! API errors: a status and `{"error": {"code", "message", "field"?}}`,
//! built in one place ([`ApiError`]'s `IntoResponse`) from typed errors: the
//! handlers' own, [`InvalidInput`] from the domains, and axum's extractor
//! rejections (bad JSON, bad query string, bad path, body too large) and
//! routing misses (unknown route 404, wrong method 405). Messages describe
//! what is wrong and where, never echo submitted content.

use axum::Json;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use sealpost_core::InvalidInput;

/// The body of every error answer of the API.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// One error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code (`invalid_address`, `not_found`, …).
    pub code: String,
    /// What is wrong, for people; never quotes the submitted value.
    pub message: String,
    /// The offending request field as a JSON path (`to[1]`,
    /// `attachments[0].content`), or a header or query parameter name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For a query syntax error: the character position in the query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
}

/// An API failure.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    position: Option<usize>,
    /// Seconds for a `Retry-After` header.
    retry_after: Option<u64>,
}

impl ApiError {
    /// 400 with the offending field's JSON path.
    pub fn invalid(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: Some(field.into()), ..Self::new(StatusCode::BAD_REQUEST, code, message) }
    }
    /// 400 from a domain's typed refusal, naming its field when it has one.
    pub fn input(code: &'static str, e: InvalidInput) -> Self {
        Self { field: e.field, ..Self::new(StatusCode::BAD_REQUEST, code, e.message) }
    }
    /// 400 for a query syntax error at `position` in `field`.
    pub fn query(field: &str, e: &sealpost_search::QueryError) -> Self {
        Self { position: Some(e.position), ..Self::invalid("invalid_query", field, e.to_string()) }
    }
    /// Any status, no field.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None, position: None, retry_after: None }
    }
    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing or invalid API key")
    }
    /// 429: too many failed authentications from this client or for this
    /// key; retry after the lockout.
    pub fn locked_out(seconds: u64) -> Self {
        Self {
            retry_after: Some(seconds),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_failures",
                "too many failed authentications; try again later",
            )
        }
    }
    /// 503 with `Retry-After: 1`: a transient conflict in storage; nothing
    /// was stored and the same request may be sent again (issue 13.13).
    pub fn retry_later() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "retry_later",
                "a transient storage conflict; nothing was stored, retry the request",
            )
        }
    }
    /// 403.
    pub fn forbidden(scope: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", format!("this API key lacks the {scope} scope"))
    }
    /// 403 `sender_domain_not_owned`: `field` names an address in a domain
    /// the caller's tenant does not own (issue 13.9).
    pub fn sender_not_owned(field: impl Into<String>, domain: &str) -> Self {
        let message = format!("sender domain {domain} is not a sending domain of this account");
        Self { field: Some(field.into()), ..Self::new(StatusCode::FORBIDDEN, "sender_domain_not_owned", message) }
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
    /// The body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
                field: self.field.clone(),
                position: self.position,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after;
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
        }
        response
    }
}

impl From<sealpost_core::ServerError> for ApiError {
    fn from(e: sealpost_core::ServerError) -> Self {
        ApiError::internal(e)
    }
}

/// A body that could not be read: too large (413), or cut off.
impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the request body is too large")
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", "the request body could not be read")
        }
    }
}

/// A query string that does not fit the operation's parameters. serde's
/// message names the parameter and the expected type, not the value.
impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        let message = match &e {
            QueryRejection::FailedToDeserializeQueryString(inner) => inner.body_text(),
            other => other.body_text(),
        };
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_query_string", message)
    }
}

/// A path segment that is not valid UTF-8 after percent-decoding (the only
/// way a `String` segment fails).
impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", "a path segment is not valid percent-encoded UTF-8")
    }
}

/// Parses a JSON request body, which must be an object; a failure is a 400
/// naming the position. (serde would also take an array for a struct whose
/// fields all have defaults: `[]` must not reset the settings.)
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let invalid = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", message);
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_slice(body).map_err(|e| invalid(e.to_string())),
        None => Err(invalid("the request body is empty; expected a JSON object".into())),
        Some(_) => Err(invalid("expected a JSON object".into())),
    }
}

/// The answer for a path no route matches.
pub async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "unknown_route", "no such API route")
}

/// The answer for a route asked with a method it does not have (axum adds
/// the `Allow` header).
pub async fn wrong_method() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take this method")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transient_conflict_is_a_retryable_503_not_a_409() {
        let r = ApiError::retry_later().into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[axum::http::header::RETRY_AFTER], "1");
        let r = ApiError::locked_out(900).into_response();
        assert_eq!(
            (r.status(), &r.headers()[axum::http::header::RETRY_AFTER]),
            (StatusCode::TOO_MANY_REQUESTS, &"900".parse().unwrap())
        );
    }
}
