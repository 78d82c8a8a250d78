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
        /// The user (login name) the key acts for. Only a key bound to a
        /// person may be one of the two people a hold release needs.
        #[arg(long)]
        user: Option<String>,
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
        ApikeyCommand::Create { tenant, name, scopes, user } => {
            let tenant = tenant.id()?;
            let scopes = scopes.split(',').map(|s| Scope::parse(s.trim())).collect::<Result<Vec<_>, _>>()?;
            let user = match user {
                None => None,
                Some(login) => match app.core.store.user_by_name(&login).await? {
                    Some(u) if u.tenant == tenant => Some(u.id),
                    _ => anyhow::bail!("no user {login:?} in tenant {tenant}"),
                },
            };
            let (_, key) = app.identity.create_api_key(&tenant, &name, scopes, user, Actor::cli()).await?;
            println!("{key}");
        }
        ApikeyCommand::List { tenant } => {
            for k in app.core.store.api_keys(&tenant.id()?).await? {
                let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
                let state = if k.revoked_at.is_some() { "revoked" } else { "active" };
                let person = k.user.map(|u| format!("user:{u}")).unwrap_or_else(|| "-".into());
                println!("{}  {:<8} {:<24} {:<42} {}", k.id, state, scopes.join(","), person, k.name);
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
