//! Small file helpers for secrets.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::ServerError;

/// Writes a file readable by its owner only (0600), creating parent
/// directories (0700), and syncs it.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ServerError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(ServerError::io(format!("creating {}", dir.display())))?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(ServerError::io(format!("writing {}", path.display())))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(ServerError::io(format!("writing {}", path.display())))
}
