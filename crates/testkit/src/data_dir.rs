//! A temporary server data directory.

use std::path::{Path, PathBuf};

use crate::{Result, io};

/// A temporary directory for a server's data (`sealpost --data DIR`),
/// removed on drop.
#[derive(Debug)]
pub struct DataDir {
    dir: tempfile::TempDir,
}

impl DataDir {
    /// Creates an empty directory under the system temp dir.
    pub fn new() -> Result<DataDir> {
        let dir = tempfile::Builder::new().prefix("sealpost-data-").tempdir().map_err(io("create data dir"))?;
        Ok(DataDir { dir })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the directory.
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Keeps the directory after the test (to inspect a failure) and returns it.
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }
}
