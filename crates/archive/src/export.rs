//! Export (R-AR-6): the messages matching a query, their original bytes
//! unchanged, as an mboxrd or a zip of `.eml` files with a manifest, and
//! the SHA-256 of the package.
//!
//! Two destinations share one path — query → ids → one message decrypted
//! at a time → `sealpost-mailbox`'s package writer, which runs in a
//! blocking thread:
//!
//! - the CLI ([`App::export`]) writes files: the package through a
//!   temporary file renamed when complete, `<out>.sha256`, and for mbox
//!   `<out>.manifest.json`. The files hold the messages in clear: they are
//!   the legal deliverable and go where the operator says. Audited once,
//!   `export.created` with the package hash.
//! - the API ([`App::start_export`]) streams the package through a bounded
//!   channel of chunks into the HTTP response: never on disk, never whole in
//!   memory. The export is recorded (table `exports`: the query sealed in
//!   the search log, the message ids sealed, state, and at the end the
//!   package hash) and audited `export.created` before the first byte and
//!   `export.completed` at the end — success with the package hash, or
//!   failure when the client went away or the server could not finish
//!   (state `aborted`). The manifest of an mbox export (and of a zip one)
//!   is regenerated on demand from the sealed id list
//!   ([`App::export_manifest`]), decrypting one message at a time again.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_mailbox::MailboxError;
use sealpost_mailbox::write::{
    EmlZipWriter, ExportMessage, ManifestEntry, ManifestJson, MboxWriter, PackageSummary, PackageWriter,
};
use sealpost_model::{EventId, MessageId, TenantId, now_micros};
use sealpost_store::{Commit, ExportRecord, Op};
use tokio::sync::mpsc;

use crate::Archive;
use sealpost_core::ServerError;

/// Package formats (`mbox`, `eml-zip`).
pub use sealpost_mailbox::write::PackageFormat as ExportFormat;

/// Bytes per chunk handed to the connection.
const CHUNK: usize = 64 * 1024;
/// Chunks waiting for the connection at most: with [`CHUNK`], at most 1 MiB
/// of a package is in flight per export, besides the message being written.
const CHANNEL_CHUNKS: usize = 16;

/// One piece of a streamed export or manifest.
#[derive(Debug)]
pub enum ExportChunk {
    /// The next bytes.
    Data(Bytes),
    /// Everything was sent; for a package, its SHA-256 (lowercase hex).
    End {
        /// The package's SHA-256; `None` for a manifest.
        sha256: Option<String>,
    },
    /// The server could not finish: the receiver must not present what it
    /// got as complete (an HTTP response is cut off).
    Failed,
}

/// An API export that has been recorded and audited and is now streaming.
#[derive(Debug)]
pub struct ExportStream {
    /// The export's id (`GET /v1/exports/{id}`).
    pub id: EventId,
    /// Its format.
    pub format: ExportFormat,
    /// Messages in the package.
    pub count: u64,
    /// The package, chunk by chunk; dropping the receiver aborts the export.
    pub chunks: mpsc::Receiver<ExportChunk>,
}

/// Why an export or its manifest could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ExportFailure {
    /// The query has a syntax error (position in characters).
    #[error("{0}")]
    Syntax(sealpost_search::QueryError),
    /// No such export of this tenant.
    #[error("no such export")]
    NotFound,
    /// The export's state does not allow it (e.g. a manifest of an export
    /// that did not complete); the text says why, without PHI.
    #[error("{0}")]
    Conflict(&'static str),
    /// Anything else.
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// Something messages are written into, one at a time, in a blocking thread.
trait Sink: Send + 'static {
    fn put(&mut self, message: &ExportMessage<'_>) -> Result<(), MailboxError>;
}

impl<W: Write + Send + 'static> Sink for PackageWriter<W> {
    fn put(&mut self, message: &ExportMessage<'_>) -> Result<(), MailboxError> {
        self.write(message).map(drop)
    }
}

impl<W: Write + Send + 'static> Sink for ManifestJson<W> {
    fn put(&mut self, message: &ExportMessage<'_>) -> Result<(), MailboxError> {
        self.add(&ManifestEntry::describe(message.id, message.bytes))
    }
}

/// The CLI's package files.
enum FileSink {
    Mbox(Box<MboxWriter>),
    Zip(Box<EmlZipWriter>),
}

impl Sink for FileSink {
    fn put(&mut self, message: &ExportMessage<'_>) -> Result<(), MailboxError> {
        match self {
            FileSink::Mbox(w) => w.write(message).map(drop),
            FileSink::Zip(w) => w.write(message).map(drop),
        }
    }
}

fn mailbox_err(e: MailboxError) -> ServerError {
    ServerError::State(format!("export: {e}"))
}

/// Runs `f` in a blocking thread: compression and file writes must not hold
/// up the runtime, and a [`ChunkSender`] blocks while the client is slow.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, MailboxError> + Send + 'static,
) -> Result<T, ServerError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServerError::State(format!("export task: {e}")))?
        .map_err(mailbox_err)
}

/// Writes into the bounded channel in [`CHUNK`]-sized pieces, blocking (in
/// its blocking thread) while the channel is full. Once the receiver is
/// gone every write fails, which ends the export.
struct ChunkSender {
    tx: mpsc::Sender<ExportChunk>,
    buf: Vec<u8>,
    /// Bytes handed to the channel so far (what an aborted export got out).
    sent: Arc<AtomicU64>,
}

impl ChunkSender {
    fn new(tx: mpsc::Sender<ExportChunk>, sent: Arc<AtomicU64>) -> Self {
        ChunkSender { tx, buf: Vec::with_capacity(CHUNK), sent }
    }

    fn send_full_chunk(&mut self) -> io::Result<()> {
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        let len = chunk.len() as u64;
        self.tx
            .blocking_send(ExportChunk::Data(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the export's reader went away"))?;
        self.sent.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }

    /// Sends what is buffered, from async code, then the end marker.
    async fn send_rest(self, sha256: Option<String>) -> Result<(), ()> {
        if !self.buf.is_empty() {
            let len = self.buf.len() as u64;
            self.tx.send(ExportChunk::Data(Bytes::from(self.buf))).await.map_err(drop)?;
            self.sent.fetch_add(len, Ordering::Relaxed);
        }
        self.tx.send(ExportChunk::End { sha256 }).await.map_err(drop)
    }
}

impl Write for ChunkSender {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(buf);
        if self.buf.len() >= CHUNK {
            self.send_full_chunk()?;
        }
        Ok(buf.len())
    }

    /// Does nothing: chunks leave when full, and the last one only after
    /// the export is recorded ([`ChunkSender::send_rest`]).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn ids_purpose(tenant: &TenantId, id: &EventId) -> String {
    format!("export-ids/{tenant}/{id}")
}

impl Archive {
    /// Writes the messages of `tenant` matching `query` to `out` (the CLI).
    /// `progress(done, total)` is called per message.
    pub async fn export(
        &self,
        tenant: &TenantId,
        actor: Actor,
        query: &str,
        format: ExportFormat,
        out: &Path,
        progress: impl FnMut(u64, u64),
    ) -> Result<PackageSummary, ServerError> {
        let ids = self.matching_ids(tenant, query).await?;
        let sink = match format {
            ExportFormat::Mbox => FileSink::Mbox(Box::new(MboxWriter::create(out).map_err(mailbox_err)?)),
            ExportFormat::EmlZip => FileSink::Zip(Box::new(EmlZipWriter::create(out).map_err(mailbox_err)?)),
        };
        let sink = self.feed(tenant, &ids, sink, progress).await?;
        let summary = blocking(move || match sink {
            FileSink::Mbox(w) => w.finish(),
            FileSink::Zip(w) => w.finish(),
        })
        .await?;
        let query_id = self.index.log_query(tenant, &actor, query).await?;
        self.core
            .audit(vec![
                NewEvent::new(tenant.clone(), actor, Action::ExportCreated, Outcome::Success)
                    .detail("query", DetailValue::id(query_id))
                    .detail("count", DetailValue::Count(summary.count as i64))
                    .detail("format", DetailValue::Name(format.as_str()))
                    .detail("package_sha256", DetailValue::Digest(digest(&summary.sha256)?)),
            ])
            .await?;
        Ok(summary)
    }

    /// Starts an API export: parses `query` (a syntax error is
    /// [`ExportFailure::Syntax`], nothing recorded), finds the messages,
    /// records the export as `streaming` and audits `export.created` in one
    /// commit, then streams the package from a task of its own.
    pub async fn start_export(
        self: &Arc<Self>,
        tenant: &TenantId,
        actor: Actor,
        query: &str,
        format: ExportFormat,
    ) -> Result<ExportStream, ExportFailure> {
        sealpost_search::query::parse(query).map_err(ExportFailure::Syntax)?;
        let ids = self.matching_ids(tenant, query).await?;
        let query_id = self.index.log_query(tenant, &actor, query).await?;
        let id = EventId::new();
        let id_list: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let sealed_ids = self
            .core
            .root()
            .seal_secret(&ids_purpose(tenant, &id), id_list.join("\n").as_bytes())
            .map_err(ServerError::from)?;
        let count = ids.len() as u64;
        let record = ExportRecord {
            id,
            tenant: tenant.clone(),
            actor: actor.as_str().to_owned(),
            query_id,
            format: format.as_str().to_owned(),
            count: count as i64,
            state: "streaming".to_owned(),
            sealed_ids,
            started_at: now_micros(),
            finished_at: None,
            bytes: None,
            package_sha256: None,
        };
        let event = NewEvent::new(tenant.clone(), actor.clone(), Action::ExportCreated, Outcome::Success)
            .target(id)
            .detail("query", DetailValue::id(query_id))
            .detail("count", DetailValue::Count(count as i64))
            .detail("format", DetailValue::Name(format.as_str()));
        self.core
            .store
            .commit(Commit { ops: vec![Op::CreateExport(record)], events: vec![event] })
            .await
            .map_err(ServerError::from)?;

        let (tx, chunks) = mpsc::channel(CHANNEL_CHUNKS);
        let app = Arc::clone(self);
        let tenant = tenant.clone();
        tokio::spawn(async move { app.produce(tenant, actor, id, ids, format, tx).await });
        Ok(ExportStream { id, format, count, chunks })
    }

    /// Writes the package into `tx` and records how it ended.
    async fn produce(
        self: Arc<Self>,
        tenant: TenantId,
        actor: Actor,
        id: EventId,
        ids: Vec<MessageId>,
        format: ExportFormat,
        tx: mpsc::Sender<ExportChunk>,
    ) {
        let sent = Arc::new(AtomicU64::new(0));
        let sender = ChunkSender::new(tx.clone(), Arc::clone(&sent));
        let written = async {
            let writer = PackageWriter::new(format, sender).map_err(mailbox_err)?;
            let writer = self.feed(&tenant, &ids, writer, |_, _| {}).await?;
            blocking(move || writer.finish()).await
        }
        .await;
        let failure = match written {
            Ok((sender, summary)) => {
                // Recorded before the last chunk leaves, so a client that has
                // read the whole body finds the export complete, with its hash.
                match self.end_export(&tenant, &actor, id, Ok(&summary)).await {
                    Ok(()) => {
                        // A client gone at the very end leaves the export
                        // complete on our side, as bytes lost in the network
                        // after the last write would.
                        let _ = sender.send_rest(Some(summary.sha256)).await;
                        return;
                    }
                    Err(e) => {
                        tracing::error!(export = %id, error = %e, "recording a completed export failed");
                        let _ = tx.send(ExportChunk::Failed).await;
                        return;
                    }
                }
            }
            Err(e) => e,
        };
        let reason = if tx.is_closed() {
            "client_disconnected"
        } else {
            tracing::error!(export = %id, error = %failure, "export failed");
            "server_error"
        };
        if let Err(e) = self.end_export(&tenant, &actor, id, Err((reason, sent.load(Ordering::Relaxed)))).await {
            tracing::error!(export = %id, error = %e, "recording an aborted export failed");
        }
        let _ = tx.send(ExportChunk::Failed).await;
    }

    /// Ends a streaming export: `complete` with the summary, or `aborted`
    /// with a reason and the bytes that got out; one commit with its
    /// `export.completed` event.
    async fn end_export(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        id: EventId,
        how: Result<&PackageSummary, (&'static str, u64)>,
    ) -> Result<(), ServerError> {
        let (op, event) = match how {
            Ok(summary) => (
                Op::FinishExport {
                    tenant: tenant.clone(),
                    id,
                    state: "complete".to_owned(),
                    at: now_micros(),
                    bytes: summary.bytes as i64,
                    package_sha256: Some(summary.sha256.clone()),
                },
                NewEvent::new(tenant.clone(), actor.clone(), Action::ExportCompleted, Outcome::Success)
                    .detail("count", DetailValue::Count(summary.count as i64))
                    .detail("bytes", DetailValue::Count(summary.bytes as i64))
                    .detail("package_sha256", DetailValue::Digest(digest(&summary.sha256)?)),
            ),
            Err((reason, sent)) => (
                Op::FinishExport {
                    tenant: tenant.clone(),
                    id,
                    state: "aborted".to_owned(),
                    at: now_micros(),
                    bytes: sent as i64,
                    package_sha256: None,
                },
                NewEvent::new(tenant.clone(), actor.clone(), Action::ExportCompleted, Outcome::Failure)
                    .detail("reason", DetailValue::Name(reason))
                    .detail("bytes", DetailValue::Count(sent as i64)),
            ),
        };
        let event = event.target(id);
        self.core.store.commit(Commit { ops: vec![op], events: vec![event] }).await?;
        Ok(())
    }

    /// Ends, as `aborted` with reason `server_restarted`, the API exports a
    /// previous run of this server left `streaming` (it crashed or was
    /// killed mid-stream). Only on the embedded backend: there this process
    /// is the only server, while in scale-out another node may be streaming.
    pub async fn abort_interrupted_exports(&self) -> Result<usize, ServerError> {
        if self.core.store.backend() != sealpost_store::Backend::Sqlite {
            return Ok(0);
        }
        let interrupted = self.core.store.streaming_exports().await?;
        for (tenant, id) in &interrupted {
            let bytes = self.core.store.export(tenant, id).await?.and_then(|r| r.bytes).unwrap_or(0);
            self.end_export(tenant, &Actor::system(), *id, Err(("server_restarted", bytes.max(0) as u64))).await?;
        }
        Ok(interrupted.len())
    }

    /// An API export of `tenant`.
    pub async fn export_record(&self, tenant: &TenantId, id: &EventId) -> Result<Option<ExportRecord>, ServerError> {
        Ok(self.core.store.export(tenant, id).await?)
    }

    /// The manifest of a complete API export (`manifest.json`'s format),
    /// regenerated from its sealed id list one message at a time and
    /// streamed like the package. Refused if a message has been disposed
    /// of since. Audited `message.accessed` (it shows subjects and
    /// addresses) before the first byte.
    pub async fn export_manifest(
        self: &Arc<Self>,
        tenant: &TenantId,
        actor: Actor,
        id: &EventId,
    ) -> Result<mpsc::Receiver<ExportChunk>, ExportFailure> {
        let record =
            self.core.store.export(tenant, id).await.map_err(ServerError::from)?.ok_or(ExportFailure::NotFound)?;
        if record.state != "complete" {
            return Err(ExportFailure::Conflict("the export did not complete: it has no manifest"));
        }
        let ids =
            self.core.root().open_secret(&ids_purpose(tenant, id), &record.sealed_ids).map_err(ServerError::from)?;
        let ids = std::str::from_utf8(&ids)
            .ok()
            .and_then(|text| text.split('\n').filter(|s| !s.is_empty()).map(|s| MessageId::parse(s).ok()).collect())
            .ok_or_else(|| ServerError::State(format!("export {id}: unreadable id list")))?;
        let ids: Vec<MessageId> = ids;
        // Checked up front: once the body has started, a failure can only cut it off.
        for message in &ids {
            let stored = self.core.store.message(tenant, message).await.map_err(ServerError::from)?;
            if stored.is_none_or(|m| m.state == "disposed") {
                return Err(ExportFailure::Conflict("a message of this export has been disposed of since"));
            }
        }
        self.core
            .audit(vec![
                NewEvent::new(tenant.clone(), actor, Action::MessageAccessed, Outcome::Success)
                    .detail("export_manifest", DetailValue::id(*id))
                    .detail("count", DetailValue::Count(ids.len() as i64)),
            ])
            .await?;
        let (tx, chunks) = mpsc::channel(CHANNEL_CHUNKS);
        let app = Arc::clone(self);
        let (tenant, id) = (tenant.clone(), *id);
        tokio::spawn(async move {
            let sender = ChunkSender::new(tx.clone(), Arc::new(AtomicU64::new(0)));
            let written = async {
                let json = ManifestJson::new(sender).map_err(mailbox_err)?;
                let json = app.feed(&tenant, &ids, json, |_, _| {}).await?;
                blocking(move || json.finish()).await
            }
            .await;
            match written {
                Ok(sender) => {
                    let _ = sender.send_rest(None).await;
                }
                Err(e) => {
                    if !tx.is_closed() {
                        tracing::error!(export = %id, error = %e, "export manifest failed");
                    }
                    let _ = tx.send(ExportChunk::Failed).await;
                }
            }
        });
        Ok(chunks)
    }

    /// Decrypts `ids` one at a time and puts each into `sink` in a blocking
    /// thread; only one message is in memory at a time.
    async fn feed<S: Sink>(
        &self,
        tenant: &TenantId,
        ids: &[MessageId],
        mut sink: S,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<S, ServerError> {
        let total = ids.len() as u64;
        for (i, id) in ids.iter().enumerate() {
            let opened = self.reader.load_message(tenant, id, true).await?;
            let bytes = opened.raw.unwrap_or_default();
            let received_at =
                time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(opened.record.created_at) * 1000).ok();
            let id_text = id.to_string();
            sink = blocking(move || {
                sink.put(&ExportMessage { id: &id_text, bytes: &bytes, received_at })?;
                Ok(sink)
            })
            .await?;
            progress(i as u64 + 1, total);
        }
        Ok(sink)
    }
}

/// The 32 bytes of a hex SHA-256 (for an audit detail).
fn digest(hex_text: &str) -> Result<[u8; 32], ServerError> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut digest).map_err(|e| ServerError::State(format!("package digest: {e}")))?;
    Ok(digest)
}
