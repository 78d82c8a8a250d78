//! Import of existing archives (R-AR-8): an mbox file, a Maildir or a
//! directory of `.eml` files, streamed through `sealpost-mailbox`. Each
//! message is sealed and committed like any other (source `import`, no
//! recipients queued: imported mail is archived, never delivered) and
//! indexed by the server's indexer.
//!
//! Re-running an import adds nothing twice: a message whose tenant-keyed
//! content hash is already stored is counted as a duplicate. Malformed
//! messages are kept exactly as they are and reported (location and a
//! PHI-free description), never dropped; only a message over the size limit
//! is refused, and that is reported too.

use std::collections::HashSet;
use std::path::Path;

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_mailbox::read::{Item, Reader};
use sealpost_model::{Category, TenantId};
use sealpost_store::Source;
use tokio::sync::mpsc;

use crate::Archive;
use sealpost_core::ServerError;
use sealpost_core::pipeline::{EnvelopeMeta, Submission, category_from_headers};

/// Messages sealed per commit.
const BATCH: usize = 64;

/// What an import did. Locations name files and offsets, never content.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ImportReport {
    /// Messages read from the source.
    pub read: u64,
    /// Messages stored.
    pub stored: u64,
    /// Messages already in the archive (not stored again).
    pub duplicates: u64,
    /// Messages stored as they are although malformed: (location, problems).
    pub malformed: Vec<(String, Vec<String>)>,
    /// Messages that could not be stored: (location, reason).
    pub refused: Vec<(String, String)>,
}

/// What the reading thread hands to the sealing loop.
enum Read {
    /// Unreadable at the source: (reason, position).
    Unreadable(String, u64),
    /// Over the size limit: (location, position).
    TooLarge(String, u64),
    /// A message with what was computed beside the reading.
    Message { item: Item, digest: [u8; 32], problems: Vec<String>, category: Category, position: u64 },
}

/// Reads, hashes, checks and categorizes on a blocking thread, so that work
/// overlaps the sealing and committing of earlier batches. Stops when the
/// source ends or the receiver is gone (the import failed).
fn read_source(mut reader: Reader, max_size: usize, tx: mpsc::Sender<Read>) {
    while let Some(next) = reader.next() {
        let position = reader.position();
        let read = match next {
            Err(e) => Read::Unreadable(e.to_string(), position),
            Ok(item) if item.bytes.len() > max_size => Read::TooLarge(item.location, position),
            Ok(item) => {
                let digest = sealpost_crypto::sha256(&item.bytes);
                let mut problems: Vec<String> = item.problems.iter().map(ToString::to_string).collect();
                problems.extend(sealpost_mailbox::check(&item.bytes).iter().map(ToString::to_string));
                let category = category_from_headers(&item.bytes).ok().flatten().unwrap_or(Category::Transactional);
                Read::Message { item, digest, problems, category, position }
            }
        };
        if tx.blocking_send(read).is_err() {
            return;
        }
    }
}

/// The state of one import that the batches share.
struct Run<'a, P> {
    tenant: &'a TenantId,
    actor: &'a Actor,
    custodian: Option<&'a str>,
    rx: mpsc::Receiver<Read>,
    seen: HashSet<Vec<u8>>,
    report: ImportReport,
    progress: P,
    total: Option<u64>,
}

impl Archive {
    /// Imports `path` into `tenant`. `custodian` names the mailbox owner
    /// (kept sealed with each message). `progress(position, total)` is called
    /// as the source is read (bytes for mbox, files otherwise).
    ///
    /// Pipelined: a blocking thread reads and hashes the source while this
    /// task seals batch N+1 and the committer writes batch N. A message is
    /// counted as stored only after the commit of its batch returned.
    pub async fn import(
        &self,
        tenant: &TenantId,
        actor: Actor,
        path: &Path,
        custodian: Option<&str>,
        progress: impl FnMut(u64, Option<u64>),
    ) -> Result<ImportReport, ServerError> {
        let source = sealpost_mailbox::read::detect(path)
            .map_err(|e| ServerError::Invalid(sealpost_core::InvalidInput::general(format!("import: {e}"))))?;
        let reader = sealpost_mailbox::read::open(&source)
            .map_err(|e| ServerError::Invalid(sealpost_core::InvalidInput::general(format!("import: {e}"))))?;
        let total = reader.total_hint();
        let (tx, rx) = mpsc::channel(4 * BATCH);
        let max_size = self.core.cfg.limits.max_message_size;
        let producer = tokio::task::spawn_blocking(move || read_source(reader, max_size, tx));
        let mut run = Run {
            tenant,
            actor: &actor,
            custodian,
            rx,
            seen: HashSet::new(),
            report: ImportReport::default(),
            progress,
            total,
        };
        let mut batch = self.next_batch(&mut run).await?;
        while !batch.is_empty() {
            let n = batch.len() as u64;
            // The next batch is gathered (dedup lookups included) while this one is sealed and committed.
            let (accepted, next) = tokio::join!(self.accept.accept(batch, None), self.next_batch(&mut run));
            accepted?;
            run.report.stored += n;
            batch = next?;
        }
        producer.await.map_err(|e| ServerError::State(format!("import reader: {e}")))?;
        let report = run.report;
        let outcome = if report.refused.is_empty() { Outcome::Success } else { Outcome::Failure };
        self.core
            .audit(vec![
                NewEvent::new(tenant.clone(), actor, Action::ImportCompleted, outcome)
                    .detail("read", DetailValue::Count(report.read as i64))
                    .detail("stored", DetailValue::Count(report.stored as i64))
                    .detail("duplicates", DetailValue::Count(report.duplicates as i64))
                    .detail("malformed", DetailValue::Count(report.malformed.len() as i64))
                    .detail("refused", DetailValue::Count(report.refused.len() as i64)),
            ])
            .await?;
        Ok(report)
    }

    /// Up to `BATCH` new messages from the reader (empty at the end).
    async fn next_batch<P: FnMut(u64, Option<u64>)>(
        &self,
        run: &mut Run<'_, P>,
    ) -> Result<Vec<Submission>, ServerError> {
        let mut batch = Vec::with_capacity(BATCH);
        while batch.len() < BATCH {
            let Some(read) = run.rx.recv().await else { break };
            run.report.read += 1;
            let (item, digest, problems, category) = match read {
                Read::Unreadable(why, position) => {
                    (run.progress)(position, run.total);
                    run.report.refused.push((String::from("(unreadable)"), why));
                    continue;
                }
                Read::TooLarge(location, position) => {
                    (run.progress)(position, run.total);
                    run.report.refused.push((location, "larger than limits.max_message_size".into()));
                    continue;
                }
                Read::Message { item, digest, problems, category, position } => {
                    (run.progress)(position, run.total);
                    (item, digest, problems, category)
                }
            };
            let hash = self.core.content_hash(run.tenant, &digest);
            if !run.seen.insert(hash.clone()) || self.core.store.message_with_hash(run.tenant, &hash).await?.is_some() {
                run.report.duplicates += 1;
                continue;
            }
            if !problems.is_empty() {
                run.report.malformed.push((item.location.clone(), problems));
            }
            batch.push(Submission {
                tenant: run.tenant.clone(),
                actor: run.actor.clone(),
                source: Source::Import,
                category,
                envelope: EnvelopeMeta { custodian: run.custodian.map(str::to_owned), ..EnvelopeMeta::default() },
                raw: item.bytes,
            });
        }
        Ok(batch)
    }
}
