//! The Standard Webhooks signature (<https://www.standardwebhooks.com/>):
//! `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`. Used both to
//! sign what we post and to check what the provider posts back.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

fn content(id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    data.extend_from_slice(id.as_bytes());
    data.push(b'.');
    data.extend_from_slice(timestamp.as_bytes());
    data.push(b'.');
    data.extend_from_slice(body);
    data
}

/// The `webhook-signature` value for this message.
pub(crate) fn sign(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), &content(id, timestamp, body));
    format!("v1,{}", B64.encode(tag.as_ref()))
}

/// Whether any `v1,` entry of a (space-separated) `webhook-signature`
/// header signs this message; compared in constant time.
pub(crate) fn verify(key: &[u8], id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let data = content(id, timestamp, body);
    header
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .any(|b64| B64.decode(b64).is_ok_and(|tag| hmac::verify(&key, &data, &tag).is_ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_specification_example() {
        // The example of the Standard Webhooks specification.
        let key = B64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let (id, ts, body) = ("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", br#"{"test": 2432232314}"#);
        let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(sign(&key, id, ts, body), expected);
        assert!(verify(&key, id, ts, body, expected));
        assert!(verify(&key, id, ts, body, &format!("v1,bm90IGl0 {expected}")));
        assert!(!verify(&key, id, ts, b"{\"test\": 2432232315}", expected));
        assert!(!verify(&key, id, "1614265331", body, expected));
        assert!(!verify(&key, id, ts, body, &expected.replacen("v1,", "v2,", 1)));
        assert!(!verify(&key, id, ts, body, ""));
    }
}
