/// Storage failures. Messages name ids and operations, never content.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The blob store failed.
    #[error("blob store: {0}")]
    Blob(String),
    /// A unique key already exists (idempotency key, user name, ...).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored value does not parse.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The committer has stopped (shutdown in progress).
    #[error("store is shutting down")]
    Closed,
    /// Bad configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// The database was migrated by a newer release than this one: opening
    /// it could misread or damage data, so nothing is touched.
    #[error(
        "the database schema is at version {found}, newer than this sealpost knows (version {known}); \
         it was upgraded by a newer release: run that release (or newer), or restore a backup made before the upgrade"
    )]
    SchemaTooNew {
        /// The newest version recorded in the database.
        found: i64,
        /// The newest version this binary ships.
        known: i64,
    },
}

impl From<object_store::Error> for StoreError {
    fn from(e: object_store::Error) -> Self {
        StoreError::Blob(e.to_string())
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Blob(e.to_string())
    }
}
