//! The REST API (R-IN-2) over HTTPS: `/v1/messages`, `/v1/messages/batch`,
//! `/v1/messages/raw`, `/v1/messages/{id}`, `/v1/messages/{id}/raw`;
//! `/v1/access-requests` (patient access requests, R-AR-7); `/v1/exports`
//! (streamed export packages, R-AR-6).
//! Every call carries `Authorization: Bearer <api key>`; every query is
//! scoped to the key's tenant.
//!
//! Each handler module holds its request and response types (the API's
//! own, converted to and from the domains' types and never stored);
//! `error.rs` the one error body, `extract.rs` axum's extractors with that
//! body, `openapi.rs` the OpenAPI document generated from the handlers and
//! their types, served at `GET /v1/openapi.json`.

mod access_requests;
mod build;
mod caller;
mod domains;
mod error;
mod exports;
mod extract;
mod health;
mod holds;
mod keys;
mod line_ends;
mod messages;
pub mod openapi;
mod portal;
pub mod prometheus;
mod request;
mod retention;
mod search;
mod settings;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use sealpost_core::limits::ConnectionLimiter;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, parse_json};

use sealpost_archive::Archive;
use sealpost_core::Core;
use sealpost_core::access::MessageReader;
use sealpost_core::keys::Keys;
use sealpost_core::pipeline::Accept;
use sealpost_core::senders::SendingDomains;
use sealpost_core::settings::Settings;
use sealpost_identity::Identity;
use sealpost_webhooks::Webhooks;

/// The services the API calls, built once by the composition root.
pub struct Api {
    /// The store, configuration and keys.
    pub core: Arc<Core>,
    /// Tenants' settings.
    pub settings: Arc<Settings>,
    /// Recipient and DKIM keys.
    pub keys: Arc<Keys>,
    /// The accept path.
    pub accept: Arc<Accept>,
    /// Audited message reads.
    pub reader: Arc<MessageReader>,
    /// Search, holds, retention, exports, access requests.
    pub archive: Arc<Archive>,
    /// API keys and authentication.
    pub identity: Arc<Identity>,
    /// Webhook endpoints.
    pub webhooks: Arc<Webhooks>,
    /// Sending domains: registry and the sender check.
    pub senders: Arc<SendingDomains>,
    /// The secure portal (the sender's side: retract, expiry, unlock).
    pub portal: Arc<sealpost_portal::Portal>,
}

/// The client's address, attached to every request of a connection.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// The documented routes: each `routes!` puts a handler in the router and
/// its `#[utoipa::path]` (path, method, scopes, bodies) in the document.
fn documented() -> OpenApiRouter<Arc<Api>> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(messages::send))
        .routes(routes!(messages::send_batch))
        .routes(routes!(messages::send_raw))
        .routes(routes!(messages::state))
        .routes(routes!(messages::raw))
        .routes(routes!(keys::add, keys::list))
        .routes(routes!(keys::remove))
        .routes(routes!(webhooks::add, webhooks::list))
        .routes(routes!(webhooks::remove))
        .routes(routes!(domains::add, domains::list))
        .routes(routes!(domains::verify))
        .routes(routes!(domains::remove))
        .routes(routes!(settings::get, settings::put))
        .routes(routes!(search::search))
        .routes(routes!(retention::get_policy, retention::put_policy))
        .routes(routes!(retention::run))
        .routes(routes!(retention::review_list))
        .routes(routes!(retention::review_approve))
        .routes(routes!(retention::review_extend))
        .routes(routes!(holds::create, holds::list))
        .routes(routes!(holds::release))
        .routes(routes!(holds::approve_release))
        .routes(routes!(access_requests::create, access_requests::list))
        .routes(routes!(access_requests::get))
        .routes(routes!(access_requests::search))
        .routes(routes!(exports::create))
        .routes(routes!(exports::get))
        .routes(routes!(exports::manifest))
        .routes(routes!(portal::retract))
        .routes(routes!(portal::expiry))
        .routes(routes!(portal::unlock))
        .routes(routes!(openapi::document))
        .routes(routes!(health::livez))
        .routes(routes!(health::readyz))
        .routes(routes!(prometheus::metrics))
}

/// The API's OpenAPI 3.1 document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = documented().into_openapi();
    openapi::complete(&mut doc);
    doc
}

/// The API routes.
pub fn router(app: Arc<Api>) -> Router {
    // Base64 grows bodies by 4/3; a batch may hold many messages.
    let body_limit = (app.core.cfg.limits.max_message_size * 2).max(64 * 1024 * 1024);
    let (router, _) = documented().split_for_parts();
    // Plain-text routes: each is documented in `openapi::TEXT_ENDPOINTS`.
    router
        .route("/healthz", get(|| async { "ok" }))
        .method_not_allowed_fallback(error::wrong_method)
        .fallback(error::no_route)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::map_response(no_store))
        .with_state(app)
}

/// Every API answer may carry message content, patient details or settings
/// (or, for an error, say what exists): no cache — browser, proxy or CDN —
/// may keep a copy (issue 13.14).
async fn no_store(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    response
}

/// Serves the API over TLS on `listener` until the task is dropped.
pub async fn serve(app: Arc<Api>, listener: TcpListener, tls: TlsAcceptor) {
    let limits = app.core.cfg.limits.clone();
    serve_router(router(app), limits, listener, tls).await
}

/// Serves `router` (the API's, the portal's, or both merged) over TLS on
/// `listener`, with the connection caps and timeouts of `limits`.
pub async fn serve_router(
    router: Router,
    limits: sealpost_core::config::Limits,
    listener: TcpListener,
    tls: TlsAcceptor,
) {
    let limiter = ConnectionLimiter::new(limits.max_connections, limits.max_connections_per_client);
    let handshake = Duration::from_secs(limits.tls_handshake_seconds);
    let headers = Duration::from_secs(limits.http_header_seconds);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "https accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Over the caps: closed before the handshake, which is what costs.
        let Ok(slot) = limiter.admit(peer.ip()) else {
            sealpost_core::telemetry::connection_refused("https");
            drop(stream);
            continue;
        };
        let (tls, router) = (tls.clone(), router.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let Ok(Ok(stream)) = tokio::time::timeout(handshake, tls.accept(stream)).await else {
                return;
            };
            let svc = TowerToHyperService::new(router.layer(axum::Extension(ClientAddr(peer))));
            let mut builder = auto::Builder::new(TokioExecutor::new());
            // A client that starts a request (or keeps a connection open
            // between requests) without finishing its headers is cut off.
            builder.http1().timer(TokioTimer::new()).header_read_timeout(headers);
            builder.http2().timer(TokioTimer::new()).keep_alive_interval(Some(headers)).keep_alive_timeout(headers);
            if let Err(e) = builder.serve_connection(TokioIo::new(stream), svc).await {
                tracing::debug!(error = %e, "https connection ended with an error");
            }
        });
    }
}
