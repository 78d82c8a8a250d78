//! KEK rotation (R-KY-2): re-wraps data keys without re-encrypting bodies,
//! while the server runs, and every message stays readable.

mod common;

use common::{Backend, Server, sha256_hex, unique};
use serde_json::json;

#[test]
fn kek_rotation_while_serving_keeps_every_message_readable() {
    let server = Server::start(Backend::Embedded);
    let key = server.api_key.clone();
    let mut sent = Vec::new();
    for i in 0..3 {
        let (st, b) = server.post(
            "/v1/messages",
            &key,
            &json!({"from": "clinic@example.org", "to": "p@example.net", "subject": format!("r{i} {}", unique()), "text": "x"}),
        );
        assert_eq!(st, 202, "{b}");
        let id = b["id"].as_str().expect("id").to_owned();
        sent.push((id.clone(), sha256_hex(&server.api_raw(&id))));
    }
    let blobs_before = server.sql_column("SELECT blob_ref FROM messages ORDER BY id");

    let out = server.cli(&["keys", "rotate", "--tenant", "default"]);
    assert!(out.status.success(), "rotate: {}", common::text(&out));
    assert!(common::text(&out).contains("version 2; 3 data keys re-wrapped"), "{}", common::text(&out));

    assert_eq!(server.sql_scalar("SELECT count(*) FROM messages WHERE kek_version = 2"), 3, "all data keys re-wrapped");
    assert_eq!(
        server.sql_column("SELECT blob_ref FROM messages ORDER BY id"),
        blobs_before,
        "bodies were not rewritten"
    );
    for (id, sha) in &sent {
        assert_eq!(&sha256_hex(&server.api_raw(id)), sha, "server read after rotation");
        assert_eq!(&sha256_hex(&server.show_raw(id)), sha, "CLI read after rotation");
    }
    assert_eq!(server.count_action_db("key.rotated"), 1);
    let (code, out) = server.audit_verify();
    assert_eq!(code, 0, "{out}");
}
