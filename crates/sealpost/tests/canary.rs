//! Canary PHI (R-KY-1, SPEC §5): plant recognizable fake PHI through every
//! intake path, stop the server, then search every byte Sealpost could have
//! written — data directory (database, WAL, shm, blobs, logs), the
//! PostgreSQL cluster and the S3 bucket for the scale-out backend, and new
//! files in /tmp — for the canaries in plain, UTF-16 and base64 form.
//! The same canaries must come back from `sealpost message show --raw`.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine;
use common::{Backend, Opts, Server, b64, contains, files_under, read_file, unique};
use serde_json::json;

const SSN: &str = "078-05-1120";
const NAME: &str = "Zebulon Quagmire-Fairweather";
const DIAGNOSIS: &str = "Acute Xylophonic Encephalitis";
const CANARIES: [&str; 3] = [SSN, NAME, DIAGNOSIS];

/// Every form of `c` that would reveal it: plain, UTF-16LE/BE, and base64
/// at each of the three alignments (the part of the encoding that depends on
/// `c` alone).
fn forms(c: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![(format!("{c:?} plain"), c.as_bytes().to_vec())];
    out.push((format!("{c:?} utf-16le"), c.encode_utf16().flat_map(u16::to_le_bytes).collect()));
    out.push((format!("{c:?} utf-16be"), c.encode_utf16().flat_map(u16::to_be_bytes).collect()));
    for skip in 0..3 {
        let rest = &c.as_bytes()[skip..];
        let aligned = &rest[..rest.len() - rest.len() % 3];
        let enc = base64::engine::general_purpose::STANDARD_NO_PAD.encode(aligned);
        out.push((format!("{c:?} base64 (offset {skip})"), enc.into_bytes()));
    }
    out
}

/// Files under `roots` holding any canary form: "path: form".
fn hits_in(files: &[PathBuf]) -> Vec<String> {
    let needles: Vec<(String, Vec<u8>)> = CANARIES.iter().flat_map(|c| forms(c)).collect();
    let mut hits = Vec::new();
    for f in files {
        let Some(bytes) = read_file(f) else { continue };
        for (what, n) in &needles {
            if contains(&bytes, n) {
                hits.push(format!("{}: {what}", f.display()));
            }
        }
    }
    hits
}

fn assert_all_canaries(bytes: &[u8], what: &str) {
    for c in CANARIES {
        assert!(contains(bytes, c.as_bytes()), "{what}: readback lacks canary {c:?}; was anything stored?");
    }
}

fn smtp_message() -> Vec<u8> {
    let marker = unique();
    let attachment = format!("Patient: {NAME}\r\nSSN: {SSN}\r\nDiagnosis: {DIAGNOSIS}\r\n");
    format!(
        "From: Clinic <clinic@example.org>\r\n\
         To: {NAME} <zebulon@example.net>\r\n\
         Subject: Results for {NAME}\r\n\
         Message-ID: <{marker}@test.example>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b-{marker}\"\r\n\
         \r\n\
         --b-{marker}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Dear {NAME}, your SSN {SSN} is on file. Diagnosis: {DIAGNOSIS}.\r\n\
         --b-{marker}\r\n\
         Content-Type: text/plain; name=\"chart.txt\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"chart.txt\"\r\n\
         \r\n\
         {b64_att}\r\n\
         --b-{marker}\r\n\
         Content-Type: text/plain; charset=utf-8; name=\"notes.txt\"\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         Content-Disposition: attachment; filename=\"notes.txt\"\r\n\
         \r\n\
         Notes on {NAME}: {DIAGNOSIS}, SSN {SSN}\r\n\
         --b-{marker}\r\n\
         Content-Type: text/plain; charset=utf-8; name=\"notes8.txt\"\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         Content-Disposition: attachment; filename=\"notes8.txt\"\r\n\
         \r\n\
         8bit notes \u{e9}: {NAME} / {DIAGNOSIS} / {SSN}\r\n\
         --b-{marker}--\r\n",
        b64_att = b64(attachment.as_bytes()),
    )
    .into_bytes()
}

fn canary(backend: Backend) {
    // Files older than this are not ours; one second of slack for mtime granularity.
    let start = SystemTime::now() - std::time::Duration::from_secs(1);
    // The search itself finds what it should (so a zero-hit result means something).
    {
        let scratch = tempfile::tempdir().expect("tempdir");
        let f = scratch.path().join("probe.bin");
        let mut probe: Vec<u8> = b"x".to_vec();
        probe.extend(NAME.encode_utf16().flat_map(u16::to_le_bytes));
        probe.extend(b64(format!("a{SSN}").as_bytes()).into_bytes());
        std::fs::write(&f, probe).expect("write probe");
        let found = hits_in(&[f]);
        assert_eq!(found.len(), 2, "the canary search is broken: {found:?}");
    }
    // Debug logging: the most a log could leak.
    let mut server = Server::start_with(backend, Opts { log: "debug".into(), ..Opts::default() });
    let key = server.api_key.clone();

    // SMTP (relay listener) with canaries in headers, body and attachments.
    let smtp_content = smtp_message();
    let smtp_id = common::relay_send(server.ports.relay, "clinic@example.org", "zebulon@example.net", &smtp_content);

    // API JSON: subject, text, html, attachment, metadata, tags, display name.
    let chart = format!("Chart of {NAME}, SSN {SSN}: {DIAGNOSIS}\n");
    let (st, b) = server.post(
        "/v1/messages",
        &key,
        &json!({
            "from": "clinic@example.org",
            "to": [{ "email": "zebulon@example.net", "name": NAME }],
            "subject": format!("Results for {NAME}"),
            "text": format!("Dear {NAME}, SSN {SSN}, diagnosis {DIAGNOSIS}."),
            "html": format!("<p>Dear {NAME}, SSN {SSN}, diagnosis {DIAGNOSIS}.</p>"),
            "attachments": [{ "filename": "chart.txt", "content_type": "text/plain", "content": b64(chart.as_bytes()) }],
            "tags": [DIAGNOSIS, SSN],
            "metadata": { "patient": NAME, "ssn": SSN, "dx": DIAGNOSIS },
        }),
    );
    assert_eq!(st, 202, "API JSON: {b}");
    let json_id = b["id"].as_str().expect("id").to_owned();

    // API raw.
    let raw = format!(
        "From: clinic@example.org\r\nTo: zebulon@example.net\r\nSubject: Raw results for {NAME}\r\n\r\n\
         SSN {SSN}; diagnosis {DIAGNOSIS}.\r\n"
    );
    let (st, b) = server.post(
        "/v1/messages/raw",
        &key,
        &json!({ "from": "clinic@example.org", "to": ["zebulon@example.net"], "raw": b64(raw.as_bytes()) }),
    );
    assert_eq!(st, 202, "API raw: {b}");
    let raw_id = b["id"].as_str().expect("id").to_owned();

    // The canaries were stored: `message show --raw` returns them.
    let reads: Vec<Vec<u8>> = [&smtp_id, &json_id, &raw_id].into_iter().map(|id| server.show_raw(id)).collect();
    assert_eq!(reads[0], smtp_content, "SMTP message not stored byte-exact");
    assert_all_canaries(&reads[0], "SMTP");
    // mail-builder may use quoted-printable for long lines: undo soft breaks.
    let unfolded = String::from_utf8_lossy(&reads[1]).replace("=\r\n", "");
    assert_all_canaries(unfolded.as_bytes(), "API JSON");
    assert!(contains(&reads[1], format!("Subject: Results for {NAME}").as_bytes()), "API JSON subject");
    assert_eq!(reads[2], raw.as_bytes(), "raw API message not stored byte-exact");
    assert_all_canaries(&reads[2], "API raw");

    // Stop cleanly, so everything the server would flush is flushed.
    let status = server.stop();
    assert!(status.is_some_and(|s| s.success()), "serve did not exit cleanly: {status:?}");

    // 1. The data directory: every file (db, -wal, -shm, blobs, keys, logs).
    let data_files = files_under(server.data_dir());
    assert!(
        data_files.iter().any(|f| f.starts_with(server.data_dir().join("logs"))),
        "no logs captured in the data dir"
    );
    let log_bytes: usize =
        files_under(&server.data_dir().join("logs")).iter().filter_map(|f| read_file(f)).map(|b| b.len()).sum();
    assert!(log_bytes > 0, "server logs are empty");
    let mut hits = hits_in(&data_files);

    // 2. Scale-out: the PostgreSQL cluster (after a CHECKPOINT, so heap files
    //    hold the rows as well as the WAL) and the S3 objects. moto keeps
    //    objects in memory and writes nothing but its log to disk (that log
    //    is under /tmp and covered by step 3), so the objects are fetched
    //    over HTTP and searched.
    if backend == Backend::ScaleOut {
        let pg = sealpost_testkit::shared_postgres().expect("postgres");
        common::psql(server.pg_url.as_deref().expect("pg url"), "CHECKPOINT");
        let pg_files = files_under(pg.dir());
        assert!(pg_files.len() > 100, "PostgreSQL cluster dir looks empty: {}", pg.dir().display());
        hits.extend(hits_in(&pg_files));
        let (endpoint, bucket) = server.s3.clone().expect("s3");
        let objects = s3_objects(&endpoint, &bucket);
        assert!(objects.len() >= 3, "expected blobs in the bucket, found {}", objects.len());
        let needles: Vec<(String, Vec<u8>)> = CANARIES.iter().flat_map(|c| forms(c)).collect();
        for (key, bytes) in &objects {
            for (what, n) in &needles {
                if contains(bytes, n) {
                    hits.push(format!("s3://{bucket}/{key}: {what}"));
                }
            }
        }
    }

    // 3. Files created or changed in /tmp during the run.
    let tmp_files: Vec<PathBuf> = files_under(Path::new("/tmp"))
        .into_iter()
        .filter(|f| std::fs::metadata(f).and_then(|m| m.modified()).is_ok_and(|t| t >= start))
        .collect();
    hits.extend(hits_in(&tmp_files));

    hits.sort();
    hits.dedup();
    assert!(hits.is_empty(), "canary PHI found at rest ({} hits):\n{}", hits.len(), hits.join("\n"));
}

/// Every object in a moto bucket: (key, bytes). moto does not check signatures.
fn s3_objects(endpoint: &str, bucket: &str) -> Vec<(String, Vec<u8>)> {
    let http = reqwest::blocking::Client::new();
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut url = format!("{endpoint}/{bucket}?list-type=2");
        if let Some(t) = &token {
            url.push_str(&format!("&continuation-token={}", urlencode(t)));
        }
        let xml = http.get(&url).send().and_then(|r| r.text()).expect("list bucket");
        let keys: Vec<String> = xml
            .split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(|k| k.replace("&amp;", "&"))
            .collect();
        for k in keys {
            let bytes =
                http.get(format!("{endpoint}/{bucket}/{k}")).send().and_then(|r| r.bytes()).expect("get object");
            out.push((k, bytes.to_vec()));
        }
        token = xml
            .split("<NextContinuationToken>")
            .nth(1)
            .and_then(|s| s.split("</NextContinuationToken>").next())
            .map(str::to_owned);
        if token.is_none() {
            return out;
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

both_backends!(canary => canary_embedded, canary_scaleout);
