//! The portal link target (issue 3: until the portal pages exist, a valid
//! link answers "not yet available"). No PHI on the page; strict headers.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sealpost_model::now_micros;

use super::error::ErrorBody;
use super::extract::ApiPath;
use crate::Api;

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><main><h1>{title}</h1><p>{text}</p></main></body></html>"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// The portal link a recipient got by mail (no API key: the token is the credential).
///
/// An HTML page with no PHI; for now it says the portal is not yet available.
#[utoipa::path(
    get, path = "/p/{token}", operation_id = "portal_pickup", tag = "portal",
    params(("token" = String, Path, description = "The link's token")),
    responses(
        (status = 200, description = "A valid link", body = String, content_type = "text/html"),
        (status = 404, description = "An unknown or expired link (HTML), or no such route (JSON)",
            content((String = "text/html"), (ErrorBody = "application/json"))),
        (status = 503, description = "The portal is temporarily unavailable", body = String, content_type = "text/html"),
    )
)]
pub async fn pickup(State(app): State<Arc<Api>>, ApiPath(token): ApiPath<String>) -> Response {
    let hash = sealpost_crypto::sha256(token.as_bytes());
    match app.core.store.pickup(&hash).await {
        Ok(Some(p)) if p.expires_at > now_micros() => page(
            StatusCode::OK,
            "Your secure message is waiting",
            "This message is held securely for you. The secure reading portal is not yet available; \
             please come back to this link later.",
        ),
        Ok(_) => page(StatusCode::NOT_FOUND, "Link not valid", "This link is not valid or has expired."),
        Err(e) => {
            tracing::error!(error = %e, "portal lookup failed");
            page(StatusCode::SERVICE_UNAVAILABLE, "Try again later", "The portal is temporarily unavailable.")
        }
    }
}
