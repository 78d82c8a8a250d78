//! `sealpost tenant`: create and list tenants.

use anyhow::Result;
use clap::Subcommand;
use sealpost_audit::Actor;

use super::tenant_id;
use crate::context::Context;

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Create a tenant with its own key-encryption key.
    Create {
        /// Tenant id (a-z, 0-9, '-').
        id: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
    },
    /// List tenant ids.
    List,
}

pub async fn exec(ctx: &mut Context, command: TenantCommand) -> Result<i32> {
    let app = ctx.app().await?;
    match command {
        TenantCommand::Create { id, name } => {
            let t = tenant_id(&id)?;
            app.identity.create_tenant(&t, name.as_deref().unwrap_or(&id), Actor::cli()).await?;
            println!("tenant {t} created");
        }
        TenantCommand::List => {
            for t in app.core.store.tenant_ids().await? {
                println!("{t}");
            }
        }
    }
    Ok(0)
}
