//! `sealpost audit`: verify the chain, export it, read a logged query.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::{Subcommand, ValueEnum};
use sealpost_audit::{Action, Actor, NewEvent, Outcome, VerifyReport};
use sealpost_core::system_tenant;
use sealpost_server::Services;

use super::TenantArg;
use crate::context::Context;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain and signed checkpoints; exit 1 naming the first bad event.
    Verify,
    /// Show the query of a logged search or export (the id in its audit
    /// event's `query` detail); the access is itself audited.
    Query {
        /// The search log id.
        id: String,
        #[command(flatten)]
        tenant: TenantArg,
    },
    /// Write every event.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// JSON lines.
    Jsonl,
    /// CSV with a header row.
    Csv,
}

pub async fn exec(ctx: &mut Context, command: AuditCommand) -> Result<i32> {
    match command {
        AuditCommand::Verify => {
            let app = ctx.app().await?;
            let report = verify(&app).await;
            let outcome = match &report {
                Ok(r) if r.is_ok() => Outcome::Success,
                _ => Outcome::Failure,
            };
            let _ = app
                .core
                .audit(vec![NewEvent::new(system_tenant(), Actor::cli(), Action::AuditVerified, outcome)])
                .await;
            return Ok(match report? {
                VerifyReport::Ok { events, checkpoints, last_seq } => {
                    println!("OK: {events} events (last #{last_seq}), {checkpoints} signed checkpoints verified");
                    0
                }
                VerifyReport::Broken(p) => {
                    println!("FAILED: {p}");
                    1
                }
            });
        }
        AuditCommand::Query { id, tenant } => {
            let app = ctx.app().await?;
            let id = sealpost_model::EventId::parse(&id).context("search log id")?;
            println!("{}", app.archive.logged_query(&tenant.id()?, Actor::cli(), &id).await?);
        }
        AuditCommand::Export { format, out } => {
            let app = ctx.app().await?;
            export(&app, format, out).await?;
        }
    }
    Ok(0)
}

/// Verifies the chain up to the head read first: events committed after
/// that read are simply not covered by this run (they are appended after
/// the head we compare with).
async fn verify(app: &Services) -> Result<VerifyReport> {
    let head = app.core.store.audit_head().await?;
    let checkpoints = app.core.store.audit_checkpoints().await?;
    let keys = app.core.store.audit_keys().await?;
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page = app.core.store.audit_events(after, 10_000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        let done = page.iter().any(|e| e.seq >= head.seq);
        events.extend(page.into_iter().filter(|e| e.seq <= head.seq));
        if done {
            break;
        }
    }
    let checkpoints: Vec<_> = checkpoints.into_iter().filter(|c| c.seq <= head.seq).collect();
    Ok(sealpost_audit::verify(events, &checkpoints, Some(&head), &keys))
}

/// Writes every event to `out` (standard output by default); audited with the count.
async fn export(app: &Services, format: ExportFormat, out: Option<PathBuf>) -> Result<()> {
    let mut w: Box<dyn Write> = match &out {
        Some(p) => {
            Box::new(std::io::BufWriter::new(std::fs::File::create(p).with_context(|| p.display().to_string())?))
        }
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    if matches!(format, ExportFormat::Csv) {
        writeln!(w, "{}", sealpost_audit::CSV_HEADER)?;
    }
    let mut after = 0;
    let mut count = 0i64;
    loop {
        let page = app.core.store.audit_events(after, 5000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            match format {
                ExportFormat::Jsonl => writeln!(w, "{}", sealpost_audit::to_json_line(e))?,
                ExportFormat::Csv => writeln!(w, "{}", sealpost_audit::to_csv_row(e))?,
            }
            count += 1;
        }
    }
    w.flush()?;
    app.core
        .audit(vec![
            NewEvent::new(system_tenant(), Actor::cli(), Action::AuditExported, Outcome::Success)
                .detail("events", sealpost_audit::DetailValue::Count(count)),
        ])
        .await?;
    Ok(())
}
