//! The SMS client against the fake JSON webhook provider of the test kit,
//! and webhook status callbacks.

use std::time::{SystemTime, UNIX_EPOCH};

use sealpost_sms::{
    ProviderConfig, SmsClient, SmsError, SmsStatus, WebhookHeaders, parse_webhook_status, verify_webhook_callback,
};
use sealpost_testkit::{FakeSmsProvider, webhook_signature};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn client(fake: &FakeSmsProvider, from: Option<&str>) -> SmsClient {
    let cfg = ProviderConfig::Webhook { url: fake.webhook_url(), secret: SECRET.into(), from: from.map(Into::into) };
    SmsClient::new(cfg, vec![fake.root()]).unwrap()
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn posts_signed_json_and_returns_our_id() {
    let fake = FakeSmsProvider::start_webhook().unwrap();
    let before = now();
    let sent = client(&fake, Some("Sealpost")).send("+44 20 7946 0000", "https://portal.example/p/Zk3").await.unwrap();
    let after = now();

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!((r.method.as_str(), r.path.as_str(), r.answered), ("POST", "/sms", 200));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.to, "+442079460000");
    assert_eq!(r.from.as_deref(), Some("Sealpost"));
    assert_eq!(r.body, "https://portal.example/p/Zk3");
    assert_eq!(r.id.as_deref(), Some(sent.provider_id.as_str()));
    assert!(sent.provider_id.starts_with("msg_") && sent.provider_id.len() == 36, "{sent:?}");
    assert_eq!(r.header("webhook-id"), Some(sent.provider_id.as_str()));
    assert_eq!(r.basic_auth, None);

    let timestamp = r.header("webhook-timestamp").unwrap();
    let ts: i64 = timestamp.parse().unwrap();
    assert!((before..=after).contains(&ts), "{ts} not in {before}..={after}");
    // The signature, recomputed by the test kit (independent of the crate),
    // over exactly the bytes that went on the wire.
    let expected = webhook_signature(SECRET, &sent.provider_id, timestamp, r.raw_body.as_bytes());
    assert_eq!(r.header("webhook-signature"), Some(expected.as_str()));
    // And the wrong secret does not produce it.
    let other = webhook_signature("whsec_c2VjcmV0", &sent.provider_id, timestamp, r.raw_body.as_bytes());
    assert_ne!(r.header("webhook-signature"), Some(other.as_str()));
}

#[tokio::test]
async fn ids_are_fresh_and_from_is_left_out_unless_configured() {
    let fake = FakeSmsProvider::start_webhook().unwrap();
    let client = client(&fake, None);
    let a = client.send("+14155550100", "code 1").await.unwrap();
    let b = client.send("+14155550100", "code 2").await.unwrap();
    assert_ne!(a.provider_id, b.provider_id);
    let r = &fake.requests()[0];
    assert_eq!(r.from, None);
    let json: serde_json::Value = serde_json::from_str(&r.raw_body).unwrap();
    let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["id", "text", "to"]);
}

#[tokio::test]
async fn provider_errors_are_mapped() {
    let fake = FakeSmsProvider::start_webhook().unwrap();
    let client = client(&fake, None);
    fake.fail_next_with(422, 1001, "number unreachable");
    let e = client.send("+14155550100", "code 1").await.unwrap_err();
    match e {
        SmsError::Provider { status, code, message } => {
            assert_eq!((status, code.as_deref(), message.as_deref()), (422, Some("1001"), Some("number unreachable")));
        }
        other => panic!("{other:?}"),
    }
    fake.fail_next(500);
    assert!(matches!(client.send("+14155550100", "code 1").await, Err(SmsError::Provider { status: 500, .. })));
}

#[test]
fn a_bad_secret_is_refused_at_configuration() {
    let cfg = ProviderConfig::Webhook { url: "https://sms.example/".into(), secret: "whsec_!!".into(), from: None };
    assert!(matches!(SmsClient::new(cfg, Vec::new()), Err(SmsError::Config(_))));
    let cfg = ProviderConfig::Webhook { url: "http://sms.example/".into(), secret: SECRET.into(), from: None };
    assert!(matches!(SmsClient::new(cfg, Vec::new()), Err(SmsError::Config(_))));
}

const BODY: &[u8] = br#"{"id":"msg_0123","status":"undelivered","error_code":"30005"}"#;

fn headers<'a>(id: &'a str, timestamp: &'a str, signature: &'a str) -> WebhookHeaders<'a> {
    WebhookHeaders { id, timestamp, signature }
}

#[test]
fn a_signed_callback_verifies_and_parses() {
    let ts = "1765000000";
    let sig = webhook_signature(SECRET, "evt_1", ts, BODY);
    assert!(verify_webhook_callback(SECRET, headers("evt_1", ts, &sig), BODY, 1_765_000_000, 300));
    let update = parse_webhook_status(BODY).unwrap();
    assert_eq!(update.provider_id, "msg_0123");
    assert_eq!(update.status, SmsStatus::Undelivered);
    assert_eq!(update.error_code.as_deref(), Some("30005"));
}

#[test]
fn the_timestamp_must_be_within_tolerance() {
    let ts = "1765000000";
    let t: i64 = 1_765_000_000;
    let sig = webhook_signature(SECRET, "evt_1", ts, BODY);
    let check = |now: i64| verify_webhook_callback(SECRET, headers("evt_1", ts, &sig), BODY, now, 300);
    assert!(check(t));
    assert!(check(t + 300), "at the edge, late");
    assert!(check(t - 300), "at the edge, early (clock skew)");
    assert!(!check(t + 301), "replayed too late");
    assert!(!check(t - 301), "from too far in the future");
    // Zero tolerance still accepts the exact second.
    assert!(verify_webhook_callback(SECRET, headers("evt_1", ts, &sig), BODY, t, 0));
}

#[test]
fn a_forged_or_altered_callback_is_refused() {
    let (ts, t) = ("1765000000", 1_765_000_000);
    let sig = webhook_signature(SECRET, "evt_1", ts, BODY);
    let forged = webhook_signature("whsec_c2VjcmV0", "evt_1", ts, BODY);
    assert!(!verify_webhook_callback(SECRET, headers("evt_1", ts, &forged), BODY, t, 300));
    let altered = br#"{"id":"msg_0123","status":"delivered","error_code":"30005"}"#;
    assert!(!verify_webhook_callback(SECRET, headers("evt_1", ts, &sig), altered, t, 300));
    assert!(!verify_webhook_callback(SECRET, headers("evt_2", ts, &sig), BODY, t, 300));
    // A timestamp moved forward to dodge the tolerance breaks the signature.
    assert!(!verify_webhook_callback(SECRET, headers("evt_1", "1765000100", &sig), BODY, t + 100, 300));
    assert!(!verify_webhook_callback(SECRET, headers("evt_1", "+1765000000", &sig), BODY, t, 300));
    assert!(!verify_webhook_callback(SECRET, headers("evt_1", ts, ""), BODY, t, 300));
    // Several signatures (key rotation): one valid entry is enough.
    let both = format!("{forged} {sig}");
    assert!(verify_webhook_callback(SECRET, headers("evt_1", ts, &both), BODY, t, 300));
}
