//! Upgrades (issue 12, migrations): a data directory and a PostgreSQL dump
//! made by the release before schema migrations existed open with this
//! binary, every message reads back byte-exact, the archive finds what it
//! found before, and `audit verify` is clean.
//!
//! The fixtures under `tests/fixtures/upgrade/` were made by
//! `make_upgrade_fixtures` (below, ignored) with the binary of commit
//! c36ad63, the last one before migrations. They are history: never
//! regenerate them with a newer binary. A later release that changes the
//! schema adds a fixture of its own beside them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Backend, Opts, Server, Storage, b64, sha256_hex, text};
use sealpost_testkit::DataDir;
use serde_json::{Value, json};

/// The fixtures of the release before migrations.
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade/pre-migrations").join(name)
}

/// What a fixture holds, recorded when it was made.
fn manifest(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest JSON")
}

/// Copies a fixture's data directory into a fresh temporary one.
fn copy_data_dir(from: &Path) -> DataDir {
    let dir = DataDir::new().expect("data dir");
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.join("data").display()))
        .arg(dir.path())
        .status()
        .expect("cp");
    assert!(status.success(), "copying the fixture failed");
    dir
}

#[test]
fn a_pre_migration_sqlite_data_directory_opens_and_reads_back_exactly() {
    let src = fixture("embedded");
    let dir = copy_data_dir(&src);
    check_upgrade(Backend::Embedded, dir, Storage::embedded(), &manifest(&src));
}

#[test]
fn a_pre_migration_postgres_dump_opens_and_reads_back_exactly() {
    let src = fixture("postgres");
    let url = Storage::fresh_postgres();
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &url, "-f"])
        .arg(src.join("dump.sql"))
        .output()
        .expect("run psql");
    assert!(out.status.success(), "loading the dump failed: {}", text(&out));
    let dir = copy_data_dir(&src);
    check_upgrade(Backend::ScaleOut, dir, Storage::postgres_local_blobs(&url), &manifest(&src));
}

/// A database a newer release migrated is refused, by the CLI and by
/// `serve`, with a message that says what happened and what to do.
#[test]
fn a_database_from_a_newer_release_is_refused() {
    let src = fixture("embedded");
    let dir = copy_data_dir(&src);
    let server = Server::adopt(Backend::Embedded, dir, Storage::embedded(), "", Opts::default());
    assert_eq!(server.audit_verify().0, 0);
    let conn = rusqlite::Connection::open(server.data_dir().join("sealpost.db")).expect("open sqlite");
    conn.execute(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (9999, 'future', x'00', 0)",
        [],
    )
    .expect("insert");
    drop(conn);
    for args in [&["audit", "verify"][..], &["serve"][..]] {
        let out = server.cli(args);
        let said = text(&out);
        assert!(!out.status.success(), "{args:?} opened a newer schema: {said}");
        assert!(said.contains("version 9999, newer than this sealpost knows"), "{args:?}: {said}");
    }
}

fn check_upgrade(backend: Backend, dir: DataDir, storage: Storage, m: &Value) {
    let mut server = Server::adopt(backend, dir, storage, m["api_key"].as_str().expect("api_key"), Opts::default());
    assert_eq!(
        server.sql_scalar("SELECT count(*) FROM messages"),
        m["messages"].as_object().expect("ids").len() as i64
    );

    // The CLI opens (and migrates) the old database before serve ever runs.
    let (code, out) = server.audit_verify();
    assert_eq!(code, 0, "audit verify after the upgrade: {out}");
    for (id, sha) in m["messages"].as_object().expect("messages") {
        assert_eq!(&sha256_hex(&server.show_raw(id)), sha, "message {id} changed across the upgrade");
    }
    assert_eq!(
        server.sql_scalar("SELECT count(*) FROM schema_migrations WHERE version = 1"),
        1,
        "the baseline is recorded as applied, once"
    );

    // The state table this release ships differs from 0.1.0's (minors
    // rules added): every stored retention decision is made again.
    let out = server.cli(&["retention", "run", "--tenant", "default", "--now", "2026-12-04", "--dry-run"]);
    assert!(out.status.success(), "retention dry run: {}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("run JSON");
    assert_eq!(
        report["default"]["evaluation"]["evaluated"].as_u64(),
        Some(m["messages"].as_object().expect("ids").len() as u64),
        "{report}"
    );

    server.serve();
    for (id, sha) in m["messages"].as_object().expect("messages") {
        assert_eq!(&sha256_hex(&server.api_raw(id)), sha, "message {id} through the API");
    }
    let (st, body) =
        server.get(&format!("/v1/search?q={}&per_page=100", m["search"]["q"].as_str().expect("q")), &server.api_key);
    let found: Value = serde_json::from_slice(&body).expect("search JSON");
    assert_eq!((st, &found["total"]), (200, &m["search"]["total"]), "{found}");
    let (st, body) = server.get("/v1/holds", &server.api_key);
    let holds: Value = serde_json::from_slice(&body).expect("holds JSON");
    assert_eq!((st, holds["holds"].as_array().map(Vec::len)), (200, Some(1)), "{holds}");
    assert_eq!(holds["holds"][0]["id"], m["hold"], "{holds}");
    let (st, body) = server.get("/v1/access-requests", &server.api_key);
    let requests: Value = serde_json::from_slice(&body).expect("access requests JSON");
    assert_eq!((st, requests["access_requests"][0]["id"].clone()), (200, m["access_request"].clone()), "{requests}");
    let (st, body) = server.get("/v1/settings", &server.api_key);
    let settings: Value = serde_json::from_slice(&body).expect("settings JSON");
    assert_eq!((st, &settings["domain_policies"]["portal.test"]), (200, &json!("portal-always")), "{settings}");

    // New mail goes in beside the old, and the chain stays whole.
    let (st, b) = server.post(
        "/v1/messages",
        &server.api_key,
        &json!({"from": "clinic@example.org", "to": "patient@example.net", "subject": "After", "text": "upgraded"}),
    );
    assert_eq!(st, 202, "{b}");
    server.stop();
    let (code, out) = server.audit_verify();
    assert_eq!(code, 0, "audit verify after serving: {out}");
}

/// Makes the fixtures: run ONLY with the binary of the release being
/// captured, e.g. `SEALPOST_FIXTURE_OUT=/tmp/fx cargo test -p sealpost --test
/// upgrade -- --ignored make_upgrade_fixtures`, then copy `/tmp/fx/*` under
/// `tests/fixtures/upgrade/<release>/`.
#[test]
#[ignore = "makes fixtures; run by hand with the release being captured"]
fn make_upgrade_fixtures() {
    let out = PathBuf::from(std::env::var("SEALPOST_FIXTURE_OUT").expect("SEALPOST_FIXTURE_OUT"));
    let embedded = Server::start_on(Backend::Embedded, Storage::embedded(), Opts::default());
    capture(embedded, &out.join("embedded"), None);
    let url = Storage::fresh_postgres();
    let pg = Server::start_on(Backend::ScaleOut, Storage::postgres_local_blobs(&url), Opts::default());
    capture(pg, &out.join("postgres"), Some(&url));
}

fn capture(mut server: Server, out: &Path, pg_url: Option<&str>) {
    let mut m = populate(&server);
    server.stop();
    let mut ids = serde_json::Map::new();
    for id in server.sql_column("SELECT id FROM messages ORDER BY id") {
        ids.insert(id.clone(), json!(sha256_hex(&server.show_raw(&id))));
    }
    m["messages"] = Value::Object(ids);
    std::fs::create_dir_all(out.join("data")).expect("fixture dir");
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", server.data_dir().display()))
        .arg(out.join("data"))
        .status()
        .expect("cp");
    assert!(status.success());
    for transient in ["logs", "sealpost.toml"] {
        let p = out.join("data").join(transient);
        let _ = std::fs::remove_dir_all(&p);
        let _ = std::fs::remove_file(&p);
    }
    if let Some(url) = pg_url {
        let dump = Command::new("pg_dump")
            .args(["--no-owner", "--no-privileges", "-d", url, "-f"])
            .arg(out.join("dump.sql"))
            .output()
            .expect("pg_dump");
        assert!(dump.status.success(), "pg_dump: {}", text(&dump));
    }
    std::fs::write(out.join("manifest.json"), serde_json::to_string_pretty(&m).expect("JSON")).expect("manifest");
}

/// Mail of every intake path and every sealed record kind the archive keeps.
fn populate(server: &Server) -> Value {
    let key = server.api_key.clone();
    let scan: Vec<u8> = (0..24 * 1024u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    for i in 0..3 {
        let (st, b) = server.post(
            "/v1/messages",
            &key,
            &json!({
                "from": {"email": "clinic@example.org", "name": "The Clinic"},
                "to": [format!("patient{i}@example.net")],
                "subject": format!("Fixture results {i}"),
                "text": format!("Fixture body {i}"),
                "html": format!("<p>Fixture body {i}</p>"),
                "attachments": [{"filename": "scan.pdf", "content_type": "application/pdf", "content": b64(&scan)}],
            }),
        );
        assert_eq!(st, 202, "{b}");
    }
    let raw = "From: records@example.org\r\nTo: patient9@example.net\r\nSubject: Fixture raw\r\n\
               Date: Tue, 03 Mar 2015 10:00:00 +0000\r\nMessage-ID: <raw-1@example.org>\r\n\r\nRaw body\r\n";
    let (st, b) = server.post(
        "/v1/messages/raw",
        &key,
        &json!({"from": "records@example.org", "to": ["patient9@example.net"], "raw": b64(raw.as_bytes())}),
    );
    assert_eq!(st, 202, "{b}");
    let mbox = server.data_dir().join("old.mbox");
    let mut text = String::new();
    for i in 0..3 {
        text.push_str(&format!(
            "From records@example.org Mon Jan  5 09:00:00 2015\nFrom: records@example.org\nTo: old{i}@example.net\n\
             Subject: Fixture archive {i}\nDate: Mon, 05 Jan 2015 09:00:0{i} +0000\nMessage-ID: <old-{i}@example.org>\n\n\
             Old body {i}\n\n"
        ));
    }
    std::fs::write(&mbox, text).expect("mbox");
    let out = server.cli(&["import", mbox.to_str().expect("path")]);
    assert!(out.status.success(), "import: {}", common::text(&out));
    std::fs::remove_file(&mbox).expect("remove mbox");

    let r = server
        .http()
        .put(server.url("/v1/settings"))
        .bearer_auth(&key)
        .json(&json!({"domain_policies": {"portal.test": "portal-always"}}))
        .send()
        .expect("PUT settings");
    assert_eq!(r.status().as_u16(), 200);
    let (st, hold) = server.post(
        "/v1/holds",
        &key,
        &json!({"name": "Fixture matter", "reason": "Litigation", "scope": {"custodians": ["clinic@example.org"]}}),
    );
    assert_eq!(st, 201, "{hold}");
    let (st, request) = server.post(
        "/v1/access-requests",
        &key,
        &json!({"patient_name": "Fixture Patient", "identifiers": ["MRN-0042"]}),
    );
    assert_eq!(st, 201, "{request}");

    let q = "subject%3Afixture";
    let deadline = Instant::now() + Duration::from_secs(60);
    let total = loop {
        let (_, body) = server.get(&format!("/v1/search?q={q}&per_page=100"), &key);
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if v["total"] == 7 {
            break v["total"].clone();
        }
        assert!(Instant::now() < deadline, "not indexed in time: {v}");
        std::thread::sleep(Duration::from_millis(200));
    };
    json!({
        "made_by": "sealpost 0.1.0 at c36ad63 (before schema migrations)",
        "api_key": key,
        "search": {"q": q, "total": total},
        "hold": hold["id"],
        "access_request": request["id"],
    })
}
