//! `sealpost message`: read stored messages.

use std::io::Write;

use anyhow::{Context as _, Result};
use clap::Subcommand;
use sealpost_audit::Actor;
use sealpost_model::MessageId;

use super::TenantArg;
use crate::context::Context;

#[derive(Subcommand)]
pub enum MessageCommand {
    /// Show a message's state, or with --raw its original bytes (audited).
    #[command(mut_arg("tenant", |a| a.help("Tenant that owns the message")))]
    Show {
        /// Message id.
        id: String,
        /// Write the original RFC 5322 bytes to standard output.
        #[arg(long)]
        raw: bool,
        #[command(flatten)]
        tenant: TenantArg,
    },
}

pub async fn exec(ctx: &mut Context, command: MessageCommand) -> Result<i32> {
    let MessageCommand::Show { id, raw, tenant } = command;
    let app = ctx.app().await?;
    let id = MessageId::parse(&id).context("message id")?;
    let retention = app.archive.retention_of(&tenant.id()?, &id).await;
    if let Ok(Some(r)) = &retention
        && r.disposed_at.is_some()
        && !raw
    {
        let state = serde_json::json!({ "id": id.to_string(), "state": "disposed", "retention": r });
        println!("{}", serde_json::to_string_pretty(&state)?);
        return Ok(0);
    }
    let m = app.reader.open_message(&tenant.id()?, &id, Actor::cli(), raw).await?;
    let retention = retention?;
    if let Some(bytes) = m.raw {
        std::io::stdout().write_all(&bytes)?;
    } else {
        let state = serde_json::json!({
            "id": m.record.id.to_string(),
            "state": m.record.state,
            "created_at": sealpost_audit::rfc3339_micros(m.record.created_at),
            "category": m.record.category.as_str(),
            "size": m.record.size,
            "sha256": m.meta.sha256,
            "recipients": m.recipients.iter().map(|r| serde_json::json!({"id": r.id.to_string(), "state": r.state})).collect::<Vec<_>>(),
            "retention": retention,
        });
        println!("{}", serde_json::to_string_pretty(&state)?);
    }
    Ok(0)
}
