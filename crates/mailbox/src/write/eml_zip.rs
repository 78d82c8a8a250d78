//! A zip package of `.eml` files with a manifest.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;
use time::OffsetDateTime;
use zip::write::{SimpleFileOptions, StreamWriter, ZipFileBuilder};
use zip::{CompressionMethod, ZipWriter};

use crate::error::MailboxError;
use crate::write::manifest::{ManifestCsv, ManifestEntry, ManifestJson};
use crate::write::output::{commit, stage, write_checksum};
use crate::write::{ExportMessage, PackageFormat, PackageSummary, PackageWriter};

/// Writes a zip with one `<id>.eml` per message (deflated, bytes exactly as
/// given), then `manifest.json` and `manifest.csv`, and `<out>.sha256` next
/// to it: a [`PackageWriter`] into a temporary file renamed into place by
/// [`EmlZipWriter::finish`]. Zip64 records are written where the package
/// needs them (more than 65,535 entries or more than 4 GiB).
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
    package: PackageWriter<BufWriter<NamedTempFile>>,
    target: PathBuf,
}

impl EmlZipWriter {
    /// Starts an export to `path`. Nothing appears at `path` before
    /// [`EmlZipWriter::finish`]; an existing file there is replaced then.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, MailboxError> {
        let target = path.as_ref().to_path_buf();
        let out = BufWriter::with_capacity(256 * 1024, stage(&target)?);
        Ok(EmlZipWriter { package: PackageWriter::new(PackageFormat::EmlZip, out)?, target })
    }

    /// Adds `<id>.eml` and returns its manifest entry.
    pub fn write(&mut self, message: &ExportMessage<'_>) -> Result<ManifestEntry, MailboxError> {
        self.package.write(message)
    }

    /// Adds the manifests, closes the zip, moves it into place and writes
    /// `<out>.sha256`.
    pub fn finish(self) -> Result<PackageSummary, MailboxError> {
        let (out, summary) = self.package.finish()?;
        let staged = out.into_inner().map_err(|e| MailboxError::io("write", &self.target, e.into_error()))?;
        commit(staged, &self.target)?;
        write_checksum(&self.target, &summary.sha256)?;
        Ok(summary)
    }
}

/// The zip body of a package, written front to back.
///
/// Why the zip crate's streaming mode (`ZipWriter::new_stream`, local
/// headers followed by data descriptors) rather than our own writer that
/// puts CRC-32 and sizes into the local header (possible: each message is
/// in memory when written): the format has one implementation in the
/// build, the zip crate's, with its Zip64 records, UTF-8 flags and central
/// directory, which the CLI's packages already relied on. Data descriptors
/// are base format (APPNOTE 4.3.9); readers that use the central directory
/// (Python's zipfile, Info-ZIP unzip, 7-Zip, the Windows and macOS
/// built-ins) never look at them, and streaming readers handle them for
/// deflated entries, which are self-terminating — every entry here is
/// deflated.
///
/// The manifests come last in the zip but grow with every message, so
/// they are compressed in memory as they grow (`ZipFileBuilder`, about a
/// tenth of their size) and appended whole at the end; nothing is staged on
/// disk.
pub(crate) struct ZipPackage<W: Write> {
    zip: ZipWriter<StreamWriter<W>>,
    json: ManifestJson<ZipFileBuilder>,
    csv: ManifestCsv<ZipFileBuilder>,
}

impl<W: Write> ZipPackage<W> {
    pub(crate) fn new(out: W) -> Result<Self, MailboxError> {
        let json = ManifestJson::new(ZipFileBuilder::new("manifest.json", entry_options())?)?;
        let csv = ManifestCsv::new(ZipFileBuilder::new("manifest.csv", entry_options())?)?;
        Ok(ZipPackage { zip: ZipWriter::new_stream(out), json, csv })
    }

    /// Adds `<id>.eml` (the id was checked by the caller) and its manifest rows.
    pub(crate) fn add(
        &mut self,
        id: &str,
        bytes: &[u8],
        time: Option<OffsetDateTime>,
        entry: &ManifestEntry,
    ) -> Result<(), MailboxError> {
        let mut options = entry_options();
        if let Some(time) = time.and_then(zip_time) {
            options = options.last_modified_time(time);
        }
        // A message over 4 GiB needs a Zip64 local header, decided before
        // its bytes are written (a stream cannot go back to change it).
        options = options.large_file(bytes.len() as u64 >= u64::from(u32::MAX));
        self.zip.start_file(format!("{id}.eml"), options)?;
        self.zip.write_all(bytes).map_err(MailboxError::Output)?;
        self.json.add(entry)?;
        self.csv.add(entry)
    }

    /// Appends the manifests and the central directory.
    pub(crate) fn finish(mut self) -> Result<W, MailboxError> {
        let json = self.json.finish()?;
        for builder in [json, self.csv.finish()] {
            self.zip.add_prepared_file(builder.finish()?)?;
        }
        Ok(self.zip.finish()?.into_inner())
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
