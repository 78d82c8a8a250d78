//! `sealpost`: parses arguments, sets up logging and runs one command
//! (`commands/`, one module per command group) in one [`Context`].

mod commands;
mod context;

use std::path::PathBuf;

use clap::Parser;

use crate::context::Context;

/// Secure email for healthcare: SMTP and REST intake, encryption at rest,
/// a tamper-evident audit log.
#[derive(Parser)]
#[command(
    name = "sealpost",
    version,
    propagate_version = true,
    after_help = "Examples:\n  sealpost serve                     start on ./sealpost-data (initializes it on first run)\n  \
                  sealpost init --json               provision a data directory for scripts\n  \
                  sealpost message show ID --raw     print a message's original bytes (audited)\n  \
                  sealpost audit verify              check the audit chain and checkpoints\n\n\
                  Every command works while the server runs. Configuration: DATA/sealpost.toml (docs/configuration.md)."
)]
struct Cli {
    /// Data directory (configuration, keys, database, blobs).
    #[arg(long, global = true, env = "SEALPOST_DATA", default_value = "./sealpost-data")]
    data: PathBuf,
    #[command(subcommand)]
    command: commands::Command,
}

/// Logs go to standard error, filtered by SEALPOST_LOG (default `info`);
/// SEALPOST_LOG_FORMAT=json writes one JSON object per line, for log shippers.
fn init_logging() {
    let log = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SEALPOST_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr);
    match std::env::var("SEALPOST_LOG_FORMAT").unwrap_or_default().as_str() {
        "json" => log.json().init(),
        "" | "text" => log.init(),
        other => {
            log.init();
            tracing::warn!(format = other, "unknown SEALPOST_LOG_FORMAT (json or text); using text");
        }
    }
}

/// Exit codes: the command's (0, or 1 for a failed check), 2 for an error.
#[tokio::main]
async fn main() {
    init_logging();
    let cli = Cli::parse();
    let mut ctx = Context::new(cli.data);
    let result = commands::exec(&mut ctx, cli.command).await;
    ctx.close().await;
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
