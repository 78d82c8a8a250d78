//! `sealpost apikey`: create, list and revoke API keys.

use anyhow::{Context as _, Result};
use clap::Subcommand;
use sealpost_audit::Actor;
use sealpost_model::{ApiKeyId, Scope};

use super::TenantArg;
use crate::context::Context;

#[derive(Subcommand)]
pub enum ApikeyCommand {
    /// Create a key (printed once).
    Create {
        #[command(flatten)]
        tenant: TenantArg,
        /// Label.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Comma-separated scopes: send, read-events, admin.
        #[arg(long, default_value = "send")]
        scopes: String,
    },
    /// List a tenant's keys (ids, names, scopes; never secrets).
    List {
        #[command(flatten)]
        tenant: TenantArg,
    },
    /// Revoke a key.
    Revoke {
        /// Key id.
        id: String,
        #[command(flatten)]
        tenant: TenantArg,
    },
}

pub async fn exec(ctx: &mut Context, command: ApikeyCommand) -> Result<i32> {
    let app = ctx.app().await?;
    match command {
        ApikeyCommand::Create { tenant, name, scopes } => {
            let scopes = scopes.split(',').map(|s| Scope::parse(s.trim())).collect::<Result<Vec<_>, _>>()?;
            let (_, key) = app.identity.create_api_key(&tenant.id()?, &name, scopes, Actor::cli()).await?;
            println!("{key}");
        }
        ApikeyCommand::List { tenant } => {
            for k in app.core.store.api_keys(&tenant.id()?).await? {
                let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
                let state = if k.revoked_at.is_some() { "revoked" } else { "active" };
                println!("{}  {:<8} {:<24} {}", k.id, state, scopes.join(","), k.name);
            }
        }
        ApikeyCommand::Revoke { id, tenant } => {
            let id = ApiKeyId::parse(&id).context("api key id")?;
            app.identity.revoke_api_key(&tenant.id()?, &id, Actor::cli()).await?;
            println!("api key {id} revoked");
        }
    }
    Ok(0)
}
