//! The REST API (R-IN-2) over HTTPS: `/v1/messages`, `/v1/messages/batch`,
//! `/v1/messages/raw`, `/v1/messages/{id}`, `/v1/messages/{id}/raw`;
//! `/v1/access-requests` (patient access requests, R-AR-7); `/v1/exports`
//! (streamed export packages, R-AR-6).
//! Every call carries `Authorization: Bearer <api key>`; every query is
//! scoped to the key's tenant.

mod access_requests;
mod build;
mod caller;
mod error;
mod exports;
mod health;
mod holds;
mod keys;
mod messages;
mod portal;
pub(crate) mod prometheus;
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
use axum::routing::{delete, get, post};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::app::App;

pub use error::{ApiError, parse_json};

/// The client's address, attached to every request of a connection.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// The API routes.
pub fn router(app: Arc<App>) -> Router {
    // Base64 grows bodies by 4/3; a batch may hold many messages.
    let body_limit = (app.cfg.limits.max_message_size * 2).max(64 * 1024 * 1024);
    Router::new()
        .route("/v1/messages", post(messages::send))
        .route("/v1/messages/batch", post(messages::send_batch))
        .route("/v1/messages/raw", post(messages::send_raw))
        .route("/v1/messages/{id}", get(messages::state))
        .route("/v1/messages/{id}/raw", get(messages::raw))
        .route("/v1/recipient-keys", post(keys::add).get(keys::list))
        .route("/v1/recipient-keys/{id}", delete(keys::remove))
        .route("/v1/webhooks", post(webhooks::add).get(webhooks::list))
        .route("/v1/webhooks/{id}", delete(webhooks::remove))
        .route("/v1/settings", get(settings::get).put(settings::put))
        .route("/v1/search", get(search::search))
        .route("/v1/retention/policy", get(retention::get_policy).put(retention::put_policy))
        .route("/v1/retention/run", post(retention::run))
        .route("/v1/retention/review", get(retention::review_list))
        .route("/v1/retention/review/{id}/approve", post(retention::review_approve))
        .route("/v1/retention/review/{id}/extend", post(retention::review_extend))
        .route("/v1/holds", post(holds::create).get(holds::list))
        .route("/v1/holds/{id}/release", post(holds::release))
        .route("/v1/holds/{id}/approve-release", post(holds::approve_release))
        .route("/v1/access-requests", post(access_requests::create).get(access_requests::list))
        .route("/v1/access-requests/{id}", get(access_requests::get))
        .route("/v1/access-requests/{id}/search", post(access_requests::search))
        .route("/v1/exports", post(exports::create))
        .route("/v1/exports/{id}", get(exports::get))
        .route("/v1/exports/{id}/manifest", get(exports::manifest))
        .route("/p/{token}", get(portal::pickup))
        .route("/healthz", get(|| async { "ok" }))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(prometheus::metrics))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(app)
}

/// Serves the API over TLS on `listener` until the task is dropped.
pub async fn serve(app: Arc<App>, listener: TcpListener, tls: TlsAcceptor) {
    let router = router(app);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "https accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (tls, router) = (tls.clone(), router.clone());
        tokio::spawn(async move {
            let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_secs(30), tls.accept(stream)).await else {
                return;
            };
            let svc = TowerToHyperService::new(router.layer(axum::Extension(ClientAddr(peer))));
            if let Err(e) = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), svc).await {
                tracing::debug!(error = %e, "https connection ended with an error");
            }
        });
    }
}
