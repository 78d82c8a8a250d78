//! KEK rotation (R-KY-2): re-wraps data keys without re-encrypting bodies,
//! while the server runs, and every message stays readable. The DNS records
//! of a sending domain name its source addresses and its DKIM keys, or say
//! how to create them.

mod common;

use common::{Backend, Opts, Server, sha256_hex, unique};
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

/// `sealpost dns records`: SPF names the configured source addresses of both
/// streams; a domain without a DKIM key gets a hint (a zone-file comment and
/// a line on standard error) instead of silence, until the key exists.
#[test]
fn dns_records_name_the_source_addresses_and_how_to_create_a_dkim_key() {
    let extra_toml = r#"
[delivery]
enabled = false

[delivery.streams.transactional]
source_address = "192.0.2.10"

[delivery.streams.marketing]
source_address = "2001:db8::25"
"#;
    let server = Server::start_with(Backend::Embedded, Opts { extra_toml: extra_toml.into(), ..Opts::default() });
    let spf = "clinic.test. IN TXT \"v=spf1 mx ip4:192.0.2.10 ip6:2001:db8::25 -all\"";
    let hint = "sealpost keys dkim clinic.test`";

    let out = server.cli(&["dns", "records", "clinic.test"]);
    assert!(out.status.success(), "dns records: {}", common::text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], spf, "{stdout}");
    assert!(
        lines[1].starts_with("; ") && lines[1].contains("no DKIM key") && lines[1].ends_with("publish its record"),
        "{stdout}"
    );
    assert!(lines[1].contains(hint), "{stdout}");
    assert!(stderr.contains("no DKIM key") && stderr.contains(hint), "{stderr}");
    assert!(!stdout.contains("._domainkey."), "{stdout}");
    // Every other line is still a record or a comment: the output pastes into a zone.
    assert!(lines[2].starts_with("_dmarc.clinic.test. IN TXT"), "{stdout}");

    // Another tenant's hint names that tenant.
    let out = server.cli(&["tenant", "create", "north"]);
    assert!(out.status.success(), "tenant create: {}", common::text(&out));
    let out = server.cli(&["dns", "records", "north.test", "--tenant", "north"]);
    assert!(out.status.success(), "dns records: {}", common::text(&out));
    assert!(common::text(&out).contains("`sealpost keys dkim north.test --tenant north`"), "{}", common::text(&out));

    // With keys: their records, no hint.
    let out = server.cli(&["keys", "dkim", "clinic.test"]);
    assert!(out.status.success(), "keys dkim: {}", common::text(&out));
    let out = server.cli(&["dns", "records", "clinic.test"]);
    assert!(out.status.success(), "dns records: {}", common::text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(stdout.lines().next(), Some(spf), "{stdout}");
    assert_eq!(stdout.matches("._domainkey.clinic.test. IN TXT").count(), 2, "{stdout}");
    assert!(!common::text(&out).contains("no DKIM key"), "{}", common::text(&out));
}

/// Issue 13.5: by default the root-key passphrase file sits in the data
/// directory next to the key, so a copy of the directory decrypts
/// everything: `init` and `serve` say so loudly; kept apart, they do not.
#[test]
fn a_passphrase_inside_the_data_directory_is_warned_about() {
    let server = Server::start(Backend::Embedded);
    let log = server.serve_log();
    assert!(log.contains("inside the data directory") && log.contains("SEALPOST_ROOT_PASSPHRASE"), "{log}");

    let apart = sealpost_testkit::DataDir::new().expect("dir");
    let opts = Opts {
        extra_toml: format!("[keys]\npassphrase_file = \"{}\"\n", apart.join("root.pass").display()),
        ..Opts::default()
    };
    let server = Server::start_with(Backend::Embedded, opts);
    assert!(apart.join("root.pass").exists(), "init wrote the passphrase where configured");
    let log = server.serve_log();
    assert!(log.contains("Sealpost is running") && !log.contains("inside the data directory"), "{log}");
}
