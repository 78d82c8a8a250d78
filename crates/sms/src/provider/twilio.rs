//! Twilio's Messages API (and providers that speak it):
//! `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`, HTTP Basic auth
//! with the account SID and auth token, form fields `To`, `From`, `Body`
//! and `StatusCallback`; the reply's `sid` names the message.

use crate::SmsError;
use crate::client::{SentSms, describe, https_url, provider_error, read_reply};

/// A configured Twilio account.
pub(crate) struct Twilio {
    messages_url: reqwest::Url,
    account_sid: String,
    auth_token: String,
    from: String,
    status_callback: Option<String>,
}

/// Whether `s` may go into a URL path or be taken as a message id as it is.
fn is_sid(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Twilio {
    pub(crate) fn new(
        base_url: &str,
        account_sid: String,
        auth_token: String,
        from: String,
        status_callback: Option<String>,
    ) -> Result<Self, SmsError> {
        https_url("twilio base_url", base_url)?;
        if !is_sid(&account_sid) {
            return Err(SmsError::Config("twilio account_sid: letters, digits, '_' and '-' only".into()));
        }
        if auth_token.is_empty() {
            return Err(SmsError::Config("twilio auth_token is empty".into()));
        }
        if from.trim().is_empty() {
            return Err(SmsError::Config("twilio from is empty".into()));
        }
        if let Some(url) = &status_callback {
            https_url("twilio status_callback", url)?;
        }
        let messages_url =
            format!("{}/2010-04-01/Accounts/{account_sid}/Messages.json", base_url.trim_end_matches('/'));
        let messages_url = https_url("twilio base_url", &messages_url)?;
        Ok(Twilio { messages_url, account_sid, auth_token, from, status_callback })
    }

    pub(crate) fn messages_url(&self) -> &reqwest::Url {
        &self.messages_url
    }

    pub(crate) async fn send(&self, http: &reqwest::Client, to: &str, text: &str) -> Result<SentSms, SmsError> {
        let mut form = vec![("To", to), ("From", self.from.as_str()), ("Body", text)];
        if let Some(url) = &self.status_callback {
            form.push(("StatusCallback", url));
        }
        let resp = http
            .post(self.messages_url.clone())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| SmsError::Transport(describe(e)))?;
        let (status, body) = read_reply(resp).await?;
        if !(200..300).contains(&status) {
            return Err(provider_error(status, &body, text));
        }
        let reply: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| SmsError::BadReply("not JSON".into()))?;
        match reply.get("sid").and_then(serde_json::Value::as_str) {
            Some(sid) if is_sid(sid) => Ok(SentSms { provider_id: sid.to_owned() }),
            Some(_) => Err(SmsError::BadReply("\"sid\" is not a message id".into())),
            None => Err(SmsError::BadReply("no \"sid\"".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_messages_url_is_built_from_the_base_and_the_sid() {
        let t =
            Twilio::new("https://api.twilio.com/", "AC123".into(), "t".into(), "+15005550006".into(), None).unwrap();
        assert_eq!(t.messages_url().as_str(), "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json");
        let bad = |sid: &str| Twilio::new("https://api.twilio.com", sid.into(), "t".into(), "+1".into(), None);
        assert!(bad("AC/../x").is_err());
        assert!(bad("").is_err());
        assert!(Twilio::new("http://api.twilio.com", "AC1".into(), "t".into(), "+1".into(), None).is_err());
        assert!(Twilio::new("https://x.test", "AC1".into(), "".into(), "+1".into(), None).is_err());
        assert!(
            Twilio::new("https://x.test", "AC1".into(), "t".into(), "+1".into(), Some("http://cb.test/".into()))
                .is_err()
        );
    }
}
