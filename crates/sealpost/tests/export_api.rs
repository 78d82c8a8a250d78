//! Export through the API (R-AR-6), against a real `sealpost serve`:
//! `POST /v1/exports` streams EML-zip and mbox packages whose messages are
//! the originals (SHA-256 sets), whose manifests match, and whose SHA-256
//! `GET /v1/exports/{id}` reports for exactly the bytes received; both ends
//! are audited and the chain verifies; a client that drops the connection
//! mid-stream leaves the export `aborted` with an audited failure; a key
//! without `admin` gets 403 and no bytes; a query syntax error gets the 400
//! of `/v1/search`. Afterwards no message text is at rest in the data
//! directory or in new files under /tmp (canary grep): the package never
//! touches disk.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use common::{Backend, Server, contains, files_under, read_file, sha256_hex};
use serde_json::{Value, json};

/// Fake PHI, distinct from the other tests' canaries.
const NAME: &str = "Ottoline Quiddity-Marchbanks";
const DIAGNOSIS: &str = "Chronic Vermiform Glossolalia";
const MRN: &str = "MRN-55019283";
const CANARIES: [&str; 3] = [NAME, DIAGNOSIS, MRN];

/// Three originals with the canaries in subject and body; one has body
/// lines an mbox must quote.
fn originals() -> Vec<(String, Vec<u8>)> {
    (0..3)
        .map(|i| {
            let message_id = format!("<quiddity-{i}@clinic.test>");
            let raw = format!(
                "From: Clinic <clinic@clinic.test>\r\nTo: patient{i}@patients.test\r\n\
                 Subject: Quiddity results {i} for {NAME}\r\nMessage-ID: {message_id}\r\n\
                 Date: Tue, 03 Mar 2026 10:0{i}:00 +0000\r\n\r\n\
                 Dear {NAME}, record {MRN}: {DIAGNOSIS}.\r\nFrom the lab, line {i}\r\n>From quoted\r\n"
            );
            (message_id, raw.into_bytes())
        })
        .collect()
}

fn send_raw(server: &Server, raw: &[u8]) -> String {
    let (st, b) = server.post(
        "/v1/messages/raw",
        &server.api_key,
        &json!({"from": "clinic@clinic.test", "to": ["someone@patients.test"],
                "raw": base64::engine::general_purpose::STANDARD.encode(raw)}),
    );
    assert_eq!(st, 202, "{b}");
    b["id"].as_str().expect("id").to_owned()
}

fn wait_indexed(server: &Server, q: &str, n: u64) {
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let (st, body) = server.get(&format!("/v1/search?q={q}&per_page=1"), &server.api_key);
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if st == 200 && v["total"].as_u64() == Some(n) {
            return;
        }
        assert!(Instant::now() < end, "index never reached {n} for {q}: {v}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A finished export response: headers that matter and the whole body.
struct Received {
    status: u16,
    export_id: String,
    content_type: String,
    disposition: String,
    count: String,
    body: Vec<u8>,
}

fn export(server: &Server, key: &str, query: &str, format: &str) -> Received {
    let started = Instant::now();
    let r = server
        .http()
        .post(server.url("/v1/exports"))
        .bearer_auth(key)
        .json(&json!({"query": query, "format": format}))
        .send()
        .expect("POST /v1/exports");
    let header = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (status, export_id, content_type, disposition, count) = (
        r.status().as_u16(),
        header("sealpost-export-id"),
        header("content-type"),
        header("content-disposition"),
        header("sealpost-export-count"),
    );
    let body = r.bytes().expect("export body").to_vec();
    eprintln!("export {format} {query:?}: {} bytes in {:?}", body.len(), started.elapsed());
    Received { status, export_id, content_type, disposition, count, body }
}

fn record(server: &Server, id: &str) -> Value {
    let (st, body) = server.get(&format!("/v1/exports/{id}"), &server.api_key);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("record JSON")
}

/// Reads a zip from stdin with Python's zipfile (nothing written to disk):
/// `{"names": [...], "eml": {name: sha256}, "manifest": {...}}`.
fn python_read_zip(zip: &[u8]) -> Value {
    let script = "import hashlib,io,json,sys,zipfile\nz=zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read()))\n\
                  assert z.testzip() is None\n\
                  print(json.dumps({'names':z.namelist(),\
                  'eml':{n:hashlib.sha256(z.read(n)).hexdigest() for n in z.namelist() if n.endswith('.eml')},\
                  'manifest':json.loads(z.read('manifest.json')),'csv':z.read('manifest.csv').decode()}))";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().expect("stdin").write_all(zip).expect("write zip to python");
    let out = child.wait_with_output().expect("python3");
    assert!(out.status.success(), "python zipfile: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("python output")
}

/// The manifest's entries match the originals: ids are the export's, each
/// SHA-256 is an original's, and the headers are the original's.
fn assert_manifest(manifest: &Value, originals: &[(String, Vec<u8>)], ids: &BTreeSet<String>) {
    assert_eq!(manifest["format"], "sealpost-export-manifest/1");
    let entries = manifest["messages"].as_array().expect("messages");
    assert_eq!(manifest["count"].as_u64(), Some(entries.len() as u64));
    let listed: BTreeSet<String> = entries.iter().map(|e| e["id"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(&listed, ids, "manifest ids");
    assert_eq!(entries.len(), originals.len());
    for (message_id, raw) in originals {
        let entry = entries
            .iter()
            .find(|e| e["sha256"] == sha256_hex(raw).as_str())
            .unwrap_or_else(|| panic!("no manifest entry for {message_id}: {manifest}"));
        assert_eq!(format!("<{}>", entry["message_id"].as_str().unwrap_or_default()), *message_id);
        assert_eq!(entry["from"], "Clinic <clinic@clinic.test>");
        assert!(entry["to"].as_str().unwrap_or_default().ends_with("@patients.test"), "{entry}");
        assert!(entry["subject"].as_str().unwrap_or_default().starts_with("Quiddity results "), "{entry}");
        assert!(entry["date"].as_str().unwrap_or_default().starts_with("2026-03-03T10:0"), "{entry}");
    }
}

/// `count` messages of `size` random bytes (base64 attachment, so nothing
/// compresses and the indexer has no text to chew), as an mbox file to
/// import: the bulk that a disconnect test needs.
fn bulk_mbox(path: &Path, count: usize, size: usize) {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut out = Vec::new();
    for i in 0..count {
        let mut bytes = vec![0u8; size];
        rng.fill(&mut bytes);
        let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
        out.extend_from_slice(b"From bulk@clinic.test Tue Mar  3 10:00:00 2026\n");
        out.extend_from_slice(
            format!(
                "From: bulk@clinic.test\nTo: archive@clinic.test\nSubject: Bulkfile {i}\n\
                 Message-ID: <bulk-{i}@clinic.test>\nMIME-Version: 1.0\nContent-Type: application/octet-stream\n\
                 Content-Transfer-Encoding: base64\n\n"
            )
            .as_bytes(),
        );
        for line in encoded.as_bytes().chunks(76) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    std::fs::write(path, out).expect("write bulk mbox");
}

fn canary_hits(files: &[std::path::PathBuf]) -> Vec<String> {
    let mut hits = Vec::new();
    for f in files {
        let Some(bytes) = read_file(f) else { continue };
        for c in CANARIES {
            if contains(&bytes, c.as_bytes()) {
                hits.push(format!("{}: {c:?}", f.display()));
            }
        }
    }
    hits
}

#[test]
fn exports_stream_through_the_api_and_never_touch_disk() {
    let start = SystemTime::now() - Duration::from_secs(1);
    let mut server = Server::start(Backend::Embedded);
    let key = server.api_key.clone();
    let originals = originals();
    let want: BTreeSet<String> = originals.iter().map(|(_, raw)| sha256_hex(raw)).collect();
    let sent: BTreeSet<String> = originals.iter().map(|(_, raw)| send_raw(&server, raw)).collect();
    wait_indexed(&server, "quiddity", 3);

    // EML-zip: Python reads it; the .eml files are the originals; the manifest matches.
    let zip = export(&server, &key, "quiddity", "eml-zip");
    assert_eq!(zip.status, 200, "{}", String::from_utf8_lossy(&zip.body));
    assert_eq!(zip.content_type, "application/zip");
    assert!(zip.disposition.starts_with("attachment; filename=\"sealpost-export-"), "{}", zip.disposition);
    assert_eq!(zip.count, "3");
    let read = python_read_zip(&zip.body);
    let shas: BTreeSet<String> =
        read["eml"].as_object().expect("eml").values().map(|v| v.as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(shas, want, "the zip's messages are the originals");
    let names: BTreeSet<String> = sent.iter().map(|id| format!("{id}.eml")).collect();
    let eml_names: BTreeSet<String> = read["eml"].as_object().expect("eml").keys().cloned().collect();
    assert_eq!(eml_names, names);
    assert_manifest(&read["manifest"], &originals, &sent);
    assert!(read["csv"].as_str().unwrap_or_default().starts_with("id,message_id,date,from,to,subject,sha256\r\n"));
    let zip_record = record(&server, &zip.export_id);
    assert_eq!(
        (&zip_record["state"], &zip_record["format"], &zip_record["count"]),
        (&json!("complete"), &json!("eml-zip"), &json!(3)),
        "{zip_record}"
    );
    assert_eq!(zip_record["sha256"], sha256_hex(&zip.body).as_str(), "the recorded hash is of the bytes received");
    assert_eq!(zip_record["bytes"].as_u64(), Some(zip.body.len() as u64));

    // mbox: our reader gives back the originals; the manifest comes from its own endpoint.
    let mbox = export(&server, &key, "quiddity", "mbox");
    assert_eq!((mbox.status, mbox.content_type.as_str()), (200, "application/mbox"));
    let messages: Vec<Vec<u8>> = sealpost_mailbox::read::MboxReader::new(&mbox.body[..], "api")
        .map(|item| item.expect("mbox item").bytes)
        .collect();
    let shas: BTreeSet<String> = messages.iter().map(|m| sha256_hex(m)).collect();
    assert_eq!(shas, want, "the mbox's messages are the originals");
    let mbox_record = record(&server, &mbox.export_id);
    assert_eq!(mbox_record["state"], "complete", "{mbox_record}");
    assert_eq!(mbox_record["sha256"], sha256_hex(&mbox.body).as_str());
    let (st, manifest) = server.get(&format!("/v1/exports/{}/manifest", mbox.export_id), &key);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&manifest));
    let manifest: Value = serde_json::from_slice(&manifest).expect("manifest JSON");
    assert_manifest(&manifest, &originals, &sent);
    let in_order: Vec<String> = manifest["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|e| e["sha256"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(in_order, messages.iter().map(|m| sha256_hex(m)).collect::<Vec<_>>(), "manifest in package order");

    // The SHA-256 trailer (HTTP/1.1 with `TE: trailers`), as curl sees it; the body goes to /dev/null.
    match Command::new("curl")
        .args(["-sk", "--http1.1", "-H", "TE: trailers", "-H", "Content-Type: application/json", "-o", "/dev/null"])
        .args(["-D", "-", "-H", &format!("Authorization: Bearer {key}")])
        .args(["-d", r#"{"query":"quiddity","format":"eml-zip"}"#, &server.url("/v1/exports")])
        .output()
    {
        Ok(out) => {
            let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
            let id = head.lines().find_map(|l| l.strip_prefix("sealpost-export-id: ")).expect("export id header");
            let trailer =
                head.lines().find_map(|l| l.strip_prefix("sealpost-package-sha256: ")).expect("sha256 trailer");
            let recorded = record(&server, id.trim());
            assert_eq!(recorded["sha256"], trailer.trim(), "the trailer is the recorded hash");
        }
        Err(e) => eprintln!("skipped curl: {e}"),
    }

    // Refusals: the search's 400 with its position; 403 without admin, no bytes, nothing recorded.
    let exports_before = server.sql_scalar("SELECT count(*) FROM exports");
    let (st, search_error) = server.get("/v1/search?q=from%3Aclinic%20AND%20(subject%3Ax", &key);
    let search_error: Value = serde_json::from_slice(&search_error).expect("search error JSON");
    let (st2, export_error) =
        server.post("/v1/exports", &key, &json!({"query": "from:clinic AND (subject:x", "format": "mbox"}));
    assert_eq!((st, st2), (400, 400), "{export_error}");
    assert_eq!(export_error["error"]["code"], search_error["error"]["code"]);
    assert_eq!(export_error["error"]["position"], search_error["error"]["position"]);
    assert_eq!(export_error["error"]["message"], search_error["error"]["message"]);
    assert_eq!(export_error["error"]["position"], 26, "the end of the query");
    let sender = server.create_api_key("default", "send,read-events");
    let denied = export(&server, &sender, "quiddity", "mbox");
    assert_eq!(denied.status, 403);
    assert!(denied.export_id.is_empty());
    let denied: Value = serde_json::from_slice(&denied.body).expect("a JSON error, not a package");
    assert_eq!(denied["error"]["code"], "forbidden");
    let (st, _) = server.post("/v1/exports", &key, &json!({"query": "quiddity", "format": "pst"}));
    assert_eq!(st, 400);
    assert_eq!(server.sql_scalar("SELECT count(*) FROM exports"), exports_before, "refusals record nothing");
    let (st, _) = server.get(&format!("/v1/exports/{}", common::unique()), &key);
    assert_eq!(st, 404);

    // A client that reads a few bytes and hangs up: the export ends `aborted`.
    let scratch = tempfile::tempdir().expect("tempdir");
    let bulk = scratch.path().join("bulk.mbox");
    bulk_mbox(&bulk, 12, 3 * 1024 * 1024);
    let out = server.cli(&["import", bulk.to_str().expect("path"), "--json"]);
    assert!(out.status.success(), "{}", common::text(&out));
    wait_indexed(&server, "subject%3Abulkfile", 12);
    let client = common::http_client();
    let mut response = client
        .post(server.url("/v1/exports"))
        .bearer_auth(&key)
        .json(&json!({"query": "subject:bulkfile", "format": "mbox"}))
        .send()
        .expect("POST /v1/exports");
    assert_eq!(response.status().as_u16(), 200);
    let aborted_id = response.headers()["sealpost-export-id"].to_str().expect("id").to_owned();
    let mut first = [0u8; 4096];
    response.read_exact(&mut first).expect("first bytes");
    assert!(first.starts_with(b"From bulk@clinic.test "), "an mbox starts with its separator");
    drop(response);
    drop(client);
    let end = Instant::now() + Duration::from_secs(120);
    let aborted = loop {
        let r = record(&server, &aborted_id);
        if r["state"] != "streaming" {
            break r;
        }
        assert!(Instant::now() < end, "export never ended after the client left: {r}");
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!("aborted export: {aborted}");
    assert_eq!(aborted["state"], "aborted", "{aborted}");
    assert!(aborted["sha256"].is_null(), "{aborted}");
    assert!(aborted["bytes"].as_u64().is_some_and(|b| b < 12 * 4 * 1024 * 1024), "{aborted}");
    let (st, _) = server.get(&format!("/v1/exports/{aborted_id}/manifest"), &key);
    assert_eq!(st, 409, "an aborted export has no manifest");

    // A server killed mid-stream: its next start ends the export `aborted`.
    let client = common::http_client();
    let mut response = client
        .post(server.url("/v1/exports"))
        .bearer_auth(&key)
        .json(&json!({"query": "subject:bulkfile", "format": "eml-zip"}))
        .send()
        .expect("POST /v1/exports");
    let crashed_id = response.headers()["sealpost-export-id"].to_str().expect("id").to_owned();
    response.read_exact(&mut first).expect("first bytes");
    server.kill9();
    drop(response);
    assert_eq!(
        server.sql_scalar(&format!("SELECT count(*) FROM exports WHERE id = '{crashed_id}' AND state = 'streaming'")),
        1
    );
    server.start_again();
    let crashed = record(&server, &crashed_id);
    assert_eq!((crashed["state"].as_str(), crashed["sha256"].as_str()), (Some("aborted"), None), "{crashed}");

    // The audit trail: created before, completed after (with the hash), the failure, the manifest read.
    let events = server.audit_events();
    let of = |action: &str, target: &str| -> Vec<&Value> {
        events.iter().filter(|e| e["action"] == action && e["target"] == target).collect()
    };
    for (received, format) in [(&zip, "eml-zip"), (&mbox, "mbox")] {
        let created = of("export.created", &received.export_id);
        assert_eq!(created.len(), 1, "{format}: export.created");
        assert_eq!(
            (created[0]["detail"]["count"].as_u64(), created[0]["detail"]["format"].as_str()),
            (Some(3), Some(format))
        );
        assert!(created[0]["detail"]["query"].is_string(), "the sealed query's id: {}", created[0]);
        let completed = of("export.completed", &received.export_id);
        assert_eq!(completed.len(), 1, "{format}: export.completed");
        assert_eq!(completed[0]["outcome"], "success");
        assert_eq!(completed[0]["detail"]["package_sha256"], sha256_hex(&received.body).as_str());
    }
    for (id, reason) in [(&aborted_id, "client_disconnected"), (&crashed_id, "server_restarted")] {
        let failed = of("export.completed", id);
        assert_eq!(failed.len(), 1, "{reason}");
        assert_eq!(
            (failed[0]["outcome"].as_str(), failed[0]["detail"]["reason"].as_str()),
            (Some("failure"), Some(reason))
        );
    }
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "message.accessed" && e["detail"]["export_manifest"] == mbox.export_id.as_str()),
        "the manifest read is audited"
    );
    let audit_text = serde_json::to_string(&events).expect("events");
    for c in CANARIES.iter().chain(["quiddity", "bulkfile"].iter()) {
        assert!(!audit_text.contains(c), "{c:?} in the audit log");
    }
    assert_eq!(server.audit_verify().0, 0, "audit verify");

    // At rest: nothing of the messages in the data dir or in new files under /tmp.
    let status = server.stop();
    assert!(status.is_some_and(|s| s.success()), "serve did not exit cleanly: {status:?}");
    let mut hits = canary_hits(&files_under(server.data_dir()));
    let tmp_files: Vec<_> = files_under(Path::new("/tmp"))
        .into_iter()
        .filter(|f| std::fs::metadata(f).and_then(|m| m.modified()).is_ok_and(|t| t >= start))
        .collect();
    hits.extend(canary_hits(&tmp_files));
    // The search is real: the canaries are in what was received.
    assert!(contains(&mbox.body, NAME.as_bytes()) && contains(&mbox.body, DIAGNOSIS.as_bytes()));
    assert!(hits.is_empty(), "message text at rest:\n{}", hits.join("\n"));
}
