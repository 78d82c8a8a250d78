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
use sealpost_model::{Category, TenantId};
use sealpost_store::Source;

use crate::ServerError;
use crate::app::App;
use crate::pipeline::{EnvelopeMeta, Submission, category_from_headers};

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

impl App {
    /// Imports `path` into `tenant`. `custodian` names the mailbox owner
    /// (kept sealed with each message). `progress(position, total)` is called
    /// as the source is read (bytes for mbox, files otherwise).
    pub async fn import(
        &self,
        tenant: &TenantId,
        actor: Actor,
        path: &Path,
        custodian: Option<&str>,
        mut progress: impl FnMut(u64, Option<u64>),
    ) -> Result<ImportReport, ServerError> {
        let source = sealpost_mailbox::read::detect(path).map_err(|e| ServerError::Invalid(format!("import: {e}")))?;
        let mut reader =
            sealpost_mailbox::read::open(&source).map_err(|e| ServerError::Invalid(format!("import: {e}")))?;
        let total = reader.total_hint();
        let mut report = ImportReport::default();
        let mut seen = HashSet::new();
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let next = reader.next();
            progress(reader.position(), total);
            let item = match next {
                None => break,
                Some(Ok(item)) => item,
                Some(Err(e)) => {
                    report.read += 1;
                    report.refused.push((String::from("(unreadable)"), e.to_string()));
                    continue;
                }
            };
            report.read += 1;
            if item.bytes.len() > self.cfg.limits.max_message_size {
                report.refused.push((item.location, "larger than limits.max_message_size".into()));
                continue;
            }
            let digest = sealpost_crypto::sha256(&item.bytes);
            let hash = self.content_hash(tenant, &digest);
            if !seen.insert(hash.clone()) || self.store.message_with_hash(tenant, &hash).await?.is_some() {
                report.duplicates += 1;
                continue;
            }
            let mut problems: Vec<String> = item.problems.iter().map(ToString::to_string).collect();
            problems.extend(sealpost_mailbox::check(&item.bytes).iter().map(ToString::to_string));
            if !problems.is_empty() {
                report.malformed.push((item.location.clone(), problems));
            }
            let category = category_from_headers(&item.bytes).ok().flatten().unwrap_or(Category::Transactional);
            batch.push(Submission {
                tenant: tenant.clone(),
                actor: actor.clone(),
                source: Source::Import,
                category,
                envelope: EnvelopeMeta { custodian: custodian.map(str::to_owned), ..EnvelopeMeta::default() },
                raw: item.bytes,
            });
            if batch.len() == BATCH {
                report.stored += batch.len() as u64;
                self.accept(std::mem::take(&mut batch), None).await?;
            }
        }
        if !batch.is_empty() {
            report.stored += batch.len() as u64;
            self.accept(batch, None).await?;
        }
        let outcome = if report.refused.is_empty() { Outcome::Success } else { Outcome::Failure };
        self.audit(vec![
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
}
