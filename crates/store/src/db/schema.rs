//! The schema, as history: numbered migrations applied in order, each once,
//! recorded with a checksum in `schema_migrations`. Nothing here holds PHI
//! in the clear: addresses, subjects and bodies live only inside sealed
//! columns and blobs.
//!
//! Rules (docs/design/migrations.md):
//! * a released migration is never edited: the checksum check refuses a
//!   database whose recorded migration differs from the shipped one;
//! * every schema change is a new file in `migrations/` and a new entry in
//!   [`MIGRATIONS`];
//! * a binary refuses a database that records a migration it does not know
//!   (made by a newer release), before changing anything;
//! * migrations run under a lock — SQLite's write lock (`BEGIN IMMEDIATE`),
//!   PostgreSQL's advisory lock — in one transaction, so two processes
//!   starting at once apply each step once and a failed step leaves nothing.

use sqlx::{Executor, Row};

use super::{Backend, Db};
use crate::StoreError;

/// One schema step. PostgreSQL reads the SQL with `BYTEA` for `BLOB`: that
/// is the only difference between the two dialects here.
pub(crate) struct Migration {
    /// Its number; applied in increasing order.
    pub(crate) version: i64,
    /// What it does, in a few words.
    pub(crate) name: &'static str,
    sql: &'static str,
}

/// Every migration this binary knows, in order.
///
/// Version 1 is the schema as it stood before migrations existed (release
/// 0.1.0). It is written with `IF NOT EXISTS`, so on a database made by that
/// release it changes nothing and is only recorded.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "baseline", sql: include_str!("migrations/0001_baseline.sql") },
    Migration { version: 2, name: "indexed_at", sql: include_str!("migrations/0002_indexed_at.sql") },
    Migration { version: 3, name: "index_retry", sql: include_str!("migrations/0003_index_retry.sql") },
    Migration { version: 4, name: "prune_by_age", sql: include_str!("migrations/0004_prune_by_age.sql") },
    Migration { version: 5, name: "sending_domains", sql: include_str!("migrations/0005_sending_domains.sql") },
    Migration { version: 6, name: "api_key_owner", sql: include_str!("migrations/0006_api_key_owner.sql") },
    Migration { version: 7, name: "portal", sql: include_str!("migrations/0007_portal.sql") },
];

/// The newest schema version this binary knows.
pub(crate) fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The PostgreSQL advisory lock key of schema changes.
const PG_MIGRATION_LOCK: i64 = 7411;

impl Migration {
    fn ddl(&self, backend: Backend) -> String {
        match backend {
            Backend::Sqlite => self.sql.to_owned(),
            Backend::Postgres => self.sql.replace(" BLOB", " BYTEA"),
        }
    }

    /// SHA-256 of the shipped SQL (dialect-independent).
    fn checksum(&self) -> Vec<u8> {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, self.sql.as_bytes()).as_ref().to_vec()
    }
}

/// Brings the schema to [`latest`], or refuses. Returns the versions applied.
pub(crate) async fn migrate(db: &Db) -> Result<Vec<i64>, StoreError> {
    migrate_with(db, MIGRATIONS).await
}

pub(crate) async fn migrate_with(db: &Db, migrations: &[Migration]) -> Result<Vec<i64>, StoreError> {
    let backend = db.backend();
    let known = migrations.last().map_or(0, |m| m.version);
    let mut tx = db.begin_write().await?;
    if backend == Backend::Postgres {
        // Several nodes may start at once: one migrates, the others wait
        // here and then find nothing left to do.
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PG_MIGRATION_LOCK).execute(&mut *tx).await?;
    }
    let table = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
                 checksum BLOB NOT NULL, applied_at BIGINT NOT NULL)";
    let table = if backend == Backend::Postgres { table.replace(" BLOB", " BYTEA") } else { table.to_owned() };
    tx.execute(sqlx::AssertSqlSafe(table)).await?;
    let rows =
        sqlx::query("SELECT version, checksum FROM schema_migrations ORDER BY version").fetch_all(&mut *tx).await?;
    let mut applied = Vec::with_capacity(rows.len());
    for row in &rows {
        let version: i64 = row.try_get(0)?;
        let checksum: Vec<u8> = row.try_get(1)?;
        applied.push((version, checksum));
    }
    if let Some(&(newest, _)) = applied.iter().rev().find(|(v, _)| *v > known) {
        return Err(StoreError::SchemaTooNew { found: newest, known });
    }
    for (version, checksum) in &applied {
        let Some(m) = migrations.iter().find(|m| m.version == *version) else {
            return Err(StoreError::Corrupt(format!(
                "schema_migrations records version {version}, which this release does not ship"
            )));
        };
        if &m.checksum() != checksum {
            return Err(StoreError::Corrupt(format!(
                "schema migration {version} ({}) differs from the one applied to this database",
                m.name
            )));
        }
    }
    let mut done = Vec::new();
    for m in migrations.iter().filter(|m| !applied.iter().any(|(v, _)| *v == m.version)) {
        tx.execute(sqlx::AssertSqlSafe(m.ddl(backend))).await?;
        sqlx::query("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)")
            .bind(m.version)
            .bind(m.name)
            .bind(m.checksum())
            .bind(sealpost_model::now_micros())
            .execute(&mut *tx)
            .await?;
        done.push(m.version);
    }
    tx.commit().await?;
    if !done.is_empty() {
        tracing::info!(applied = ?done, schema_version = known, "schema migrated");
    }
    Ok(done)
}

/// The schema version a database is at (0 before any migration).
pub(crate) async fn version(db: &Db) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetch_one(&db.pool).await?;
    Ok(row.try_get(0)?)
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db", dir.path().display());
        (dir, url)
    }

    #[test]
    fn versions_increase_and_names_are_set() {
        let mut last = 0;
        for m in MIGRATIONS {
            assert!(m.version > last, "migration {} out of order", m.version);
            assert!(!m.name.is_empty());
            last = m.version;
        }
        assert_eq!(latest(), last);
    }

    #[tokio::test]
    async fn a_fresh_database_gets_every_migration_once() {
        let (_dir, url) = sqlite().await;
        let db = Db::open(&url).await.unwrap();
        assert_eq!(version(&db).await.unwrap(), latest());
        assert!(migrate(&db).await.unwrap().is_empty(), "a second run applies nothing");
        let n: i64 = sqlx::query("SELECT count(*) FROM schema_migrations").fetch_one(&db.pool).await.unwrap().get(0);
        assert_eq!(n, MIGRATIONS.len() as i64);
    }

    #[tokio::test]
    async fn a_database_from_a_newer_release_is_refused_untouched() {
        let (_dir, url) = sqlite().await;
        let db = Db::open(&url).await.unwrap();
        sqlx::query("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (9999, 'x', x'00', 0)")
            .execute(&db.pool)
            .await
            .unwrap();
        db.pool.close().await;
        match Db::open(&url).await {
            Err(StoreError::SchemaTooNew { found: 9999, known }) => assert_eq!(known, latest()),
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("a newer schema was opened"),
        }
        let msg = StoreError::SchemaTooNew { found: 9999, known: 1 }.to_string();
        assert!(msg.contains("9999") && msg.contains("newer"), "{msg}");
    }

    #[tokio::test]
    async fn an_edited_migration_is_refused() {
        let (_dir, url) = sqlite().await;
        let db = Db::open(&url).await.unwrap();
        sqlx::query("UPDATE schema_migrations SET checksum = x'00' WHERE version = 1").execute(&db.pool).await.unwrap();
        assert!(matches!(migrate(&db).await, Err(StoreError::Corrupt(_))));
    }

    #[tokio::test]
    async fn a_new_migration_applies_on_top_and_a_failed_one_leaves_nothing() {
        let (_dir, url) = sqlite().await;
        let db = Db::open(&url).await.unwrap();
        let mut steps: Vec<Migration> =
            MIGRATIONS.iter().map(|m| Migration { version: m.version, name: m.name, sql: m.sql }).collect();
        steps.push(Migration {
            version: latest() + 1,
            name: "broken",
            sql: "CREATE TABLE probe (id TEXT PRIMARY KEY); CREATE TABLE probe (id TEXT PRIMARY KEY);",
        });
        assert!(migrate_with(&db, &steps).await.is_err(), "the second CREATE fails");
        let probe: i64 = sqlx::query("SELECT count(*) FROM sqlite_master WHERE name = 'probe'")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!((probe, version(&db).await.unwrap()), (0, latest()), "nothing of the failed step remains");
        steps.pop();
        steps.push(Migration {
            version: latest() + 1,
            name: "probe",
            sql: "CREATE TABLE probe (id TEXT PRIMARY KEY);",
        });
        assert_eq!(migrate_with(&db, &steps).await.unwrap(), vec![latest() + 1]);
        assert_eq!(version(&db).await.unwrap(), latest() + 1);
    }
}
