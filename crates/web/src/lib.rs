//! Server-rendered pages (R-PT-6): the secure portal, and the web
//! foundation the console builds on. Pages are compiled templates
//! (askama, auto-escaped), work without JavaScript (there is none), and
//! every response carries strict security headers: a CSP with no inline
//! script or style, `frame-ancestors 'none'`, HSTS, `nosniff`, no referrer,
//! `no-store`. Forms carry a CSRF token bound to the session, and a POST
//! must come from this origin (`Sec-Fetch-Site`, else `Origin`).
//!
//! The page contract tests rely on: docs/design/portal.md.

mod i18n;
mod pages;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use sealpost_portal::Portal;

pub use i18n::LANG_COOKIE;

/// The Content-Security-Policy of every page: nothing but this origin's
/// stylesheet and images; no script at all; not framed.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                       base-uri 'none'; frame-ancestors 'none'";

/// What the pages need.
pub struct Web {
    /// The portal's domain service.
    pub portal: Arc<Portal>,
}

/// The portal's routes: `/p/{token}` (the notification's link) and `/portal/…`.
pub fn router(portal: Arc<Portal>) -> Router {
    let body_limit = portal.limits().max_reply_bytes + 1024 * 1024;
    let web = Arc::new(Web { portal });
    Router::new()
        .route("/p/{token}", get(pages::exchange))
        .route("/portal", get(pages::home))
        .route("/portal/", get(pages::home))
        .route("/portal/code", post(pages::send_code))
        .route("/portal/verify", get(pages::verify_page).post(pages::verify))
        .route("/portal/m/{reference}", get(pages::message))
        .route("/portal/m/{reference}/a/{part}", get(pages::attachment))
        .route("/portal/m/{reference}/cid/{cid}", get(pages::inline_image))
        .route("/portal/m/{reference}/reply", get(pages::reply_page).post(pages::reply))
        .route("/portal/resend", post(pages::resend))
        .route("/portal/signout", post(pages::sign_out))
        .route("/portal/extend", post(pages::extend))
        .route("/portal/static/portal.css", get(pages::stylesheet))
        .route("/portal/brand.css", get(pages::brand_stylesheet))
        .route("/favicon.ico", get(pages::no_favicon))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(web)
}

/// The headers every portal response carries (issue 14, "The web foundation").
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    h.insert("permissions-policy", HeaderValue::from_static("camera=(), microphone=(), geolocation=()"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A cookie's value from the request.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Whether a state-changing request comes from this origin: the browser's
/// `Sec-Fetch-Site` says so, or (without it) `Origin` names this host.
/// A request with neither is a non-browser client; the CSRF token and the
/// SameSite=Strict cookie still have to match. `Origin: null` (sent with
/// `Referrer-Policy: no-referrer` by some browsers) counts only with
/// `Sec-Fetch-Site: same-origin`.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin";
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some("null") => false,
        Some(origin) => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
            origin.strip_prefix("https://").is_some_and(|o| o.eq_ignore_ascii_case(host))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn origin_checks() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin"), ("origin", "null")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(same_origin(&headers(&[("origin", "https://portal.example"), ("host", "portal.example")])));
        assert!(!same_origin(&headers(&[("origin", "https://evil.example"), ("host", "portal.example")])));
        assert!(!same_origin(&headers(&[("origin", "http://portal.example"), ("host", "portal.example")])));
        assert!(!same_origin(&headers(&[("origin", "null")])));
        assert!(same_origin(&headers(&[])));
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let h = headers(&[("cookie", "a=1; __Host-sealpost_portal=abc; b=2")]);
        assert_eq!(cookie(&h, "__Host-sealpost_portal").as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "sealpost_portal"), None);
    }
}
