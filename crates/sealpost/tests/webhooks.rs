//! Webhooks (R-OP-1): a receiver on loopback gets per-recipient events,
//! signed Standard Webhooks style (verified with the `standardwebhooks`
//! library), retried after a failure, with no PHI in the payload.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, Opts, Server};
use sealpost_testkit::{Script, ScriptedServer, free_port, wait_for_port};
use serde_json::{Value, json};

const RECEIVER: &str = r#"
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from standardwebhooks.webhooks import Webhook
port, secret, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
hook = Webhook(secret)
seen = {"n": 0}
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        seen["n"] += 1
        try:
            hook.verify(body, dict(self.headers))
            ok = True
        except Exception as e:
            ok = False
        with open(out, "a") as f:
            f.write(json.dumps({"id": self.headers.get("webhook-id"), "verified": ok, "body": body.decode()}) + "\n")
        self.send_response(500 if seen["n"] == 1 else 200)
        self.end_headers()
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", port), H).serve_forever()
"#;

#[test]
fn delivery_events_reach_a_webhook_signed_retried_and_phi_free() {
    let sink = ScriptedServer::start(vec![
        Script::smtp_greeting()
            .expect("MAIL FROM:")
            .send("250 ok\r\n")
            .expect("RCPT TO:")
            .send("250 ok\r\n")
            .expect("DATA")
            .send("354 go\r\n")
            .read_data()
            .send("250 queued\r\n")
            .expect("QUIT")
            .send("221 bye\r\n"),
    ])
    .expect("sink");
    let extra = format!(
        "\n[delivery]\nenabled = true\n\n[delivery.routes]\n\"hooks.test\" = \"127.0.0.1:{}\"\n",
        sink.addr().port()
    );
    let server = Server::start_with(Backend::Embedded, Opts { extra_toml: extra, ..Opts::default() });
    let port = free_port();
    let (st, b) =
        server.post("/v1/webhooks", &server.api_key, &json!({"url": format!("http://127.0.0.1:{port}/hook")}));
    assert_eq!(st, 201, "{b}");
    let secret = b["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    let (st, b) = server.post("/v1/webhooks", &server.api_key, &json!({"url": "http://hooks.example.org/x"}));
    assert_eq!((st, b["error"]["field"].as_str()), (400, Some("url")), "plain HTTP off loopback must be refused: {b}");

    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("received.jsonl");
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv-test/bin/python");
    let mut receiver = std::process::Command::new(python)
        .args(["-c", RECEIVER, &port.to_string(), &secret])
        .arg(&out)
        .spawn()
        .expect("python receiver (scripts/setup-test-env.sh installs standardwebhooks)");
    assert!(wait_for_port(std::net::SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(20)), "receiver up");

    let (st, b) = server.post(
        "/v1/messages",
        &server.api_key,
        &json!({"from": "office@clinic.test", "to": "jane.doe@hooks.test", "subject": "Knee surgery follow-up", "text": "See you soon."}),
    );
    assert_eq!(st, 202, "{b}");
    let id = b["id"].as_str().expect("id").to_owned();

    let end = Instant::now() + Duration::from_secs(60);
    let mut lines: Vec<Value> = Vec::new();
    while Instant::now() < end {
        lines = std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        // accepted (refused once, then retried) and delivered.
        if lines.len() >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = receiver.kill();
    let _ = receiver.wait();
    assert!(lines.len() >= 3, "expected a failed attempt, its retry and one more event, got {lines:?}");
    assert!(
        lines[1..].iter().any(|l| l["id"] == lines[0]["id"]),
        "the refused event is retried with the same webhook-id"
    );
    for l in &lines {
        assert_eq!(l["verified"], true, "standardwebhooks rejected the signature: {l}");
        let body = l["body"].as_str().expect("body");
        for secret in ["jane.doe", "Knee", "See you soon"] {
            assert!(!body.contains(secret), "payload carries {secret:?}: {body}");
        }
    }
    let events: Vec<Value> =
        lines[1..].iter().map(|l| serde_json::from_str(l["body"].as_str().expect("body")).expect("json")).collect();
    let mut types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    types.sort();
    assert_eq!(types, ["message.accepted", "message.delivered"], "{events:?}");
    for e in &events {
        assert_eq!(e["data"]["message_id"], id.as_str(), "{e}");
    }
}
