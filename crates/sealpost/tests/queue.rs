//! The delivery queue (R-DL-4, R-DL-5): a receiver that answers 4xx and then
//! 2xx gets the message exactly once; a 5xx produces a PHI-free failure
//! notice to the sender and a suppression entry that later sends respect.

mod common;

use std::time::Duration;

use common::{Backend, Opts, Server};
use sealpost_testkit::{PostfixOptions, PostfixReceiver, Script, ScriptedServer, Tls};
use serde_json::json;

fn mail_rcpt(rcpt_reply: &str) -> Script {
    Script::smtp_greeting()
        .expect("MAIL FROM:")
        .send("250 2.1.0 ok\r\n")
        .expect("RCPT TO:")
        .send(rcpt_reply)
        .expect("RSET")
        .send("250 2.0.0 ok\r\n")
        .expect("QUIT")
        .send("221 bye\r\n")
}

fn accept_all() -> Script {
    Script::smtp_greeting()
        .expect("MAIL FROM:")
        .send("250 ok\r\n")
        .expect("RCPT TO:")
        .send("250 ok\r\n")
        .expect("DATA")
        .send("354 go on\r\n")
        .read_data()
        .send("250 2.0.0 queued\r\n")
        .expect("QUIT")
        .send("221 bye\r\n")
}

fn send(server: &Server, to: &str, subject: &str) -> String {
    let (st, b) = server.post(
        "/v1/messages",
        &server.api_key,
        &json!({"from": "office@clinic.test", "to": to, "subject": subject, "text": "See you at the front desk."}),
    );
    assert_eq!(st, 202, "{b}");
    b["id"].as_str().expect("id").to_owned()
}

#[test]
fn transient_then_success_delivers_once_and_permanent_failure_bounces_and_suppresses() {
    let retry = ScriptedServer::start(vec![mail_rcpt("451 4.3.0 try again later\r\n"), accept_all()]).expect("retry");
    let gone = ScriptedServer::start(vec![mail_rcpt("550 5.1.1 no such user\r\n")]).expect("gone");
    let sender_box = PostfixReceiver::start(PostfixOptions::with_tls(Tls::None)).expect("sender box");
    let extra = format!(
        r#"
[delivery]
enabled = true
workers = 2
retry_base_seconds = 1
notice_from = "no-reply@clinic.test"

[delivery.routes]
"retry.test" = "127.0.0.1:{}"
"gone.test" = "127.0.0.1:{}"
"clinic.test" = "127.0.0.1:{}"
"#,
        retry.addr().port(),
        gone.addr().port(),
        sender_box.addr().port()
    );
    let server = Server::start_with(Backend::Embedded, Opts { extra_toml: extra, ..Opts::default() });

    // 4xx, then 2xx on the retry: delivered, exactly one DATA.
    let id = send(&server, "pat@retry.test", "Appointment");
    let state = server.wait_state(&id, "delivered", Duration::from_secs(60));
    let r = &state["recipients"][0];
    assert_eq!(r["state"], "delivered", "{state}");
    assert_eq!(r["attempts"], 2, "{state}");
    let events: Vec<&str> =
        r["events"].as_array().expect("events").iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(events, ["accepted", "deferred", "delivered"], "{state}");
    let datas: usize = retry
        .transcripts()
        .iter()
        .map(|t| String::from_utf8_lossy(&t.client_bytes).matches("\r\nDATA\r\n").count())
        .sum();
    assert_eq!(datas, 1, "the message was sent more than once");

    // 5xx: bounced, failure notice to the sender without PHI, suppression.
    let id = send(&server, "Pat.Secret@gone.test", "Colonoscopy prep");
    let state = server.wait_state(&id, "bounced", Duration::from_secs(60));
    assert_eq!(state["recipients"][0]["state"], "bounced", "{state}");
    assert_eq!(state["recipients"][0]["last_code"], 550, "{state}");
    let notices = sender_box.wait_for_messages(1, Duration::from_secs(30)).expect("failure notice");
    let n = String::from_utf8_lossy(&notices[0]).into_owned();
    assert!(n.contains(&id) && n.contains("550"), "{n}");
    for secret in ["Pat.Secret", "pat.secret", "Colonoscopy", "front desk"] {
        assert!(!n.contains(secret), "the failure notice carries {secret:?}: {n}");
    }
    let before = gone.connections();
    let id2 = send(&server, "pat.secret@GONE.test", "Follow-up");
    let state = server.wait_state(&id2, "suppressed", Duration::from_secs(30));
    assert_eq!(state["recipients"][0]["state"], "suppressed", "a hard-bounced address was sent to again: {state}");
    assert_eq!(gone.connections(), before, "a suppressed recipient's server was contacted");
    assert!(server.count_action_db("message.bounced") >= 2);
    let (code, out) = server.audit_verify();
    assert_eq!(code, 0, "{out}");
}
