//! `sealpost user`: add users.

use anyhow::Result;
use clap::Subcommand;
use sealpost_audit::Actor;
use sealpost_model::Role;

use super::TenantArg;
use crate::context::Context;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user; the password comes from SEALPOST_NEW_PASSWORD or is generated and printed.
    Add {
        /// Login name.
        name: String,
        #[command(flatten)]
        tenant: TenantArg,
        /// Role: admin, compliance, legal, sender, auditor.
        #[arg(long, default_value = "sender")]
        role: String,
    },
}

pub async fn exec(ctx: &mut Context, command: UserCommand) -> Result<i32> {
    let UserCommand::Add { name, tenant, role } = command;
    let app = ctx.app().await?;
    let role = Role::parse(&role)?;
    let (password, generated) = match std::env::var("SEALPOST_NEW_PASSWORD") {
        Ok(p) => (p, false),
        Err(_) => (sealpost_identity::generated_password()?, true),
    };
    let id = app.identity.create_user(&tenant.id()?, &name, &password, role, Actor::cli()).await?;
    println!("user {name} ({id}) created with role {role}");
    if generated {
        println!("password (shown once): {password}");
    }
    Ok(0)
}
