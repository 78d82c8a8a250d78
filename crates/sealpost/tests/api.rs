//! REST API happy paths (R-IN-2, R-AR-1, R-AU-1).

mod common;

use common::{Backend, Server, b64, contains, sha256_hex, unique};
use serde_json::{Value, json};

#[test]
fn api_happy_paths() {
    let server = Server::start(Backend::Embedded);
    let key = server.api_key.clone();

    // JSON with text, html, attachment, cc and bcc.
    let marker = unique();
    let pdf: Vec<u8> = (0..2048).map(|_| fastrand::u8(..)).collect();
    let (st, b) = server.post(
        "/v1/messages",
        &key,
        &json!({
            "from": { "email": "clinic@example.org", "name": "The Clinic" },
            "to": ["patient@example.net"],
            "cc": "nurse@example.org",
            "bcc": ["records@example.org"],
            "subject": format!("Your results {marker}"),
            "text": format!("Plain body {marker}"),
            "html": format!("<p>HTML body {marker}</p>"),
            "attachments": [{ "filename": "results.pdf", "content_type": "application/pdf", "content": b64(&pdf) }],
            "category": "transactional",
            "tags": ["results"],
            "metadata": { "order": 42 },
        }),
    );
    assert_eq!(st, 202, "{b}");
    let id = b["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 32, "id format: {id}");

    let state = server.api_state(&id);
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["category"], "transactional");
    let rcpts = state["recipients"].as_array().expect("recipients");
    assert_eq!(rcpts.len(), 3, "to + cc + bcc: {state}");
    for r in rcpts {
        assert_eq!(r["state"], "queued", "{state}");
    }
    let addrs: Vec<&str> = rcpts.iter().filter_map(|r| r["address"].as_str()).collect();
    for a in ["patient@example.net", "nurse@example.org", "records@example.org"] {
        assert!(addrs.contains(&a), "{a} missing from {addrs:?}");
    }
    let raw = server.api_raw(&id);
    assert_eq!(state["sha256"], sha256_hex(&raw), "state sha256 is not the sha256 of the stored bytes");
    assert_eq!(state["size"], raw.len(), "size");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains(&format!("Subject: Your results {marker}")), "subject");
    assert!(text.contains(&format!("Plain body {marker}")) && text.contains(&format!("HTML body {marker}")));
    assert!(text.contains("results.pdf"));
    let flat: Vec<u8> = raw.iter().copied().filter(|b| *b != b'\r' && *b != b'\n').collect();
    assert!(contains(&flat, b64(&pdf).as_bytes()), "attachment content not in the message");
    assert!(!text.contains("records@example.org"), "Bcc leaked into the message headers");
    assert!(sealpost_smtp_like_check(&raw), "built message is not CRLF-clean");

    // Batch of 3.
    let subjects: Vec<String> = (0..3).map(|i| format!("batch {i} {}", unique())).collect();
    let msgs: Vec<Value> = subjects
        .iter()
        .map(|s| json!({ "from": "clinic@example.org", "to": "patient@example.net", "subject": s, "text": "batch" }))
        .collect();
    let (st, b) = server.post("/v1/messages/batch", &key, &json!({ "messages": msgs }));
    assert_eq!(st, 202, "{b}");
    let ids: Vec<String> =
        b["messages"].as_array().expect("messages").iter().map(|m| m["id"].as_str().expect("id").to_owned()).collect();
    assert_eq!(ids.len(), 3);
    let unique_ids: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(unique_ids.len(), 3, "batch ids not distinct: {ids:?}");
    for (i, bid) in ids.iter().enumerate() {
        let st = server.api_state(bid);
        assert_eq!(st["recipients"][0]["state"], "queued");
        let raw = server.api_raw(bid);
        assert!(contains(&raw, subjects[i].as_bytes()), "batch message {i} has another's content");
        assert_eq!(st["sha256"], sha256_hex(&raw));
    }

    // Raw submission round-trips byte-exact; category from the header.
    let raw_msg = format!(
        "From: EHR <ehr@example.org>\r\nTo: patient@example.net\r\nSubject: raw {}\r\n\
         X-Sealpost-Category: marketing\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n.leading dot\r\n\u{e9}\u{e8} 8-bit body\r\n\r\n\r\n",
        unique()
    );
    let (st, b) = server.post(
        "/v1/messages/raw",
        &key,
        &json!({ "from": "ehr@example.org", "to": ["patient@example.net", "other@example.net"], "raw": b64(raw_msg.as_bytes()) }),
    );
    assert_eq!(st, 202, "{b}");
    let raw_id = b["id"].as_str().expect("id").to_owned();
    let state = server.api_state(&raw_id);
    assert_eq!(state["category"], "marketing", "X-Sealpost-Category ignored: {state}");
    assert_eq!(state["recipients"].as_array().map(Vec::len), Some(2));
    assert_eq!(state["sha256"], sha256_hex(raw_msg.as_bytes()));

    // `message show --raw` returns the same bytes and is audited.
    let before = server.count_action_db("message.raw_accessed");
    let shown = server.show_raw(&raw_id);
    assert_eq!(sha256_hex(&shown), sha256_hex(raw_msg.as_bytes()), "CLI readback differs");
    let events = server.audit_events();
    let cli_reads: Vec<&Value> =
        events.iter().filter(|e| e["action"] == "message.raw_accessed" && e["target"] == raw_id.as_str()).collect();
    assert_eq!(cli_reads.len(), 1, "expected exactly one raw access of {raw_id}: {cli_reads:?}");
    assert_eq!(cli_reads[0]["actor"], "cli");
    assert_eq!(server.count_action_db("message.raw_accessed"), before + 1);
    // The API raw reads above were audited too, with the key as actor.
    assert!(
        events.iter().any(|e| e["action"] == "message.raw_accessed"
            && e["target"] == id.as_str()
            && e["actor"].as_str().is_some_and(|a| a.starts_with("apikey:"))),
        "API raw read not audited"
    );
    // Every accepted message has its event.
    for mid in ids.iter().chain([&id, &raw_id]) {
        assert!(
            events.iter().any(|e| e["action"] == "message.accepted" && e["target"] == mid.as_str()),
            "no message.accepted event for {mid}"
        );
    }
}

/// CRLF only, no NUL, lines within 998 octets.
fn sealpost_smtp_like_check(raw: &[u8]) -> bool {
    let no_bare = raw.iter().enumerate().all(|(i, &b)| match b {
        b'\n' => i > 0 && raw[i - 1] == b'\r',
        b'\r' => raw.get(i + 1) == Some(&b'\n'),
        0 => false,
        _ => true,
    });
    no_bare && raw.split(|&b| b == b'\n').all(|l| l.len() <= 999)
}

/// The CLI works while the server runs, also several commands at once
/// (operators and scripts do that): each must succeed. Bursts of 12
/// simultaneous commands, a few rounds, to catch races between processes
/// opening the same data directory.
#[test]
fn concurrent_cli_commands_while_serving() {
    const ROUNDS: usize = 5;
    const PARALLEL: usize = 12;
    let server = Server::start(Backend::Embedded);
    let content = common::simple_message("concurrent cli", &unique());
    let id = common::relay_send(server.ports.relay, "clinic@example.org", "patient@example.net", &content);
    for round in 0..ROUNDS {
        let barrier = std::sync::Barrier::new(PARALLEL);
        let outputs: Vec<std::process::Output> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..PARALLEL)
                .map(|i| {
                    let (server, id, barrier) = (&server, &id, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        match i % 3 {
                            0 => server.cli(&["message", "show", id, "--raw"]),
                            1 => server.cli(&["message", "show", id]),
                            _ => server.cli(&["audit", "verify"]),
                        }
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("cli thread")).collect()
        });
        let failed: Vec<String> = outputs
            .iter()
            .enumerate()
            .filter(|(_, o)| !o.status.success())
            .map(|(i, o)| format!("command {i}: {}", common::text(o).trim()))
            .collect();
        assert!(failed.is_empty(), "round {round}: concurrent CLI commands failed:\n{}", failed.join("\n"));
        for (i, o) in outputs.iter().enumerate() {
            if i % 3 == 0 {
                assert_eq!(o.stdout, content, "concurrent raw read {i}");
            }
        }
    }
    // The server still accepts mail afterwards.
    common::relay_send(server.ports.relay, "clinic@example.org", "patient@example.net", &content);
}

#[test]
fn recipient_keys_through_the_api_are_tenant_scoped_and_list_no_addresses() {
    let server = Server::start(Backend::Embedded);
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=P"])
        .args(["-addext", "subjectAltName=email:pat@example.net", "-addext", "extendedKeyUsage=emailProtection"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(out.status.success());
    let pem = std::fs::read_to_string(&cert).expect("cert");
    let admin = server.api_key.clone();
    let send_only = server.create_api_key("default", "send");
    let (st, _) = server.post("/v1/recipient-keys", &send_only, &json!({"key": pem}));
    assert_eq!(st, 403, "a send-only key must not manage recipient keys");
    let (st, b) = server.post("/v1/recipient-keys", &admin, &json!({"key": "not a key"}));
    assert_eq!((st, b["error"]["field"].as_str()), (400, Some("key")), "{b}");
    let (st, b) = server.post("/v1/recipient-keys", &admin, &json!({"key": pem}));
    assert_eq!(st, 201, "{b}");
    assert_eq!((b["kind"].as_str(), b["addresses"].as_u64()), (Some("smime"), Some(1)), "{b}");
    let (st, body) = server.get("/v1/recipient-keys", &admin);
    assert_eq!(st, 200);
    let listed: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(listed["keys"].as_array().map(Vec::len), Some(1), "{listed}");
    assert!(!String::from_utf8_lossy(&body).contains("pat@example.net"), "the listing shows an address");
    let id = listed["keys"][0]["id"].as_str().expect("id").to_owned();
    // Another tenant sees nothing and cannot delete it.
    let out = server.cli(&["tenant", "create", "other"]);
    assert!(out.status.success());
    let other = server.create_api_key("other", "admin");
    let (_, body) = server.get("/v1/recipient-keys", &other);
    assert_eq!(serde_json::from_slice::<Value>(&body).expect("json")["keys"], json!([]));
    let del = |k: &str| {
        server
            .http()
            .delete(server.url(&format!("/v1/recipient-keys/{id}")))
            .bearer_auth(k)
            .send()
            .expect("delete")
            .status()
            .as_u16()
    };
    assert_eq!(del(&other), 404);
    assert_eq!(del(&admin), 204);
    assert_eq!(del(&admin), 404);
}

/// Issue 13.14: no answer of the API may be kept by a cache (message bytes,
/// states, settings, access requests, errors), and a `read-events` key
/// follows delivery without learning the recipients' addresses.
#[test]
fn responses_are_not_cached_and_read_events_keys_see_no_addresses() {
    let server = Server::start(Backend::Embedded);
    let (st, b) = server.post(
        "/v1/messages",
        &server.api_key,
        &json!({"from": "clinic@example.org", "to": "patient@example.net", "subject": "Hi", "text": "Hello"}),
    );
    assert_eq!(st, 202, "{b}");
    let id = b["id"].as_str().expect("id").to_owned();
    for path in [
        format!("/v1/messages/{id}"),
        format!("/v1/messages/{id}/raw"),
        "/v1/settings".into(),
        "/v1/access-requests".into(),
        "/v1/messages/0".into(),
    ] {
        let r = server.http().get(server.url(&path)).bearer_auth(&server.api_key).send().expect("GET");
        assert_eq!(r.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"), "{path}");
    }
    let reader = server.create_api_key("default", "read-events");
    let (st, body) = server.get(&format!("/v1/messages/{id}"), &reader);
    let state: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(st, 200, "{state}");
    assert_eq!(state["recipients"][0]["state"], "queued", "{state}");
    assert!(!String::from_utf8_lossy(&body).contains("patient@example.net"), "{state}");
    let (_, body) = server.get(&format!("/v1/messages/{id}"), &server.api_key);
    assert!(String::from_utf8_lossy(&body).contains("patient@example.net"), "a sender key still sees the address");
}

/// Issue 13.7: bad bearer tokens from one client are audited as one event
/// at the start of the burst, and the repeats as one event with their count
/// (at the interval, or at shutdown): the audit log does not grow by an
/// event per request, and every failure is still accounted for.
#[test]
fn bad_tokens_are_audited_per_burst_with_a_count() {
    let mut server = Server::start(Backend::Embedded);
    let before = server.count_action_db("login.failed");
    let client = server.http();
    for i in 0..40 {
        let r = client.get(server.url("/v1/settings")).bearer_auth(format!("sp_bad_{i}")).send().expect("GET");
        assert_eq!(r.status().as_u16(), 401);
    }
    let during = server.count_action_db("login.failed") - before;
    assert_eq!(during, 1, "one event opens the burst, not one per request");
    server.stop();
    let failed: Vec<Value> = server
        .audit_events()
        .into_iter()
        .filter(|e| e["action"] == "login.failed" && e["detail"]["via"] == "api")
        .collect();
    assert_eq!(failed.len(), 2, "the burst's opening event and its count: {failed:?}");
    let total: i64 = failed.iter().map(|e| e["detail"]["count"].as_i64().unwrap_or(0)).sum();
    assert_eq!(total, 40, "every failure is counted: {failed:?}");
    assert!(failed.iter().all(|e| e["detail"]["client"] == "127.0.0.1"), "{failed:?}");
    let (code, out) = server.audit_verify();
    assert_eq!(code, 0, "{out}");
}
