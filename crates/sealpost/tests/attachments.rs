//! Attachment deduplication (R-AR-1) through a running server: a tenant
//! stores each large attachment once, every message reads back byte-exact
//! (across layouts, KEK rotation and partial disposal), nothing of an
//! attachment is in clear on disk, and the last disposal shreds it.

mod common;

use std::path::Path;

use base64::Engine;
use common::*;
use serde_json::json;

/// Deterministic, incompressible bytes.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

/// base64 in lines of `line_len`, CRLF.
fn wrapped_b64(bytes: &[u8], line_len: usize) -> String {
    let flat = base64::engine::general_purpose::STANDARD.encode(bytes);
    flat.as_bytes().chunks(line_len).map(|l| std::str::from_utf8(l).expect("ascii")).collect::<Vec<_>>().join("\r\n")
}

/// A message with a text part and the given (name, bytes, line length) attachments.
fn with_attachments(subject: &str, attachments: &[(&str, &[u8], usize)]) -> String {
    let mut m = format!(
        "From: clinic@example.org\r\nTo: patient@example.net\r\nSubject: {subject}\r\n\
         Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <{}@example.org>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"sep\"\r\n\r\n--sep\r\nContent-Type: text/plain\r\n\r\n\
         {subject}: see the attached files.\r\n",
        unique()
    );
    for (name, bytes, line_len) in attachments {
        m.push_str(&format!(
            "--sep\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            wrapped_b64(bytes, *line_len)
        ));
    }
    m.push_str("--sep--\r\n");
    m
}

fn send_raw(server: &Server, raw: &str) -> String {
    let body = json!({
        "from": "clinic@example.org",
        "to": ["patient@example.net"],
        "raw": base64::engine::general_purpose::STANDARD.encode(raw),
    });
    let (st, b) = server.post("/v1/messages/raw", &server.api_key, &body);
    assert_eq!(st, 202, "{b}");
    b["id"].as_str().expect("id").to_owned()
}

fn dir_bytes(dir: &Path) -> u64 {
    files_under(dir).iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
}

fn attachment_refs(server: &Server) -> Vec<i64> {
    let mut refs: Vec<i64> = server
        .sql_column("SELECT CAST(refs AS TEXT) FROM attachments")
        .iter()
        .map(|r| r.parse().expect("int"))
        .collect();
    refs.sort();
    refs
}

fn stores_once_and_reads_back_exactly(backend: Backend) {
    let mut server = Server::start(backend);
    let scan = noise(1, 150 * 1024);
    let canary = format!("patient,ssn\nQuillon Vardemaster {},078-05-1120\n", unique());
    let lab_csv: Vec<u8> =
        canary.bytes().chain((0..400).flat_map(|i| format!("row {i},glucose,98\n").into_bytes())).collect();

    // The same scan in two layouts (76 and 64 characters a line), once with
    // the lab results, and a message with a different, small attachment.
    let a_raw = with_attachments("Scan A", &[("scan.pdf", &scan, 76), ("labs.csv", &lab_csv, 76)]);
    let b_raw = with_attachments("Scan B", &[("scan.pdf", &scan, 64)]);
    let c_raw = with_attachments("Small", &[("note.bin", &noise(2, 1024), 76)]);
    let (a, b, c) = (send_raw(&server, &a_raw), send_raw(&server, &b_raw), send_raw(&server, &c_raw));

    // Two stored attachments (scan, labs); the small one stayed inline.
    assert_eq!(attachment_refs(&server), vec![1, 2], "scan referenced twice, labs once");
    assert_eq!(server.sql_scalar("SELECT count(*) FROM message_attachments"), 3);
    assert_eq!(server.show_raw(&a), a_raw.as_bytes(), "CLI read of A");
    assert_eq!(server.api_raw(&b), b_raw.as_bytes(), "API read of B (other line length)");
    assert_eq!(server.show_raw(&c), c_raw.as_bytes());

    // Ten more copies of the scan add references, not bytes (blob storage
    // grows by far less than one more copy of the scan).
    if backend == Backend::Embedded {
        let blobs = server.data_dir().join("blobs");
        let before = dir_bytes(&blobs);
        let copies: Vec<String> = (0..10)
            .map(|i| send_raw(&server, &with_attachments(&format!("Copy {i}"), &[("scan.pdf", &scan, 76)])))
            .collect();
        let grown = dir_bytes(&blobs) - before;
        assert!(grown < scan.len() as u64, "10 copies of a {} byte scan grew the blobs by {grown}", scan.len());
        assert_eq!(attachment_refs(&server), vec![1, 12]);
        assert_eq!(server.sql_scalar("SELECT count(*) FROM blob_garbage"), 0);
        let last = copies.last().expect("copies");
        assert_eq!(sha256_hex(&server.show_raw(last)), server.api_state(last)["sha256"].as_str().expect("sha256"));

        // Nothing of the lab results in clear anywhere under the data dir.
        let needle = canary.lines().nth(1).expect("canary line").split(',').next().expect("name").to_owned();
        for f in files_under(server.data_dir()) {
            let bytes = read_file(&f).unwrap_or_default();
            assert!(!contains(&bytes, needle.as_bytes()), "canary in clear in {}", f.display());
        }
    }

    // KEK rotation re-wraps attachment keys; every message still reads back.
    let out = server.cli(&["keys", "rotate", "--tenant", "default"]);
    assert!(out.status.success(), "rotate: {}", text(&out));
    assert_eq!(server.sql_scalar("SELECT count(*) FROM attachments WHERE kek_version <> 2"), 0);
    assert_eq!(server.show_raw(&a), a_raw.as_bytes(), "A after rotation");
    assert_eq!(server.show_raw(&b), b_raw.as_bytes(), "B after rotation");
    let rotated = server.audit_events().into_iter().rfind(|e| e["action"] == "key.rotated").expect("event");
    assert_eq!(rotated["detail"]["attachments"], 2, "{rotated}");
    let (code, out) = server.audit_verify();
    assert_eq!(code, 0, "{out}");
    server.stop();
}

#[test]
fn attachments_are_stored_once_and_read_back_exactly_embedded() {
    stores_once_and_reads_back_exactly(Backend::Embedded);
}

#[test]
fn attachments_are_stored_once_and_read_back_exactly_scale_out() {
    stores_once_and_reads_back_exactly(Backend::ScaleOut);
}

/// Disposing of one of two messages sharing an attachment keeps it (the
/// other still reads back exactly); disposing of the last shreds it: its
/// row and wrapped key gone, its blob deleted, the key's bytes nowhere on disk.
#[test]
fn the_last_disposal_shreds_an_attachment() {
    let mut server = Server::start(Backend::Embedded);
    let scan = noise(3, 60 * 1024);
    let old_raw =
        with_attachments("Old", &[("scan.pdf", &scan, 76)]).replace("Date: Mon, 2 Mar 2026", "Date: Thu, 2 Mar 2017");
    let new_raw = with_attachments("New", &[("scan.pdf", &scan, 76)]);
    let (old, new) = (send_raw(&server, &old_raw), send_raw(&server, &new_raw));
    assert_eq!(attachment_refs(&server), vec![2]);
    let wrapped_key = hex::decode(&server.sql_column("SELECT hex(wrapped_key) FROM attachments")[0]).expect("hex");

    // HIPAA's six years have passed for the 2017 message only.
    let out = server.cli(&["retention", "run", "--tenant", "default", "--now", "2026-06-01"]);
    assert!(out.status.success(), "run: {}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["default"]["disposed"], json!([old]), "{report}");
    assert_eq!(attachment_refs(&server), vec![1], "the newer message keeps it");
    assert_eq!(server.show_raw(&new), new_raw.as_bytes());

    let out = server.cli(&["retention", "run", "--tenant", "default", "--now", "2040-06-01"]);
    assert!(out.status.success(), "run: {}", text(&out));
    assert_eq!(server.sql_scalar("SELECT count(*) FROM attachments"), 0, "row and wrapped key deleted");
    assert_eq!(server.sql_scalar("SELECT count(*) FROM message_attachments"), 0);
    assert_eq!(server.sql_scalar("SELECT count(*) FROM blob_garbage"), 0, "its blob was deleted");
    server.stop();
    for f in files_under(server.data_dir()) {
        let bytes = read_file(&f).unwrap_or_default();
        assert!(!contains(&bytes, &wrapped_key), "the attachment's wrapped key survives in {}", f.display());
    }
}
