//! Output files that appear whole or not at all.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::MailboxError;

/// A temporary file in the directory of `target` (so the final rename
/// stays on one file system), removed if dropped before [`commit`].
pub(crate) fn stage(target: &Path) -> Result<NamedTempFile, MailboxError> {
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut prefix = OsString::from(".");
    prefix.push(target.file_name().unwrap_or_default());
    prefix.push(".");
    tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| MailboxError::io("create a temporary file in", dir, e))
}

/// Syncs `staged` and renames it to `target` (replacing a file there), then
/// syncs the directory so the rename itself survives a crash.
pub(crate) fn commit(staged: NamedTempFile, target: &Path) -> Result<(), MailboxError> {
    staged.as_file().sync_all().map_err(|e| MailboxError::io("sync", staged.path(), e))?;
    staged.persist(target).map_err(|e| MailboxError::io("rename into", target, e.error))?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Not every platform can open a directory; where it cannot, the
        // rename is as durable as that platform makes it.
        if let Ok(dir) = File::open(dir) {
            dir.sync_all().map_err(|e| MailboxError::io("sync", target, e))?;
        }
    }
    Ok(())
}

/// `path` with `suffix` appended to its file name (`a.mbox` → `a.mbox.sha256`).
pub(crate) fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Writes `<target>.sha256` in `sha256sum` format, naming the package by
/// its file name so `sha256sum -c` works in the package's directory.
pub(crate) fn write_checksum(target: &Path, sha256: &str) -> Result<(), MailboxError> {
    let checksum_path = sidecar(target, ".sha256");
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let staged = stage(&checksum_path)?;
    let line = format!("{sha256}  {name}\n");
    std::fs::write(staged.path(), line).map_err(|e| MailboxError::io("write", staged.path(), e))?;
    commit(staged, &checksum_path)
}
