//! `sealpost init`: provision a data directory.

use anyhow::Result;
use clap::Args;
use sealpost_server::bootstrap::{self, InitOutput};

use crate::context::Context;

/// `sealpost init`.
#[derive(Args)]
pub struct InitArgs {
    /// Print the result as one JSON object (data_dir, tenant, admin_user, admin_password, api_key).
    #[arg(long)]
    json: bool,
}

pub async fn exec(ctx: &mut Context, args: InitArgs) -> Result<i32> {
    let (app, out) = bootstrap::init(ctx.data_dir()).await?;
    let exposed = sealpost_core::passphrase_inside_data_dir(ctx.data_dir(), &app.core.cfg);
    ctx.adopt(app);
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        print_credentials(&out);
    }
    // Explained once at init (stderr: `--json` output stays one object).
    if let Some(file) = exposed {
        eprintln!("\n{}", sealpost_core::passphrase_warning(&file));
    }
    Ok(0)
}

/// The secrets `init` (or the first `serve`) created, shown once.
pub fn print_credentials(out: &InitOutput) {
    println!("Sealpost initialized in {}", out.data_dir.display());
    println!("  tenant:         {}", out.tenant);
    println!("  admin user:     {}", out.admin_user);
    println!("  admin password: {}", out.admin_password);
    println!("  API key:        {}", out.api_key);
    println!("These secrets are shown once; only their hashes are stored.");
}
