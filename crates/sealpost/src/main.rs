//! `sealpost`: parses arguments and wires the library crates together.

mod access_cmd;
mod archive_cmd;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use sealpost_audit::{Action, Actor, NewEvent, Outcome, VerifyReport};
use sealpost_model::{ApiKeyId, MessageId, Role, Scope, TenantId};
use sealpost_server::app::{App, system_tenant};
use sealpost_server::archive::disposal::RunOptions;
use sealpost_server::archive::holds::HoldScope;
use sealpost_server::archive::retention;
use sealpost_server::bootstrap::{self, InitOutput};
use sealpost_server::config::Config;

/// Secure email for healthcare: SMTP and REST intake, encryption at rest,
/// a tamper-evident audit log.
#[derive(Parser)]
#[command(
    name = "sealpost",
    version,
    propagate_version = true,
    after_help = "Examples:\n  sealpost serve                     start on ./sealpost-data (initializes it on first run)\n  \
                  sealpost init --json               provision a data directory for scripts\n  \
                  sealpost message show ID --raw     print a message's original bytes (audited)\n  \
                  sealpost audit verify              check the audit chain and checkpoints\n\n\
                  Every command works while the server runs. Configuration: DATA/sealpost.toml (docs/configuration.md)."
)]
struct Cli {
    /// Data directory (configuration, keys, database, blobs).
    #[arg(long, global = true, env = "SEALPOST_DATA", default_value = "./sealpost-data")]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (initializes the data directory on first run).
    Serve,
    /// Create configuration, keys, the first tenant, an admin and an API key.
    Init {
        /// Print the result as one JSON object (data_dir, tenant, admin_user, admin_password, api_key).
        #[arg(long)]
        json: bool,
    },
    /// Read stored messages.
    Message {
        #[command(subcommand)]
        command: MessageCommand,
    },
    /// Verify or export the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API keys.
    Apikey {
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// Key management.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Search the archive (R-AR-5); audited with the query.
    Search(archive_cmd::SearchArgs),
    /// Import an mbox file, a Maildir or a directory of .eml files (R-AR-8).
    Import(archive_cmd::ImportArgs),
    /// Export the messages matching a query as mbox or EML-in-zip (R-AR-6).
    Export(archive_cmd::ExportArgs),
    /// Patient access requests (R-AR-7): create, list (--overdue), search, export.
    AccessRequest(access_cmd::AccessRequestArgs),
    /// DNS records to publish.
    Dns {
        #[command(subcommand)]
        command: DnsCommand,
    },
    /// A tenant's delivery and classification settings (policy mode, domain
    /// overrides, portal domains, always-secure, MRN patterns, dictionary,
    /// category rules), as JSON; see docs/configuration.md.
    Settings {
        #[command(subcommand)]
        command: SettingsCommand,
    },
    /// Retention policies, disposal runs, the disposition queue and disposal
    /// certificates (R-AR-2, R-AR-3); see docs/design/retention.md.
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Legal holds (R-AR-4). Acting commands name the person with `--user`
    /// (role admin, compliance or legal) and read the password from SEALPOST_PASSWORD.
    Hold {
        #[command(subcommand)]
        command: HoldCommand,
    },
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Show or replace a tenant's retention policy.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Evaluate, then dispose of expired, un-held messages (crypto-shredding).
    Run {
        /// Report what would be disposed of; dispose of nothing.
        #[arg(long)]
        dry_run: bool,
        /// A fixed clock, YYYY-MM-DD (default: now).
        #[arg(long)]
        now: Option<String>,
        /// Only this tenant (default: every tenant).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// The disposition queue: expired messages whose rule says `review`.
    Review {
        #[command(subcommand)]
        command: ReviewCommand,
    },
    /// Disposal certificates (ids, SHA-256 of the original, rule, times).
    Certificates {
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Print the policy (TOML) with its version.
    Show {
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Replace the policy with a TOML or JSON file (`-` for standard input).
    Set {
        /// The policy document.
        file: PathBuf,
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
}

#[derive(Subcommand)]
enum ReviewCommand {
    /// List messages waiting for review.
    List {
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// A fixed clock, YYYY-MM-DD.
        #[arg(long)]
        now: Option<String>,
    },
    /// Approve a message's disposal; it is disposed of now unless held.
    Approve {
        /// Message id.
        id: String,
        /// The reviewer (password from SEALPOST_PASSWORD).
        #[arg(long)]
        user: String,
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// A fixed clock, YYYY-MM-DD.
        #[arg(long)]
        now: Option<String>,
    },
    /// Keep a message until DATE; it returns to the queue then.
    Extend {
        /// Message id.
        id: String,
        /// New date, YYYY-MM-DD.
        #[arg(long)]
        until: String,
        /// The reviewer (password from SEALPOST_PASSWORD).
        #[arg(long)]
        user: String,
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// A fixed clock, YYYY-MM-DD.
        #[arg(long)]
        now: Option<String>,
    },
}

#[derive(Subcommand)]
enum HoldCommand {
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
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// List holds (JSON).
    List {
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
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
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Approve a requested release (a second person, not the requester).
    ApproveRelease {
        /// Hold id.
        id: String,
        /// The approving person.
        #[arg(long)]
        user: String,
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
}

#[derive(Subcommand)]
enum SettingsCommand {
    /// Print the settings as JSON.
    Show {
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Replace the settings with a JSON file (`-` for standard input).
    Set {
        /// The JSON document.
        file: PathBuf,
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
}

#[derive(Subcommand)]
enum RecipientKeyCommand {
    /// Put an OpenPGP public key (armored or binary) or an S/MIME certificate (PEM) on file for the addresses it names.
    Add {
        /// Key file.
        file: PathBuf,
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// List keys on file (ids, kinds, fingerprints; no addresses).
    List {
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Remove a key on file by id.
    Remove {
        /// Id from `list`.
        id: String,
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
}

#[derive(Subcommand)]
enum DnsCommand {
    /// Print the SPF, DKIM, DMARC, MTA-STS and TLS-RPT records (and the MTA-STS policy file) for DOMAIN.
    Records {
        /// Sending domain.
        domain: String,
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Where DMARC and TLS reports go (default postmaster@DOMAIN).
        #[arg(long)]
        report_address: Option<String>,
    },
}

#[derive(Subcommand)]
enum MessageCommand {
    /// Show a message's state, or with --raw its original bytes (audited).
    Show {
        /// Message id.
        id: String,
        /// Write the original RFC 5322 bytes to standard output.
        #[arg(long)]
        raw: bool,
        /// Tenant that owns the message.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain and signed checkpoints; exit 1 naming the first bad event.
    Verify,
    /// Show the query of a logged search or export (the id in its audit
    /// event's `query` detail); the access is itself audited.
    Query {
        /// The search log id.
        id: String,
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Write every event.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    /// JSON lines.
    Jsonl,
    /// CSV with a header row.
    Csv,
}

#[derive(Subcommand)]
enum TenantCommand {
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

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password comes from SEALPOST_NEW_PASSWORD or is generated and printed.
    Add {
        /// Login name.
        name: String,
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Role: admin, compliance, legal, sender, auditor.
        #[arg(long, default_value = "sender")]
        role: String,
    },
}

#[derive(Subcommand)]
enum ApikeyCommand {
    /// Create a key (printed once).
    Create {
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Label.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Comma-separated scopes: send, read-events, admin.
        #[arg(long, default_value = "send")]
        scopes: String,
    },
    /// List a tenant's keys (ids, names, scopes; never secrets).
    List {
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Revoke a key.
    Revoke {
        /// Key id.
        id: String,
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Rotate a tenant's key-encryption key (re-wraps data keys, not bodies).
    Rotate {
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
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
        /// Tenant.
        #[arg(long, default_value = "default")]
        tenant: String,
    },
}

fn tenant(s: &str) -> Result<TenantId> {
    TenantId::parse(s).with_context(|| format!("tenant {s:?}"))
}

async fn open(data: &Path) -> Result<Arc<App>> {
    if !bootstrap::is_initialized(data)? {
        bail!("{} is not initialized: run `sealpost init` (or `sealpost serve`) first", data.display());
    }
    let cfg = Config::load(data)?.unwrap_or_default();
    Ok(App::open(data, cfg).await?)
}

fn print_credentials(out: &InitOutput) {
    println!("Sealpost initialized in {}", out.data_dir.display());
    println!("  tenant:         {}", out.tenant);
    println!("  admin user:     {}", out.admin_user);
    println!("  admin password: {}", out.admin_password);
    println!("  API key:        {}", out.api_key);
    println!("These secrets are shown once; only their hashes are stored.");
}

#[tokio::main]
async fn main() {
    let log = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SEALPOST_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr);
    // SEALPOST_LOG_FORMAT=json: one JSON object per line, for log shippers.
    match std::env::var("SEALPOST_LOG_FORMAT").unwrap_or_default().as_str() {
        "json" => log.json().init(),
        "" | "text" => log.init(),
        other => {
            log.init();
            tracing::warn!(format = other, "unknown SEALPOST_LOG_FORMAT (json or text); using text");
        }
    }
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

async fn run(cli: Cli) -> Result<i32> {
    let data = cli.data.clone();
    match cli.command {
        Command::Init { json } => {
            let (app, out) = bootstrap::init(&data).await?;
            app.store.close().await;
            if json {
                println!("{}", serde_json::to_string(&out)?);
            } else {
                print_credentials(&out);
            }
        }
        Command::Serve => {
            let app = if bootstrap::is_initialized(&data)? {
                open(&data).await?
            } else {
                let (app, out) = bootstrap::init(&data).await?;
                print_credentials(&out);
                app
            };
            let shutdown = async {
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {},
                }
            };
            sealpost_server::serve(app, shutdown, |bound| {
                println!("Sealpost is running (data: {})", data.display());
                for (kind, addr) in bound {
                    println!("  {kind:<40} {addr}");
                }
                println!(
                    "Log in as user `admin`; submit with `apikey` + your API key (SMTP AUTH) or a Bearer token (API)."
                );
                let _ = std::io::stdout().flush();
            })
            .await?;
        }
        Command::Message { command: MessageCommand::Show { id, raw, tenant: t } } => {
            let app = open(&data).await?;
            let id = MessageId::parse(&id).context("message id")?;
            let retention = app.retention_of(&tenant(&t)?, &id).await;
            if let Ok(Some(r)) = &retention
                && r.disposed_at.is_some()
                && !raw
            {
                app.store.close().await;
                let state = serde_json::json!({ "id": id.to_string(), "state": "disposed", "retention": r });
                println!("{}", serde_json::to_string_pretty(&state)?);
                return Ok(0);
            }
            let m = app.open_message(&tenant(&t)?, &id, Actor::cli(), raw).await;
            app.store.close().await;
            let m = m?;
            let retention = retention?;
            if let Some(bytes) = m.raw {
                std::io::stdout().write_all(&bytes)?;
            } else {
                let state = serde_json::json!({
                    "id": m.record.id.to_string(),
                    "state": m.record.state,
                    "created_at": sealpost_audit::rfc3339_micros(m.record.created_at),
                    "category": m.record.category.as_str(),
                    "size": m.record.size,
                    "sha256": m.meta.sha256,
                    "recipients": m.recipients.iter().map(|r| serde_json::json!({"id": r.id.to_string(), "state": r.state})).collect::<Vec<_>>(),
                    "retention": retention,
                });
                println!("{}", serde_json::to_string_pretty(&state)?);
            }
        }
        Command::Audit { command: AuditCommand::Verify } => {
            let app = open(&data).await?;
            let report = verify_audit(&app).await;
            let outcome = match &report {
                Ok(r) if r.is_ok() => Outcome::Success,
                _ => Outcome::Failure,
            };
            let _ = app.audit(vec![NewEvent::new(system_tenant(), Actor::cli(), Action::AuditVerified, outcome)]).await;
            app.store.close().await;
            let report = report?;
            return Ok(match report {
                VerifyReport::Ok { events, checkpoints, last_seq } => {
                    println!("OK: {events} events (last #{last_seq}), {checkpoints} signed checkpoints verified");
                    0
                }
                VerifyReport::Broken(p) => {
                    println!("FAILED: {p}");
                    1
                }
            });
        }
        Command::Audit { command: AuditCommand::Export { format, out } } => {
            let app = open(&data).await?;
            let mut w: Box<dyn Write> = match &out {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p).with_context(|| p.display().to_string())?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout())),
            };
            if matches!(format, ExportFormat::Csv) {
                writeln!(w, "{}", sealpost_audit::CSV_HEADER)?;
            }
            let mut after = 0;
            let mut count = 0i64;
            loop {
                let page = app.store.audit_events(after, 5000).await?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                for e in &page {
                    match format {
                        ExportFormat::Jsonl => writeln!(w, "{}", sealpost_audit::to_json_line(e))?,
                        ExportFormat::Csv => writeln!(w, "{}", sealpost_audit::to_csv_row(e))?,
                    }
                    count += 1;
                }
            }
            w.flush()?;
            app.audit(vec![
                NewEvent::new(system_tenant(), Actor::cli(), Action::AuditExported, Outcome::Success)
                    .detail("events", sealpost_audit::DetailValue::Count(count)),
            ])
            .await?;
            app.store.close().await;
        }
        Command::Tenant { command: TenantCommand::Create { id, name } } => {
            let app = open(&data).await?;
            let t = tenant(&id)?;
            let r = app.create_tenant(&t, name.as_deref().unwrap_or(&id), Actor::cli()).await;
            app.store.close().await;
            r?;
            println!("tenant {t} created");
        }
        Command::Tenant { command: TenantCommand::List } => {
            let app = open(&data).await?;
            for t in app.store.tenant_ids().await? {
                println!("{t}");
            }
            app.store.close().await;
        }
        Command::User { command: UserCommand::Add { name, tenant: t, role } } => {
            let app = open(&data).await?;
            let role = Role::parse(&role)?;
            let (password, generated) = match std::env::var("SEALPOST_NEW_PASSWORD") {
                Ok(p) => (p, false),
                Err(_) => (sealpost_server::admin::generated_password()?, true),
            };
            let r = app.create_user(&tenant(&t)?, &name, &password, role, Actor::cli()).await;
            app.store.close().await;
            let id = r?;
            println!("user {name} ({id}) created with role {role}");
            if generated {
                println!("password (shown once): {password}");
            }
        }
        Command::Apikey { command: ApikeyCommand::Create { tenant: t, name, scopes } } => {
            let app = open(&data).await?;
            let scopes = scopes.split(',').map(|s| Scope::parse(s.trim())).collect::<Result<Vec<_>, _>>()?;
            let r = app.create_api_key(&tenant(&t)?, &name, scopes, Actor::cli()).await;
            app.store.close().await;
            let (_, key) = r?;
            println!("{key}");
        }
        Command::Apikey { command: ApikeyCommand::List { tenant: t } } => {
            let app = open(&data).await?;
            for k in app.store.api_keys(&tenant(&t)?).await? {
                let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
                let state = if k.revoked_at.is_some() { "revoked" } else { "active" };
                println!("{}  {:<8} {:<24} {}", k.id, state, scopes.join(","), k.name);
            }
            app.store.close().await;
        }
        Command::Apikey { command: ApikeyCommand::Revoke { id, tenant: t } } => {
            let app = open(&data).await?;
            let id = ApiKeyId::parse(&id).context("api key id")?;
            let r = app.revoke_api_key(&tenant(&t)?, &id, Actor::cli()).await;
            app.store.close().await;
            r?;
            println!("api key {id} revoked");
        }
        Command::Search(a) => {
            let app = open(&data).await?;
            let r = archive_cmd::search(&app, a).await;
            app.store.close().await;
            return r;
        }
        Command::Import(a) => {
            let app = open(&data).await?;
            let r = archive_cmd::import(&app, a).await;
            app.store.close().await;
            return r;
        }
        Command::Export(a) => {
            let app = open(&data).await?;
            let r = archive_cmd::export(&app, a).await;
            app.store.close().await;
            return r;
        }
        Command::AccessRequest(a) => {
            let app = open(&data).await?;
            let r = access_cmd::run(&app, a).await;
            app.store.close().await;
            return r;
        }
        Command::Audit { command: AuditCommand::Query { id, tenant: t } } => {
            let app = open(&data).await?;
            let id = sealpost_model::EventId::parse(&id).context("search log id")?;
            let r = app.logged_query(&tenant(&t)?, Actor::cli(), &id).await;
            app.store.close().await;
            println!("{}", r?);
        }
        Command::Settings { command: SettingsCommand::Show { tenant: t } } => {
            let app = open(&data).await?;
            let r = app.settings(&tenant(&t)?).await;
            app.store.close().await;
            println!("{}", serde_json::to_string_pretty(&r?.settings)?);
        }
        Command::Settings { command: SettingsCommand::Set { file, tenant: t } } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("{}", file.display()))?
            };
            let settings: sealpost_server::settings::TenantSettings =
                serde_json::from_str(&text).context("settings JSON")?;
            let app = open(&data).await?;
            let r = app.put_settings(&tenant(&t)?, Actor::cli(), &settings).await;
            app.store.close().await;
            r?;
            println!("tenant {t}: settings saved");
        }
        Command::Retention { command } => {
            let app = open(&data).await?;
            let r = retention_command(&app, command).await;
            app.store.close().await;
            return r;
        }
        Command::Hold { command } => {
            let app = open(&data).await?;
            let r = hold_command(&app, command).await;
            app.store.close().await;
            r?;
        }
        Command::Keys { command: KeysCommand::Rotate { tenant: t } } => {
            let app = open(&data).await?;
            let r = app.rotate_kek(&tenant(&t)?, Actor::cli()).await;
            app.store.close().await;
            let (version, count) = r?;
            println!("tenant {t}: key-encryption key version {version}; {count} data keys re-wrapped");
        }
        Command::Keys { command: KeysCommand::Recipient { command } } => {
            let app = open(&data).await?;
            let r = recipient_key_command(&app, command).await;
            app.store.close().await;
            r?;
        }
        Command::Keys { command: KeysCommand::Dkim { domain, tenant: t } } => {
            let app = open(&data).await?;
            let r = app.rotate_dkim_keys(&tenant(&t)?, &domain, Actor::cli()).await;
            app.store.close().await;
            let selectors = r?;
            println!("DKIM keys for {domain}: selectors {}", selectors.join(", "));
            println!("Publish them: sealpost dns records {domain}");
        }
        Command::Dns { command: DnsCommand::Records { domain, tenant: t, report_address } } => {
            let app = open(&data).await?;
            let report = report_address.unwrap_or_else(|| format!("postmaster@{domain}"));
            let r = app.dns_records(&tenant(&t)?, &domain, &report).await;
            app.store.close().await;
            let (records, policy) = r?;
            for rec in &records {
                println!("{rec}");
            }
            println!("\n; MTA-STS policy, served at {}:\n{}", policy.url, policy.text.replace("\r\n", "\n"));
        }
    }
    Ok(0)
}

async fn recipient_key_command(app: &App, command: RecipientKeyCommand) -> Result<()> {
    match command {
        RecipientKeyCommand::Add { file, tenant: t } => {
            let bytes = std::fs::read(&file).with_context(|| file.display().to_string())?;
            let (kind, fingerprint, n) = app.add_recipient_key(&tenant(&t)?, &bytes, Actor::cli()).await?;
            println!("{kind} key {fingerprint} on file for {n} address(es)");
        }
        RecipientKeyCommand::List { tenant: t } => {
            for k in app.list_recipient_keys(&tenant(&t)?).await? {
                println!("{}  {:<6} {}  {}", k.id, k.kind, k.fingerprint, sealpost_audit::rfc3339_micros(k.created_at));
            }
        }
        RecipientKeyCommand::Remove { id, tenant: t } => {
            let id = sealpost_model::RecipientId::parse(&id).context("key id")?;
            app.remove_recipient_key(&tenant(&t)?, &id, Actor::cli()).await?;
            println!("recipient key {id} removed");
        }
    }
    Ok(())
}

async fn verify_audit(app: &App) -> Result<VerifyReport> {
    // Read the head first: events committed after this read are simply not
    // covered by this run (they are appended after the head we compare with).
    let head = app.store.audit_head().await?;
    let checkpoints = app.store.audit_checkpoints().await?;
    let keys = app.store.audit_keys().await?;
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page = app.store.audit_events(after, 10_000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        let done = page.iter().any(|e| e.seq >= head.seq);
        events.extend(page.into_iter().filter(|e| e.seq <= head.seq));
        if done {
            break;
        }
    }
    let checkpoints: Vec<_> = checkpoints.into_iter().filter(|c| c.seq <= head.seq).collect();
    Ok(sealpost_audit::verify(events, &checkpoints, Some(&head), &keys))
}

/// `--now DATE` as unix micros (default: the real clock).
fn now_arg(now: Option<&str>) -> Result<i64> {
    match now {
        None => Ok(sealpost_model::now_micros()),
        Some(t) => retention::parse_date(t).map(retention::date_micros).context("--now: expected YYYY-MM-DD"),
    }
}

/// The person named by `--user`, with the password from SEALPOST_PASSWORD.
async fn person(app: &App, user: &str, purpose: Action) -> Result<sealpost_server::auth::Principal> {
    let password = std::env::var("SEALPOST_PASSWORD").context("set SEALPOST_PASSWORD to the user's password")?;
    Ok(app.authenticate_person(user, &password, purpose).await?)
}

fn read_text(file: &Path) -> Result<String> {
    if file.as_os_str() == "-" {
        Ok(std::io::read_to_string(std::io::stdin())?)
    } else {
        std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))
    }
}

async fn retention_command(app: &App, command: RetentionCommand) -> Result<i32> {
    match command {
        RetentionCommand::Policy { command: PolicyCommand::Show { tenant: t } } => {
            let p = app.retention_policy(&tenant(&t)?).await?;
            println!("# retention policy version {}\n{}", p.version, p.policy.to_toml());
        }
        RetentionCommand::Policy { command: PolicyCommand::Set { file, tenant: t } } => {
            let text = read_text(&file)?;
            // JSON documents start with `{`; anything else is read as TOML.
            let policy = if text.trim_start().starts_with('{') {
                serde_json::from_str::<sealpost_retention::Policy>(&text).context("policy JSON")?
            } else {
                sealpost_retention::Policy::from_toml(&text).context("policy TOML")?
            };
            let version = app.put_retention_policy(&tenant(&t)?, Actor::cli(), policy).await?;
            println!("tenant {t}: retention policy version {version} saved");
        }
        RetentionCommand::Run { dry_run, now, tenant: t } => {
            let opts = RunOptions { now: now_arg(now.as_deref())?, dry_run, actor: Actor::cli() };
            let results = match t {
                Some(t) => {
                    let t = tenant(&t)?;
                    let r = app.run_retention(&t, &opts).await;
                    vec![(t, r)]
                }
                None => app.run_retention_all(&opts).await,
            };
            let mut failed = false;
            let mut out = serde_json::Map::new();
            for (t, r) in results {
                match r {
                    Ok(report) => {
                        failed |= report.failed > 0;
                        out.insert(t.to_string(), serde_json::to_value(&report)?);
                    }
                    Err(e) => {
                        failed = true;
                        out.insert(t.to_string(), serde_json::json!({ "error": e.to_string() }));
                    }
                }
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            return Ok(if failed { 1 } else { 0 });
        }
        RetentionCommand::Review { command: ReviewCommand::List { tenant: t, now } } => {
            let items = app.review_queue(&tenant(&t)?, now_arg(now.as_deref())?).await?;
            println!("{}", serde_json::to_string_pretty(&items)?);
        }
        RetentionCommand::Review { command: ReviewCommand::Approve { id, user, tenant: t, now } } => {
            let p = person(app, &user, Action::DispositionReviewed).await?;
            if p.tenant() != &tenant(&t)? {
                bail!("user {user} belongs to another tenant");
            }
            let id = MessageId::parse(&id).context("message id")?;
            app.approve_review(&tenant(&t)?, &id, p.actor(), now_arg(now.as_deref())?).await?;
            println!("message {id}: disposal approved; disposed");
        }
        RetentionCommand::Review { command: ReviewCommand::Extend { id, until, user, tenant: t, now } } => {
            let p = person(app, &user, Action::DispositionReviewed).await?;
            if p.tenant() != &tenant(&t)? {
                bail!("user {user} belongs to another tenant");
            }
            let id = MessageId::parse(&id).context("message id")?;
            let date = retention::parse_date(&until).context("--until: expected YYYY-MM-DD")?;
            app.extend_review(&tenant(&t)?, &id, date, p.actor(), now_arg(now.as_deref())?).await?;
            println!("message {id}: kept until {until}");
        }
        RetentionCommand::Certificates { tenant: t } => {
            let certs = app.disposal_certificates(&tenant(&t)?).await?;
            println!("{}", serde_json::to_string_pretty(&certs)?);
        }
    }
    Ok(0)
}

async fn hold_command(app: &App, command: HoldCommand) -> Result<()> {
    match command {
        HoldCommand::Create { name, reason, custodians, from, until, query, user, tenant: t } => {
            let p = person(app, &user, Action::HoldCreated).await?;
            let scope = HoldScope { custodians, from, until, query };
            let id = app.create_hold(&tenant(&t)?, &p, &name, &reason, scope).await?;
            println!("{id}");
        }
        HoldCommand::List { tenant: t } => {
            println!("{}", serde_json::to_string_pretty(&app.list_holds(&tenant(&t)?).await?)?);
        }
        HoldCommand::Release { id, justification, user, tenant: t } => {
            let p = person(app, &user, Action::HoldReleaseRequested).await?;
            let id = sealpost_model::RecipientId::parse(&id).context("hold id")?;
            app.request_hold_release(&tenant(&t)?, &p, &id, &justification).await?;
            println!("hold {id}: release requested; a second person must approve it (hold approve-release)");
        }
        HoldCommand::ApproveRelease { id, user, tenant: t } => {
            let p = person(app, &user, Action::HoldReleased).await?;
            let id = sealpost_model::RecipientId::parse(&id).context("hold id")?;
            app.approve_hold_release(&tenant(&t)?, &p, &id).await?;
            println!("hold {id}: released");
        }
    }
    Ok(())
}
