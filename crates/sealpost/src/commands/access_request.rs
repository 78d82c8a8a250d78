//! `sealpost access-request`: patient access requests (R-AR-7, 45 CFR
//! 164.524) — record one, list them (overdue ones flagged), search the
//! designated record set, and export it. The export is CLI-only: the
//! package holds the messages in clear and goes where the operator says.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use sealpost_archive::access::{AccessRequest, AccessRequestSummary};
use sealpost_audit::{Actor, rfc3339_micros};
use sealpost_model::EventId;

use super::TenantArg;
use super::export::{Format, progress_bar};
use crate::context::Context;

/// `sealpost access-request …`; `--tenant` may come before or after the subcommand.
#[derive(Args)]
#[command(mut_arg("tenant", |a| a.global(true)))]
pub struct AccessRequestArgs {
    #[command(subcommand)]
    command: AccessRequestCommand,
    #[command(flatten)]
    tenant: TenantArg,
}

#[derive(Subcommand)]
enum AccessRequestCommand {
    /// Record a request; prints its id and due date.
    Create {
        /// The patient's name (searched as a phrase).
        #[arg(long)]
        patient: String,
        /// Another identifier: MRN, date of birth, email… (repeatable). Each
        /// widens the search: give only values unique to this patient.
        #[arg(long = "identifier")]
        identifiers: Vec<String>,
        /// Who made the request.
        #[arg(long)]
        requester: Option<String>,
        /// Notes for the people handling it.
        #[arg(long)]
        notes: Option<String>,
        /// Days until the answer is due (at most 60: 30 plus one extension).
        #[arg(long, default_value_t = sealpost_archive::access::DEFAULT_DUE_DAYS)]
        due_days: u32,
        /// Also include messages matching this query.
        #[arg(long)]
        widen: Option<String>,
        /// Only include messages also matching this query.
        #[arg(long)]
        narrow: Option<String>,
    },
    /// List requests: ids, states, dates, overdue flag (with --json, the patient's details too).
    List {
        /// Only requests not fulfilled and past due.
        #[arg(long)]
        overdue: bool,
        /// Print JSON, including each request's patient details (each read is audited).
        #[arg(long)]
        json: bool,
    },
    /// Search the request's designated record set (audited).
    Search {
        /// Request id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export the designated record set and mark the request fulfilled.
    Export {
        /// Request id.
        id: String,
        /// Package format.
        #[arg(long, value_enum)]
        format: Format,
        /// The package file to write (OUT.sha256 is written beside it).
        #[arg(long)]
        out: PathBuf,
    },
}

fn request_id(id: &str) -> Result<EventId> {
    EventId::parse(id).context("access request id")
}

fn day(at_micros: i64) -> String {
    rfc3339_micros(at_micros).chars().take(10).collect()
}

fn line(s: &AccessRequestSummary) -> String {
    format!(
        "{}  {:<9} created {}  due {}{}",
        s.id,
        s.state.as_str(),
        day(s.created_at),
        day(s.due_at),
        if s.overdue { "  OVERDUE" } else { "" }
    )
}

pub async fn exec(ctx: &mut Context, a: AccessRequestArgs) -> Result<i32> {
    let app = ctx.app().await?;
    let t = a.tenant.id()?;
    match a.command {
        AccessRequestCommand::Create { patient, identifiers, requester, notes, due_days, widen, narrow } => {
            let req = AccessRequest {
                patient_name: patient,
                identifiers,
                requester,
                notes,
                due_days: Some(due_days),
                widen,
                narrow,
            };
            let s = app.archive.create_access_request(&t, Actor::cli(), req).await?;
            println!("{}", s.id);
            eprintln!("access request {} recorded; due {}", s.id, rfc3339_micros(s.due_at));
        }
        AccessRequestCommand::List { overdue, json } => {
            let list = app.archive.list_access_requests(&t, overdue).await?;
            if json {
                let mut items = Vec::with_capacity(list.len());
                for s in &list {
                    items.push(app.archive.access_request(&t, Actor::cli(), &s.id).await?.to_json());
                }
                println!("{}", serde_json::json!({ "access_requests": items }));
            } else {
                for s in &list {
                    println!("{}", line(s));
                }
                eprintln!("{} request(s), {} overdue", list.len(), list.iter().filter(|s| s.overdue).count());
            }
        }
        AccessRequestCommand::Search { id, json } => {
            let ids = app.archive.search_access_request(&t, Actor::cli(), &request_id(&id)?).await?;
            if json {
                let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
                println!("{}", serde_json::json!({ "total": ids.len(), "ids": ids }));
            } else {
                for m in &ids {
                    println!("{m}");
                }
                eprintln!("{} message(s) in the designated record set", ids.len());
            }
        }
        AccessRequestCommand::Export { id, format, out } => {
            if out.exists() {
                bail!("{} exists; choose a new file", out.display());
            }
            let progress = progress_bar(Some(0), "export");
            let summary = app
                .archive
                .fulfill_access_request(&t, Actor::cli(), &request_id(&id)?, format.into(), &out, |done, total| {
                    progress.set_length(total);
                    progress.set_position(done);
                })
                .await
                .with_context(|| format!("export to {}", out.display()))?;
            progress.finish_and_clear();
            println!("{} messages, {} bytes, sha256 {}", summary.count, summary.bytes, summary.sha256);
            eprintln!("access request {id} fulfilled");
        }
    }
    Ok(0)
}
