//! `sealpost search` (R-AR-5). It opens the store and the search index like
//! any command; while `sealpost serve` runs, the index is read as of the
//! server's last commit.

use anyhow::Result;
use clap::Args;
use sealpost_archive::index::SearchFailure;
use sealpost_audit::Actor;

use super::TenantArg;
use crate::context::Context;

/// `sealpost search`.
#[derive(Args)]
pub struct SearchArgs {
    /// The query: from: to: cc: subject: has:attachment filename: before: after:
    /// category: phi: patient: hold:, "phrases", AND OR NOT ( ).
    query: String,
    /// Page, from 0.
    #[arg(long, default_value_t = 0)]
    page: usize,
    /// Results per page (at most 1000).
    #[arg(long, default_value_t = 50)]
    per_page: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    tenant: TenantArg,
}

/// Exit 2 for a query syntax error, shown with a caret under its position.
pub async fn exec(ctx: &mut Context, a: SearchArgs) -> Result<i32> {
    let app = ctx.app().await?;
    match app.archive.search(&a.tenant.id()?, Actor::cli(), &a.query, a.page, a.per_page).await {
        Ok(r) => {
            if a.json {
                let results: Vec<_> = r
                    .hits
                    .iter()
                    .map(
                        |(id, d)| serde_json::json!({"id": id.to_string(), "date": sealpost_audit::rfc3339_micros(*d)}),
                    )
                    .collect();
                println!("{}", serde_json::json!({"total": r.total, "page": a.page, "results": results}));
            } else {
                for (id, d) in &r.hits {
                    println!("{id}  {}", sealpost_audit::rfc3339_micros(*d));
                }
                eprintln!("{} matching; page {} ({} shown)", r.total, a.page, r.hits.len());
            }
            Ok(0)
        }
        Err(SearchFailure::Syntax(e)) => {
            eprintln!("query error at {e}");
            eprintln!("  {}", a.query);
            eprintln!("  {}^", " ".repeat(e.position));
            Ok(2)
        }
        Err(e) => Err(e.into()),
    }
}
