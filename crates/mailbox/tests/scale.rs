//! 100,000 messages through both writers and the mbox reader: counts,
//! byte-exactness and, for the zip, Zip64 (more than 65,535 entries) as
//! Python's zipfile reads it. Slow in debug builds, so ignored by default:
//! `cargo test -p sealpost-mailbox --test scale -- --ignored --nocapture`.

use std::fs;
use std::process::Command;
use std::time::Instant;

use sealpost_mailbox::read::{self, Source};
use sealpost_mailbox::write::{EmlZipWriter, ExportMessage, MboxWriter};
use sha2::{Digest, Sha256};

const COUNT: usize = 100_000;

fn message(i: usize) -> Vec<u8> {
    let mut m = format!(
        "From: sender{i}@example.org\r\nTo: r@example.org\r\nDate: Thu, 1 Jan 2026 10:00:00 +0000\r\n\
         Message-ID: <{i}@example.org>\r\nSubject: message {i}\r\n\r\n"
    )
    .into_bytes();
    for line in 0..20 {
        m.extend_from_slice(
            format!("{line:02} From the body of message {i}, a line of about seventy bytes.\r\n").as_bytes(),
        );
    }
    m.extend_from_slice(b"From the end\r\n>From quoted\r\n");
    m
}

#[test]
#[ignore]
fn hundred_thousand_messages() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("big.mbox");
    let zip = dir.path().join("big.zip");
    let mut want = Sha256::new();

    let started = Instant::now();
    let mut writer = MboxWriter::create(&mbox).unwrap();
    for i in 0..COUNT {
        let bytes = message(i);
        want.update(&bytes);
        writer.write(&ExportMessage { id: &format!("m{i}"), bytes: &bytes, received_at: None }).unwrap();
    }
    let summary = writer.finish().unwrap();
    eprintln!("mbox write: {COUNT} messages, {} bytes in {:?}", summary.bytes, started.elapsed());

    let started = Instant::now();
    let mut got = Sha256::new();
    let mut count = 0;
    for item in read::open(&Source::Mbox(mbox.clone())).unwrap() {
        got.update(item.unwrap().bytes);
        count += 1;
    }
    eprintln!("mbox read: {count} messages in {:?}", started.elapsed());
    assert_eq!(count, COUNT);
    assert_eq!(got.finalize(), want.finalize());
    fs::remove_file(&mbox).unwrap();

    let started = Instant::now();
    let mut writer = EmlZipWriter::create(&zip).unwrap();
    for i in 0..COUNT {
        writer.write(&ExportMessage { id: &format!("m{i}"), bytes: &message(i), received_at: None }).unwrap();
    }
    let summary = writer.finish().unwrap();
    eprintln!("zip write: {COUNT} messages, {} bytes in {:?}", summary.bytes, started.elapsed());
    let script = format!(
        "import zipfile\nz=zipfile.ZipFile({:?})\nn=z.namelist()\nassert len(n)=={}, len(n)\n\
         assert z.read('m99999.eml')==open(0,'rb').read()",
        zip.display().to_string(),
        COUNT + 2
    );
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("python3 to check the package");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &message(99_999)).unwrap();
    assert!(child.wait().unwrap().success());
}
