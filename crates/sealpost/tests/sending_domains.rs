//! Sending domains (issue 13.9): a tenant sends only as the domains it owns
//! (verified by a DNS TXT record, or asserted by the operator), on every
//! intake path — SMTP submission, the relay listener, the JSON and raw API.
//! A single tenant with no domains of its own sends as anything; a second
//! tenant closes that gap.

#[macro_use]
mod common;

use std::time::Duration;

use common::{Backend, Opts, Server, Smtp, b64, swaks, text, unique};
use sealpost_testkit::{DnsServer, Zone};
use serde_json::{Value, json};

fn cli_ok(server: &Server, args: &[&str]) -> String {
    let out = server.cli(args);
    assert!(out.status.success(), "sealpost {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cli_err(server: &Server, args: &[&str]) -> String {
    let out = server.cli(args);
    assert!(!out.status.success(), "sealpost {args:?} succeeded: {}", text(&out));
    text(&out)
}

fn json_message(from: &str) -> Value {
    json!({ "from": from, "to": ["patient@example.net"], "subject": format!("s {}", unique()), "text": "hello" })
}

fn raw_body(envelope_from: &str, header_from: &str) -> Value {
    let raw = format!(
        "From: {header_from}\r\nTo: patient@example.net\r\nSubject: raw {}\r\nMessage-ID: <{}@test.example>\r\n\r\nbody\r\n",
        unique(),
        unique()
    );
    json!({ "from": envelope_from, "to": ["patient@example.net"], "raw": b64(raw.as_bytes()) })
}

fn message_from(header_from: &str) -> Vec<u8> {
    format!(
        "From: {header_from}\r\nTo: patient@example.net\r\nSubject: smtp {}\r\nMessage-ID: <{}@test.example>\r\n\r\nbody\r\n",
        unique(),
        unique()
    )
    .into_bytes()
}

fn assert_not_owned(status: u16, body: &Value, domain: &str, field: &str) {
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "sender_domain_not_owned", "{body}");
    assert_eq!(body["error"]["field"], field, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(domain), "the message names the domain: {body}");
}

/// SMTP submission as `key`'s tenant: MAIL FROM `from`, header From `header`.
fn smtp_send(server: &Server, key: &str, from: &str, header: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("m.eml");
    std::fs::write(&file, message_from(header)).expect("write");
    let server_arg = format!("127.0.0.1:{}", server.ports.starttls);
    swaks(&[
        "--server",
        &server_arg,
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "apikey",
        "--auth-password",
        key,
        "--from",
        from,
        "--to",
        "patient@example.net",
        "--data",
        &format!("@{}", file.display()),
    ])
}

fn sending_domains(backend: Backend) {
    let zone = Zone::new();
    let dns = DnsServer::start(zone).expect("dns");
    let server = Server::start_with(
        backend,
        Opts {
            extra_toml: format!("[delivery]\nenabled = false\nname_servers = [\"{}\"]\n", dns.addr()),
            ..Opts::default()
        },
    );
    let key_a = server.api_key.clone();

    // Alone, the default tenant sends as any domain (no setup after init).
    let (st, b) = server.post("/v1/messages", &key_a, &json_message("clinic@anything.example"));
    assert_eq!(st, 202, "the only tenant was refused: {b}");

    // A second tenant closes the gap for both.
    cli_ok(&server, &["tenant", "create", "b"]);
    let key_b = server.create_api_key("b", "send,read-events");
    cli_ok(&server, &["domains", "assert", "a-clinic.example"]);
    cli_ok(&server, &["domains", "assert", "--tenant", "b", "b-own.example"]);
    let listed = cli_ok(&server, &["domains", "list"]);
    assert!(listed.contains("a-clinic.example\tasserted"), "{listed}");
    std::thread::sleep(Duration::from_millis(2100)); // the listeners' cache

    let rows = server.message_rows();
    // B cannot send as A's domain: JSON, batch, raw (envelope or header), SMTP.
    let (st, b) = server.post("/v1/messages", &key_b, &json_message("billing@a-clinic.example"));
    assert_not_owned(st, &b, "a-clinic.example", "from");
    let batch = json!({ "messages": [json_message("x@b-own.example"), json_message("billing@A-Clinic.example")] });
    let (st, b) = server.post("/v1/messages/batch", &key_b, &batch);
    assert_not_owned(st, &b, "a-clinic.example", "messages[1].from");
    let (st, b) = server.post("/v1/messages/raw", &key_b, &raw_body("billing@a-clinic.example", "x@a-clinic.example"));
    assert_not_owned(st, &b, "a-clinic.example", "from");
    let (st, b) =
        server.post("/v1/messages/raw", &key_b, &raw_body("ok@b-own.example", "Billing <billing@a-clinic.example>"));
    assert_not_owned(st, &b, "a-clinic.example", "raw");
    let (ok, t) = smtp_send(&server, &key_b, "billing@a-clinic.example", "billing@a-clinic.example");
    assert!(!ok && t.contains("550 5.7.1 sender domain a-clinic.example is not a sending domain"), "{t}");
    assert!(!t.contains("RCPT TO") && !t.contains("DATA"), "refused at MAIL, before RCPT and DATA:\n{t}");
    let (ok, t) = smtp_send(&server, &key_b, "ok@b-own.example", "billing@a-clinic.example");
    assert!(!ok && t.contains("550 5.7.1 sender domain a-clinic.example"), "header From: checked too:\n{t}");
    assert!(t.contains("~> DATA"), "an own envelope sender passes MAIL; the header is refused after DATA:\n{t}");
    assert_eq!(server.message_rows(), rows, "a refused message was stored");

    // The owners can.
    let (st, b) = server.post("/v1/messages", &key_a, &json_message("billing@a-clinic.example"));
    assert_eq!(st, 202, "{b}");
    let (st, b) = server.post("/v1/messages/raw", &key_b, &raw_body("ok@b-own.example", "ok@B-OWN.example"));
    assert_eq!(st, 202, "{b}");
    let (ok, t) = smtp_send(&server, &key_b, "ok@b-own.example", "ok@b-own.example");
    assert!(ok, "the owner was refused over SMTP:\n{t}");
    // A subdomain is not covered by its parent.
    let (st, b) = server.post("/v1/messages", &key_b, &json_message("x@mail.b-own.example"));
    assert_not_owned(st, &b, "mail.b-own.example", "from");
    // Now that there are two tenants, A's unregistered domains are closed too.
    let (st, b) = server.post("/v1/messages", &key_a, &json_message("clinic@anything.example"));
    assert_not_owned(st, &b, "anything.example", "from");

    // The relay listener sends as its relay tenant (default): A's domains only.
    let mut s = Smtp::connect(server.ports.relay);
    s.expect("EHLO client.example", 250);
    let r = s.try_send("ok@b-own.example", "patient@example.net", &message_from("ok@b-own.example")).expect("send");
    assert_eq!(r.code, 550, "the relay accepted tenant b's domain: {r:?}");
    assert!(r.text().contains("5.7.1"), "{r:?}");
    let r = s
        .try_send("billing@a-clinic.example", "patient@example.net", &message_from("billing@a-clinic.example"))
        .expect("send");
    assert!(r.queued_id().is_some(), "the relay refused its tenant's own domain: {r:?}");
    // The null sender names no domain; its header From: still must be owned.
    let r = s.try_send("", "patient@example.net", &message_from("billing@a-clinic.example")).expect("send");
    assert!(r.queued_id().is_some(), "a bounce from an owned domain was refused: {r:?}");
    let r = s.try_send("", "patient@example.net", &message_from("x@b-own.example")).expect("send");
    assert_eq!(r.code, 550, "a bounce with a foreign header From: was accepted: {r:?}");

    // A domain owned by A cannot be claimed by B.
    let e = cli_err(&server, &["domains", "add", "--tenant", "b", "a-clinic.example"]);
    assert!(e.contains("another tenant"), "{e}");
    let e = cli_err(&server, &["domains", "assert", "--tenant", "b", "a-clinic.example"]);
    assert!(e.contains("another tenant"), "{e}");

    // DNS verification: the TXT record `add` prints, through the configured
    // name servers.
    let out = cli_ok(&server, &["domains", "add", "--tenant", "b", "proven.example"]);
    let record = out.lines().find(|l| l.contains(" IN TXT ")).unwrap_or_else(|| panic!("no TXT line: {out}"));
    assert!(record.starts_with("_sealpost.proven.example. IN TXT \"sealpost-verify="), "{record}");
    let value = record.split('"').nth(1).expect("quoted value").to_owned();
    // No record yet: a precise refusal, and the domain stays pending (not usable).
    let e = cli_err(&server, &["domains", "verify", "--tenant", "b", "proven.example"]);
    assert!(e.contains("no TXT record") && e.contains("_sealpost.proven.example"), "{e}");
    // A record with another token.
    dns.set_zone(Zone::new().txt("_sealpost.proven.example", "sealpost-verify=not-the-token"));
    let e = cli_err(&server, &["domains", "verify", "--tenant", "b", "proven.example"]);
    assert!(e.contains("does not carry this domain's token"), "{e}");
    let (st, b) = server.post("/v1/messages", &key_b, &json_message("x@proven.example"));
    assert_not_owned(st, &b, "proven.example", "from");
    // The right record.
    dns.set_zone(Zone::new().txt("_sealpost.proven.example", &value));
    let out = cli_ok(&server, &["domains", "verify", "--tenant", "b", "proven.example"]);
    assert!(out.contains("proven.example\tverified"), "{out}");
    std::thread::sleep(Duration::from_millis(2100));
    let (st, b) = server.post("/v1/messages", &key_b, &json_message("x@proven.example"));
    assert_eq!(st, 202, "{b}");
    // ... and A cannot take it over, even with the same record in place.
    let e = cli_err(&server, &["domains", "add", "proven.example"]);
    assert!(e.contains("another tenant"), "{e}");

    // The same through the API (admin scope).
    let (st, b) = server.post("/v1/domains", &key_a, &json!({ "domain": "proven.example" }));
    assert_eq!((st, b["error"]["code"].as_str()), (409, Some("domain_owned")), "{b}");
    let (st, b) = server.post("/v1/domains", &key_a, &json!({ "domain": "Api-Added.example" }));
    assert_eq!(st, 201, "{b}");
    assert_eq!((b["domain"].as_str(), b["state"].as_str()), (Some("api-added.example"), Some("pending")), "{b}");
    assert_eq!(b["txt"]["name"], "_sealpost.api-added.example", "{b}");
    let (st, b) = server.post("/v1/domains/api-added.example/verify", &key_a, &json!({}));
    assert_eq!((st, b["error"]["code"].as_str()), (422, Some("domain_not_verified")), "{b}");
    let (st, body) = server.get("/v1/domains", &key_a);
    let listed: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(st, 200, "{listed}");
    let states: Vec<(String, String)> = listed["domains"]
        .as_array()
        .expect("domains")
        .iter()
        .map(|d| (d["domain"].as_str().unwrap_or("").to_owned(), d["state"].as_str().unwrap_or("").to_owned()))
        .collect();
    assert_eq!(
        states,
        [
            ("a-clinic.example".to_owned(), "asserted".to_owned()),
            ("api-added.example".to_owned(), "pending".to_owned())
        ]
    );
    let (st, _) = server.post("/v1/domains", &key_b, &json!({ "domain": "x.example" }));
    assert_eq!(st, 403, "a send key managed domains");

    // Removing frees nothing for others until it is gone; then B is refused.
    cli_ok(&server, &["domains", "remove", "--tenant", "b", "proven.example"]);
    std::thread::sleep(Duration::from_millis(2100));
    let (st, b) = server.post("/v1/messages", &key_b, &json_message("x@proven.example"));
    assert_not_owned(st, &b, "proven.example", "from");

    // Every change is audited, without the domain's name.
    for action in ["domain.added", "domain.verified", "domain.asserted", "domain.removed"] {
        assert!(server.count_action(action) > 0, "no {action} event");
    }
    let events = serde_json::to_string(&server.audit_events()).expect("json");
    assert!(
        !events.contains("proven.example") && !events.contains("a-clinic.example"),
        "a domain name in the audit log"
    );
    let (code, report) = server.audit_verify();
    assert_eq!(code, 0, "{report}");
}

both_backends!(sending_domains => sending_domains_embedded, sending_domains_scale_out);
