//! One module per command group, each with its clap arguments and an
//! `exec(ctx, args)` that returns the exit code. Arguments shared by many
//! commands ([`TenantArg`]) and small helpers are defined here once.

use std::path::Path;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use sealpost_audit::Action;
use sealpost_core::principal::Principal;
use sealpost_model::TenantId;
use sealpost_server::Services;

use crate::context::Context;

mod access_request;
mod apikey;
mod audit;
mod dns;
mod domains;
mod export;
mod hold;
mod import;
mod init;
mod keys;
mod message;
mod portal;
mod retention;
mod search;
mod serve;
mod settings;
mod status;
mod tenant;
mod user;

/// Every `sealpost` command, in the order `sealpost --help` lists them.
#[derive(Subcommand)]
pub enum Command {
    /// Run the server (initializes the data directory on first run).
    Serve,
    /// Create configuration, keys, the first tenant, an admin and an API key.
    Init(init::InitArgs),
    /// Read stored messages.
    Message {
        #[command(subcommand)]
        command: message::MessageCommand,
    },
    /// Verify or export the audit log.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: tenant::TenantCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: user::UserCommand,
    },
    /// Manage API keys.
    Apikey {
        #[command(subcommand)]
        command: apikey::ApikeyCommand,
    },
    /// Key management.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Search the archive (R-AR-5); audited with the query.
    Search(search::SearchArgs),
    /// Import an mbox file, a Maildir or a directory of .eml files (R-AR-8).
    Import(import::ImportArgs),
    /// Export the messages matching a query as mbox or EML-in-zip (R-AR-6).
    Export(export::ExportArgs),
    /// Patient access requests (R-AR-7): create, list (--overdue), search, export.
    AccessRequest(access_request::AccessRequestArgs),
    /// The domains a tenant may send as: list, add (prints the TXT record
    /// to publish), verify (looks it up), assert (operator, no DNS), remove.
    Domains {
        #[command(subcommand)]
        command: domains::DomainsCommand,
    },
    /// The secure portal, sender's side: retract, expire, unlock.
    Portal {
        #[command(subcommand)]
        command: portal::PortalCommand,
    },
    /// DNS records to publish.
    Dns {
        #[command(subcommand)]
        command: dns::DnsCommand,
    },
    /// A tenant's delivery and classification settings (policy mode, domain
    /// overrides, portal domains, always-secure, MRN patterns, dictionary,
    /// category rules), as JSON; see docs/configuration.md.
    Settings {
        #[command(subcommand)]
        command: settings::SettingsCommand,
    },
    /// Retention policies, disposal runs, the disposition queue and disposal
    /// certificates (R-AR-2, R-AR-3); see docs/design/retention.md.
    Retention {
        #[command(subcommand)]
        command: retention::RetentionCommand,
    },
    /// Legal holds (R-AR-4). Acting commands name the person with `--user`
    /// (role admin, compliance or legal) and read the password from SEALPOST_PASSWORD.
    Hold {
        #[command(subcommand)]
        command: hold::HoldCommand,
    },
    /// How far background work is behind (JSON): schema version, search
    /// index lag (and messages waiting for a retry after a failed load),
    /// delivery queue, webhook backlog.
    Status,
}

/// Runs `command`; the exit code.
pub async fn exec(ctx: &mut Context, command: Command) -> Result<i32> {
    match command {
        Command::Serve => serve::exec(ctx).await,
        Command::Init(args) => init::exec(ctx, args).await,
        Command::Message { command } => message::exec(ctx, command).await,
        Command::Audit { command } => audit::exec(ctx, command).await,
        Command::Tenant { command } => tenant::exec(ctx, command).await,
        Command::User { command } => user::exec(ctx, command).await,
        Command::Apikey { command } => apikey::exec(ctx, command).await,
        Command::Keys { command } => keys::exec(ctx, command).await,
        Command::Search(args) => search::exec(ctx, args).await,
        Command::Import(args) => import::exec(ctx, args).await,
        Command::Export(args) => export::exec(ctx, args).await,
        Command::AccessRequest(args) => access_request::exec(ctx, args).await,
        Command::Domains { command } => domains::exec(ctx, command).await,
        Command::Portal { command } => portal::exec(ctx, command).await,
        Command::Dns { command } => dns::exec(ctx, command).await,
        Command::Settings { command } => settings::exec(ctx, command).await,
        Command::Retention { command } => retention::exec(ctx, command).await,
        Command::Hold { command } => hold::exec(ctx, command).await,
        Command::Status => status::exec(ctx).await,
    }
}

/// `--tenant`: the tenant a command acts on, `default` unless given.
#[derive(Args)]
pub struct TenantArg {
    /// Tenant.
    #[arg(long = "tenant", default_value = TenantArg::DEFAULT)]
    tenant: String,
}

impl TenantArg {
    /// The tenant `init` creates, used when `--tenant` is not given.
    pub const DEFAULT: &str = "default";

    /// The tenant id; an error naming the value when it is not one.
    pub fn id(&self) -> Result<TenantId> {
        tenant_id(&self.tenant)
    }

    /// The value as given (for messages).
    pub fn as_str(&self) -> &str {
        &self.tenant
    }
}

/// Parses a tenant id given on the command line.
fn tenant_id(s: &str) -> Result<TenantId> {
    TenantId::parse(s).with_context(|| format!("tenant {s:?}"))
}

/// The contents of `file`, or standard input for `-`.
fn read_text(file: &Path) -> Result<String> {
    if file.as_os_str() == "-" {
        Ok(std::io::read_to_string(std::io::stdin())?)
    } else {
        std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))
    }
}

/// The person named by `--user`, with the password from SEALPOST_PASSWORD.
async fn person(app: &Services, user: &str, purpose: Action) -> Result<Principal> {
    let password = std::env::var("SEALPOST_PASSWORD").context("set SEALPOST_PASSWORD to the user's password")?;
    Ok(app.archive.authenticate_person(user, &password, purpose).await?)
}
