//! `sealpost import` (R-AR-8): an mbox file, a Maildir or a directory of
//! .eml files, with a progress bar and a PHI-free problem report.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use sealpost_audit::Actor;

use super::TenantArg;
use super::export::progress_bar;
use crate::context::Context;

/// `sealpost import`.
#[derive(Args)]
pub struct ImportArgs {
    /// An mbox file, a Maildir, or a directory of .eml files.
    path: PathBuf,
    /// The mailbox owner (eDiscovery custodian) the messages belong to.
    #[arg(long)]
    custodian: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    tenant: TenantArg,
}

/// Exit 1 when a message was refused.
pub async fn exec(ctx: &mut Context, a: ImportArgs) -> Result<i32> {
    let app = ctx.app().await?;
    let progress = progress_bar(None, "import");
    let report = app
        .archive
        .import(&a.tenant.id()?, Actor::cli(), &a.path, a.custodian.as_deref(), |pos, total| {
            if let Some(t) = total {
                progress.set_length(t);
            }
            progress.set_position(pos);
        })
        .await?;
    progress.finish_and_clear();
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "read {}, stored {}, already archived {}, kept as malformed {}, refused {}",
            report.read,
            report.stored,
            report.duplicates,
            report.malformed.len(),
            report.refused.len()
        );
        for (location, problems) in &report.malformed {
            println!("malformed (kept): {location}: {}", problems.join("; "));
        }
        for (location, why) in &report.refused {
            println!("refused: {location}: {why}");
        }
    }
    Ok(if report.refused.is_empty() { 0 } else { 1 })
}
