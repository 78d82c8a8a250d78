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
