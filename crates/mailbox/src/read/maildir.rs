//! Listing the messages of a Maildir (and its Maildir++ subfolders).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::MailboxError;

/// Whether `dir` looks like a Maildir: it has `cur/` and `new/`. `tmp/` is
/// not required: copies and backups often leave it out, and it never holds
/// a delivered message.
pub(crate) fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() && dir.join("new").is_dir()
}

/// Every message file of the Maildir at `root`: `cur/` then `new/` of the
/// root, then of each Maildir++ subfolder (`.Name/`) in name order; files in
/// name order within a directory (Maildir names start with the delivery
/// time). `tmp/` holds deliveries in progress and is skipped.
pub(crate) fn list(root: &Path) -> Result<Vec<PathBuf>, MailboxError> {
    let mut folders = vec![root.to_path_buf()];
    let mut subfolders = Vec::new();
    for entry in fs::read_dir(root).map_err(|e| MailboxError::io("list", root, e))? {
        let entry = entry.map_err(|e| MailboxError::io("list", root, e))?;
        let name = entry.file_name();
        let is_subfolder = name.as_encoded_bytes().first() == Some(&b'.') && name != "." && name != "..";
        if is_subfolder && entry.file_type().is_ok_and(|t| t.is_dir()) && is_maildir(&entry.path()) {
            subfolders.push(entry.path());
        }
    }
    subfolders.sort();
    folders.extend(subfolders);

    let mut files = Vec::new();
    for folder in &folders {
        for sub in ["cur", "new"] {
            files.extend(list_messages(&folder.join(sub))?);
        }
    }
    Ok(files)
}

/// The regular files of one `cur/` or `new/` directory, sorted, without
/// dot files (editors' and sync tools' litter, never a Maildir message).
fn list_messages(dir: &Path) -> Result<Vec<PathBuf>, MailboxError> {
    if fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(MailboxError::SymbolicLink { path: dir.to_path_buf() });
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(MailboxError::io("list", dir, e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| MailboxError::io("list", dir, e))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(|e| MailboxError::io("stat", &path, e))?;
        if file_type.is_symlink() {
            // It could lead out of the tree (the server's own key files).
            return Err(MailboxError::SymbolicLink { path });
        }
        if entry.file_name().as_encoded_bytes().first() != Some(&b'.') && file_type.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
