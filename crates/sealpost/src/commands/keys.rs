//! `sealpost keys`: tenant KEK rotation, recipients' public keys on file,
//! DKIM keys of sending domains.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Subcommand;
use sealpost_audit::Actor;

use super::TenantArg;
use crate::context::Context;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Rotate a tenant's key-encryption key (re-wraps data keys, not bodies).
    Rotate {
        #[command(flatten)]
        tenant: TenantArg,
    },
    /// Recipients' public keys on file (OpenPGP keys, S/MIME certificates), used for delivery.
    Recipient {
        #[command(subcommand)]
        command: RecipientKeyCommand,
    },
    /// Create (or rotate) the DKIM keys of a sending domain: RSA-2048 and Ed25519.
    Dkim {
        /// Sending domain.
        domain: String,
        #[command(flatten)]
        tenant: TenantArg,
    },
}

#[derive(Subcommand)]
pub enum RecipientKeyCommand {
    /// Put an OpenPGP public key (armored or binary) or an S/MIME certificate (PEM) on file for the addresses it names.
    Add {
        /// Key file.
        file: PathBuf,
        #[command(flatten)]
        tenant: TenantArg,
    },
    /// List keys on file (ids, kinds, fingerprints; no addresses).
    List {
        #[command(flatten)]
        tenant: TenantArg,
    },
    /// Remove a key on file by id.
    Remove {
        /// Id from `list`.
        id: String,
        #[command(flatten)]
        tenant: TenantArg,
    },
}

pub async fn exec(ctx: &mut Context, command: KeysCommand) -> Result<i32> {
    let app = ctx.app().await?;
    match command {
        KeysCommand::Rotate { tenant } => {
            let (version, count) = app.keys.rotate_kek(&tenant.id()?, Actor::cli()).await?;
            println!("tenant {}: key-encryption key version {version}; {count} data keys re-wrapped", tenant.as_str());
        }
        KeysCommand::Recipient { command: RecipientKeyCommand::Add { file, tenant } } => {
            let bytes = std::fs::read(&file).with_context(|| file.display().to_string())?;
            let (kind, fingerprint, n) = app.keys.add_recipient_key(&tenant.id()?, &bytes, Actor::cli()).await?;
            println!("{kind} key {fingerprint} on file for {n} address(es)");
        }
        KeysCommand::Recipient { command: RecipientKeyCommand::List { tenant } } => {
            for k in app.keys.list_recipient_keys(&tenant.id()?).await? {
                println!("{}  {:<6} {}  {}", k.id, k.kind, k.fingerprint, sealpost_audit::rfc3339_micros(k.created_at));
            }
        }
        KeysCommand::Recipient { command: RecipientKeyCommand::Remove { id, tenant } } => {
            let id = sealpost_model::RecipientId::parse(&id).context("key id")?;
            app.keys.remove_recipient_key(&tenant.id()?, &id, Actor::cli()).await?;
            println!("recipient key {id} removed");
        }
        KeysCommand::Dkim { domain, tenant } => {
            let selectors = app.keys.rotate_dkim_keys(&tenant.id()?, &domain, Actor::cli()).await?;
            println!("DKIM keys for {domain}: selectors {}", selectors.join(", "));
            println!("Publish them: sealpost dns records {domain}");
        }
    }
    Ok(0)
}
