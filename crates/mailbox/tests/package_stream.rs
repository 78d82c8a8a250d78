//! The streaming package writer: arbitrary message sets written into a
//! plain `Vec` (no file, no seek) come back byte-exactly through the zip
//! crate and through our mbox reader; the summary's SHA-256 is that of the
//! bytes produced; Python's zipfile reads a streamed zip.

use std::io::{Cursor, Read};
use std::process::Command;

use proptest::prelude::*;
use sealpost_mailbox::read::MboxReader;
use sealpost_mailbox::write::{ExportMessage, ManifestEntry, PackageFormat, PackageWriter};
use sha2::{Digest, Sha256};

/// Lines that stress mbox framing, plus arbitrary bytes.
fn line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"From ".to_vec()),
        Just(b">From x".to_vec()),
        Just(b">>From y".to_vec()),
        Just(b"From".to_vec()),
        Just(b"".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"Subject: hello".to_vec()),
        prop::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 0..40),
    ]
}

/// A message ending in a line feed (LF or CRLF lines, mixed): what a mail
/// store holds, and what an mbox gives back unchanged.
fn message() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((line(), prop_oneof![Just(&b"\n"[..]), Just(&b"\r\n"[..])]), 1..12).prop_map(|lines| {
        lines.into_iter().flat_map(|(line, eol)| line.into_iter().chain(eol.iter().copied())).collect()
    })
}

fn write_package(format: PackageFormat, messages: &[Vec<u8>]) -> (Vec<u8>, Vec<ManifestEntry>, String) {
    let mut writer = PackageWriter::new(format, Vec::new()).unwrap();
    let mut entries = Vec::new();
    for (i, bytes) in messages.iter().enumerate() {
        let id = format!("m{i}");
        entries.push(writer.write(&ExportMessage { id: &id, bytes, received_at: None }).unwrap());
    }
    let (out, summary) = writer.finish().unwrap();
    assert_eq!(summary.count, messages.len() as u64);
    assert_eq!(summary.bytes, out.len() as u64);
    (out, entries, summary.sha256)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn zip_stream_round_trips(messages in prop::collection::vec(message(), 0..8)) {
        let (out, entries, sha) = write_package(PackageFormat::EmlZip, &messages);
        prop_assert_eq!(&sha, &sha256_hex(&out));
        let mut zip = zip::ZipArchive::new(Cursor::new(out)).unwrap();
        prop_assert_eq!(zip.len(), messages.len() + 2);
        for (i, bytes) in messages.iter().enumerate() {
            let mut got = Vec::new();
            zip.by_name(&format!("m{i}.eml")).unwrap().read_to_end(&mut got).unwrap();
            prop_assert_eq!(&got, bytes);
            prop_assert_eq!(&entries[i].sha256, &sha256_hex(bytes));
        }
        let mut json = Vec::new();
        zip.by_name("manifest.json").unwrap().read_to_end(&mut json).unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let listed: Vec<ManifestEntry> = serde_json::from_value(manifest["messages"].clone()).unwrap();
        prop_assert_eq!(listed, entries);
        prop_assert_eq!(manifest["count"].as_u64(), Some(messages.len() as u64));
    }

    #[test]
    fn mbox_stream_round_trips(messages in prop::collection::vec(message(), 0..8)) {
        let (out, _, sha) = write_package(PackageFormat::Mbox, &messages);
        prop_assert_eq!(&sha, &sha256_hex(&out));
        let got: Vec<Vec<u8>> = MboxReader::new(&out[..], "stream").map(|item| item.unwrap().bytes).collect();
        prop_assert_eq!(got, messages);
    }
}

/// The same message set gives the same mbox bytes through the stream and
/// through the CLI's file writer: one implementation.
#[test]
fn file_writer_and_stream_write_the_same_mbox() {
    let messages = vec![b"From: a@example.org\r\n\r\nFrom me\r\n".to_vec(), b"Subject: b\n\n>From x\n".to_vec()];
    let (streamed, _, _) = write_package(PackageFormat::Mbox, &messages);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.mbox");
    let mut file = sealpost_mailbox::write::MboxWriter::create(&path).unwrap();
    for (i, bytes) in messages.iter().enumerate() {
        file.write(&ExportMessage { id: &format!("m{i}"), bytes, received_at: None }).unwrap();
    }
    file.finish().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), streamed);
}

/// Python's zipfile reads a streamed zip (data descriptors, manifests
/// appended whole), including a message over one deflate window.
#[test]
fn python_reads_a_streamed_zip() {
    let big: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let messages = vec![b"Subject: x\r\n\r\nhello\r\n".to_vec(), big];
    let (out, _, _) = write_package(PackageFormat::EmlZip, &messages);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.zip"), &out).unwrap();
    let script = format!(
        "import zipfile,hashlib\nz=zipfile.ZipFile('s.zip')\nassert z.testzip() is None\n\
         assert z.read('m0.eml')==b'Subject: x\\r\\n\\r\\nhello\\r\\n'\n\
         assert hashlib.sha256(z.read('m1.eml')).hexdigest()=='{}'\n\
         assert sorted(z.namelist())==['m0.eml','m1.eml','manifest.csv','manifest.json']",
        sha256_hex(&messages[1])
    );
    match Command::new("python3").args(["-c", &script]).current_dir(dir.path()).output() {
        Ok(output) => assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr)),
        Err(e) => eprintln!("skipped python3: {e}"),
    }
}
