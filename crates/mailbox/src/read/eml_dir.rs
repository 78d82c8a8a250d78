//! Listing the `.eml` files of a directory tree.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::MailboxError;

/// Every `*.eml` file (extension in any case) under `root`, recursively,
/// sorted by path so that two imports of the same tree see the same order.
/// A symbolic link anywhere in the tree is refused
/// ([`MailboxError::SymbolicLink`]): it could lead out of the tree.
pub(crate) fn list(root: &Path) -> Result<Vec<PathBuf>, MailboxError> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| MailboxError::io("list", &dir, e))? {
            let entry = entry.map_err(|e| MailboxError::io("list", &dir, e))?;
            let path = entry.path();
            let file_type = entry.file_type().map_err(|e| MailboxError::io("stat", &path, e))?;
            if file_type.is_symlink() {
                return Err(MailboxError::SymbolicLink { path });
            } else if file_type.is_dir() {
                dirs.push(path);
            } else if is_eml(&path) && file_type.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn is_eml(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("eml"))
}
