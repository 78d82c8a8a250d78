//! `sealpost hold`: legal holds (R-AR-4), created and released by named
//! people (two for a release).

use anyhow::{Context as _, Result};
use clap::Subcommand;
use sealpost_archive::holds::HoldScope;
use sealpost_audit::Action;
use sealpost_model::RecipientId;

use super::{TenantArg, person};
use crate::context::Context;

#[derive(Subcommand)]
pub enum HoldCommand {
    /// Create a hold; every scope part given must match (none: every message).
    Create {
        /// The matter's name (unique in the tenant).
        #[arg(long)]
        name: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// A custodian's address (repeatable).
        #[arg(long = "custodian")]
        custodians: Vec<String>,
        /// First message date covered, YYYY-MM-DD.
        #[arg(long)]
        from: Option<String>,
        /// Last message date covered, YYYY-MM-DD.
        #[arg(long)]
        until: Option<String>,
        /// A search query.
        #[arg(long)]
        query: Option<String>,
        /// The person creating it.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        tenant: TenantArg,
    },
    /// List holds (JSON).
    List {
        #[command(flatten)]
        tenant: TenantArg,
    },
    /// Ask for a hold's release (first person), with a written justification.
    Release {
        /// Hold id.
        id: String,
        /// Why the hold can end.
        #[arg(long)]
        justification: String,
        /// The person asking.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        tenant: TenantArg,
    },
    /// Approve a requested release (a second person, not the requester).
    ApproveRelease {
        /// Hold id.
        id: String,
        /// The approving person.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        tenant: TenantArg,
    },
}

pub async fn exec(ctx: &mut Context, command: HoldCommand) -> Result<i32> {
    let app = ctx.app().await?;
    match command {
        HoldCommand::Create { name, reason, custodians, from, until, query, user, tenant } => {
            let p = person(&app, &user, Action::HoldCreated).await?;
            let scope = HoldScope { custodians, from, until, query };
            let id = app.archive.create_hold(&tenant.id()?, &p, &name, &reason, scope).await?;
            println!("{id}");
        }
        HoldCommand::List { tenant } => {
            println!("{}", serde_json::to_string_pretty(&app.archive.list_holds(&tenant.id()?).await?)?);
        }
        HoldCommand::Release { id, justification, user, tenant } => {
            let p = person(&app, &user, Action::HoldReleaseRequested).await?;
            let id = RecipientId::parse(&id).context("hold id")?;
            app.archive.request_hold_release(&tenant.id()?, &p, &id, &justification).await?;
            println!("hold {id}: release requested; a second person must approve it (hold approve-release)");
        }
        HoldCommand::ApproveRelease { id, user, tenant } => {
            let p = person(&app, &user, Action::HoldReleased).await?;
            let id = RecipientId::parse(&id).context("hold id")?;
            app.archive.approve_hold_release(&tenant.id()?, &p, &id).await?;
            println!("hold {id}: released");
        }
    }
    Ok(0)
}
