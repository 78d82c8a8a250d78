//! The portal link target (issue 3: until the portal pages exist, a valid
//! link answers "not yet available"). No PHI on the page; strict headers.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sealpost_model::now_micros;

use crate::app::App;

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

/// `GET /p/{token}`.
pub async fn pickup(State(app): State<Arc<App>>, Path(token): Path<String>) -> Response {
    let hash = sealpost_crypto::sha256(token.as_bytes());
    match app.store.pickup(&hash).await {
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
