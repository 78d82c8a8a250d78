//! Bad input gets a precise error and stores nothing (R-IN-5), over raw SMTP
//! on the relay listener and over the HTTPS API.

mod common;

use std::time::Duration;

use common::{Backend, Opts, Server, Smtp, b64, unique};
use serde_json::{Value, json};

fn assert_reply(r: &common::Reply, code: u16, enhanced: &str, what: &str) {
    assert_eq!(r.code, code, "{what}: {r:?}");
    assert!(r.lines[0].starts_with(enhanced), "{what}: expected {enhanced}: {r:?}");
}

/// Opens a relay session (EHLO done), MAIL + RCPT + DATA, sends `wire`
/// verbatim (it must end with the terminator) and returns the reply.
fn data_case(port: u16, wire: &[u8]) -> common::Reply {
    let mut s = Smtp::connect(port);
    s.expect("EHLO client.example", 250);
    s.expect("MAIL FROM:<clinic@example.org>", 250);
    s.expect("RCPT TO:<patient@example.net>", 250);
    s.expect("DATA", 354);
    s.write(wire).expect("send data");
    let r = s.read_reply().expect("reply after data");
    // The session stays usable after a refused message.
    s.expect("NOOP", 250);
    s.expect("QUIT", 221);
    r
}

#[test]
fn smtp_bad_input_is_refused_and_nothing_is_stored() {
    let server = Server::start(Backend::Embedded);
    let port = server.ports.relay;
    let before = server.stored();

    // Commands out of order.
    let mut s = Smtp::connect(port);
    assert_reply(&s.cmd("MAIL FROM:<clinic@example.org>"), 503, "5.5.1", "MAIL before EHLO");
    s.expect("EHLO client.example", 250);
    assert_reply(&s.cmd("RCPT TO:<patient@example.net>"), 503, "5.5.1", "RCPT before MAIL");
    assert_reply(&s.cmd("DATA"), 503, "5.5.1", "DATA before MAIL");
    s.expect("MAIL FROM:<clinic@example.org>", 250);
    assert_reply(&s.cmd("DATA"), 503, "5.5.1", "DATA before RCPT");
    assert_reply(&s.cmd("MAIL FROM:<clinic@example.org>"), 503, "5.5.1", "nested MAIL");
    s.expect("RSET", 250);

    // Malformed addresses.
    assert_reply(&s.cmd("MAIL FROM:clinic@example.org"), 501, "5.5.4", "MAIL without brackets");
    assert_reply(&s.cmd("MAIL FROM:<no-at-sign>"), 553, "5.1.7", "sender without @");
    assert_reply(&s.cmd("MAIL FROM:<a@@example.org>"), 553, "5.1.7", "sender with @@");
    assert_reply(&s.cmd("MAIL FROM:<a@example.org"), 501, "5.5.4", "unclosed bracket");
    s.expect("MAIL FROM:<clinic@example.org>", 250);
    assert_reply(&s.cmd("RCPT TO:<patient>"), 553, "5.1.3", "recipient without domain");
    assert_reply(&s.cmd("RCPT TO:<pat ient@example.net>"), 553, "5.1.3", "recipient with a space");
    assert_reply(&s.cmd("RCPT TO:<patient@exa_mple..net>"), 553, "5.1.3", "recipient with a bad domain");
    assert_reply(&s.cmd("RCPT TO:<p\u{e9}@example.net>"), 553, "5.6.7", "non-ASCII without SMTPUTF8");
    assert_reply(&s.cmd("DATA"), 503, "5.5.1", "DATA with only refused recipients");
    s.expect("RSET", 250);
    // SIZE is honoured at MAIL time.
    let too_big = Opts::default().max_message_size + 1;
    assert_reply(&s.cmd(&format!("MAIL FROM:<clinic@example.org> SIZE={too_big}")), 552, "5.3.4", "declared SIZE");
    assert_reply(&s.cmd("MAIL FROM:<clinic@example.org> BOGUS=1"), 555, "5.5.4", "unknown MAIL parameter");
    s.expect("QUIT", 221);

    // Content that check_message refuses: 554 5.6.0 each.
    let head = "From: clinic@example.org\r\nTo: patient@example.net\r\nSubject: bad\r\n\r\n";
    let long = format!("{head}{}\r\n.\r\n", "z".repeat(999));
    assert_reply(&data_case(port, long.as_bytes()), 554, "5.6.0", "999-octet line");
    let ok998 = format!("{head}{}\r\n", "z".repeat(998));
    let bare_lf = format!("{head}line one\nline two\r\n.\r\n");
    assert_reply(&data_case(port, bare_lf.as_bytes()), 554, "5.6.0", "bare LF");
    let bare_cr = format!("{head}line one\rline two\r\n.\r\n");
    assert_reply(&data_case(port, bare_cr.as_bytes()), 554, "5.6.0", "bare CR");
    let nul = format!("{head}nul \0 here\r\n.\r\n");
    assert_reply(&data_case(port, nul.as_bytes()), 554, "5.6.0", "NUL");
    let no_colon = "From: clinic@example.org\r\nThis is not a header\r\n\r\nbody\r\n.\r\n";
    assert_reply(&data_case(port, no_colon.as_bytes()), 554, "5.6.0", "header without colon");
    let space_name = "From: clinic@example.org\r\nBad Name: x\r\n\r\nbody\r\n.\r\n";
    assert_reply(&data_case(port, space_name.as_bytes()), 554, "5.6.0", "header name with space");
    let cont_first = " folded: x\r\nFrom: clinic@example.org\r\n\r\nbody\r\n.\r\n";
    assert_reply(&data_case(port, cont_first.as_bytes()), 554, "5.6.0", "continuation first");
    let no_from = "Subject: hi\r\n\r\nbody\r\n.\r\n";
    assert_reply(&data_case(port, no_from.as_bytes()), 554, "5.6.0", "no From");
    let category = format!("From: clinic@example.org\r\nX-Sealpost-Category: promo\r\n\r\nbody {}\r\n.\r\n", unique());
    assert_reply(&data_case(port, category.as_bytes()), 554, "5.6.0", "unknown category");

    // Disconnect mid-DATA.
    let mut s = Smtp::connect(port);
    s.expect("EHLO client.example", 250);
    s.expect("MAIL FROM:<clinic@example.org>", 250);
    s.expect("RCPT TO:<patient@example.net>", 250);
    s.expect("DATA", 354);
    s.write(format!("{head}half a message {}\r\nmore", unique()).as_bytes()).expect("partial data");
    s.shutdown();
    std::thread::sleep(Duration::from_millis(500));

    assert_eq!(server.stored(), before, "refused SMTP input left rows or events behind");

    // Control: a good message (with a 998-octet line) on the same listener is
    // stored and counted, so the counts above could have moved.
    let id = common::relay_send(port, "clinic@example.org", "patient@example.net", ok998.as_bytes());
    let after = server.stored();
    assert_eq!((after.0, after.2), (before.0 + 1, before.2 + 1), "the control message was not counted");
    assert_eq!(server.api_raw(&id), ok998.as_bytes());
    // The audit export agrees with the database.
    assert_eq!(server.count_action("message.accepted") as i64, after.2);
}

/// Asserts a 4xx JSON error with `code`/`message` and (if given) `field`.
fn assert_error(status: u16, body: &Value, want_status: u16, field: Option<&str>, what: &str) {
    assert_eq!(status, want_status, "{what}: {body}");
    let e = &body["error"];
    assert!(e["code"].is_string() && e["message"].is_string(), "{what}: error shape {body}");
    if let Some(f) = field {
        assert_eq!(e["field"], f, "{what}: field in {body}");
    }
}

fn good_message() -> Value {
    json!({
        "from": "clinic@example.org",
        "to": ["patient@example.net"],
        "subject": format!("hello {}", unique()),
        "text": "Your results are ready.",
    })
}

fn post_bytes(server: &Server, path: &str, key: &str, body: &[u8], idem: Option<&str>) -> (u16, Value) {
    let mut req = server
        .http()
        .post(server.url(path))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(k) = idem {
        req = req.header("Idempotency-Key", k);
    }
    let r = req.send().expect("POST");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

#[test]
fn api_bad_input_is_refused_and_nothing_is_stored() {
    let server = Server::start_with(Backend::Embedded, Opts { max_batch: 5, ..Opts::default() });
    let key = server.api_key.clone();
    let before = server.stored();

    // Unknown category.
    let mut m = good_message();
    m["category"] = json!("promotional");
    let (st, b) = server.post("/v1/messages", &key, &m);
    assert_error(st, &b, 400, Some("category"), "unknown category");

    // Batch over the limit (5): 6 valid messages, nothing stored.
    let six: Vec<Value> = (0..6).map(|_| good_message()).collect();
    let (st, b) = server.post("/v1/messages/batch", &key, &json!({ "messages": six }));
    assert_error(st, &b, 400, Some("messages"), "batch of 6 with max_batch 5");
    // A batch with one bad message stores none of the good ones.
    let mut three: Vec<Value> = (0..3).map(|_| good_message()).collect();
    three[1]["to"] = json!(["not an address"]);
    let (st, b) = server.post("/v1/messages/batch", &key, &json!({ "messages": three }));
    assert_error(st, &b, 400, Some("messages[1].to[0]"), "batch with a bad message");
    let (st, b) = server.post("/v1/messages/batch", &key, &json!({ "messages": [] }));
    assert_error(st, &b, 400, Some("messages"), "empty batch");

    // Invalid base64 in an attachment.
    let mut m = good_message();
    m["attachments"] = json!([{ "filename": "r.pdf", "content_type": "application/pdf", "content": "@@not base64!!" }]);
    let (st, b) = server.post("/v1/messages", &key, &m);
    assert_error(st, &b, 400, Some("attachments[0].content"), "invalid base64");

    // Malformed addresses.
    let mut m = good_message();
    m["to"] = json!(["patient at example.net"]);
    let (st, b) = server.post("/v1/messages", &key, &m);
    assert_error(st, &b, 400, Some("to[0]"), "malformed to");
    let mut m = good_message();
    m["to"] = json!(["ok@example.net", "a@@example.net"]);
    let (st, b) = server.post("/v1/messages", &key, &m);
    assert_error(st, &b, 400, Some("to[1]"), "second recipient malformed");
    let mut m = good_message();
    m["from"] = json!("clinic");
    let (st, b) = server.post("/v1/messages", &key, &m);
    assert_error(st, &b, 400, Some("from"), "malformed from");

    // Raw with a bare LF (and with a NUL).
    let raw_lf = b"From: clinic@example.org\r\nTo: patient@example.net\r\n\r\nline\nbare\r\n";
    let body = json!({ "from": "clinic@example.org", "to": ["patient@example.net"], "raw": b64(raw_lf) });
    let (st, b) = server.post("/v1/messages/raw", &key, &body);
    assert_error(st, &b, 400, Some("raw"), "raw with bare LF");
    let raw_nul = b"From: clinic@example.org\r\n\r\nnul\0\r\n";
    let body = json!({ "from": "clinic@example.org", "to": ["patient@example.net"], "raw": b64(raw_nul) });
    let (st, b) = server.post("/v1/messages/raw", &key, &body);
    assert_error(st, &b, 400, Some("raw"), "raw with NUL");
    let body = json!({ "from": "clinic@example.org", "to": ["patient@example.net"], "raw": "%%%" });
    let (st, b) = server.post("/v1/messages/raw", &key, &body);
    assert_error(st, &b, 400, Some("raw"), "raw not base64");

    // Missing and invalid bearer.
    let r = server.http().post(server.url("/v1/messages")).json(&good_message()).send().expect("POST");
    let st = r.status().as_u16();
    assert_error(st, &r.json().unwrap_or(Value::Null), 401, None, "no Authorization");
    let (st, b) = server.post("/v1/messages", "sp_00000000000000000000000000000000_nope", &good_message());
    assert_error(st, &b, 401, None, "unknown key");
    let wrong_secret = format!("{}x", &key[..key.len() - 1]);
    let (st, b) = server.post("/v1/messages", &wrong_secret, &good_message());
    assert_error(st, &b, 401, None, "wrong secret");
    let r = server
        .http()
        .post(server.url("/v1/messages"))
        .header("Authorization", format!("Basic {key}"))
        .json(&good_message())
        .send()
        .expect("POST");
    assert_eq!(r.status().as_u16(), 401, "non-Bearer scheme");

    assert_eq!(server.stored(), before, "refused API requests left rows or events behind");

    // A send-only key may submit but not read raw bytes (403).
    let send_only = server.create_api_key("default", "send");
    let (st, b) = server.post("/v1/messages", &send_only, &good_message());
    assert_eq!(st, 202, "send-only key submit: {b}");
    let id = b["id"].as_str().expect("id").to_owned();
    let (st, body) = server.get(&format!("/v1/messages/{id}/raw"), &send_only);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert_error(st, &body, 403, None, "send-only key on GET raw");
    assert_eq!(server.count_action_db("message.raw_accessed"), 0, "a refused read was logged as an access");

    // Idempotency: same key + same body -> same id, one message stored.
    let before = server.stored();
    let idem = format!("idem-{}", unique());
    let body = serde_json::to_vec(&good_message()).expect("json");
    let (st1, b1) = post_bytes(&server, "/v1/messages", &key, &body, Some(&idem));
    assert_eq!(st1, 202, "{b1}");
    let (st2, b2) = post_bytes(&server, "/v1/messages", &key, &body, Some(&idem));
    assert_eq!(st2, 202, "{b2}");
    assert_eq!(b1["id"], b2["id"], "a replay must return the same id");
    let after = server.stored();
    assert_eq!((after.0, after.2), (before.0 + 1, before.2 + 1), "replay stored a second message");
    // Same key, different body -> 422, nothing stored.
    let other = serde_json::to_vec(&good_message()).expect("json");
    let (st3, b3) = post_bytes(&server, "/v1/messages", &key, &other, Some(&idem));
    assert_error(st3, &b3, 422, None, "idempotency key reused with another body");
    assert_eq!(server.stored(), after, "a 422 stored something");
    // Concurrent requests with one new key store one message: every answer
    // is that message's id or a retryable 503 (never a 409: issue 13.13).
    let before = server.stored();
    let idem = format!("race-{}", unique());
    let body = serde_json::to_vec(&good_message()).expect("json");
    let answers: Vec<(u16, Value)> = std::thread::scope(|s| {
        let hs: Vec<_> =
            (0..6).map(|_| s.spawn(|| post_bytes(&server, "/v1/messages", &key, &body, Some(&idem)))).collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let ids: std::collections::HashSet<String> =
        answers.iter().filter(|(st, _)| *st == 202).filter_map(|(_, b)| b["id"].as_str().map(str::to_owned)).collect();
    assert!(answers.iter().all(|(st, _)| *st == 202 || *st == 503), "concurrent idempotent requests: {answers:?}");
    assert_eq!(ids.len(), 1, "concurrent requests with one Idempotency-Key got different ids: {answers:?}");
    let after = server.stored();
    assert_eq!(
        (after.0, after.2),
        (before.0 + 1, before.2 + 1),
        "concurrent idempotent requests stored {} messages",
        after.0 - before.0
    );
    let (st, b) = post_bytes(&server, "/v1/messages", &key, &body, Some(&idem));
    assert_eq!((st, b["id"].as_str()), (202, ids.iter().next().map(String::as_str)), "replay after the race");

    // A different key with the same body is a different message.
    let (st4, b4) = post_bytes(&server, "/v1/messages", &key, &body, Some(&format!("other-{}", unique())));
    assert_eq!(st4, 202);
    assert_ne!(b4["id"], b1["id"]);
}

/// `POST /v1/messages/raw` takes a message whose line ends are LF
/// throughout (Unix tools, EHR exports) and stores it with CRLF, as sendmail
/// does; mixed line ends and bare CR are still refused, naming the lines.
#[test]
fn api_raw_with_lf_line_ends_is_stored_as_crlf() {
    let server = Server::start(Backend::Embedded);
    let key = server.api_key.clone();
    let subject = format!("lf only {}", unique());
    let lf = format!("From: clinic@example.org\nTo: patient@example.net\nSubject: {subject}\n\nline one\nline two\n");
    let body = json!({ "from": "clinic@example.org", "to": ["patient@example.net"], "raw": b64(lf.as_bytes()) });
    let (st, b) = server.post("/v1/messages/raw", &key, &body);
    assert_eq!(st, 202, "LF-only raw message: {b}");
    let id = b["id"].as_str().expect("id");
    assert_eq!(server.api_raw(id), lf.replace('\n', "\r\n").as_bytes(), "stored bytes are not the CRLF form");

    let before = server.stored();
    let mixed = b"From: clinic@example.org\r\nTo: patient@example.net\r\n\r\nline\nbare\r\n";
    let body = json!({ "from": "clinic@example.org", "to": ["patient@example.net"], "raw": b64(mixed) });
    let (st, b) = server.post("/v1/messages/raw", &key, &body);
    assert_error(st, &b, 400, Some("raw"), "mixed line ends");
    assert_eq!(
        b["error"]["message"], "mixed line ends: CRLF on line 1 but bare LF on line 4; use one kind throughout",
        "{b}"
    );
    let bare_cr = b"From: clinic@example.org\nTo: patient@example.net\n\nline\rbare\n";
    let body = json!({ "from": "clinic@example.org", "to": ["patient@example.net"], "raw": b64(bare_cr) });
    let (st, b) = server.post("/v1/messages/raw", &key, &body);
    assert_error(st, &b, 400, Some("raw"), "bare CR");
    assert_eq!(b["error"]["message"], "bare CR on line 4", "{b}");
    assert_eq!(server.stored(), before, "a refused raw message left rows or events behind");
}
