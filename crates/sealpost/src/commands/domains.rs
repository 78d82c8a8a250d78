//! `sealpost domains list|add|verify|assert|remove [--tenant T] DOMAIN`:
//! the domains a tenant may send as (issue 13.9).

use anyhow::Result;
use clap::Subcommand;
use sealpost_audit::Actor;

use super::TenantArg;
use crate::context::Context;

#[derive(Subcommand)]
pub enum DomainsCommand {
    /// List the tenant's sending domains and their state.
    List {
        #[command(flatten)]
        tenant: TenantArg,
    },
    /// Add DOMAIN, pending verification; prints the TXT record to publish.
    Add {
        /// Domain.
        domain: String,
        #[command(flatten)]
        tenant: TenantArg,
    },
    /// Look up DOMAIN's TXT record (through `[delivery] name_servers`) and
    /// mark it verified when it carries the tenant's token.
    Verify {
        /// Domain.
        domain: String,
        #[command(flatten)]
        tenant: TenantArg,
    },
    /// As the installation operator, declare that the tenant owns DOMAIN (no DNS check).
    Assert {
        /// Domain.
        domain: String,
        #[command(flatten)]
        tenant: TenantArg,
    },
    /// Remove DOMAIN from the tenant.
    Remove {
        /// Domain.
        domain: String,
        #[command(flatten)]
        tenant: TenantArg,
    },
}

pub async fn exec(ctx: &mut Context, command: DomainsCommand) -> Result<i32> {
    let app = ctx.app().await?;
    let senders = &app.senders;
    match command {
        DomainsCommand::List { tenant } => {
            for d in senders.list(&tenant.id()?).await? {
                println!("{}\t{}", d.domain, d.state.as_str());
            }
        }
        DomainsCommand::Add { domain, tenant } => {
            let (record, txt) = senders.add(&tenant.id()?, Actor::cli(), &domain).await?;
            println!("{}\t{}", record.domain, record.state.as_str());
            println!("{}. IN TXT \"{}\"", txt.name, txt.value);
        }
        DomainsCommand::Verify { domain, tenant } => {
            let record = senders.verify(&tenant.id()?, Actor::cli(), &domain).await?;
            println!("{}\t{}", record.domain, record.state.as_str());
        }
        DomainsCommand::Assert { domain, tenant } => {
            let record = senders.assert(&tenant.id()?, Actor::cli(), &domain).await?;
            println!("{}\t{}", record.domain, record.state.as_str());
        }
        DomainsCommand::Remove { domain, tenant } => {
            senders.remove(&tenant.id()?, Actor::cli(), &domain).await?;
        }
    }
    Ok(0)
}
