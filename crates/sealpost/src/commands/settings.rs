//! `sealpost settings`: a tenant's delivery and classification settings, as JSON.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Subcommand;
use sealpost_audit::Actor;
use sealpost_core::settings::TenantSettings;

use super::{TenantArg, read_text};
use crate::context::Context;

#[derive(Subcommand)]
pub enum SettingsCommand {
    /// Print the settings as JSON.
    Show {
        #[command(flatten)]
        tenant: TenantArg,
    },
    /// Replace the settings with a JSON file (`-` for standard input).
    Set {
        /// The JSON document.
        file: PathBuf,
        #[command(flatten)]
        tenant: TenantArg,
    },
}

pub async fn exec(ctx: &mut Context, command: SettingsCommand) -> Result<i32> {
    match command {
        SettingsCommand::Show { tenant } => {
            let app = ctx.app().await?;
            let r = app.settings.get(&tenant.id()?).await?;
            println!("{}", serde_json::to_string_pretty(&r.settings)?);
        }
        SettingsCommand::Set { file, tenant } => {
            // The document is checked before the store is opened.
            let settings: TenantSettings = serde_json::from_str(&read_text(&file)?).context("settings JSON")?;
            let app = ctx.app().await?;
            let change = app.settings.put(&tenant.id()?, Actor::cli(), &settings).await?;
            app.archive.settings_changed(&tenant.id()?, Actor::cli(), change).await?;
            println!("tenant {}: settings saved", tenant.as_str());
        }
    }
    Ok(0)
}
