//! The export package as a stream: mboxrd or a zip of `.eml` files, written
//! into any [`Write`] — a file, an HTTP response body — front to back,
//! never seeking, never staging anything on disk. The package's SHA-256 and
//! size are computed over the bytes as they are written, so the checksum
//! is known the moment the last byte is out.
//!
//! This is the one implementation of both formats: the CLI's file writers
//! ([`MboxWriter`](crate::write::MboxWriter),
//! [`EmlZipWriter`](crate::write::EmlZipWriter)) are this writer over a
//! temporary file, and the server's API streams it into a response.

use std::io::{self, Write};

use mail_parser::MessageParser;
use sha2::{Digest, Sha256};

use crate::error::MailboxError;
use crate::write::eml_zip::ZipPackage;
use crate::write::manifest::ManifestEntry;
use crate::write::{ExportMessage, IdSet, PackageSummary, mbox, message_time};

/// The two package formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PackageFormat {
    /// mboxrd; the manifest travels separately.
    Mbox,
    /// A zip of `<id>.eml`, `manifest.json` and `manifest.csv`.
    EmlZip,
}

impl PackageFormat {
    /// The wire name: `mbox` or `eml-zip`.
    pub fn as_str(self) -> &'static str {
        match self {
            PackageFormat::Mbox => "mbox",
            PackageFormat::EmlZip => "eml-zip",
        }
    }

    /// Parses the wire name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "mbox" => Some(PackageFormat::Mbox),
            "eml-zip" => Some(PackageFormat::EmlZip),
            _ => None,
        }
    }

    /// The media type: `application/mbox` (RFC 4155) or `application/zip`.
    pub fn media_type(self) -> &'static str {
        match self {
            PackageFormat::Mbox => "application/mbox",
            PackageFormat::EmlZip => "application/zip",
        }
    }

    /// The usual file name extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            PackageFormat::Mbox => "mbox",
            PackageFormat::EmlZip => "zip",
        }
    }
}

/// Writes a package into `W` one message at a time.
///
/// ```
/// use sealpost_mailbox::write::{ExportMessage, PackageFormat, PackageWriter};
///
/// let mut writer = PackageWriter::new(PackageFormat::EmlZip, Vec::new()).unwrap();
/// writer.write(&ExportMessage { id: "m1", bytes: b"Subject: hi\r\n\r\nbody\r\n", received_at: None }).unwrap();
/// let (bytes, summary) = writer.finish().unwrap();
/// assert_eq!(summary.bytes, bytes.len() as u64);
/// let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
/// assert_eq!(zip.len(), 3); // m1.eml, manifest.json, manifest.csv
/// ```
pub struct PackageWriter<W: Write> {
    body: Body<W>,
    ids: IdSet,
    count: u64,
}

enum Body<W: Write> {
    Mbox(HashingWriter<W>),
    Zip(Box<ZipPackage<HashingWriter<W>>>),
}

impl<W: Write> PackageWriter<W> {
    /// Starts a package in `out`. Nothing is written before the first
    /// message (an empty zip is written whole by [`PackageWriter::finish`]).
    pub fn new(format: PackageFormat, out: W) -> Result<Self, MailboxError> {
        let out = HashingWriter { inner: out, hasher: Sha256::new(), bytes: 0 };
        let body = match format {
            PackageFormat::Mbox => Body::Mbox(out),
            PackageFormat::EmlZip => Body::Zip(Box::new(ZipPackage::new(out)?)),
        };
        Ok(PackageWriter { body, ids: IdSet::default(), count: 0 })
    }

    /// The package's format.
    pub fn format(&self) -> PackageFormat {
        match self.body {
            Body::Mbox(_) => PackageFormat::Mbox,
            Body::Zip(_) => PackageFormat::EmlZip,
        }
    }

    /// Messages written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Appends one message and returns its manifest entry. A failed write
    /// leaves the package unusable: the caller abandons it.
    pub fn write(&mut self, message: &ExportMessage<'_>) -> Result<ManifestEntry, MailboxError> {
        self.ids.admit(message.id)?;
        // Headers are parsed once, for the mbox separator or zip time, and the manifest.
        let headers = MessageParser::default().parse_headers(message.bytes);
        let time = message_time(message.received_at, headers.as_ref());
        let entry = ManifestEntry::from_headers(message.id, message.bytes, headers.as_ref());
        match &mut self.body {
            Body::Mbox(out) => {
                mbox::write_message(out, message.bytes, headers.as_ref(), time).map_err(MailboxError::Output)?
            }
            Body::Zip(zip) => zip.add(message.id, message.bytes, time, &entry)?,
        }
        self.count += 1;
        Ok(entry)
    }

    /// Ends the package (for the zip: the manifests and the central
    /// directory) and returns the writer, not flushed, with the summary.
    pub fn finish(self) -> Result<(W, PackageSummary), MailboxError> {
        let out = match self.body {
            Body::Mbox(out) => out,
            Body::Zip(zip) => zip.finish()?,
        };
        let summary =
            PackageSummary { count: self.count, bytes: out.bytes, sha256: hex::encode(out.hasher.finalize()) };
        Ok((out.inner, summary))
    }
}

/// Passes bytes through to `inner`, hashing and counting exactly those
/// `inner` accepted.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that accepts a few bytes per call, as a socket may.
    struct Trickle(Vec<u8>);

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(7);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn summary_hashes_exactly_the_bytes_written_even_in_short_writes() {
        for format in [PackageFormat::Mbox, PackageFormat::EmlZip] {
            let mut writer = PackageWriter::new(format, Trickle(Vec::new())).unwrap();
            let body = vec![b'x'; 10_000];
            writer.write(&ExportMessage { id: "a", bytes: &body, received_at: None }).unwrap();
            let (out, summary) = writer.finish().unwrap();
            assert_eq!(summary.bytes, out.0.len() as u64, "{format:?}");
            assert_eq!(summary.sha256, hex::encode(Sha256::digest(&out.0)), "{format:?}");
        }
    }

    #[test]
    fn a_failing_destination_fails_the_write() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "reader went away"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut writer = PackageWriter::new(PackageFormat::Mbox, Broken).unwrap();
        let result = writer.write(&ExportMessage { id: "a", bytes: b"Subject: x\n\n", received_at: None });
        assert!(matches!(result, Err(MailboxError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe));
    }

    #[test]
    fn format_names_round_trip() {
        for format in [PackageFormat::Mbox, PackageFormat::EmlZip] {
            assert_eq!(PackageFormat::parse(format.as_str()), Some(format));
        }
        assert_eq!(PackageFormat::parse("zip"), None);
    }
}
