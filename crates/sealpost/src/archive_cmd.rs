//! `sealpost search`, `sealpost import`, `sealpost export`: the archive
//! commands (issue 4). They open the store and the search index like any
//! CLI command; while `sealpost serve` runs, the index is read as of the
//! server's last commit.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use sealpost_audit::Actor;
use sealpost_server::app::App;
use sealpost_server::archive::export::ExportFormat;
use sealpost_server::archive::index::SearchFailure;

use crate::tenant;

/// `sealpost search`.
#[derive(Args)]
pub struct SearchArgs {
    /// The query: from: to: cc: subject: has:attachment filename: before: after:
    /// category: phi: patient: hold:, "phrases", AND OR NOT ( ).
    pub query: String,
    /// Page, from 0.
    #[arg(long, default_value_t = 0)]
    pub page: usize,
    /// Results per page (at most 1000).
    #[arg(long, default_value_t = 50)]
    pub per_page: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Tenant.
    #[arg(long, default_value = "default")]
    pub tenant: String,
}

/// `sealpost import`.
#[derive(Args)]
pub struct ImportArgs {
    /// An mbox file, a Maildir, or a directory of .eml files.
    pub path: PathBuf,
    /// The mailbox owner (eDiscovery custodian) the messages belong to.
    #[arg(long)]
    pub custodian: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Tenant.
    #[arg(long, default_value = "default")]
    pub tenant: String,
}

/// Export package formats.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// mboxrd, with OUT.manifest.json.
    Mbox,
    /// A zip of .eml files with manifest.json and manifest.csv.
    EmlZip,
}

/// `sealpost export`.
#[derive(Args)]
pub struct ExportArgs {
    /// The query selecting the messages (as for `sealpost search`).
    pub query: String,
    /// Package format.
    #[arg(long, value_enum)]
    pub format: Format,
    /// The package file to write (OUT.sha256 is written beside it).
    #[arg(long)]
    pub out: PathBuf,
    /// Tenant.
    #[arg(long, default_value = "default")]
    pub tenant: String,
}

fn bar(total: Option<u64>, what: &str) -> ProgressBar {
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

pub async fn search(app: &App, a: SearchArgs) -> Result<i32> {
    match app.search(&tenant(&a.tenant)?, Actor::cli(), &a.query, a.page, a.per_page).await {
        Ok(r) => {
            if a.json {
                let results: Vec<_> = r
                    .hits
                    .iter()
                    .map(
                        |(id, d)| serde_json::json!({"id": id.to_string(), "date": sealpost_audit::rfc3339_micros(*d)}),
                    )
                    .collect();
                println!("{}", serde_json::json!({"total": r.total, "page": a.page, "results": results}));
            } else {
                for (id, d) in &r.hits {
                    println!("{id}  {}", sealpost_audit::rfc3339_micros(*d));
                }
                eprintln!("{} matching; page {} ({} shown)", r.total, a.page, r.hits.len());
            }
            Ok(0)
        }
        Err(SearchFailure::Syntax(e)) => {
            eprintln!("query error at {e}");
            eprintln!("  {}", a.query);
            eprintln!("  {}^", " ".repeat(e.position));
            Ok(2)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn import(app: &App, a: ImportArgs) -> Result<i32> {
    let progress = bar(None, "import");
    let report = app
        .import(&tenant(&a.tenant)?, Actor::cli(), &a.path, a.custodian.as_deref(), |pos, total| {
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

pub async fn export(app: &App, a: ExportArgs) -> Result<i32> {
    if a.out.exists() {
        bail!("{} exists; choose a new file", a.out.display());
    }
    let format = match a.format {
        Format::Mbox => ExportFormat::Mbox,
        Format::EmlZip => ExportFormat::EmlZip,
    };
    let progress = bar(Some(0), "export");
    let summary = app
        .export(&tenant(&a.tenant)?, Actor::cli(), &a.query, format, &a.out, |done, total| {
            progress.set_length(total);
            progress.set_position(done);
        })
        .await
        .with_context(|| format!("export to {}", a.out.display()))?;
    progress.finish_and_clear();
    println!("{} messages, {} bytes, sha256 {}", summary.count, summary.bytes, summary.sha256);
    Ok(0)
}
