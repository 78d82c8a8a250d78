//! The archive (issue 4): search over a corpus with known answers for every
//! operator (R-AR-5), query errors with positions, tenant isolation, the
//! search audited with its query sealed, an index with no plain-text PHI on
//! disk; import of mbox / Maildir / .eml with duplicates and broken MIME
//! (R-AR-8); export as mbox and EML-zip whose re-import reproduces the same
//! SHA-256 set and whose manifest matches (R-AR-6).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Backend, Server};
use serde_json::{Value, json};
use sha2::Digest;

fn search(server: &Server, key: &str, q: &str) -> (u16, Value) {
    let url = format!("/v1/search?q={}&per_page=100", urlencode(q));
    let (st, body) = server.get(&url, key);
    (st, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn ids(v: &Value) -> BTreeSet<String> {
    v["results"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Waits until `q` finds `n` messages (the indexer runs in the background).
fn wait_indexed(server: &Server, key: &str, q: &str, n: usize) {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let (st, v) = search(server, key, q);
        if st == 200 && v["total"].as_u64() == Some(n as u64) {
            return;
        }
        assert!(Instant::now() < end, "index never reached {n} for {q}: {v}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn send(server: &Server, body: Value) -> String {
    let (st, b) = server.post("/v1/messages", &server.api_key, &body);
    assert_eq!(st, 202, "{b}");
    b["id"].as_str().expect("id").to_owned()
}

fn send_raw(server: &Server, from: &str, to: &str, raw: &str) -> String {
    let (st, b) = server.post(
        "/v1/messages/raw",
        &server.api_key,
        &json!({"from": from, "to": [to], "raw": base64::engine::general_purpose::STANDARD.encode(raw)}),
    );
    assert_eq!(st, 202, "{b}");
    b["id"].as_str().expect("id").to_owned()
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() { walk(&p, out) } else { out.push(p) }
    }
}

#[test]
fn every_operator_finds_exactly_the_known_answers() {
    search_corpus(Backend::Embedded);
}

#[test]
fn search_on_postgresql_and_s3() {
    search_corpus(Backend::ScaleOut);
}

fn search_corpus(backend: Backend) {
    let server = Server::start(backend);
    let csv = base64::engine::general_purpose::STANDARD.encode("date,glucose\n2026-11-01,131\n");
    let a = send(
        &server,
        json!({"from": "alice@clinic.test", "to": "bob@patients.test", "cc": "carol@billing.test",
               "subject": "Invoice for November", "text": "Your invoice total is 120 dollars."}),
    );
    let b = send(
        &server,
        json!({"from": "alice@clinic.test", "to": "dave@patients.test", "subject": "Lab results",
               "text": "Patient Zebulon Quixote, SSN 078-05-1120: glucose slightly high.",
               "attachments": [{"filename": "glucose.csv", "content_type": "text/csv", "content": csv}],
               "metadata": {"patient": "MRN-778899"}}),
    );
    let c = send(
        &server,
        json!({"from": "news@clinic.test", "to": "bob@patients.test", "subject": "Flu shot reminder",
               "text": "Flu shots are available every weekday morning.", "category": "marketing"}),
    );
    let d = send_raw(
        &server,
        "records@clinic.test",
        "erin@patients.test",
        "From: records@clinic.test\r\nTo: erin@patients.test\r\nSubject: Records request received\r\n\
         Date: Tue, 01 Mar 2022 10:00:00 +0000\r\nMessage-ID: <old@clinic.test>\r\n\r\n\
         We received your records request and will answer within thirty days.\r\n",
    );
    let key = server.api_key.clone();
    wait_indexed(&server, &key, "after:1970-01-01", 4);

    let cases: Vec<(&str, Vec<&String>)> = vec![
        ("from:alice@clinic.test", vec![&a, &b]),
        ("from:alice", vec![&a, &b]),
        ("from:clinic.test", vec![&a, &b, &c, &d]),
        ("to:bob@patients.test", vec![&a, &c]),
        ("cc:carol@billing.test", vec![&a]),
        ("subject:invoice", vec![&a]),
        ("has:attachment", vec![&b]),
        ("filename:glucose.csv", vec![&b]),
        ("glucose", vec![&b]),
        ("category:marketing", vec![&c]),
        ("category:transactional", vec![&a, &b, &d]),
        ("phi:ssn", vec![&b]),
        ("phi:any", vec![&b]),
        ("patient:MRN-778899", vec![&b]),
        ("patient:\"Zebulon Quixote\"", vec![&b]),
        ("\"every weekday morning\"", vec![&c]),
        ("\"weekday every morning\"", vec![]),
        ("before:2023-01-01", vec![&d]),
        ("after:2023-01-01", vec![&a, &b, &c]),
        ("from:alice AND NOT has:attachment", vec![&a]),
        ("from:alice -has:attachment", vec![&a]),
        ("(subject:invoice OR subject:reminder) category:marketing", vec![&c]),
        ("subject:invoice OR subject:reminder", vec![&a, &c]),
        ("to:bob@patients.test (flu OR invoice) NOT category:marketing", vec![&a]),
        ("hold:nothing-held", vec![]),
    ];
    for (q, want) in &cases {
        let (st, v) = search(&server, &key, q);
        assert_eq!(st, 200, "{q}: {v}");
        let want: BTreeSet<String> = want.iter().map(|s| (*s).clone()).collect();
        assert_eq!(ids(&v), want, "query {q}");
        assert_eq!(v["total"].as_u64(), Some(want.len() as u64), "query {q}");
    }

    // Pagination: newest first, pages do not overlap.
    let (_, p0) = server.get("/v1/search?q=from%3Aclinic.test&per_page=3&page=0", &key);
    let (_, p1) = server.get("/v1/search?q=from%3Aclinic.test&per_page=3&page=1", &key);
    let (p0, p1): (Value, Value) = (serde_json::from_slice(&p0).unwrap(), serde_json::from_slice(&p1).unwrap());
    assert_eq!((ids(&p0).len(), ids(&p1).len()), (3, 1));
    assert!(ids(&p0).is_disjoint(&ids(&p1)));
    assert_eq!(p1["results"][0]["id"], d.as_str(), "the 2022 message is the oldest");

    // Syntax errors point at the position, and echo no query text.
    let (st, v) = search(&server, &key, "from:alice AND (subject:x");
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalid_query");
    assert_eq!(v["error"]["position"], 25, "{v}");
    let (st, v) = search(&server, &key, "frm:alice");
    assert_eq!((st, v["error"]["position"].as_u64()), (400, Some(0)), "{v}");

    // The CLI finds the same (reading the server's index), and reports errors with a caret.
    let out = server.cli(&["search", "from:alice", "--json"]);
    assert!(out.status.success(), "{}", common::text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("search JSON");
    assert_eq!(ids(&v), [a.clone(), b.clone()].into_iter().collect());
    let out = server.cli(&["search", "subject:(x"]);
    assert_eq!(out.status.code(), Some(2), "{}", common::text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("position"));

    // Tenant isolation: another tenant's key finds nothing of these.
    assert!(server.cli(&["tenant", "create", "other", "--name", "Other"]).status.success());
    let other = server.create_api_key("other", "send,admin");
    let (st, v) = search(&server, &other, "from:clinic.test");
    assert_eq!((st, v["total"].as_u64()), (200, Some(0)), "{v}");

    // Every search is audited; the query is kept sealed and can be shown to an auditor.
    let events: Vec<Value> = server.audit_events().into_iter().filter(|e| e["action"] == "search.performed").collect();
    assert!(events.len() > cases.len(), "one event per search: {}", events.len());
    let export = server.cli(&["audit", "export", "--format", "jsonl"]);
    assert!(!String::from_utf8_lossy(&export.stdout).contains("Zebulon"), "a query in the audit log");
    let log_id = events
        .iter()
        .find_map(|e| e["detail"]["query"].as_str().map(str::to_owned))
        .expect("the event names the logged query");
    let shown = server.cli(&["audit", "query", &log_id]);
    assert!(shown.status.success(), "{}", common::text(&shown));
    assert!(!String::from_utf8_lossy(&shown.stdout).trim().is_empty());
    assert_eq!(server.audit_verify().0, 0);

    // No plain-text PHI in the index files.
    let mut files = Vec::new();
    walk(&server.data_dir().join("index"), &mut files);
    assert!(!files.is_empty());
    for f in files {
        let bytes = std::fs::read(&f).expect("read index file");
        for canary in ["Zebulon", "zebulon", "078-05-1120", "MRN-778899", "mrn-778899", "quixote"] {
            assert!(
                !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
                "{canary} in plain text in {}",
                f.display()
            );
        }
    }
}

fn message(n: usize, body: &str) -> String {
    format!(
        "From: sender{n}@clinic.test\r\nTo: patient{n}@patients.test\r\nSubject: Visit summary {n}\r\n\
         Date: Mon, 0{d} Nov 2021 09:00:00 +0000\r\nMessage-ID: <m{n}@clinic.test>\r\n\r\n{body}\r\n",
        d = n % 9 + 1
    )
}

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn manifest_shas(path: &Path) -> BTreeSet<String> {
    let v: Value = serde_json::from_slice(&std::fs::read(path).expect("manifest")).expect("manifest JSON");
    let entries = v.as_array().cloned().or_else(|| v["messages"].as_array().cloned()).expect("manifest entries");
    entries.iter().map(|e| e["sha256"].as_str().expect("sha256").to_owned()).collect()
}

#[test]
fn import_keeps_everything_once_and_export_round_trips() {
    import_export(Backend::Embedded);
}

#[test]
fn import_and_export_on_postgresql_and_s3() {
    import_export(Backend::ScaleOut);
}

fn import_export(backend: Backend) {
    let server = Server::start(backend);
    let dir = tempfile::tempdir().expect("tempdir");
    let originals: Vec<String> = vec![
        message(1, "Plain note."),
        message(2, "From the front desk: a line that starts with From.\r\n>From quoted once"),
        message(3, "Third."),
        // Broken MIME: a multipart without its closing boundary.
        "From: sender4@clinic.test\r\nTo: p4@patients.test\r\nSubject: Broken\r\nDate: Tue, 02 Nov 2021 09:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\npart one\r\n"
            .to_owned(),
    ];
    // mbox (mboxrd): quote "From " lines, one message twice.
    let mut mbox = String::new();
    for m in originals.iter().chain(std::iter::once(&originals[0])) {
        mbox.push_str("From MAILER-DAEMON Mon Nov  1 09:00:00 2021\r\n");
        for line in m.split_inclusive("\r\n") {
            let unq = line.trim_start_matches('>');
            if unq.starts_with("From ") {
                mbox.push('>');
            }
            mbox.push_str(line);
        }
        mbox.push_str("\r\n");
    }
    let mbox_path = dir.path().join("inbox.mbox");
    std::fs::write(&mbox_path, &mbox).expect("write mbox");
    // A Maildir with one new message and one already in the mbox.
    let maildir = dir.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).expect("maildir");
    }
    let fifth = message(5, "Fifth, only in the Maildir.");
    std::fs::write(maildir.join("new/1.host"), &fifth).expect("write");
    std::fs::write(maildir.join("cur/2.host:2,S"), &originals[2]).expect("write");

    let out = server.cli(&["import", mbox_path.to_str().unwrap(), "--json", "--custodian", "frontdesk@clinic.test"]);
    assert!(out.status.success(), "{}", common::text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("report JSON");
    assert_eq!(
        (report["read"].as_u64(), report["stored"].as_u64(), report["duplicates"].as_u64()),
        (Some(5), Some(4), Some(1)),
        "{report}"
    );
    let malformed = report["malformed"].as_array().expect("malformed list");
    assert_eq!(malformed.len(), 1, "the broken message is reported: {report}");
    assert!(malformed[0][0].as_str().unwrap_or_default().contains("inbox.mbox"), "{report}");
    assert!(!report.to_string().contains("part one"), "no content in the report");

    // Re-running adds nothing; the Maildir adds only the new one.
    let again = server.cli(&["import", mbox_path.to_str().unwrap(), "--json"]);
    let again: Value = serde_json::from_slice(&again.stdout).expect("report JSON");
    assert_eq!((again["stored"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(5)), "{again}");
    let md = server.cli(&["import", maildir.to_str().unwrap(), "--json"]);
    let md: Value = serde_json::from_slice(&md.stdout).expect("report JSON");
    assert_eq!((md["stored"].as_u64(), md["duplicates"].as_u64()), (Some(1), Some(1)), "{md}");
    assert_eq!(server.sql_scalar("SELECT count(*) FROM messages WHERE source = 'import'"), 5);
    assert_eq!(server.sql_scalar("SELECT count(*) FROM queue"), 0, "imported mail is never delivered");

    let key = server.api_key.clone();
    wait_indexed(&server, &key, "after:1970-01-01", 5);
    let want: BTreeSet<String> =
        originals.iter().chain(std::iter::once(&fifth)).map(|m| sha_hex(m.as_bytes())).collect();

    // Export as mbox: manifest and checksum match, and the package re-imports to the same SHA-256 set.
    let out_mbox = dir.path().join("export.mbox");
    let out = server.cli(&["export", "after:1970-01-01", "--format", "mbox", "--out", out_mbox.to_str().unwrap()]);
    assert!(out.status.success(), "{}", common::text(&out));
    let mut manifest = out_mbox.clone().into_os_string();
    manifest.push(".manifest.json");
    assert_eq!(manifest_shas(Path::new(&manifest)), want, "manifest SHA-256 set");
    let mut sum = out_mbox.clone().into_os_string();
    sum.push(".sha256");
    let sum = std::fs::read_to_string(&sum).expect("sha256 file");
    let package_sha = sha_hex(&std::fs::read(&out_mbox).expect("package"));
    assert!(sum.starts_with(&package_sha), "{sum} vs {package_sha}");
    let audited = server.audit_events().into_iter().find(|e| e["action"] == "export.created").expect("export audited");
    assert_eq!(audited["detail"]["package_sha256"], package_sha.as_str());
    assert_eq!(audited["detail"]["count"], 5);

    assert!(server.cli(&["tenant", "create", "copy", "--name", "Copy"]).status.success());
    let reimport = server.cli(&["import", out_mbox.to_str().unwrap(), "--tenant", "copy", "--json"]);
    let reimport: Value = serde_json::from_slice(&reimport.stdout).expect("report");
    assert_eq!(reimport["stored"].as_u64(), Some(5), "{reimport}");
    let copy_key = server.create_api_key("copy", "send,admin");
    wait_indexed(&server, &copy_key, "after:1970-01-01", 5);
    let out_zip = dir.path().join("copy.zip");
    let out = server.cli(&[
        "export",
        "after:1970-01-01",
        "--tenant",
        "copy",
        "--format",
        "eml-zip",
        "--out",
        out_zip.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", common::text(&out));
    // Read the zip with Python's zipfile: each .eml's SHA-256 is in the manifest, and the set is the original one.
    let script = "import hashlib,json,sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nm=json.loads(z.read('manifest.json'))\n\
                  m=m if isinstance(m,list) else m['messages']\nby={e['id']:e['sha256'] for e in m}\n\
                  got=sorted(hashlib.sha256(z.read(n)).hexdigest() for n in z.namelist() if n.endswith('.eml'))\n\
                  assert all(hashlib.sha256(z.read(i+'.eml')).hexdigest()==s for i,s in by.items())\nprint('\\n'.join(got))";
    let py = std::process::Command::new("python3")
        .args(["-c", script, out_zip.to_str().unwrap()])
        .output()
        .expect("python3");
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    let got: BTreeSet<String> = String::from_utf8_lossy(&py.stdout).lines().map(str::to_owned).collect();
    assert_eq!(got, want, "export -> import -> export reproduces the SHA-256 set");
    assert_eq!(server.count_action("import.completed"), 4);
    assert_eq!(server.audit_verify().0, 0);
}

/// Issue 13.2: a message the indexer cannot load (here its blob is out of
/// reach) is not marked indexed — that would hide it for good from search,
/// exports, access requests and query-scoped holds. It is retried with
/// backoff, `sealpost status` reports it, and it is found once readable.
#[test]
fn a_message_the_indexer_cannot_load_is_retried_not_lost() {
    let mut server = Server::start(Backend::Embedded);
    server.stop();
    common::import_mbox(&server, "retry", &["Retry me 0", "Retry me 1"]);
    let (blobs, away) = (server.data_dir().join("blobs"), server.data_dir().join("blobs.away"));
    std::fs::rename(&blobs, &away).expect("hide the blobs");

    server.start_again();
    common::wait_until(Duration::from_secs(60), "a failed load", || {
        server.sql_scalar("SELECT count(*) FROM messages WHERE index_attempts > 0") == 2
    });
    assert_eq!(server.sql_scalar("SELECT count(*) FROM messages WHERE indexed = 0"), 2, "marked indexed unread");
    let out = server.cli(&["status"]);
    assert!(out.status.success(), "status: {}", common::text(&out));
    let status: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(
        (&status["index"]["unindexed"], &status["index"]["retrying_after_failed_load"]),
        (&json!(2), &json!(2)),
        "{status}"
    );
    server.stop();

    let _ = std::fs::remove_dir_all(&blobs);
    std::fs::rename(&away, &blobs).expect("restore the blobs");
    server.start_again();
    common::wait_until(Duration::from_secs(90), "indexed after the retry", || {
        let (_, body) = server.get("/v1/search?q=subject%3Aretry", &server.api_key);
        serde_json::from_slice::<Value>(&body).is_ok_and(|v| v["total"] == 2)
    });
    let out = server.cli(&["status"]);
    let status: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(status["index"]["unindexed"], 0, "{status}");
}
