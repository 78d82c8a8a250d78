//! Webhooks (R-OP-1): a receiver on loopback (HTTPS, allowed by
//! `[webhooks] allow_hosts`) gets per-recipient events, signed Standard
//! Webhooks style (verified with the `standardwebhooks` library), retried
//! after a failure, with no PHI in the payload. Issue 13.10: plain HTTP and
//! internal addresses are refused at registration, a name that resolves to
//! loopback is refused at delivery, and redirects are not followed.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, Opts, Server};
use sealpost_testkit::{HttpsServer, Route, Script, ScriptedServer, TestCa, free_port, wait_for_port};
use serde_json::{Value, json};

const RECEIVER: &str = r#"
import json, ssl, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from standardwebhooks.webhooks import Webhook
port, secret, out, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
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
server = HTTPServer(("127.0.0.1", port), H)
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(cert, key)
server.socket = tls.wrap_socket(server.socket, server_side=True)
server.serve_forever()
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
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new().expect("ca");
    let (cert, key) = ca.issue(&["127.0.0.1"]).expect("certificate");
    let cert_file = sealpost_testkit::write_pem(dir.path(), "cert.pem", &cert).expect("cert");
    let key_file = sealpost_testkit::write_pem(dir.path(), "key.pem", &key).expect("key");
    let extra = format!(
        "\n[delivery]\nenabled = true\n\n[delivery.routes]\n\"hooks.test\" = \"127.0.0.1:{}\"\n{}",
        sink.addr().port(),
        webhooks_toml(&["127.0.0.1"], &ca, dir.path()),
    );
    let server = Server::start_with(Backend::Embedded, Opts { extra_toml: extra, ..Opts::default() });
    let port = free_port();
    let (st, b) =
        server.post("/v1/webhooks", &server.api_key, &json!({"url": format!("https://127.0.0.1:{port}/hook")}));
    assert_eq!(st, 201, "{b}");
    let secret = b["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    let (st, b) = server.post("/v1/webhooks", &server.api_key, &json!({"url": "http://hooks.example.org/x"}));
    assert_eq!((st, b["error"]["field"].as_str()), (400, Some("url")), "plain HTTP must be refused: {b}");

    let out = dir.path().join("received.jsonl");
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv-test/bin/python");
    let mut receiver = std::process::Command::new(python)
        .args(["-c", RECEIVER, &port.to_string(), &secret])
        .arg(&out)
        .arg(&cert_file)
        .arg(&key_file)
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

/// A `[webhooks]` table allowing `hosts` and trusting `ca` (written into `dir`).
fn webhooks_toml(hosts: &[&str], ca: &TestCa, dir: &std::path::Path) -> String {
    let ca_file = ca.write_cert(dir).expect("ca file");
    format!("\n[webhooks]\nallow_hosts = {hosts:?}\nextra_ca_files = [{:?}]\n", ca_file.display().to_string())
}

fn add_webhook(server: &Server, url: &str) -> (u16, Value) {
    server.post("/v1/webhooks", &server.api_key, &json!({ "url": url }))
}

/// Delivery on (the webhook worker runs with it), mail for hooks.test to a
/// closed port: its `accepted` and `deferred` events are what webhooks get.
const DELIVERY: &str = "\n[delivery]\nenabled = true\n\n[delivery.routes]\n\"hooks.test\" = \"127.0.0.1:1\"\n";

/// Sends one message through the API.
fn send_one(server: &Server) {
    let (st, b) = server.post(
        "/v1/messages",
        &server.api_key,
        &json!({"from": "office@clinic.test", "to": "jane.doe@hooks.test", "subject": "Knee surgery", "text": "Hi."}),
    );
    assert_eq!(st, 202, "{b}");
}

/// `sealpost_webhook_posts_total{result="…"}` from `/metrics`.
fn posts(server: &Server, result: &str) -> f64 {
    let text = server
        .http()
        .get(server.url("/metrics"))
        .bearer_auth(&server.api_key)
        .send()
        .expect("GET /metrics")
        .text()
        .expect("metrics text");
    let series = format!("sealpost_webhook_posts_total{{result=\"{result}\"}}");
    text.lines().filter_map(|l| l.strip_prefix(series.as_str())).filter_map(|v| v.trim().parse::<f64>().ok()).sum()
}

fn refused(st: u16, b: &Value) -> bool {
    st == 400 && b["error"]["field"] == "url"
}

#[test]
fn registration_refuses_plain_http_and_internal_addresses_unless_allowed() {
    let server = Server::start(Backend::Embedded);
    for url in [
        "http://hooks.example.org/x",
        "http://127.0.0.1:9000/hook",
        "https://127.0.0.1:9000/hook",
        "https://10.0.0.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[fd00:ec2::254]/",
        "https://localhost:9000/",
        "https://100.64.0.1/",
    ] {
        let (st, b) = add_webhook(&server, url);
        assert!(refused(st, &b), "{url} must be refused: {st} {b}");
        assert!(!b["error"]["message"].as_str().unwrap_or_default().is_empty(), "{b}");
    }
    let (st, b) = add_webhook(&server, "https://127.0.0.1:9000/hook");
    let message = b["error"]["message"].as_str().unwrap_or_default();
    assert!(refused(st, &b) && message.contains("loopback") && message.contains("allow_hosts"), "{b}");
    let (st, b) = add_webhook(&server, "https://hooks.example.org/x");
    assert_eq!(st, 201, "a public HTTPS endpoint is fine: {b}");
    drop(server);

    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new().expect("ca");
    let extra = webhooks_toml(&["127.0.0.1", "10.0.0.0/8"], &ca, dir.path());
    let server = Server::start_with(Backend::Embedded, Opts { extra_toml: extra, ..Opts::default() });
    for url in ["https://127.0.0.1:9000/hook", "https://10.0.0.1/"] {
        let (st, b) = add_webhook(&server, url);
        assert_eq!(st, 201, "{url} is allowed by the configuration: {b}");
    }
    for url in ["http://127.0.0.1:9000/hook", "https://169.254.169.254/", "https://[::1]/", "https://192.168.1.1/"] {
        let (st, b) = add_webhook(&server, url);
        assert!(refused(st, &b), "{url} must still be refused: {st} {b}");
    }
}

#[test]
fn a_name_that_resolves_to_loopback_is_refused_at_delivery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new().expect("ca");
    let (cert, key) = ca.issue(&["localhost"]).expect("certificate");
    let receiver = HttpsServer::start(&cert, &key, [Route::new("/hook", 200, "text/plain", "ok")]).expect("https");
    let url = format!("https://localhost:{}/hook", receiver.addr().port());

    // Allowed by name: registered, and an event arrives (so the receiver,
    // its certificate and the event all work).
    let extra = DELIVERY.to_owned() + &webhooks_toml(&["localhost"], &ca, dir.path());
    let mut server = Server::start_with(Backend::Embedded, Opts { extra_toml: extra, ..Opts::default() });
    let (st, b) = add_webhook(&server, &url);
    assert_eq!(st, 201, "{b}");
    send_one(&server);
    common::wait_until(Duration::from_secs(30), "the allowed endpoint gets the event", || {
        !receiver.requests().is_empty()
    });
    common::wait_until(Duration::from_secs(10), "the post is recorded as delivered", || {
        posts(&server, "delivered") >= 1.0
    });
    let before = receiver.requests().len();

    // The same endpoint once the installation no longer allows it: the name
    // still resolves to 127.0.0.1, and nothing may reach it.
    server.stop();
    let config = server.data_dir().join("sealpost.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, text.replace("allow_hosts = [\"localhost\"]", "allow_hosts = []")).expect("config");
    server.start_again();
    send_one(&server);
    common::wait_until(Duration::from_secs(30), "a post attempt after the restart", || {
        posts(&server, "retry") + posts(&server, "failed") + posts(&server, "delivered") >= 1.0
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.requests().len(), before, "a refused endpoint got a request: {:?}", receiver.requests());
    assert_eq!(posts(&server, "delivered"), 0.0, "a refused endpoint counted as delivered");
    assert!(posts(&server, "retry") >= 1.0, "the refusal is recorded as a failed attempt, retried later");
    let log = server.serve_log();
    assert!(log.contains("loopback"), "the refusal is logged with its reason: {log}");
    for phi in ["jane.doe", "Knee"] {
        assert!(!log.contains(phi), "the log carries {phi:?}");
    }
}

#[test]
fn redirects_are_not_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new().expect("ca");
    let (cert, key) = ca.issue(&["127.0.0.1"]).expect("certificate");
    let target = HttpsServer::start(&cert, &key, [Route::new("/", 200, "text/plain", "ok")]).expect("https");
    let location = format!("https://127.0.0.1:{}/stolen", target.addr().port());
    let hook = HttpsServer::start(&cert, &key, [Route::redirect("/hook", 307, &location)]).expect("https");
    let extra = DELIVERY.to_owned() + &webhooks_toml(&["127.0.0.1"], &ca, dir.path());
    let server = Server::start_with(Backend::Embedded, Opts { extra_toml: extra, ..Opts::default() });
    let (st, b) = add_webhook(&server, &format!("https://127.0.0.1:{}/hook", hook.addr().port()));
    assert_eq!(st, 201, "{b}");
    send_one(&server);
    common::wait_until(Duration::from_secs(30), "the endpoint answers the post with a redirect", || {
        hook.requests().iter().any(|r| r.starts_with("POST /hook"))
    });
    common::wait_until(Duration::from_secs(10), "the attempt is recorded", || {
        posts(&server, "retry") + posts(&server, "delivered") >= 1.0
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(target.requests().is_empty(), "the redirect was followed: {:?}", target.requests());
    assert_eq!(posts(&server, "delivered"), 0.0, "a redirect is not a delivery");
}
