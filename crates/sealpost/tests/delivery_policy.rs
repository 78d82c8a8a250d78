//! Delivery policy and queue behaviour beyond the method decision (issue 3,
//! R-DL-2, R-DL-4, R-DL-5, R-CL-2/3): tenant settings through the API and
//! the CLI, per-domain and per-message policies, category rules, the two
//! streams with their own source addresses, connection reuse,
//! per-destination connection limits, delay notices, and REQUIRETLS
//! (RFC 8689) end to end against in-process receivers.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Backend, Opts, Server};
use sealpost_testkit::{DnsServer, ReceiverOptions, SmtpReceiver, TestCa, Zone};
use serde_json::{Value, json};

fn start(extra_toml: String) -> Server {
    Server::start_with(Backend::Embedded, Opts { extra_toml, ..Opts::default() })
}

fn send(server: &Server, body: Value) -> String {
    let (st, b) = server.post("/v1/messages", &server.api_key, &body);
    assert_eq!(st, 202, "{b}");
    b["id"].as_str().expect("id").to_owned()
}

fn plain_receiver() -> SmtpReceiver {
    SmtpReceiver::start(ReceiverOptions::default()).expect("receiver")
}

fn all_data(r: &SmtpReceiver) -> String {
    r.sessions()
        .iter()
        .flat_map(|s| s.transactions.iter())
        .map(|t| String::from_utf8_lossy(&t.data).into_owned())
        .collect::<Vec<_>>()
        .join("\n----\n")
}

fn put_settings(server: &Server, body: &Value) -> (u16, Value) {
    let r = server
        .http()
        .put(server.url("/v1/settings"))
        .bearer_auth(&server.api_key)
        .json(body)
        .send()
        .expect("PUT settings");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

#[test]
fn tenant_domain_and_message_policies_and_category_rules_apply() {
    let open = plain_receiver();
    let server = start(format!(
        r#"
[delivery]
enabled = true
retry_base_seconds = 1
notice_from = "no-reply@clinic.test"

[delivery.routes]
"portal.test" = "127.0.0.1:{p}"
"open.test" = "127.0.0.1:{p}"
"#,
        p = open.addr().port()
    ));

    // Bad settings are refused with the field named, and change nothing.
    let (st, b) = put_settings(&server, &json!({"mrn_patterns": ["("]}));
    assert_eq!((st, b["error"]["field"].as_str()), (400, Some("mrn_patterns")), "{b}");
    let (st, b) = put_settings(&server, &json!({"policy": "plaintext"}));
    assert_eq!(st, 400, "{b}");
    let settings = json!({
        "domain_policies": {"portal.test": "portal-always"},
        "category_rules": [{"sender": "@news.clinic.test", "category": "marketing"}],
        "dictionary": ["Quokka Lagoon"],
        "mrn_patterns": ["ACCT-\\d{6}"],
    });
    let (st, b) = put_settings(&server, &settings);
    assert_eq!(st, 200, "{b}");
    let (st, got) = server.get("/v1/settings", &server.api_key);
    let got: Value = serde_json::from_slice(&got).expect("settings JSON");
    assert_eq!((st, &got["domain_policies"]["portal.test"]), (200, &json!("portal-always")));
    let shown = server.cli(&["settings", "show"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("\"portal.test\": \"portal-always\""));

    let msg = |to: &str, text: &str| json!({"from": "office@clinic.test", "to": to, "subject": "Note", "text": text});
    let by_domain = send(&server, msg("a@portal.test", "domain-policy-body"));
    let mut m = msg("b@open.test", "message-policy-body");
    m["policy"] = json!("portal-always");
    let by_field = send(&server, m);
    let raw = "From: office@clinic.test\r\nTo: c@open.test\r\nSubject: Note\r\nX-Sealpost-Policy: portal-always\r\n\r\nheader-policy-body\r\n";
    let (st, b) = server.post(
        "/v1/messages/raw",
        &server.api_key,
        &json!({"from": "office@clinic.test", "to": ["c@open.test"],
                "raw": base64::engine::general_purpose::STANDARD.encode(raw)}),
    );
    assert_eq!(st, 202, "{b}");
    let by_header = b["id"].as_str().expect("id").to_owned();
    let plain = send(&server, msg("d@open.test", "no-policy-body"));
    // The tenant's dictionary and MRN pattern make these PHI: no verified TLS there, so the portal.
    let by_dictionary = send(&server, msg("f@open.test", "dictionary-body about quokka  lagoon"));
    let by_mrn = send(&server, msg("g@open.test", "mrn-body for ACCT-123456"));
    let news =
        send(&server, json!({"from": "letters@news.clinic.test", "to": "e@open.test", "text": "newsletter-body"}));

    for id in [&by_domain, &by_field, &by_header, &by_dictionary, &by_mrn] {
        let s = server.wait_state(id, "portal", Duration::from_secs(60));
        assert_eq!(s["recipients"][0]["state"], "portal", "{id}: {s}");
    }
    for id in [&plain, &news] {
        let s = server.wait_state(id, "delivered", Duration::from_secs(60));
        assert_eq!(s["recipients"][0]["state"], "delivered", "{id}: {s}");
    }
    assert_eq!(server.api_state(&news)["category"], "marketing", "the tenant's category rule applied");
    assert_eq!(server.api_state(&plain)["category"], "transactional");
    let seen = all_data(&open);
    for body in ["domain-policy-body", "message-policy-body", "header-policy-body", "dictionary-body", "mrn-body"] {
        assert!(!seen.contains(body), "{body} went by SMTP despite a portal policy");
    }
    for body in ["no-policy-body", "newsletter-body"] {
        assert!(seen.contains(body), "{body} was not delivered");
    }
    let changed = server
        .audit_events()
        .into_iter()
        .filter(|e| e["action"] == "config.changed" && e["detail"]["what"] == "tenant-settings")
        .count();
    assert_eq!(changed, 1, "one accepted settings change, audited");
    assert_eq!(server.audit_verify().0, 0);
}

#[test]
fn streams_use_their_source_addresses_and_reuse_connections() {
    let rx = plain_receiver();
    let server = start(format!(
        r#"
[delivery]
enabled = true
connection_cache_seconds = 60

[delivery.routes]
"reuse.test" = "127.0.0.1:{}"

[delivery.streams.transactional]
source_address = "127.0.0.1"

[delivery.streams.marketing]
source_address = "127.0.0.2"
"#,
        rx.addr().port()
    ));
    let mut ids = Vec::new();
    for (i, category) in
        ["transactional", "transactional", "transactional", "marketing", "marketing"].iter().enumerate()
    {
        let id = send(
            &server,
            json!({"from": "office@clinic.test", "to": format!("p{i}@reuse.test"), "text": "hello", "category": category}),
        );
        let s = server.wait_state(&id, "delivered", Duration::from_secs(60));
        assert_eq!(s["recipients"][0]["state"], "delivered", "{s}");
        ids.push(id);
    }
    let sessions = rx.sessions();
    let summary: Vec<(String, usize)> =
        sessions.iter().map(|s| (s.peer.ip().to_string(), s.transactions.len())).collect();
    assert_eq!(
        summary,
        vec![("127.0.0.1".to_owned(), 3), ("127.0.0.2".to_owned(), 2)],
        "one connection per stream, from the stream's source address, reused for each message"
    );
}

/// When each proxied connection opened and when either side first closed it.
type Spans = Arc<Mutex<Vec<(Instant, Option<Instant>)>>>;

/// A TCP proxy that delays each connection's first bytes and records its [`Spans`].
struct CountingProxy {
    addr: SocketAddr,
    spans: Spans,
}

impl CountingProxy {
    fn start(upstream: SocketAddr, delay: Duration) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let spans: Spans = Arc::default();
        let all = spans.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let i = {
                    let mut s = all.lock().expect("spans");
                    s.push((Instant::now(), None));
                    s.len() - 1
                };
                let spans = all.clone();
                std::thread::spawn(move || {
                    let closed = move || {
                        let mut s = spans.lock().expect("spans");
                        s[i].1.get_or_insert_with(Instant::now);
                    };
                    std::thread::sleep(delay);
                    let Ok(server) = TcpStream::connect(upstream) else { return closed() };
                    let pipe = |mut from: TcpStream, mut to: TcpStream, closed: Box<dyn Fn() + Send>| {
                        std::thread::spawn(move || {
                            let mut buf = [0u8; 16384];
                            while let Ok(n) = from.read(&mut buf) {
                                if n == 0 || to.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                            closed();
                            let _ = to.shutdown(std::net::Shutdown::Both);
                            let _ = from.shutdown(std::net::Shutdown::Both);
                        })
                    };
                    let a = pipe(
                        client.try_clone().expect("clone"),
                        server.try_clone().expect("clone"),
                        Box::new(closed.clone()),
                    );
                    let b = pipe(server, client, Box::new(closed));
                    let _ = a.join();
                    let _ = b.join();
                });
            }
        });
        CountingProxy { addr, spans }
    }

    /// The most connections open at one moment. A connection that opens
    /// within 20 ms of another's close is not counted as overlapping it:
    /// the proxy notices a close a moment after the client made it.
    fn max_open(&self) -> usize {
        let spans = self.spans.lock().expect("spans").clone();
        let slack = Duration::from_millis(20);
        spans
            .iter()
            .map(|(start, _)| spans.iter().filter(|(s, e)| s <= start && e.is_none_or(|e| e > *start + slack)).count())
            .max()
            .unwrap_or(0)
    }
}

#[test]
fn a_destination_never_gets_more_connections_than_its_limit() {
    let rx = plain_receiver();
    let proxy = CountingProxy::start(rx.addr(), Duration::from_millis(300));
    let server = start(format!(
        r#"
[delivery]
enabled = true
workers = 8
connection_cache_seconds = 0
retry_base_seconds = 1

[delivery.destination_limits."busy.test"]
concurrency = 2

[delivery.routes]
"busy.test" = "127.0.0.1:{}"
"#,
        proxy.addr.port()
    ));
    let messages: Vec<Value> = (0..10)
        .map(|i| json!({"from": "office@clinic.test", "to": format!("p{i}@busy.test"), "text": "hello"}))
        .collect();
    let (st, b) = server.post("/v1/messages/batch", &server.api_key, &json!({"messages": messages}));
    assert_eq!(st, 202, "{b}");
    for m in b["messages"].as_array().expect("ids") {
        let id = m["id"].as_str().expect("id");
        let s = server.wait_state(id, "delivered", Duration::from_secs(120));
        assert_eq!(s["recipients"][0]["state"], "delivered", "{s}");
    }
    assert_eq!(rx.wait_for_transactions(10, Duration::from_secs(10)).expect("all received").len(), 10);
    let (max, total) = (proxy.max_open(), proxy.spans.lock().expect("spans").len());
    assert!(total >= 5, "one connection per message without the cache: {total}");
    assert!(max <= 2, "{max} simultaneous connections to a destination limited to 2");
}

#[test]
fn a_long_delay_tells_the_sender_once_without_phi() {
    let slow = SmtpReceiver::start(ReceiverOptions {
        rcpt_reply: Some("451 4.3.0 mailbox busy".into()),
        ..ReceiverOptions::default()
    })
    .expect("slow receiver");
    let sender_box = plain_receiver();
    let server = start(format!(
        r#"
[delivery]
enabled = true
retry_base_seconds = 1
delay_notice_seconds = 1
connection_cache_seconds = 0
notice_from = "no-reply@clinic.test"

[delivery.routes]
"slow.test" = "127.0.0.1:{}"
"clinic.test" = "127.0.0.1:{}"
"#,
        slow.addr().port(),
        sender_box.addr().port()
    ));
    let id = send(
        &server,
        // No PHI in it (PHI would go to the portal, not wait for this server);
        // the notice must still carry none of its content.
        json!({"from": "office@clinic.test", "to": "pat.doe@slow.test",
               "subject": "Zanzibar clinic hours", "text": "zanzibar-body-text"}),
    );
    let notices = sender_box.wait_for_transactions(1, Duration::from_secs(30)).unwrap_or_else(|e| {
        let actions: Vec<_> = server.audit_events().iter().map(|e| e["action"].to_string()).collect();
        panic!("no delay notice ({e}): {} {actions:?}", server.api_state(&id))
    });
    // Let a few more attempts fail: still exactly one notice.
    std::thread::sleep(Duration::from_secs(5));
    let all = sender_box.sessions().into_iter().flat_map(|s| s.transactions).collect::<Vec<_>>();
    assert_eq!(all.len(), 1, "exactly one delay notice");
    let text = String::from_utf8_lossy(&notices[0].data).into_owned();
    assert!(text.contains("Subject: Delayed: message"), "{text}");
    assert!(text.contains(&id), "the notice names the message id");
    for content in ["Zanzibar", "zanzibar-body-text", "pat.doe"] {
        assert!(!text.contains(content), "{content:?} (message content or recipient) in the delay notice");
    }
    let s = server.api_state(&id);
    assert_eq!(s["recipients"][0]["state"], "deferred", "{s}");
    assert!(s["recipients"][0]["attempts"].as_i64().unwrap_or(0) >= 2, "{s}");
    assert_eq!(server.count_action("message.delay_notified"), 1);
}

#[test]
fn requiretls_goes_only_over_verified_tls_to_servers_that_offer_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new().expect("ca");
    let ca_path = ca.write_cert(dir.path()).expect("ca file");
    let tls_receiver = |name: &str, extensions: Vec<String>| {
        let (cert, key) = ca.issue_chain(&[name]).expect("leaf");
        SmtpReceiver::start(ReceiverOptions { tls: Some((cert, key)), extensions, ..ReceiverOptions::default() })
            .expect("TLS receiver")
    };
    let req = tls_receiver("mx.req.test", vec!["REQUIRETLS".into()]);
    let noreq = tls_receiver("mx.noreq.test", Vec::new());
    let open = plain_receiver();
    let sender_box = plain_receiver();
    let lo = std::net::Ipv4Addr::LOCALHOST;
    let dns = DnsServer::start(Zone::new().a("mx.req.test", lo).a("mx.noreq.test", lo)).expect("dns");
    let server = start(format!(
        r#"
[delivery]
enabled = true
name_servers = ["{dns}"]
# The test zone points MX hosts at loopback (issue 13.10: not without this).
allow_internal_mx = ["127.0.0.0/8", "::1"]
extra_ca_files = ["{ca}"]
notice_from = "no-reply@clinic.test"
connection_cache_seconds = 0

[delivery.routes]
"req.test" = "mx.req.test:{req}"
"noreq.test" = "mx.noreq.test:{noreq}"
"open.test" = "127.0.0.1:{open}"
"clinic.test" = "127.0.0.1:{sender}"
"#,
        dns = dns.addr(),
        ca = ca_path.display(),
        req = req.addr().port(),
        noreq = noreq.addr().port(),
        open = open.addr().port(),
        sender = sender_box.addr().port(),
    ));
    let msg = |to: &str| json!({"from": "office@clinic.test", "to": to, "subject": "Note", "text": "requiretls-body", "require_tls": true});
    let ok = send(&server, msg("a@req.test"));
    let refused_no_ext = send(&server, msg("b@noreq.test"));
    let refused_no_tls = send(&server, msg("c@open.test"));
    let s = server.wait_state(&ok, "delivered", Duration::from_secs(60));
    assert_eq!(s["recipients"][0]["state"], "delivered", "{s}");
    let got = req.wait_for_transactions(1, Duration::from_secs(10)).expect("delivered");
    assert!(got[0].mail_from.ends_with("REQUIRETLS"), "REQUIRETLS is passed on: {}", got[0].mail_from);
    assert!(req.sessions()[0].tls_version.is_some(), "over TLS");
    for id in [&refused_no_ext, &refused_no_tls] {
        let s = server.wait_state(id, "bounced", Duration::from_secs(60));
        assert_eq!(s["recipients"][0]["state"], "bounced", "{s}");
    }
    assert!(!all_data(&noreq).contains("requiretls-body"), "not relayed to a server without REQUIRETLS");
    assert!(!all_data(&open).contains("requiretls-body"), "not relayed without TLS");
    let notices = sender_box.wait_for_transactions(2, Duration::from_secs(60)).expect("two non-delivery notices");
    for n in &notices {
        let text = String::from_utf8_lossy(&n.data);
        assert!(text.contains("REQUIRETLS"), "the notice says why: {text}");
        assert!(!text.contains("requiretls-body"));
    }
}
