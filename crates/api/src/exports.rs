//! Exports through the API (R-AR-6), `admin` scope like `/v1/search` (an
//! export hands out the original bytes, which only `admin` may read):
//!
//! - `POST /v1/exports` `{"query": "…", "format": "mbox"|"eml-zip"}`: the
//!   package as the response body (`application/mbox` or
//!   `application/zip`, `Content-Disposition: attachment`), streamed as it
//!   is produced. `Sealpost-Export-Id` and `Sealpost-Export-Count` come
//!   with the headers, before any byte of the body; the package's SHA-256
//!   follows the body as the trailer `Sealpost-Package-Sha256` (HTTP/2, or
//!   HTTP/1.1 when the request says `TE: trailers`). A query syntax error is
//!   the 400 of `/v1/search` (`error.position`). A failure after the body
//!   has started cuts the response off (no final chunk), so a client can
//!   never take a partial package for a whole one.
//! - `GET /v1/exports/{id}`: `{id, format, count, state, sha256, bytes,
//!   started_at, finished_at}`; `state` is `streaming`, `complete` or
//!   `aborted`; `sha256` is set once complete.
//! - `GET /v1/exports/{id}/manifest`: the manifest of a complete export
//!   (the `manifest.json` of the zip; for mbox the only way to get it),
//!   regenerated from the export's sealed message list and streamed.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use sealpost_model::{EventId, Scope};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::ToSchema;

use super::caller::Caller;
use super::error::ErrorBody;
use super::extract::{ApiPath, Body as RequestBody};
use super::{ApiError, parse_json};
use crate::Api;
use sealpost_archive::export::{ExportChunk, ExportFailure, ExportFormat};

/// The trailer carrying the package's SHA-256.
const SHA256_TRAILER: HeaderName = HeaderName::from_static("sealpost-package-sha256");

/// Body of `POST /v1/exports`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExport {
    /// The query, in the language of `/v1/search`.
    pub query: String,
    /// The package format.
    #[schema(value_type = ExportFormatName)]
    pub format: String,
}

/// A package format.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation of `CreateExport::format`, parsed by `ExportFormat::parse`
pub enum ExportFormatName {
    /// One mboxrd file (`application/mbox`).
    #[schema(rename = "mbox")]
    Mbox,
    /// A zip of `.eml` files plus `manifest.json` (`application/zip`).
    #[schema(rename = "eml-zip")]
    EmlZip,
}

/// An API export's record.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportRecordBody {
    /// The export's id.
    pub id: String,
    /// `mbox` or `eml-zip`.
    pub format: String,
    /// Messages in the package.
    pub count: i64,
    /// `streaming`, `complete` or `aborted`.
    pub state: String,
    /// The package's SHA-256 (lowercase hex), once complete.
    pub sha256: Option<String>,
    /// The package's size in octets.
    pub bytes: Option<i64>,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it ended (RFC 3339).
    pub finished_at: Option<String>,
}

/// Exports the messages matching a query as one package, streamed.
///
/// `Sealpost-Export-Id` and `Sealpost-Export-Count` come with the headers;
/// the package's SHA-256 follows the body as the trailer
/// `Sealpost-Package-Sha256` (HTTP/2, or HTTP/1.1 with `TE: trailers`). A
/// failure after the body has started cuts the response off. Audited.
#[utoipa::path(
    post, path = "/v1/exports", operation_id = "create_export", tag = "archive",
    security(("api_key" = ["admin"])),
    request_body = CreateExport,
    responses(
        (status = 200, description = "The package",
            content((Vec<u8> = "application/mbox"), (Vec<u8> = "application/zip")),
            headers(
                ("Sealpost-Export-Id" = String, description = "The export's id (see `GET /v1/exports/{id}`)"),
                ("Sealpost-Export-Count" = i64, description = "Messages in the package"),
            )),
        (status = 409, description = "The export cannot start now", body = ErrorBody),
    )
)]
pub async fn create(
    State(app): State<Arc<Api>>,
    caller: Caller,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let request: CreateExport = parse_json(&body)?;
    let format = ExportFormat::parse(&request.format)
        .ok_or_else(|| ApiError::invalid("invalid_format", "format", "format must be \"mbox\" or \"eml-zip\""))?;
    let stream = match app.archive.start_export(p.tenant(), p.actor(), &request.query, format).await {
        Ok(stream) => stream,
        Err(ExportFailure::Syntax(e)) => return Err(ApiError::query("query", &e)),
        Err(e) => return Err(failure(e)),
    };
    let disposition = format!("attachment; filename=\"sealpost-export-{}.{}\"", stream.id, format.extension());
    let headers = [
        (header::CONTENT_TYPE, format.media_type().to_owned()),
        (header::CONTENT_DISPOSITION, disposition),
        // PHI: no cache on the way may keep a copy.
        (header::CACHE_CONTROL, "no-store".to_owned()),
        (header::TRAILER, SHA256_TRAILER.as_str().to_owned()),
        (HeaderName::from_static("sealpost-export-id"), stream.id.to_string()),
        (HeaderName::from_static("sealpost-export-count"), stream.count.to_string()),
    ];
    Ok((headers, Body::new(ChunkBody { chunks: stream.chunks, done: false })).into_response())
}

/// An API export's record: its state and, once complete, its digest.
#[utoipa::path(
    get, path = "/v1/exports/{id}", operation_id = "get_export", tag = "archive",
    security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "The export's id")),
    responses((status = 200, description = "The export", body = ExportRecordBody))
)]
pub async fn get(
    State(app): State<Arc<Api>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let id = export_id(&id)?;
    let record = app.archive.export_record(p.tenant(), &id).await?.ok_or_else(not_found)?;
    let time = |t: Option<i64>| t.map(sealpost_audit::rfc3339_micros);
    Ok(Json(ExportRecordBody {
        id: record.id.to_string(),
        format: record.format,
        count: record.count,
        state: record.state,
        sha256: record.package_sha256,
        bytes: record.bytes,
        started_at: sealpost_audit::rfc3339_micros(record.started_at),
        finished_at: time(record.finished_at),
    })
    .into_response())
}

/// The manifest of a complete export (what the zip's `manifest.json` holds).
///
/// Regenerated from the export's sealed message list and streamed.
#[utoipa::path(
    get, path = "/v1/exports/{id}/manifest", operation_id = "export_manifest", tag = "archive",
    security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "The export's id")),
    responses(
        (status = 200, description = "The manifest", body = Object),
        (status = 409, description = "The export is not complete", body = ErrorBody),
    )
)]
pub async fn manifest(
    State(app): State<Arc<Api>>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let id = export_id(&id)?;
    let chunks = app.archive.export_manifest(p.tenant(), p.actor(), &id).await.map_err(failure)?;
    let headers = [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")];
    Ok((headers, Body::new(ChunkBody { chunks, done: false })).into_response())
}

fn export_id(id: &str) -> Result<EventId, ApiError> {
    EventId::parse(id).map_err(|_| not_found())
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such export")
}

fn failure(e: ExportFailure) -> ApiError {
    match e {
        ExportFailure::Syntax(e) => ApiError::query("query", &e),
        ExportFailure::NotFound => not_found(),
        ExportFailure::Conflict(why) => ApiError::new(StatusCode::CONFLICT, "conflict", why),
        ExportFailure::Server(e) => ApiError::internal(e),
    }
}

/// A response body fed by a producer task through a bounded channel: the
/// task blocks while the client is slow; dropping the body (the client
/// went away) makes the task's next send fail, which aborts the export.
struct ChunkBody {
    chunks: mpsc::Receiver<ExportChunk>,
    done: bool,
}

impl http_body::Body for ChunkBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let frame = match ready!(self.chunks.poll_recv(cx)) {
            Some(ExportChunk::Data(bytes)) => return Poll::Ready(Some(Ok(Frame::data(bytes)))),
            Some(ExportChunk::End { sha256: Some(sha256) }) => {
                let mut trailers = HeaderMap::new();
                if let Ok(value) = HeaderValue::from_str(&sha256) {
                    trailers.insert(SHA256_TRAILER, value);
                }
                Some(Ok(Frame::trailers(trailers)))
            }
            Some(ExportChunk::End { sha256: None }) => None,
            // A producer that ends without saying so failed too.
            Some(ExportChunk::Failed) | None => Some(Err(io::Error::other("export failed"))),
        };
        self.done = true;
        Poll::Ready(frame)
    }
}
