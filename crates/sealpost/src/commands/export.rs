//! `sealpost export` (R-AR-6): the messages matching a query, as an mbox
//! or EML-in-zip package written beside its SHA-256.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use sealpost_archive::export::ExportFormat;
use sealpost_audit::Actor;

use super::TenantArg;
use crate::context::Context;

/// Export package formats (also `access-request export --format`).
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// mboxrd, with OUT.manifest.json.
    Mbox,
    /// A zip of .eml files with manifest.json and manifest.csv.
    EmlZip,
}

impl From<Format> for ExportFormat {
    fn from(f: Format) -> ExportFormat {
        match f {
            Format::Mbox => ExportFormat::Mbox,
            Format::EmlZip => ExportFormat::EmlZip,
        }
    }
}

/// `sealpost export`.
#[derive(Args)]
pub struct ExportArgs {
    /// The query selecting the messages (as for `sealpost search`).
    query: String,
    /// Package format.
    #[arg(long, value_enum)]
    format: Format,
    /// The package file to write (OUT.sha256 is written beside it).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    tenant: TenantArg,
}

/// A progress bar on standard error: `total` items, or a spinner when unknown.
pub fn progress_bar(total: Option<u64>, what: &str) -> ProgressBar {
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    let template = format!("{what} {{bar:40}} {{pos}}/{{len}} {{elapsed}} eta {{eta}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

pub async fn exec(ctx: &mut Context, a: ExportArgs) -> Result<i32> {
    let app = ctx.app().await?;
    if a.out.exists() {
        bail!("{} exists; choose a new file", a.out.display());
    }
    let progress = progress_bar(Some(0), "export");
    let summary = app
        .archive
        .export(&a.tenant.id()?, Actor::cli(), &a.query, a.format.into(), &a.out, |done, total| {
            progress.set_length(total);
            progress.set_position(done);
        })
        .await
        .with_context(|| format!("export to {}", a.out.display()))?;
    progress.finish_and_clear();
    println!("{} messages, {} bytes, sha256 {}", summary.count, summary.bytes, summary.sha256);
    Ok(0)
}
