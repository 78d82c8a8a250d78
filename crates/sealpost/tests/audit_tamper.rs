//! Audit tamper detection end to end (R-AU-2): real events from a running
//! server, the database edited behind its back, `sealpost audit verify`
//! must exit 1 and name the first bad event.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{BIN, Backend, Opts, Server, Smtp, copy_dir, relay_send, simple_message, unique};
use serde_json::json;

/// `audit verify` on `dir`: (exit code, stdout).
fn verify(dir: &Path) -> (i32, String) {
    let out = Command::new(BIN)
        .arg("--data")
        .arg(dir)
        .args(["audit", "verify"])
        .env("SEALPOST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run audit verify");
    (out.status.code().unwrap_or(-1), common::text(&out))
}

/// Whether `out` names event `#k` as the first bad one.
fn names(out: &str, k: i64) -> bool {
    out.contains(&format!("FAILED: event #{k} (")) || out.contains(&format!("FAILED: event #{k}:"))
}

/// Messages, logins (good and bad) and reads, so the chain has many kinds of events.
fn generate_events(server: &Server) {
    for i in 0..3 {
        relay_send(
            server.ports.relay,
            "clinic@example.org",
            "p@example.net",
            &simple_message("tamper", &format!("{i}")),
        );
    }
    let (st, b) = server.post(
        "/v1/messages",
        &server.api_key,
        &json!({"from": "clinic@example.org", "to": "p@example.net", "subject": unique(), "text": "x"}),
    );
    assert_eq!(st, 202, "{b}");
    let id = b["id"].as_str().expect("id").to_owned();
    server.api_state(&id);
    server.api_raw(&id);
    // A failed API login and an SMTP login attempt (AUTH needs TLS: refused
    // before TLS without an event, so use a bad bearer and a failed swaks).
    let (st, _) = server.get(&format!("/v1/messages/{id}"), "sp_bogus");
    assert_eq!(st, 401);
    let port = format!("127.0.0.1:{}", server.ports.implicit);
    let (ok, t) = common::swaks(&[
        "--server",
        &port,
        "--tlsc",
        "--auth",
        "PLAIN",
        "--auth-user",
        "apikey",
        "--auth-password",
        &server.api_key,
        "--from",
        "clinic@example.org",
        "--to",
        "p@example.net",
        "--body",
        "login event",
    ]);
    assert!(ok, "{t}");
    let (ok, _) = common::swaks(&[
        "--server",
        &port,
        "--tlsc",
        "--auth",
        "PLAIN",
        "--auth-user",
        "apikey",
        "--auth-password",
        "wrong",
        "--from",
        "clinic@example.org",
        "--to",
        "p@example.net",
    ]);
    assert!(!ok);
    let mut s = Smtp::connect(server.ports.relay);
    s.expect("EHLO x.example", 250);
    s.expect("QUIT", 221);
}

fn sqlite(dir: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(dir.join("sealpost.db")).expect("open copy");
    conn.execute_batch(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[test]
fn tampering_with_sqlite_is_detected_and_named() {
    // Checkpoints every 7 events: tampering lands between signed checkpoints.
    let mut server = Server::start_with(Backend::Embedded, Opts { checkpoint_every: 7, ..Opts::default() });
    generate_events(&server);
    assert!(server.stop().is_some_and(|s| s.success()));
    let last = server.sql_scalar("SELECT max(seq) FROM audit_events");
    let first = server.sql_scalar("SELECT min(seq) FROM audit_events");
    assert!(last - first >= 15, "too few events to tamper with: {first}..{last}");
    let k = (first + last) / 2;
    let checkpoints = server.sql_scalar("SELECT count(*) FROM audit_checkpoints");
    assert!(checkpoints >= 1, "no signed checkpoint was written");

    let forge = format!(
        "UPDATE audit_events SET seq = -(seq + 1) WHERE seq >= {k};
         UPDATE audit_events SET seq = -seq WHERE seq < 0;
         INSERT INTO audit_events (seq, id, at_micros, tenant_id, actor, action, target, outcome, detail, prev_hash, hash)
           SELECT {k}, 'forged-{k}', at_micros, tenant_id, actor, 'message.accessed', target, outcome, detail, prev_hash, randomblob(32)
           FROM audit_events WHERE seq = {k1};",
        k1 = k + 1
    );
    let cases: Vec<(&str, String, Option<i64>)> = vec![
        ("untouched", String::new(), None),
        (
            "modify outcome",
            format!(
                "UPDATE audit_events SET outcome = CASE outcome WHEN 'success' THEN 'failure' ELSE 'success' END WHERE seq = {k};"
            ),
            Some(k),
        ),
        (
            "modify detail",
            format!("UPDATE audit_events SET detail = detail || ' ' WHERE seq = {};", k + 2),
            Some(k + 2),
        ),
        ("delete", format!("DELETE FROM audit_events WHERE seq = {k};"), Some(k)),
        ("insert forged", forge, Some(k)),
        (
            "reorder",
            format!(
                "UPDATE audit_events SET seq = -1 WHERE seq = {k};
                 UPDATE audit_events SET seq = {k} WHERE seq = {k1};
                 UPDATE audit_events SET seq = {k1} WHERE seq = -1;",
                k1 = k + 1
            ),
            Some(k),
        ),
        ("delete tail", format!("DELETE FROM audit_events WHERE seq > {};", last - 3), Some(-1)),
    ];

    let copies = tempfile::tempdir().expect("tempdir");
    let results: Vec<(String, i32, String, Option<i64>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .enumerate()
            .map(|(i, (name, sql, want))| {
                let dir = copies.path().join(format!("case-{i}"));
                copy_dir(server.data_dir(), &dir);
                if !sql.is_empty() {
                    sqlite(&dir, sql);
                }
                scope.spawn(move || {
                    let (code, out) = verify(&dir);
                    (name.to_string(), code, out, *want)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("verify thread")).collect()
    });

    let mut failures = Vec::new();
    for (name, code, out, want) in results {
        let ok = match want {
            None => code == 0 && out.starts_with("OK: "),
            Some(-1) => code == 1 && out.contains("FAILED: event #"),
            Some(k) => code == 1 && names(&out, k),
        };
        if !ok {
            failures.push(format!("{name}: expected {want:?}, got exit {code}: {}", out.trim()));
        }
    }
    assert!(failures.is_empty(), "k = {k}, last = {last}:\n{}", failures.join("\n"));
}

#[test]
fn tampering_with_postgres_is_detected_and_named() {
    let mut server = Server::start(Backend::ScaleOut);
    generate_events(&server);
    assert!(server.stop().is_some_and(|s| s.success()));
    let (code, out) = server.audit_verify();
    assert_eq!(code, 0, "untouched chain: {out}");
    let first = server.sql_scalar("SELECT min(seq) FROM audit_events");
    let last = server.sql_scalar("SELECT max(seq) FROM audit_events");
    let k = (first + last) / 2;
    common::psql(
        server.pg_url.as_deref().expect("pg url"),
        &format!("UPDATE audit_events SET actor = actor || 'x' WHERE seq = {k}"),
    );
    let (code, out) = server.audit_verify();
    assert_eq!(code, 1, "modified event #{k} not detected: {out}");
    assert!(names(&out, k), "expected event #{k} to be named: {out}");
}
