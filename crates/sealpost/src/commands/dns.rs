//! `sealpost dns records DOMAIN`: the zone lines a sending domain publishes.

use anyhow::Result;
use clap::Subcommand;

use super::TenantArg;
use crate::context::Context;

#[derive(Subcommand)]
pub enum DnsCommand {
    /// Print the SPF, DKIM, DMARC, MTA-STS and TLS-RPT records (and the MTA-STS policy file) for DOMAIN.
    Records {
        /// Sending domain.
        domain: String,
        #[command(flatten)]
        tenant: TenantArg,
        /// Where DMARC and TLS reports go (default postmaster@DOMAIN).
        #[arg(long)]
        report_address: Option<String>,
    },
}

pub async fn exec(ctx: &mut Context, command: DnsCommand) -> Result<i32> {
    let DnsCommand::Records { domain, tenant, report_address } = command;
    let app = ctx.app().await?;
    let report = report_address.unwrap_or_else(|| format!("postmaster@{domain}"));
    let r = app.keys.dns_records(&tenant.id()?, &domain, &report).await?;
    // Without a key there is no DKIM record to print: say how to make one,
    // as a zone-file comment (the output still pastes into a zone) and on
    // standard error.
    let hint = (!r.signing).then(|| {
        let mut command = format!("sealpost keys dkim {domain}");
        if tenant.as_str() != TenantArg::DEFAULT {
            command.push_str(&format!(" --tenant {}", tenant.as_str()));
        }
        format!("no DKIM key signs mail from {domain}: create one with `{command}`, then publish its record")
    });
    if let Some(hint) = &hint {
        eprintln!("warning: {hint}");
    }
    // SPF comes first, then the DKIM records: the hint takes their place.
    for (i, rec) in r.records.iter().enumerate() {
        println!("{rec}");
        if let (0, Some(hint)) = (i, &hint) {
            println!("; {hint}");
        }
    }
    println!("\n; MTA-STS policy, served at {}:\n{}", r.policy.url, r.policy.text.replace("\r\n", "\n"));
    Ok(0)
}
