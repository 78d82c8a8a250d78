//! Health, readiness and Prometheus metrics (issue 12, R-OP-3): `/livez` and
//! `/readyz` answer without a key and say one word per check; `/metrics`
//! wants an admin key on the HTTPS API, or a loopback-only plain listener;
//! the counters move with mail sent over SMTP and the API and delivered to
//! in-process receivers (verified TLS, plain, portal, refused, deferred);
//! the text passes `promtool check metrics` and holds no address, subject,
//! body text or tenant; `SEALPOST_LOG_FORMAT=json` logs JSON lines.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{BIN, Backend, Opts, Server, relay_send, wait_until};
use sealpost_testkit::{DnsServer, ReceiverOptions, SmtpReceiver, TestCa, Zone, free_port};
use serde_json::{Value, json};

const SSN: &str = "078-05-1120";
const DIAGNOSIS: &str = "Acute Xylophonic Encephalitis";
const SUBJECT: &str = "Quarterly Wombat Review";
const BODY: &str = "Bring the periwinkle folders to the meeting.";
const TENANT: &str = "riverside";
const TENANT_NAME: &str = "Riverside Family Practice";

/// One sample line: metric name and labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Series {
    name: String,
    labels: BTreeMap<String, String>,
}

/// Parses the exposition's sample lines (our label values hold no commas,
/// quotes or braces).
fn parse(text: &str) -> BTreeMap<Series, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad sample line {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|e| panic!("bad value in {line:?}: {e}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').unwrap_or_else(|| panic!("bad labels in {line:?}"));
                let labels = inner
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once('=').unwrap_or_else(|| panic!("bad label in {line:?}"));
                        (k.to_owned(), v.trim_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
            None => (series.to_owned(), BTreeMap::new()),
        };
        out.insert(Series { name, labels }, value);
    }
    out
}

/// The value of `name` with exactly `labels` (0 when absent: a counter not yet moved).
fn value(samples: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let want = Series {
        name: name.to_owned(),
        labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
    };
    samples.get(&want).copied().unwrap_or(0.0)
}

/// The sum of `name` over every label set.
fn total(samples: &BTreeMap<Series, f64>, name: &str) -> f64 {
    samples.iter().filter(|(s, _)| s.name == name).map(|(_, v)| v).sum()
}

fn has(samples: &BTreeMap<Series, f64>, name: &str) -> bool {
    samples.keys().any(|s| s.name == name)
}

/// GET /metrics with the admin key; asserts 200 and the content type.
fn scrape(server: &Server) -> String {
    let r = server.http().get(server.url("/metrics")).bearer_auth(&server.api_key).send().expect("GET /metrics");
    assert_eq!(r.status().as_u16(), 200);
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "content type {ct:?}");
    r.text().expect("metrics text")
}

fn get_status(url: &str, key: Option<&str>) -> (u16, String) {
    let client = common::http_client();
    let mut req = client.get(url);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let r = req.send().expect("GET");
    (r.status().as_u16(), r.text().unwrap_or_default())
}

/// `promtool check metrics` (Debian `prometheus`, from scripts/setup-test-env.sh).
fn promtool_check(text: &str) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (scripts/setup-test-env.sh installs the prometheus package)");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn send_json(server: &Server, key: &str, body: Value) -> String {
    let (st, b) = server.post("/v1/messages", key, &body);
    assert_eq!(st, 202, "{b}");
    b["id"].as_str().expect("id").to_owned()
}

#[test]
fn health_answers_without_a_key_and_metrics_need_an_admin_key() {
    let server = Server::start(Backend::Embedded);
    let (st, body) = get_status(&server.url("/livez"), None);
    assert_eq!((st, body.as_str()), (200, "ok"));
    let (st, body) = get_status(&server.url("/readyz"), None);
    assert_eq!(st, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("readyz JSON");
    assert_eq!(
        v,
        json!({"status": "ready", "checks": {"store": "ok", "migrations": "ok", "keys": "ok", "workers": "ok"}}),
        "one word per check, nothing else"
    );
    let (st, body) = get_status(&server.url("/healthz"), None);
    assert_eq!((st, body.as_str()), (200, "ok"), "the old endpoint still answers");

    let (st, _) = get_status(&server.url("/metrics"), None);
    assert_eq!(st, 401, "no key");
    let (st, _) = get_status(&server.url("/metrics"), Some("sp_00000000000000000000000000000000_nope"));
    assert_eq!(st, 401, "a wrong key");
    let sender = server.create_api_key(&server.tenant, "send");
    let (st, _) = get_status(&server.url("/metrics"), Some(&sender));
    assert_eq!(st, 403, "a key without the admin scope");
    // SMTP AUTH with a wrong key.
    let (ok, t) = common::swaks(&[
        "--server",
        &format!("127.0.0.1:{}", server.ports.starttls),
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "apikey",
        "--auth-password",
        "sp_00000000000000000000000000000000_wrong",
        "--quit-after",
        "AUTH",
    ]);
    assert!(!ok && t.contains("535"), "a wrong key is refused:\n{t}");
    let samples = parse(&scrape(&server));
    let failures = |listener: &str, kind: &str| {
        value(&samples, "sealpost_auth_failures_total", &[("listener", listener), ("kind", kind)])
    };
    assert_eq!((failures("api", "invalid"), failures("api", "scope")), (2.0, 1.0));
    assert_eq!((failures("smtp", "invalid"), failures("smtp", "locked_out")), (1.0, 0.0));
}

both_backends!(counters_move_with_mail_and_the_text_names_no_one => counters_move_embedded, counters_move_scaleout);

fn counters_move_with_mail_and_the_text_names_no_one(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new().expect("ca");
    let ca_path = ca.write_cert(dir.path()).expect("ca file");
    let (cert, key) = ca.issue_chain(&["mx.good.test"]).expect("leaf");
    let good = SmtpReceiver::start(ReceiverOptions { tls: Some((cert, key)), ..ReceiverOptions::default() })
        .expect("verified TLS receiver");
    let open = SmtpReceiver::start(ReceiverOptions::default()).expect("plain receiver");
    let refuse = SmtpReceiver::start(ReceiverOptions {
        rcpt_reply: Some("550 5.1.1 no such mailbox".into()),
        ..ReceiverOptions::default()
    })
    .expect("refusing receiver");
    let later = SmtpReceiver::start(ReceiverOptions {
        rcpt_reply: Some("451 4.3.0 try again later".into()),
        ..ReceiverOptions::default()
    })
    .expect("deferring receiver");
    let sender_box = SmtpReceiver::start(ReceiverOptions::default()).expect("sender's receiver");
    let dns = DnsServer::start(Zone::new().a("mx.good.test", std::net::Ipv4Addr::LOCALHOST)).expect("dns");
    let extra_toml = format!(
        r#"
[delivery]
enabled = true
name_servers = ["{dns}"]
# The test zone points MX hosts at loopback (issue 13.10: not without this).
allow_internal_mx = ["127.0.0.0/8", "::1"]
extra_ca_files = ["{ca}"]
retry_base_seconds = 1
notice_from = "no-reply@clinic.test"

[delivery.routes]
"good.test" = "mx.good.test:{good}"
"open.test" = "127.0.0.1:{open}"
"refuse.test" = "127.0.0.1:{refuse}"
"later.test" = "127.0.0.1:{later}"
"clinic.test" = "127.0.0.1:{sender}"
"#,
        dns = dns.addr(),
        ca = ca_path.display(),
        good = good.addr().port(),
        open = open.addr().port(),
        refuse = refuse.addr().port(),
        later = later.addr().port(),
        sender = sender_box.addr().port(),
    );
    let server = Server::start_with(backend, Opts { extra_toml, ..Opts::default() });
    let out = server.cli(&["tenant", "create", TENANT, "--name", TENANT_NAME]);
    assert!(out.status.success(), "{}", common::text(&out));
    let other_key = server.create_api_key(TENANT, "send");
    // With two tenants, each sends only as its own domains (issue 13.9).
    for (domain, tenant) in [("clinic.test", "default"), ("other-clinic.test", TENANT)] {
        let out = server.cli(&["domains", "assert", domain, "--tenant", tenant]);
        assert!(out.status.success(), "{}", common::text(&out));
    }

    let before = parse(&scrape(&server));
    let phi = format!("Patient SSN {SSN}. Diagnosis: {DIAGNOSIS}, ICD-10 J45.909.");
    let msg = |to: &str, text: &str| json!({"from": "office@clinic.test", "to": to, "subject": SUBJECT, "text": text});
    let admin = server.api_key.clone();
    // API, default tenant: verified TLS, portal (PHI, no TLS), refused, deferred.
    let tls = send_json(&server, &admin, msg("alice@good.test", &phi));
    let portal = send_json(&server, &admin, msg("dora@open.test", &phi));
    let bounced = send_json(&server, &admin, msg("erin@refuse.test", BODY));
    let deferred = send_json(&server, &admin, msg("fred@later.test", BODY));
    // API, another tenant: plain.
    let mut other_msg = msg("rita@open.test", BODY);
    other_msg["from"] = json!("office@other-clinic.test");
    send_json(&server, &other_key, other_msg);
    // Raw API: plain.
    let raw = format!("From: office@clinic.test\r\nTo: bob@open.test\r\nSubject: {SUBJECT}\r\n\r\n{BODY}\r\n");
    let (st, b) = server.post(
        "/v1/messages/raw",
        &admin,
        &json!({"from": "office@clinic.test", "to": ["bob@open.test"],
                "raw": base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())}),
    );
    assert_eq!(st, 202, "{b}");
    // SMTP (relay listener): plain.
    relay_send(server.ports.relay, "office@clinic.test", "carl@open.test", raw.replace("bob@", "carl@").as_bytes());

    // Delivered: alice over verified TLS; dora by the portal (and her
    // notification, plain); bob, carl, rita plain; erin's failure notice
    // to the sender, plain. Notices are not accepted messages.
    let delivered = |s: &BTreeMap<Series, f64>, method: &str| {
        value(s, "sealpost_deliveries_delivered_total", &[("method", method), ("stream", "transactional")])
            - value(&before, "sealpost_deliveries_delivered_total", &[("method", method), ("stream", "transactional")])
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    let samples = loop {
        let s = parse(&scrape(&server));
        let done = delivered(&s, "tls") >= 1.0
            && delivered(&s, "portal") >= 1.0
            && delivered(&s, "opportunistic") >= 5.0
            && value(&s, "sealpost_deliveries_bounced_total", &[("reason", "failed"), ("stream", "transactional")])
                >= 1.0
            && value(&s, "sealpost_queue_recipients", &[("stream", "transactional"), ("state", "deferred")]) >= 1.0
            && value(&s, "sealpost_index_lag_messages", &[]) == 0.0;
        if done {
            break s;
        }
        assert!(Instant::now() < deadline, "metrics did not move in 90 s; states: {:?}", {
            [&tls, &portal, &bounced, &deferred].map(|id| server.api_state(id)["recipients"][0]["state"].clone())
        });
        std::thread::sleep(Duration::from_millis(500));
    };
    // Let stray work settle, then read once more: the amounts are exact.
    std::thread::sleep(Duration::from_secs(1));
    let text = scrape(&server);
    let samples = {
        let again = parse(&text);
        assert!(delivered(&again, "tls") >= delivered(&samples, "tls"));
        again
    };
    let accepted = |source: &str| {
        let l = [("source", source), ("stream", "transactional")];
        value(&samples, "sealpost_messages_accepted_total", &l) - value(&before, "sealpost_messages_accepted_total", &l)
    };
    assert_eq!((accepted("api"), accepted("api-raw"), accepted("smtp")), (5.0, 1.0, 1.0), "accepted by source");
    assert_eq!(delivered(&samples, "tls"), 1.0);
    assert_eq!(delivered(&samples, "portal"), 1.0);
    assert_eq!(delivered(&samples, "opportunistic"), 5.0);
    assert_eq!(delivered(&samples, "pgp") + delivered(&samples, "smime"), 0.0);
    assert_eq!(
        value(&samples, "sealpost_deliveries_bounced_total", &[("reason", "failed"), ("stream", "transactional")]),
        1.0
    );
    assert!(value(&samples, "sealpost_deliveries_deferred_total", &[("stream", "transactional")]) >= 1.0);
    assert_eq!(
        value(&samples, "sealpost_delivery_latency_seconds_count", &[("method", "tls"), ("stream", "transactional")]),
        1.0
    );
    assert!(value(&samples, "sealpost_queue_oldest_age_seconds", &[("stream", "transactional")]) > 0.0);
    assert_eq!(value(&samples, "sealpost_queue_recipients", &[("stream", "marketing"), ("state", "queued")]), 0.0);
    assert!(value(&samples, "sealpost_index_messages_total", &[]) >= 7.0, "every accepted message was indexed");
    assert!(has(&samples, "sealpost_webhook_backlog_events"));
    // The group committer's histograms have samples.
    for (name, labels) in [
        ("sealpost_store_commit_latency_seconds_count", &[][..]),
        ("sealpost_store_batch_duration_seconds_count", &[][..]),
        ("sealpost_store_batch_commits_count", &[][..]),
        ("sealpost_store_fsync_seconds_count", &[("stage", "blobs")][..]),
        ("sealpost_store_fsync_seconds_count", &[("stage", "database")][..]),
    ] {
        assert!(value(&samples, name, labels) > value(&before, name, labels), "{name} {labels:?} did not move");
    }
    assert!(total(&samples, "sealpost_store_batch_commits_bucket") > 0.0, "batch sizes are a histogram");

    // A retention run over the API counts.
    let (st, b) = server.post("/v1/retention/run", &admin, &json!({}));
    assert_eq!(st, 200, "{b}");
    let after_run = parse(&scrape(&server));
    assert_eq!(value(&after_run, "sealpost_retention_runs_total", &[("result", "success")]), 1.0);
    assert!(has(&after_run, "sealpost_retention_messages_total"));

    // Nothing that names anyone: addresses, domains, subjects, bodies, tenants.
    let text = scrape(&server);
    for needle in [
        "@",
        "alice",
        "dora",
        "erin",
        "fred",
        "rita",
        "bob",
        "carl",
        "office",
        "good.test",
        "open.test",
        "refuse.test",
        "later.test",
        "clinic.test",
        SUBJECT,
        "Wombat",
        BODY,
        "periwinkle",
        SSN,
        DIAGNOSIS,
        "Xylophonic",
        TENANT,
        TENANT_NAME,
        "Riverside",
        "Default organization",
        "\"default\"",
    ] {
        assert!(!text.contains(needle), "{needle:?} appears in the metrics text");
    }
    promtool_check(&text);
}

#[test]
fn the_plain_metrics_listener_is_loopback_only() {
    // Served on loopback, without a key; the HTTPS route can be turned off.
    let port = free_port();
    let extra_toml = format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\napi = false\n");
    let mut server = Server::start_with(Backend::Embedded, Opts { extra_toml, ..Opts::default() });
    let url = format!("http://127.0.0.1:{port}/metrics");
    let r = common::http_client().get(&url).send().expect("GET plain /metrics");
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().expect("text");
    assert!(text.contains("sealpost_store_commit_latency_seconds_count"), "{text}");
    let (st, _) = get_status(&format!("http://127.0.0.1:{port}/readyz"), None);
    assert_eq!(st, 200);
    let (st, _) = get_status(&server.url("/metrics"), Some(&server.api_key));
    assert_eq!(st, 404, "api = false: not on the HTTPS API");
    assert!(server.serve_log().contains("metrics (plain HTTP, loopback)"), "{}", server.serve_log());

    // Any other address is refused when the configuration is loaded.
    server.stop();
    let config = server.data_dir().join("sealpost.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    let wild = free_port();
    std::fs::write(&config, text.replace(&format!("127.0.0.1:{port}\""), &format!("0.0.0.0:{wild}\"")))
        .expect("write config");
    let mut child = Command::new(BIN)
        .arg("--data")
        .arg(server.data_dir())
        .arg("serve")
        .env("SEALPOST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve started with a non-loopback metrics listener");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!status.success());
    assert!(err.contains(&format!("metrics listen 0.0.0.0:{wild}")) && err.contains("loopback"), "{err}");
}

#[test]
fn json_log_format_writes_json_lines() {
    let mut server = Server::start(Backend::Embedded);
    server.stop();
    let log_path = server.data_dir().join("logs/serve-json.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(BIN)
        .arg("--data")
        .arg(server.data_dir())
        .arg("serve")
        // Debug: the start writes some lines at that level (info has none).
        .env("SEALPOST_LOG", "debug")
        .env("SEALPOST_LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log"))
        .stderr(log)
        .spawn()
        .expect("spawn serve");
    let banner = |l: &str| l.starts_with("Sealpost is running") || l.starts_with("  ") || l.starts_with("Log in");
    wait_until(Duration::from_secs(60), "the start banner", || {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        text.lines().any(|l| l.starts_with("Log in")) || child.try_wait().ok().flatten().is_some()
    });
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log_path).expect("log");
    let lines: Vec<&str> = text.lines().filter(|l| !banner(l)).collect();
    assert!(!lines.is_empty(), "no log lines: {text}");
    for line in lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string() && v["fields"].is_object(), "{v}");
    }
}
