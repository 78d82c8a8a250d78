//! Tenant isolation (R-ID-1): a tenant's key cannot see another tenant's
//! messages, and cannot even tell them apart from ids that do not exist.

#[macro_use]
mod common;

use common::{Backend, Server, sha256_hex, unique};
use serde_json::{Value, json};

fn message(subject: &str) -> Value {
    json!({ "from": "clinic@example.org", "to": ["patient@example.net"], "subject": subject, "text": "isolation" })
}

/// Tenant B's messages: with two tenants each sends only as its own
/// domains (issue 13.9), and example.org is A's.
fn message_b(subject: &str) -> Value {
    json!({ "from": "clinic@b.example", "to": ["patient@example.net"], "subject": subject, "text": "isolation" })
}

fn tenant_isolation(backend: Backend) {
    let server = Server::start(backend);
    let key_a = server.api_key.clone();
    let out = server.cli(&["tenant", "create", "b"]);
    assert!(out.status.success(), "tenant create b: {}", common::text(&out));
    let key_b = server.create_api_key("b", "send,read-events,admin");
    for (domain, tenant) in [("example.org", "default"), ("b.example", "b")] {
        let out = server.cli(&["domains", "assert", domain, "--tenant", tenant]);
        assert!(out.status.success(), "domains assert: {}", common::text(&out));
    }

    let (st, b) = server.post("/v1/messages", &key_a, &message(&format!("A {}", unique())));
    assert_eq!(st, 202, "{b}");
    let id_a = b["id"].as_str().expect("id").to_owned();
    let (st, b) = server.post("/v1/messages", &key_b, &message_b(&format!("B {}", unique())));
    assert_eq!(st, 202, "{b}");
    let id_b = b["id"].as_str().expect("id").to_owned();
    assert_ne!(id_a, id_b);

    // An id that exists nowhere, in the same format.
    let nonexistent = format!("{:032x}", fastrand::u128(..));
    let (st_none, body_none) = server.get(&format!("/v1/messages/{nonexistent}"), &key_b);
    assert_eq!(st_none, 404, "{}", String::from_utf8_lossy(&body_none));
    let (st_none_raw, body_none_raw) = server.get(&format!("/v1/messages/{nonexistent}/raw"), &key_b);
    assert_eq!(st_none_raw, 404);

    // B cannot see A's message: 404 (not 403), byte-identical to "no such id".
    let (st, body) = server.get(&format!("/v1/messages/{id_a}"), &key_b);
    assert_eq!(st, 404, "B read A's state: {}", String::from_utf8_lossy(&body));
    assert_eq!(body, body_none, "A's id is distinguishable from a nonexistent one");
    let (st, body) = server.get(&format!("/v1/messages/{id_a}/raw"), &key_b);
    assert_eq!(st, 404, "B read A's raw bytes");
    assert_eq!(body, body_none_raw, "A's id is distinguishable from a nonexistent one (raw)");

    // B's own message is readable by B, and not by A.
    let (st, body) = server.get(&format!("/v1/messages/{id_b}"), &key_b);
    assert_eq!(st, 200, "B cannot read its own message: {}", String::from_utf8_lossy(&body));
    let state: Value = serde_json::from_slice(&body).expect("json");
    let (st, raw_b) = server.get(&format!("/v1/messages/{id_b}/raw"), &key_b);
    assert_eq!(st, 200);
    assert_eq!(state["sha256"], sha256_hex(&raw_b));
    let (st, body) = server.get(&format!("/v1/messages/{id_b}"), &key_a);
    assert_eq!((st, &body), (404, &body_none), "A read B's state");
    let (st, body) = server.get(&format!("/v1/messages/{id_b}/raw"), &key_a);
    assert_eq!((st, &body), (404, &body_none_raw), "A read B's raw bytes");
    // A still reads its own.
    assert_eq!(server.api_state(&id_a)["id"], id_a.as_str());

    // Idempotency keys are per tenant: B reusing A's key gets its own
    // message, never A's id (nor A's "key used with another body": the
    // bodies differ only in the sender, which each tenant must own).
    let idem = format!("shared-{}", unique());
    let post = |key: &str, body: Vec<u8>| {
        let r = server
            .http()
            .post(server.url("/v1/messages"))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .header("Idempotency-Key", &idem)
            .body(body)
            .send()
            .expect("POST");
        let st = r.status().as_u16();
        (st, r.json::<Value>().unwrap_or(Value::Null))
    };
    let (st_a, b_a) = post(&key_a, serde_json::to_vec(&message("same body")).expect("json"));
    let (st_b, b_b) = post(&key_b, serde_json::to_vec(&message_b("same body")).expect("json"));
    assert_eq!((st_a, st_b), (202, 202), "{b_a} {b_b}");
    assert_ne!(b_a["id"], b_b["id"], "tenant B got tenant A's message id through a shared Idempotency-Key");
    let (st, _) = server.get(&format!("/v1/messages/{}", b_b["id"].as_str().unwrap_or_default()), &key_b);
    assert_eq!(st, 200);

    // The CLI is scoped by --tenant too.
    // (Sequential on purpose: concurrent CLI processes are tested in api.rs.)
    let shown = server.cli(&["message", "show", &id_a, "--tenant", "b"]);
    let shown_raw = server.cli(&["message", "show", &id_a, "--raw", "--tenant", "b"]);
    let own = server.cli(&["message", "show", &id_b, "--raw", "--tenant", "b"]);
    assert!(!shown.status.success(), "message show A --tenant b succeeded: {}", common::text(&shown));
    assert!(shown.stdout.is_empty(), "message show A --tenant b printed something");
    assert!(!shown_raw.status.success(), "message show A --raw --tenant b succeeded");
    assert!(shown_raw.stdout.is_empty(), "message show A --raw --tenant b printed bytes");
    assert!(own.status.success(), "message show B --raw --tenant b: {}", common::text(&own));
    assert_eq!(own.stdout, raw_b);
}

both_backends!(tenant_isolation => tenant_isolation_embedded, tenant_isolation_scaleout);
