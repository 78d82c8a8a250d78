//! `sealpost retention`: policies, disposal runs, the disposition queue and
//! disposal certificates (R-AR-2, R-AR-3).

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use sealpost_archive::disposal::RunOptions;
use sealpost_archive::retention;
use sealpost_audit::{Action, Actor};
use sealpost_model::MessageId;

use super::{TenantArg, person, read_text, tenant_id};
use crate::context::Context;

#[derive(Subcommand)]
pub enum RetentionCommand {
    /// Show or replace a tenant's retention policy.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Evaluate, then dispose of expired, un-held messages (crypto-shredding).
    Run {
        /// Report what would be disposed of; dispose of nothing.
        #[arg(long)]
        dry_run: bool,
        /// A fixed clock, YYYY-MM-DD (default: now).
        #[arg(long)]
        now: Option<String>,
        /// Only this tenant (default: every tenant).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// The disposition queue: expired messages whose rule says `review`.
    Review {
        #[command(subcommand)]
        command: ReviewCommand,
    },
    /// The state medical-record table entries not yet confirmed against the
    /// regulation text (what is open, the citation, the note): what a
    /// compliance officer should confirm with counsel. See
    /// docs/retention-table.md.
    Unverified {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disposal certificates (ids, SHA-256 of the original, rule, times).
    Certificates {
        #[command(flatten)]
        tenant: TenantArg,
    },
}

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Print the policy (TOML) with its version.
    Show {
        #[command(flatten)]
        tenant: TenantArg,
    },
    /// Replace the policy with a TOML or JSON file (`-` for standard input).
    Set {
        /// The policy document.
        file: PathBuf,
        #[command(flatten)]
        tenant: TenantArg,
    },
}

#[derive(Subcommand)]
pub enum ReviewCommand {
    /// List messages waiting for review.
    List {
        #[command(flatten)]
        tenant: TenantArg,
        /// A fixed clock, YYYY-MM-DD.
        #[arg(long)]
        now: Option<String>,
    },
    /// Approve a message's disposal; it is disposed of now unless held.
    Approve {
        /// Message id.
        id: String,
        /// The reviewer (password from SEALPOST_PASSWORD).
        #[arg(long)]
        user: String,
        #[command(flatten)]
        tenant: TenantArg,
        /// A fixed clock, YYYY-MM-DD.
        #[arg(long)]
        now: Option<String>,
    },
    /// Keep a message until DATE; it returns to the queue then.
    Extend {
        /// Message id.
        id: String,
        /// New date, YYYY-MM-DD.
        #[arg(long)]
        until: String,
        /// The reviewer (password from SEALPOST_PASSWORD).
        #[arg(long)]
        user: String,
        #[command(flatten)]
        tenant: TenantArg,
        /// A fixed clock, YYYY-MM-DD.
        #[arg(long)]
        now: Option<String>,
    },
}

/// `--now DATE` as unix micros (default: the real clock).
fn now_arg(now: Option<&str>) -> Result<i64> {
    match now {
        None => Ok(sealpost_model::now_micros()),
        Some(t) => retention::parse_date(t).map(retention::date_micros).context("--now: expected YYYY-MM-DD"),
    }
}

/// Exit 1 when a run failed for any tenant or message.
pub async fn exec(ctx: &mut Context, command: RetentionCommand) -> Result<i32> {
    let app = ctx.app().await?;
    match command {
        RetentionCommand::Policy { command: PolicyCommand::Show { tenant } } => {
            let p = app.archive.retention_policy(&tenant.id()?).await?;
            println!("# retention policy version {}\n{}", p.version, p.policy.to_toml());
        }
        RetentionCommand::Policy { command: PolicyCommand::Set { file, tenant } } => {
            let text = read_text(&file)?;
            // JSON documents start with `{`; anything else is read as TOML.
            let policy = if text.trim_start().starts_with('{') {
                serde_json::from_str::<sealpost_retention::Policy>(&text).context("policy JSON")?
            } else {
                sealpost_retention::Policy::from_toml(&text).context("policy TOML")?
            };
            let version = app.archive.put_retention_policy(&tenant.id()?, Actor::cli(), policy).await?;
            println!("tenant {}: retention policy version {version} saved", tenant.as_str());
        }
        RetentionCommand::Run { dry_run, now, tenant } => {
            let opts = RunOptions { now: now_arg(now.as_deref())?, dry_run, actor: Actor::cli() };
            let results = match tenant {
                Some(t) => {
                    let t = tenant_id(&t)?;
                    let r = app.archive.run_retention(&t, &opts).await;
                    vec![(t, r)]
                }
                None => app.archive.run_retention_all(&opts).await,
            };
            let mut failed = false;
            let mut out = serde_json::Map::new();
            for (t, r) in results {
                match r {
                    Ok(report) => {
                        failed |= report.failed > 0;
                        out.insert(t.to_string(), serde_json::to_value(&report)?);
                    }
                    Err(e) => {
                        failed = true;
                        out.insert(t.to_string(), serde_json::json!({ "error": e.to_string() }));
                    }
                }
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            return Ok(if failed { 1 } else { 0 });
        }
        RetentionCommand::Review { command: ReviewCommand::List { tenant, now } } => {
            let items = app.archive.review_queue(&tenant.id()?, now_arg(now.as_deref())?).await?;
            println!("{}", serde_json::to_string_pretty(&items)?);
        }
        RetentionCommand::Review { command: ReviewCommand::Approve { id, user, tenant, now } } => {
            let p = person(&app, &user, Action::DispositionReviewed).await?;
            if p.tenant() != &tenant.id()? {
                bail!("user {user} belongs to another tenant");
            }
            let id = MessageId::parse(&id).context("message id")?;
            app.archive.approve_review(&tenant.id()?, &id, p.actor(), now_arg(now.as_deref())?).await?;
            println!("message {id}: disposal approved; disposed");
        }
        RetentionCommand::Review { command: ReviewCommand::Extend { id, until, user, tenant, now } } => {
            let p = person(&app, &user, Action::DispositionReviewed).await?;
            if p.tenant() != &tenant.id()? {
                bail!("user {user} belongs to another tenant");
            }
            let id = MessageId::parse(&id).context("message id")?;
            let date = retention::parse_date(&until).context("--until: expected YYYY-MM-DD")?;
            app.archive.extend_review(&tenant.id()?, &id, date, p.actor(), now_arg(now.as_deref())?).await?;
            println!("message {id}: kept until {until}");
        }
        RetentionCommand::Unverified { json } => {
            let open = app.archive.state_table()?.unverified();
            if json {
                println!("{}", serde_json::to_string_pretty(&open)?);
            } else {
                println!("# {} state entries are not confirmed against the regulation text", open.len());
                for e in &open {
                    let what: Vec<String> = e
                        .unconfirmed
                        .iter()
                        .map(|u| {
                            serde_json::to_value(u).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
                        })
                        .collect();
                    println!(
                        "{}\tunconfirmed: {}\tcitation: {}",
                        e.state.code(),
                        what.join(", "),
                        e.source.as_deref().unwrap_or("none")
                    );
                }
            }
        }
        RetentionCommand::Certificates { tenant } => {
            let certs = app.archive.disposal_certificates(&tenant.id()?).await?;
            println!("{}", serde_json::to_string_pretty(&certs)?);
        }
    }
    Ok(0)
}
