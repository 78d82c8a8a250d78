//! SIGKILL during a delivery burst (issue 3): after restarts every message
//! is delivered, none is lost; re-sends are limited to what was in flight.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Backend, Opts, Server};
use sealpost_testkit::{PostfixOptions, PostfixReceiver, Tls};
use serde_json::json;

#[test]
fn sigkill_during_delivery_loses_nothing() {
    let rx = PostfixReceiver::start(PostfixOptions::with_tls(Tls::None)).expect("receiver");
    let extra = format!(
        "\n[delivery]\nenabled = true\nworkers = 8\nlease_seconds = 3\nretry_base_seconds = 1\n\n[delivery.routes]\n\"burst.test\" = \"127.0.0.1:{}\"\n",
        rx.addr().port()
    );
    let mut server = Server::start_with(Backend::Embedded, Opts { extra_toml: extra, ..Opts::default() });
    let total = 60;
    let mut markers = Vec::new();
    for i in 0..total {
        let marker = format!("burst-marker-{i:03}-{}", common::unique());
        let (st, b) = server.post(
            "/v1/messages",
            &server.api_key,
            &json!({"from": "office@clinic.test", "to": format!("r{i}@burst.test"), "subject": marker, "text": "See you soon."}),
        );
        assert_eq!(st, 202, "{b}");
        markers.push(marker);
        if i == 20 || i == 40 {
            // Kill while deliveries of the earlier messages are in flight.
            std::thread::sleep(Duration::from_millis(150));
            server.kill9();
            server.start_again();
        }
    }
    let end = Instant::now() + Duration::from_secs(120);
    let mut seen: HashMap<String, usize> = HashMap::new();
    while Instant::now() < end {
        seen.clear();
        for m in rx.maildir_messages() {
            let text = String::from_utf8_lossy(&m).into_owned();
            if let Some(marker) = markers.iter().find(|k| text.contains(k.as_str())) {
                *seen.entry(marker.clone()).or_default() += 1;
            }
        }
        // Every copy arrived and every queue row says so (rows whose outcome
        // commit died with the process are re-sent after their lease).
        if seen.len() == total && server.sql_scalar("SELECT count(*) FROM queue WHERE state != 'delivered'") == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let missing: Vec<&String> = markers.iter().filter(|m| !seen.contains_key(*m)).collect();
    assert!(missing.is_empty(), "{} of {total} messages never arrived: {missing:?}", missing.len());
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    // At-least-once: a copy in flight at a kill may be sent again, nothing more.
    assert!(duplicates <= 2 * 8, "{duplicates} duplicates: more than the in-flight window");
    assert_eq!(server.sql_scalar("SELECT count(*) FROM queue WHERE state != 'delivered'"), 0);
    let (code, out) = server.audit_verify();
    assert_eq!(code, 0, "{out}");
}
