//! The SMS client against the fake Twilio of the test kit, and Twilio
//! status callbacks.

use sealpost_sms::{
    ProviderConfig, SmsClient, SmsError, SmsStatus, StatusUpdate, parse_twilio_status, verify_twilio_signature,
};
use sealpost_testkit::{FakeSmsProvider, signed_twilio_status_callback};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "tok-0f1e2d3c4b5a";
const CALLBACK: &str = "https://sealpost.example/sms/status/twilio?tenant=t1";

fn config(fake: &FakeSmsProvider, token: &str) -> ProviderConfig {
    ProviderConfig::Twilio {
        base_url: fake.base_url(),
        account_sid: SID.into(),
        auth_token: token.into(),
        from: "+15005550006".into(),
        status_callback: Some(CALLBACK.into()),
    }
}

fn client(fake: &FakeSmsProvider) -> SmsClient {
    SmsClient::new(config(fake, TOKEN), vec![fake.root()]).unwrap()
}

#[tokio::test]
async fn sends_a_form_with_basic_auth_and_returns_the_sid() {
    let fake = FakeSmsProvider::start_twilio(TOKEN).unwrap();
    let sent = client(&fake).send("+1 (415) 555-0100", "Sign-in code: 314159").await.unwrap();
    assert!(sent.provider_id.starts_with("SM") && sent.provider_id.len() == 34, "{sent:?}");

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/2010-04-01/Accounts/{SID}/Messages.json"));
    assert_eq!(r.basic_auth, Some((SID.to_owned(), TOKEN.to_owned())));
    assert_eq!(r.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(r.to, "+14155550100", "the number goes out normalized");
    assert_eq!(r.from.as_deref(), Some("+15005550006"));
    assert_eq!(r.body, "Sign-in code: 314159");
    assert_eq!(r.status_callback.as_deref(), Some(CALLBACK));
    assert_eq!(r.answered, 201);
    // The form is encoded, not pasted: '+' and ':' are escaped on the wire.
    assert!(r.raw_body.contains("To=%2B14155550100"), "{}", r.raw_body);
}

#[tokio::test]
async fn no_status_callback_field_unless_configured() {
    let fake = FakeSmsProvider::start_twilio(TOKEN).unwrap();
    let ProviderConfig::Twilio { base_url, account_sid, auth_token, from, .. } = config(&fake, TOKEN) else {
        unreachable!()
    };
    let cfg = ProviderConfig::Twilio { base_url, account_sid, auth_token, from, status_callback: None };
    SmsClient::new(cfg, vec![fake.root()]).unwrap().send("+14155550100", "code 1").await.unwrap();
    let r = &fake.requests()[0];
    assert_eq!(r.status_callback, None);
    assert!(!r.raw_body.contains("StatusCallback"), "{}", r.raw_body);
}

#[tokio::test]
async fn provider_errors_keep_code_and_message_but_not_our_text() {
    let fake = FakeSmsProvider::start_twilio(TOKEN).unwrap();
    let client = client(&fake);

    fake.fail_next(400);
    let e = client.send("+14155550100", "code 271828").await.unwrap_err();
    match &e {
        SmsError::Provider { status: 400, code: Some(code), message: Some(message) } => {
            assert_eq!(code, "21211");
            assert_eq!(message, "Invalid 'To' Phone Number");
        }
        other => panic!("{other:?}"),
    }

    // A provider quoting our text back does not get it into our errors.
    fake.fail_next_with(400, 21617, "The concatenated message body 'code 271828' exceeds the limit");
    let e = client.send("+14155550100", "code 271828").await.unwrap_err();
    let shown = format!("{e} / {e:?}");
    assert!(!shown.contains("271828"), "{shown}");
    assert!(shown.contains("21617") && shown.contains("[message text]"), "{shown}");

    fake.fail_next(503);
    let e = client.send("+14155550100", "code 1").await.unwrap_err();
    assert!(matches!(e, SmsError::Provider { status: 503, .. }), "{e:?}");

    // The fake has forgotten the failures: the next one goes through.
    client.send("+14155550100", "code 1").await.unwrap();
    let answered: Vec<u16> = fake.requests().iter().map(|r| r.answered).collect();
    assert_eq!(answered, [400, 400, 503, 201]);
}

#[tokio::test]
async fn a_wrong_token_is_a_401_that_never_shows_the_token() {
    let fake = FakeSmsProvider::start_twilio(TOKEN).unwrap();
    let client = SmsClient::new(config(&fake, "tok-WRONG"), vec![fake.root()]).unwrap();
    let e = client.send("+14155550100", "code 1").await.unwrap_err();
    assert!(matches!(&e, SmsError::Provider { status: 401, code: Some(c), .. } if c == "20003"), "{e:?}");
    assert!(!format!("{e} {e:?} {client:?}").contains("tok-"), "{e:?} {client:?}");
}

#[tokio::test]
async fn bad_input_never_reaches_the_provider() {
    let fake = FakeSmsProvider::start_twilio(TOKEN).unwrap();
    let client = client(&fake);
    assert!(matches!(client.send("415 555 0100", "code 1").await, Err(SmsError::InvalidNumber(_))));
    assert!(matches!(client.send("+14155550100", "").await, Err(SmsError::InvalidText { .. })));
    let long = "x".repeat(sealpost_sms::MAX_TEXT_CHARS + 1);
    assert!(matches!(client.send("+14155550100", &long).await, Err(SmsError::InvalidText { .. })));
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_before_any_request() {
    let fake = FakeSmsProvider::start_twilio(TOKEN).unwrap();
    let untrusting = SmsClient::new(config(&fake, TOKEN), Vec::new()).unwrap();
    let e = untrusting.send("+14155550100", "code 1").await.unwrap_err();
    assert!(matches!(e, SmsError::Transport(_)), "{e:?}");
    assert!(fake.requests().is_empty());
}

#[test]
fn plain_http_is_refused_at_configuration() {
    let cfg = ProviderConfig::Twilio {
        base_url: "http://127.0.0.1:1".into(),
        account_sid: SID.into(),
        auth_token: TOKEN.into(),
        from: "+15005550006".into(),
        status_callback: None,
    };
    assert!(matches!(SmsClient::new(cfg, Vec::new()), Err(SmsError::Config(_))));
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

/// Twilio's published example. The expected value was also recomputed
/// independently with Python's `hmac` (HMAC-SHA1, key "12345", over the URL
/// followed by the sorted name+value pairs) and agrees.
#[test]
fn the_published_twilio_example_verifies() {
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    // Deliberately out of order: sorting is the verifier's job.
    let params = pairs(&[
        ("To", "+18005551212"),
        ("Digits", "1234"),
        ("CallSid", "CA1234567890ABCDE"),
        ("From", "+12349013030"),
        ("Caller", "+12349013030"),
    ]);
    assert!(verify_twilio_signature("12345", url, &params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));

    // Each alteration is refused.
    assert!(!verify_twilio_signature("12346", url, &params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
    assert!(!verify_twilio_signature(
        "12345",
        "https://mycompany.com/myapp.php?foo=1&bar=3",
        &params,
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    ));
    let mut changed = params.clone();
    changed[1].1 = "1235".into();
    assert!(!verify_twilio_signature("12345", url, &changed, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
    let mut added = params.clone();
    added.push(("MessageStatus".into(), "delivered".into()));
    assert!(!verify_twilio_signature("12345", url, &added, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
    assert!(!verify_twilio_signature("12345", url, &params, "1/KCTR6DLpKmkAf8muzZqo1nDgQ="));
    assert!(!verify_twilio_signature("12345", url, &params, ""));
}

#[test]
fn a_signed_status_callback_verifies_and_parses() {
    let (params, signature) = signed_twilio_status_callback(TOKEN, CALLBACK, "SM42", "undelivered", Some("30003"));
    assert!(verify_twilio_signature(TOKEN, CALLBACK, &params, &signature));
    let update = parse_twilio_status(&params).unwrap();
    assert_eq!(
        update,
        StatusUpdate { provider_id: "SM42".into(), status: SmsStatus::Undelivered, error_code: Some("30003".into()) }
    );

    let (params, signature) = signed_twilio_status_callback(TOKEN, CALLBACK, "SM43", "delivered", None);
    assert!(verify_twilio_signature(TOKEN, CALLBACK, &params, &signature));
    assert_eq!(parse_twilio_status(&params).unwrap().status, SmsStatus::Delivered);
}

#[test]
fn a_forged_or_altered_status_callback_is_refused() {
    let (params, signature) = signed_twilio_status_callback(TOKEN, CALLBACK, "SM42", "failed", Some("30008"));
    // Signed with another token (a forger who does not have ours).
    let (_, forged) = signed_twilio_status_callback("not-our-token", CALLBACK, "SM42", "failed", Some("30008"));
    assert!(!verify_twilio_signature(TOKEN, CALLBACK, &params, &forged));
    // A status changed after signing.
    let altered: Vec<(String, String)> = params
        .iter()
        .map(|(n, v)| if n.ends_with("Status") { (n.clone(), "delivered".to_owned()) } else { (n.clone(), v.clone()) })
        .collect();
    assert!(!verify_twilio_signature(TOKEN, CALLBACK, &altered, &signature));
    // Replayed to another tenant's URL.
    assert!(!verify_twilio_signature(
        TOKEN,
        "https://sealpost.example/sms/status/twilio?tenant=t2",
        &params,
        &signature
    ));
    // A parameter dropped.
    let dropped: Vec<(String, String)> = params.iter().filter(|(n, _)| n != "ErrorCode").cloned().collect();
    assert!(!verify_twilio_signature(TOKEN, CALLBACK, &dropped, &signature));
    // And the untouched one still passes, so the refusals above are real.
    assert!(verify_twilio_signature(TOKEN, CALLBACK, &params, &signature));
}
