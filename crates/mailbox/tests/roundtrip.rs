//! Export then import: mbox and eml-zip give back the bytes they were
//! given, manifests and package checksums match, failures leave nothing.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use proptest::prelude::*;
use sealpost_mailbox::MailboxError;
use sealpost_mailbox::read::{self, Source};
use sealpost_mailbox::write::{EmlZipWriter, ExportMessage, ManifestEntry, MboxWriter, PackageSummary};
use sha2::{Digest, Sha256};

/// Lines that stress mbox framing, plus arbitrary bytes.
fn line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"From ".to_vec()),
        Just(b"From a@example.org Thu Jan  1 00:00:00 2026".to_vec()),
        Just(b">From x".to_vec()),
        Just(b">>From y".to_vec()),
        Just(b">>>From ".to_vec()),
        Just(b"From".to_vec()),
        Just(b"".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"Subject: hello".to_vec()),
        prop::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 0..30),
    ]
}

/// A message: lines joined with LF or CRLF (or mixed), with or without a
/// final line ending.
fn message() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec((line(), prop_oneof![Just(&b"\n"[..]), Just(&b"\r\n"[..])]), 0..10), any::<bool>()).prop_map(
        |(lines, final_eol)| {
            let mut bytes = Vec::new();
            let count = lines.len();
            for (i, (line, eol)) in lines.into_iter().enumerate() {
                bytes.extend_from_slice(&line);
                if i + 1 < count || final_eol {
                    bytes.extend_from_slice(eol);
                }
            }
            bytes
        },
    )
}

/// What an mbox gives back (documented on `write::MboxWriter`): the bytes,
/// plus the message's first line ending (LF if none) when it did not end
/// with a line feed.
fn expected_from_mbox(original: &[u8]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    if !bytes.ends_with(b"\n") {
        let crlf = original.iter().position(|&b| b == b'\n').is_some_and(|i| i > 0 && original[i - 1] == b'\r');
        bytes.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
    }
    bytes
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("msg-{i:04}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `<out>.sha256` is in sha256sum format and matches both the file and the
/// summary.
fn assert_checksum(out: &Path, summary: &PackageSummary) {
    let package = fs::read(out).unwrap();
    assert_eq!(summary.bytes, package.len() as u64);
    assert_eq!(summary.sha256, sha256_hex(&package));
    let name = out.file_name().unwrap().to_str().unwrap();
    let checksum = fs::read_to_string(format!("{}.sha256", out.display())).unwrap();
    assert_eq!(checksum, format!("{}  {name}\n", summary.sha256));
}

#[derive(serde::Deserialize)]
struct Manifest {
    format: String,
    messages: Vec<ManifestEntry>,
    count: u64,
}

fn assert_manifest(manifest: &Manifest, ids: &[String], messages: &[Vec<u8>]) {
    assert_eq!(manifest.format, "sealpost-export-manifest/1");
    assert_eq!(manifest.count, messages.len() as u64);
    assert_eq!(manifest.messages.len(), messages.len());
    for ((entry, id), bytes) in manifest.messages.iter().zip(ids).zip(messages) {
        assert_eq!(&entry.id, id);
        assert_eq!(entry.sha256, sha256_hex(bytes));
    }
}

fn export_mbox(out: &Path, ids: &[String], messages: &[Vec<u8>]) -> PackageSummary {
    let mut writer = MboxWriter::create(out).unwrap();
    for (id, bytes) in ids.iter().zip(messages) {
        writer.write(&ExportMessage { id, bytes, received_at: None }).unwrap();
    }
    writer.finish().unwrap()
}

fn export_zip(out: &Path, ids: &[String], messages: &[Vec<u8>]) -> PackageSummary {
    let mut writer = EmlZipWriter::create(out).unwrap();
    for (id, bytes) in ids.iter().zip(messages) {
        writer.write(&ExportMessage { id, bytes, received_at: None }).unwrap();
    }
    writer.finish().unwrap()
}

fn zip_entry(archive: &mut zip::ZipArchive<fs::File>, name: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    archive.by_name(name).unwrap().read_to_end(&mut bytes).unwrap();
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn mbox_round_trip(messages in prop::collection::vec(message(), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("export.mbox");
        let ids = ids(messages.len());
        let summary = export_mbox(&out, &ids, &messages);
        prop_assert_eq!(summary.count, messages.len() as u64);
        assert_checksum(&out, &summary);

        let source = read::detect(&out).unwrap();
        let items: Vec<_> = read::open(&source).unwrap().map(|i| i.unwrap()).collect();
        let got: Vec<Vec<u8>> = items.iter().map(|i| i.bytes.clone()).collect();
        let want: Vec<Vec<u8>> = messages.iter().map(|m| expected_from_mbox(m)).collect();
        prop_assert_eq!(got, want);
        prop_assert!(items.iter().all(|i| i.problems.is_empty()));

        let manifest: Manifest =
            serde_json::from_slice(&fs::read(dir.path().join("export.mbox.manifest.json")).unwrap()).unwrap();
        assert_manifest(&manifest, &ids, &messages);
    }

    #[test]
    fn eml_zip_round_trip(messages in prop::collection::vec(message(), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("export.zip");
        let ids = ids(messages.len());
        let summary = export_zip(&out, &ids, &messages);
        assert_checksum(&out, &summary);

        let mut archive = zip::ZipArchive::new(fs::File::open(&out).unwrap()).unwrap();
        prop_assert_eq!(archive.len(), messages.len() + 2);
        for (id, bytes) in ids.iter().zip(&messages) {
            prop_assert_eq!(&zip_entry(&mut archive, &format!("{id}.eml")), bytes);
        }
        let manifest: Manifest = serde_json::from_slice(&zip_entry(&mut archive, "manifest.json")).unwrap();
        assert_manifest(&manifest, &ids, &messages);
        let csv = String::from_utf8(zip_entry(&mut archive, "manifest.csv")).unwrap();
        prop_assert!(csv.starts_with("id,message_id,date,from,to,subject,sha256\r\n"));
        for (id, bytes) in ids.iter().zip(&messages) {
            let wanted_row_end = format!(",{}\r\n", sha256_hex(bytes));
            prop_assert!(csv.lines().any(|l| l.starts_with(id.as_str())) && csv.contains(&wanted_row_end));
        }
    }
}

/// Exact bytes for the shapes a mail store holds (CRLF, final CRLF), with
/// every kind of From line, through the real files.
#[test]
fn mbox_round_trip_is_exact_for_messages_ending_in_a_newline() {
    let messages = vec![
        b"From: a@example.org\r\nSubject: 1\r\n\r\nFrom me\r\n>From you\r\n>>From them\r\n\r\n".to_vec(),
        b"Subject: 2\n\nFrom \n\n\nFrom x\n".to_vec(),
        b"\n".to_vec(),
        b"Subject: trailing blank lines\r\n\r\n\r\n\r\n".to_vec(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.mbox");
    export_mbox(&out, &ids(messages.len()), &messages);
    let got: Vec<_> = read::open(&Source::Mbox(out)).unwrap().map(|i| i.unwrap().bytes).collect();
    assert_eq!(got, messages);
}

#[test]
fn message_without_final_newline_gains_its_line_ending() {
    let messages = vec![b"Subject: a\r\n\r\nno end".to_vec(), b"".to_vec(), b"Subject: b\n\nFrom end".to_vec()];
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.mbox");
    export_mbox(&out, &ids(3), &messages);
    let got: Vec<_> = read::open(&Source::Mbox(out)).unwrap().map(|i| i.unwrap().bytes).collect();
    assert_eq!(
        got,
        vec![b"Subject: a\r\n\r\nno end\r\n".to_vec(), b"\n".to_vec(), b"Subject: b\n\nFrom end\n".to_vec()]
    );
}

/// The package as other tools see it: `unzip -t`, Python's zipfile and
/// `sha256sum -c`. Tools that are not installed are reported and skipped.
#[test]
fn eml_zip_is_readable_by_unzip_python_and_sha256sum() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export.zip");
    let messages = vec![b"Subject: x\r\n\r\nhello\r\n".to_vec(), vec![b'a'; 100_000]];
    export_zip(&out, &ids(2), &messages);
    let mut checked = 0;
    let mut run = |program: &str, args: &[&str]| match Command::new(program).args(args).current_dir(dir.path()).output()
    {
        Ok(output) => {
            assert!(output.status.success(), "{program}: {}", String::from_utf8_lossy(&output.stderr));
            checked += 1;
        }
        Err(e) => eprintln!("skipped {program}: {e}"),
    };
    run("unzip", &["-tq", "export.zip"]);
    let script = "import zipfile,sys\nz=zipfile.ZipFile('export.zip')\nassert z.testzip() is None\n\
        assert z.read('msg-0000.eml')==b'Subject: x\\r\\n\\r\\nhello\\r\\n'\n\
        assert sorted(z.namelist())==['manifest.csv','manifest.json','msg-0000.eml','msg-0001.eml']";
    run("python3", &["-c", script]);
    run("sha256sum", &["-c", "--quiet", "export.zip.sha256"]);
    assert!(checked > 0, "no zip tool at all to check with");
}

/// Nothing but the temp dir's own entries after a failed or abandoned
/// export: no output file, no temporary file.
fn assert_empty(dir: &Path) {
    let left: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn abandoned_or_failed_exports_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let message = ExportMessage { id: "m1", bytes: b"Subject: x\n\nbody\n", received_at: None };

    let mut mbox = MboxWriter::create(dir.path().join("a.mbox")).unwrap();
    mbox.write(&message).unwrap();
    // The caller's next step fails (here: a duplicate id) and it gives up.
    assert!(matches!(mbox.write(&message), Err(MailboxError::DuplicateId { .. })));
    drop(mbox);
    assert_empty(dir.path());

    let mut zip = EmlZipWriter::create(dir.path().join("a.zip")).unwrap();
    zip.write(&message).unwrap();
    assert!(matches!(zip.write(&ExportMessage { id: "../evil", ..message }), Err(MailboxError::InvalidId { .. })));
    drop(zip);
    assert_empty(dir.path());

    // The target directory vanishes before finish: the rename fails.
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    let mut zip = EmlZipWriter::create(sub.join("b.zip")).unwrap();
    zip.write(&message).unwrap();
    fs::remove_dir_all(&sub).unwrap();
    assert!(zip.finish().is_err());
    assert_empty(dir.path());
}

#[test]
fn finish_replaces_an_existing_export() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.mbox");
    fs::write(&out, b"old").unwrap();
    let summary = export_mbox(&out, &ids(1), &[b"Subject: new\n\n".to_vec()]);
    assert_checksum(&out, &summary);
    let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 3, "{names:?}"); // a.mbox, a.mbox.manifest.json, a.mbox.sha256
}
