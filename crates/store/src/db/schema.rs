//! Tables. Nothing here holds PHI in the clear: addresses, subjects and
//! bodies live only inside sealed columns and blobs.

use sqlx::Executor;

use super::{Backend, Db};
use crate::StoreError;

/// The schema, written once. PostgreSQL reads it with `BYTEA` for `BLOB`:
/// that is the only difference between the two dialects here.
const SCHEMA: &str = include_str!("schema.sql");

pub(crate) async fn migrate(db: &Db) -> Result<(), StoreError> {
    let ddl = match db.backend() {
        Backend::Sqlite => SCHEMA.to_owned(),
        Backend::Postgres => SCHEMA.replace(" BLOB", " BYTEA"),
    };
    let mut tx = db.begin_write().await?;
    if db.backend() == Backend::Postgres {
        // Several nodes may start at once: one migrates, the others wait.
        tx.execute("SELECT pg_advisory_xact_lock(7411)").await?;
    }
    tx.execute(sqlx::AssertSqlSafe(ddl)).await?;
    tx.commit().await?;
    Ok(())
}

/// Creates the genesis chain head once.
pub(crate) async fn genesis(db: &Db) -> Result<(), StoreError> {
    let g = sealpost_audit::ChainHead::genesis();
    sqlx::query("INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING")
        .bind(g.seq)
        .bind(g.hash.to_vec())
        .execute(&db.pool)
        .await?;
    Ok(())
}
