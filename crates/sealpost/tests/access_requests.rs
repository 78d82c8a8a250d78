//! Patient access requests (R-AR-7, 45 CFR 164.524): a request is recorded
//! with a due date, its designated record set is searched and exported —
//! exactly the patient's messages, whether named in metadata or in the body,
//! and none of another patient's — each step audited without the patient's
//! name, and overdue requests listed.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Backend, Server, contains, files_under, read_file};
use serde_json::{Value, json};
use sha2::Digest;

const NAME: &str = "Ophelia Marchbanks";
const MRN: &str = "MRN-4411";
const OTHER: &str = "Thaddeus Brightwater";
const OTHER_MRN: &str = "MRN-9922";

fn send(server: &Server, body: Value) -> String {
    let (st, b) = server.post("/v1/messages", &server.api_key, &body);
    assert_eq!(st, 202, "{b}");
    b["id"].as_str().expect("id").to_owned()
}

fn set<'a>(ids: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    ids.into_iter().cloned().collect()
}

/// Waits until the indexer has every message (the CLI reads its last commit).
fn wait_indexed(server: &Server, n: u64) {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let (st, body) = server.get("/v1/search?q=after%3A1970-01-01", &server.api_key);
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if st == 200 && v["total"].as_u64() == Some(n) {
            return;
        }
        assert!(Instant::now() < end, "index never reached {n}: {v}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn cli_ok(server: &Server, args: &[&str]) -> String {
    let out = server.cli(args);
    assert!(out.status.success(), "{args:?}: {}", common::text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn create(server: &Server, args: &[&str]) -> String {
    let mut all = vec!["access-request", "create"];
    all.extend_from_slice(args);
    let id = cli_ok(server, &all).trim().to_owned();
    assert_eq!(id.len(), 32, "create prints the id: {id:?}");
    id
}

fn json_ids(v: &Value) -> BTreeSet<String> {
    v["ids"].as_array().expect("ids").iter().map(|i| i.as_str().expect("id").to_owned()).collect()
}

fn listed(v: &Value) -> BTreeSet<String> {
    v["access_requests"].as_array().expect("list").iter().map(|r| r["id"].as_str().expect("id").to_owned()).collect()
}

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn access_requests_on_sqlite() {
    request_lifecycle(Backend::Embedded);
}

#[test]
fn access_requests_on_postgres() {
    request_lifecycle(Backend::ScaleOut);
}

/// Create, search (CLI and API), export, overdue listing, API validation,
/// audit events and R-KY-1 on one backend.
fn request_lifecycle(backend: Backend) {
    let server = Server::start(backend);
    // Patient 1: by metadata only, and by name in the body only.
    let by_meta = send(
        &server,
        json!({"from": "lab@clinic.test", "to": "p1@patients.test", "subject": "Lab results",
               "text": "Your results are ready in the portal.", "metadata": {"patient": MRN}}),
    );
    let by_body = send(
        &server,
        json!({"from": "desk@clinic.test", "to": "p1@patients.test", "subject": "Appointment",
               "text": format!("Dear {NAME}, your appointment on Monday is confirmed.")}),
    );
    // Patient 2, once mentioning patient 1's first name only: not in patient 1's set.
    let other_meta = send(
        &server,
        json!({"from": "lab@clinic.test", "to": "p2@patients.test", "subject": "Lab results",
               "text": "Your results are ready in the portal.", "metadata": {"patient": OTHER_MRN}}),
    );
    let other_body = send(
        &server,
        json!({"from": "desk@clinic.test", "to": "p2@patients.test", "subject": "Referral",
               "text": format!("Dear {OTHER}, Ophelia from the front desk booked your referral.")}),
    );
    // Unrelated.
    send(
        &server,
        json!({"from": "news@clinic.test", "to": "all@patients.test", "subject": "Flu shots",
               "text": "Flu shots are available every weekday morning.", "category": "marketing"}),
    );
    wait_indexed(&server, 5);
    let dir = tempfile::tempdir().expect("tempdir");

    // Create, search: exactly patient 1's messages, from the CLI and the API alike.
    let req = create(&server, &["--patient", NAME, "--identifier", MRN, "--requester", "Ophelia Marchbanks (self)"]);
    let v: Value = serde_json::from_str(&cli_ok(&server, &["access-request", "search", &req, "--json"])).expect("JSON");
    let want = set([&by_meta, &by_body]);
    assert_eq!(json_ids(&v), want, "{v}");
    assert_eq!(v["total"], 2);
    let (st, v) = server.post(&format!("/v1/access-requests/{req}/search"), &server.api_key, &json!({}));
    assert_eq!((st, json_ids(&v)), (200, want.clone()), "{v}");

    // Export: the package holds exactly those messages, byte for byte, and its hash is recorded.
    let out = dir.path().join("ophelia.mbox");
    let text = cli_ok(&server, &["access-request", "export", &req, "--format", "mbox", "--out", out.to_str().unwrap()]);
    assert!(text.starts_with("2 messages"), "{text}");
    let mut manifest = out.clone().into_os_string();
    manifest.push(".manifest.json");
    let manifest: Value = serde_json::from_slice(&std::fs::read(&manifest).expect("manifest")).expect("manifest JSON");
    let entries = manifest["messages"].as_array().expect("manifest messages");
    let in_manifest: BTreeSet<String> = entries.iter().map(|e| e["id"].as_str().expect("id").to_owned()).collect();
    assert_eq!(in_manifest, want, "{manifest}");
    for e in entries {
        let id = e["id"].as_str().expect("id");
        assert_eq!(e["sha256"].as_str(), Some(sha_hex(&server.show_raw(id)).as_str()), "manifest sha256 of {id}");
    }
    let package_sha = sha_hex(&std::fs::read(&out).expect("package"));

    // A fulfilled request is not exported twice (and nothing is written).
    let again = dir.path().join("again.mbox");
    let out2 = server.cli(&["access-request", "export", &req, "--format", "mbox", "--out", again.to_str().unwrap()]);
    assert!(!out2.status.success(), "{}", common::text(&out2));
    assert!(!again.exists());

    // The API shows the details to an admin; listings do not carry them.
    let (st, body) = server.get(&format!("/v1/access-requests/{req}"), &server.api_key);
    let v: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!((st, v["patient_name"].as_str(), v["state"].as_str()), (200, Some(NAME), Some("fulfilled")), "{v}");
    assert_eq!(v["package_sha256"].as_str(), Some(package_sha.as_str()));
    assert_eq!(v["identifiers"], json!([MRN]));

    // Overdue: due today (0 days) is overdue at once; due in 30 days, or fulfilled, is not.
    let late = create(&server, &["--patient", OTHER, "--identifier", OTHER_MRN, "--due-days", "0"]);
    let timely = create(&server, &["--patient", "Quentin Aldersgate"]);
    let overdue: Value =
        serde_json::from_str(&cli_ok(&server, &["access-request", "list", "--overdue", "--json"])).expect("JSON");
    assert_eq!(listed(&overdue), set([&late]), "{overdue}");
    assert_eq!(overdue["access_requests"][0]["patient_name"].as_str(), Some(OTHER), "list --json shows the patient");
    let all_text = cli_ok(&server, &["access-request", "list"]);
    assert_eq!(all_text.lines().count(), 3, "{all_text}");
    assert!(all_text.lines().any(|l| l.starts_with(&late) && l.ends_with("OVERDUE")), "{all_text}");
    assert!(all_text.lines().filter(|l| l.contains("OVERDUE")).count() == 1, "{all_text}");
    assert!(!all_text.contains("Marchbanks") && !all_text.contains("Brightwater"), "{all_text}");
    let (st, body) = server.get("/v1/access-requests?overdue=true", &server.api_key);
    let v: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!((st, listed(&v)), (200, set([&late])), "{v}");
    let (st, body) = server.get("/v1/access-requests", &server.api_key);
    let v: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!((st, listed(&v)), (200, set([&req, &late, &timely])), "{v}");
    let listing = String::from_utf8_lossy(&body);
    assert!(!listing.contains("Marchbanks") && !listing.contains("Brightwater"), "{listing}");
    let v: Value =
        serde_json::from_str(&cli_ok(&server, &["access-request", "search", &late, "--json"])).expect("JSON");
    assert_eq!(json_ids(&v), set([&other_meta, &other_body]), "{v}");

    // Through the API: a quote in an identifier stays inside its value (an
    // injected `OR` would match both patients), and bad input names the field.
    let (st, v) = server.post(
        "/v1/access-requests",
        &server.api_key,
        &json!({"patient_name": "Nobody Known", "identifiers": [format!("x\" OR \"{NAME}\" OR \"{OTHER}")]}),
    );
    assert_eq!(st, 201, "{v}");
    let injected = v["id"].as_str().expect("id").to_owned();
    assert_eq!(v["state"], "open");
    let (st, v) = server.post(&format!("/v1/access-requests/{injected}/search"), &server.api_key, &json!({}));
    assert_eq!((st, v["total"].as_u64()), (200, Some(0)), "{v}");
    let (st, v) = server.post(
        "/v1/access-requests",
        &server.api_key,
        &json!({"patient_name": "Zed Secretname", "identifiers": ["ok", "  "]}),
    );
    assert_eq!((st, v["error"]["field"].as_str()), (400, Some("identifiers[1]")), "{v}");
    assert!(!v.to_string().contains("Secretname"), "{v}");
    let (st, _) =
        server.post("/v1/access-requests/00000000000000000000000000000000/search", &server.api_key, &json!({}));
    assert_eq!(st, 404);
    let reader = server.create_api_key("default", "send");
    let (st, _) = server.get("/v1/access-requests", &reader);
    assert_eq!(st, 403, "admin scope only");

    // Each step is audited with ids, counts and the package hash — never the patient.
    let events = server.audit_events();
    let of = |action: &str| events.iter().filter(|e| e["action"] == action).collect::<Vec<_>>();
    assert_eq!(of("access_request.created").len(), 4);
    assert_eq!(of("access_request.searched").len(), 4);
    let fulfilled = of("access_request.fulfilled");
    assert_eq!(fulfilled.len(), 1);
    assert_eq!(fulfilled[0]["target"].as_str(), Some(req.as_str()), "{}", fulfilled[0]);
    assert_eq!(fulfilled[0]["detail"]["package_sha256"].as_str(), Some(package_sha.as_str()));
    assert_eq!(fulfilled[0]["detail"]["count"], 2);
    let searched = of("access_request.searched");
    assert!(searched.iter().any(|e| e["target"] == req.as_str() && e["detail"]["count"] == 2), "{searched:?}");
    let export = cli_ok(&server, &["audit", "export", "--format", "jsonl"]);
    for secret in ["Ophelia", "Marchbanks", "Brightwater", MRN, OTHER_MRN, "Aldersgate", "(self)"] {
        assert!(!export.contains(secret), "{secret} in the audit log");
    }
    assert_eq!(server.audit_verify().0, 0);

    // R-KY-1: nothing the server wrote (database, index, blobs, logs) holds the names in clear.
    for f in files_under(server.data_dir()) {
        let Some(bytes) = read_file(&f) else { continue };
        for secret in ["Marchbanks", "Brightwater", "Aldersgate"] {
            assert!(!contains(&bytes, secret.as_bytes()), "{secret} in clear in {}", f.display());
        }
    }
    assert!(Path::new(&out).exists());
}
