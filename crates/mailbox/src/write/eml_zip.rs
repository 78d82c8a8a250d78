//! A zip package of `.eml` files with a manifest.

use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use mail_parser::MessageParser;
use tempfile::NamedTempFile;
use time::OffsetDateTime;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::error::MailboxError;
use crate::write::manifest::{ManifestEntry, ManifestWriter};
use crate::write::output::{commit, hash_file, stage, write_checksum};
use crate::write::{ExportMessage, IdSet, PackageSummary, message_time};

/// Writes a zip with one `<id>.eml` per message (deflated, bytes exactly as
/// given), then `manifest.json` and `manifest.csv`, and `<out>.sha256` next
/// to it. Zip64 records are written where the package needs them (more
/// than 65,535 entries or more than 4 GiB).
///
/// ```
/// use sealpost_mailbox::write::{EmlZipWriter, ExportMessage};
///
/// let dir = tempfile::tempdir().unwrap();
/// let out = dir.path().join("export.zip");
/// let mut writer = EmlZipWriter::create(&out).unwrap();
/// writer.write(&ExportMessage { id: "m1", bytes: b"Subject: hi\r\n\r\nbody\r\n", received_at: None }).unwrap();
/// let summary = writer.finish().unwrap();
/// assert_eq!(summary.count, 1);
/// assert!(std::fs::read_to_string(dir.path().join("export.zip.sha256")).unwrap().ends_with("  export.zip\n"));
/// ```
pub struct EmlZipWriter {
    zip: ZipWriter<BufWriter<NamedTempFile>>,
    target: PathBuf,
    manifest: ManifestWriter,
    ids: IdSet,
    count: u64,
}

impl EmlZipWriter {
    /// Starts an export to `path`. Nothing appears at `path` before
    /// [`EmlZipWriter::finish`]; an existing file there is replaced then.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, MailboxError> {
        let target = path.as_ref().to_path_buf();
        let zip = ZipWriter::new(BufWriter::with_capacity(256 * 1024, stage(&target)?));
        let manifest = ManifestWriter::new(&target, true)?;
        Ok(EmlZipWriter { zip, target, manifest, ids: IdSet::default(), count: 0 })
    }

    /// Adds `<id>.eml` and returns its manifest entry.
    pub fn write(&mut self, message: &ExportMessage<'_>) -> Result<ManifestEntry, MailboxError> {
        self.ids.admit(message.id)?;
        let headers = MessageParser::default().parse_headers(message.bytes);
        let mut options = entry_options();
        if let Some(time) = message_time(message.received_at, headers.as_ref()).and_then(zip_time) {
            options = options.last_modified_time(time);
        }
        // A message over 4 GiB needs a Zip64 local header, decided before
        // its bytes are written.
        options = options.large_file(message.bytes.len() as u64 >= u64::from(u32::MAX));
        self.zip.start_file(format!("{}.eml", message.id), options)?;
        self.zip.write_all(message.bytes).map_err(|e| MailboxError::io("write", &self.target, e))?;
        let entry = ManifestEntry::from_headers(message.id, message.bytes, headers.as_ref());
        self.manifest.add(&entry)?;
        self.count += 1;
        Ok(entry)
    }

    /// Adds the manifests, closes the zip, moves it into place and writes
    /// `<out>.sha256`.
    pub fn finish(mut self) -> Result<PackageSummary, MailboxError> {
        let (json, csv) = self.manifest.finish()?;
        for (name, staged) in [("manifest.json", Some(json)), ("manifest.csv", csv)] {
            let Some(staged) = staged else { continue };
            self.zip.start_file(name, entry_options())?;
            let mut file = staged.reopen().map_err(|e| MailboxError::io("open", staged.path(), e))?;
            file.rewind().map_err(|e| MailboxError::io("read", staged.path(), e))?;
            io::copy(&mut file, &mut self.zip).map_err(|e| MailboxError::io("copy", staged.path(), e))?;
        }
        let out = self.zip.finish()?;
        let staged = out.into_inner().map_err(|e| MailboxError::io("write", &self.target, e.into_error()))?;
        let (sha256, bytes) = hash_file(staged.path())?;
        commit(staged, &self.target)?;
        write_checksum(&self.target, &sha256)?;
        Ok(PackageSummary { count: self.count, bytes, sha256 })
    }
}

fn entry_options() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated).unix_permissions(0o644)
}

/// The zip (MS-DOS) timestamp for `time` in UTC; `None` outside 1980–2107,
/// which the format cannot hold.
fn zip_time(time: OffsetDateTime) -> Option<zip::DateTime> {
    let utc = time.to_offset(time::UtcOffset::UTC);
    let year = u16::try_from(utc.year()).ok()?;
    zip::DateTime::from_date_and_time(year, utc.month() as u8, utc.day(), utc.hour(), utc.minute(), utc.second()).ok()
}
