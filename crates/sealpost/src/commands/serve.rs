//! `sealpost serve`: run the server, initializing the data directory first
//! when it holds no installation yet.

use std::io::Write;

use anyhow::Result;
use sealpost_server::bootstrap;

use super::init::print_credentials;
use crate::context::Context;

pub async fn exec(ctx: &mut Context) -> Result<i32> {
    let app = if ctx.is_initialized()? {
        ctx.app().await?
    } else {
        let (app, out) = bootstrap::init(ctx.data_dir()).await?;
        print_credentials(&out);
        ctx.adopt(app.clone());
        app
    };
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {},
        }
    };
    let data = ctx.data_dir();
    let exposed = sealpost_core::passphrase_inside_data_dir(data, &app.core.cfg);
    if let Some(file) = &exposed {
        tracing::warn!(
            file = %file.display(),
            "root key passphrase inside the data directory: a copy of the directory decrypts everything"
        );
    }
    sealpost_server::serve(app, shutdown, |bound| {
        println!("Sealpost is running (data: {})", data.display());
        for (kind, addr) in bound {
            println!("  {kind:<40} {addr}");
        }
        println!("Log in as user `admin`; submit with `apikey` + your API key (SMTP AUTH) or a Bearer token (API).");
        // Loud for a person at a terminal; a JSON log (read by machines)
        // carries it as the structured warning above.
        if let Some(file) = exposed.as_ref().filter(|_| std::env::var("SEALPOST_LOG_FORMAT").as_deref() != Ok("json")) {
            eprintln!("\n{}\n", sealpost_core::passphrase_warning(file));
        }
        let _ = std::io::stdout().flush();
    })
    .await?;
    Ok(0)
}
