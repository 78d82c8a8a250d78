//! Export (R-AR-6): the messages matching a query, as an mbox file (with
//! `<out>.manifest.json`) or a zip of `.eml` files (manifest inside), the
//! original bytes unchanged, plus `<out>.sha256` with the package's
//! checksum. The package is written to a temporary file next to `out` and
//! renamed when complete, so a failed export leaves nothing behind.
//!
//! The package holds the messages in clear: it is the legal deliverable and
//! goes where the operator says, outside the data directory. The export is
//! audited once (who, the sealed query's id, count, package hash).

use std::path::Path;

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_mailbox::write::{EmlZipWriter, ExportMessage, MboxWriter, PackageSummary};
use sealpost_model::TenantId;

use crate::ServerError;
use crate::app::App;

/// Package formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// mboxrd, manifest beside it.
    Mbox,
    /// Zip of `<id>.eml`, `manifest.json`, `manifest.csv`.
    EmlZip,
}

enum Writer {
    Mbox(Box<MboxWriter>),
    Zip(Box<EmlZipWriter>),
}

fn mailbox_err(e: sealpost_mailbox::MailboxError) -> ServerError {
    ServerError::State(format!("export: {e}"))
}

impl App {
    /// Writes the messages of `tenant` matching `query` to `out`.
    /// `progress(done, total)` is called per message.
    pub async fn export(
        &self,
        tenant: &TenantId,
        actor: Actor,
        query: &str,
        format: ExportFormat,
        out: &Path,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<PackageSummary, ServerError> {
        let ids = self.matching_ids(tenant, query).await?;
        let mut writer = match format {
            ExportFormat::Mbox => Writer::Mbox(Box::new(MboxWriter::create(out).map_err(mailbox_err)?)),
            ExportFormat::EmlZip => Writer::Zip(Box::new(EmlZipWriter::create(out).map_err(mailbox_err)?)),
        };
        let total = ids.len() as u64;
        for (i, id) in ids.iter().enumerate() {
            let opened = self.load_message(tenant, id, true).await?;
            let bytes = opened.raw.unwrap_or_default();
            let received_at =
                time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(opened.record.created_at) * 1000).ok();
            let id_text = id.to_string();
            let message = ExportMessage { id: &id_text, bytes: &bytes, received_at };
            match &mut writer {
                Writer::Mbox(w) => w.write(&message).map_err(mailbox_err)?,
                Writer::Zip(w) => w.write(&message).map_err(mailbox_err)?,
            };
            progress(i as u64 + 1, total);
        }
        let summary = match writer {
            Writer::Mbox(w) => w.finish(),
            Writer::Zip(w) => w.finish(),
        }
        .map_err(mailbox_err)?;
        let query_id = self.log_query(tenant, &actor, query).await?;
        let mut digest = [0u8; 32];
        hex::decode_to_slice(&summary.sha256, &mut digest).map_err(|e| ServerError::State(e.to_string()))?;
        self.audit(vec![
            NewEvent::new(tenant.clone(), actor, Action::ExportCreated, Outcome::Success)
                .detail("query", DetailValue::id(query_id))
                .detail("count", DetailValue::Count(summary.count as i64))
                .detail("format", DetailValue::Name(if format == ExportFormat::Mbox { "mbox" } else { "eml-zip" }))
                .detail("package_sha256", DetailValue::Digest(digest)),
        ])
        .await?;
        Ok(summary)
    }
}
