//! `sealpost portal`: the sender's side of the secure portal — retract a
//! message, change when it expires, unlock a locked-out recipient.

use anyhow::{Context as _, Result};
use clap::Subcommand;
use sealpost_audit::Actor;
use sealpost_model::{MessageId, RecipientId};

use super::TenantArg;
use crate::context::Context;

#[derive(Subcommand)]
pub enum PortalCommand {
    /// Retract a message from the portal (all its recipients, or one).
    Retract {
        /// Message id.
        id: String,
        /// Only this recipient's copy (a recipient id from `message show`).
        #[arg(long)]
        recipient: Option<String>,
        #[command(flatten)]
        tenant: TenantArg,
    },
    /// Change when a message's portal copies expire.
    Expire {
        /// Message id.
        id: String,
        /// The new expiry, RFC 3339 (e.g. 2027-01-31T00:00:00Z).
        #[arg(long)]
        at: String,
        #[command(flatten)]
        tenant: TenantArg,
    },
    /// Lift a recipient's lockout after wrong codes.
    Unlock {
        /// The recipient's address.
        address: String,
        #[command(flatten)]
        tenant: TenantArg,
    },
}

pub async fn exec(ctx: &mut Context, command: PortalCommand) -> Result<i32> {
    let app = ctx.app().await?;
    match command {
        PortalCommand::Retract { id, recipient, tenant } => {
            let id = MessageId::parse(&id).context("message id")?;
            let recipient = recipient.map(|r| RecipientId::parse(&r)).transpose().context("recipient id")?;
            let n = app.portal.retract(&tenant.id()?, Actor::cli(), &id, recipient).await?;
            println!("retracted {n} portal cop{} of {id}", if n == 1 { "y" } else { "ies" });
        }
        PortalCommand::Expire { id, at, tenant } => {
            let id = MessageId::parse(&id).context("message id")?;
            let at = time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
                .context("--at must be an RFC 3339 time")?;
            let micros = i64::try_from(at.unix_timestamp_nanos() / 1000).context("--at out of range")?;
            app.portal.set_expiry(&tenant.id()?, Actor::cli(), &id, micros).await?;
            println!("portal copies of {id} now expire at {}", sealpost_audit::rfc3339_micros(micros));
        }
        PortalCommand::Unlock { address, tenant } => {
            let was = app.portal.unlock(&tenant.id()?, Actor::cli(), &address).await?;
            println!("{}", if was { "unlocked" } else { "was not locked" });
        }
    }
    Ok(0)
}
