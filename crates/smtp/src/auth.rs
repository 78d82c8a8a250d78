//! SASL PLAIN (RFC 4616) and LOGIN decoding for SMTP AUTH (RFC 4954).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A SASL mechanism this server offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// `PLAIN` (RFC 4616).
    Plain,
    /// `LOGIN` (draft-murchison-sasl-login).
    Login,
}

impl Mechanism {
    /// Looks a mechanism up by name, case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("PLAIN") {
            Some(Mechanism::Plain)
        } else if name.eq_ignore_ascii_case("LOGIN") {
            Some(Mechanism::Login)
        } else {
            None
        }
    }

    /// The mechanism's name as advertised.
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
        }
    }
}

/// Credentials decoded from a PLAIN response.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    /// Authorization identity; `None` when empty.
    pub authzid: Option<String>,
    /// Authentication identity.
    pub username: String,
    /// The password.
    pub password: String,
}

/// Never shows the password.
impl std::fmt::Debug for PlainCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainCredentials")
            .field("authzid", &self.authzid)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why a SASL response was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not valid (padded, standard-alphabet) base64.
    #[error("invalid base64")]
    Base64,
    /// Decoded, but not UTF-8.
    #[error("credentials are not valid UTF-8")]
    Utf8,
    /// A PLAIN message that is not `authzid NUL authcid NUL passwd` with a
    /// non-empty authcid and password.
    #[error("malformed PLAIN message")]
    MalformedPlain,
}

/// Decodes a base64 SASL response; `=` is the empty response (RFC 4954 §4).
pub fn decode_base64(s: &str) -> Result<Vec<u8>, AuthError> {
    if s == "=" {
        return Ok(Vec::new());
    }
    STANDARD.decode(s).map_err(|_| AuthError::Base64)
}

/// Encodes a server challenge (`Username:` → `VXNlcm5hbWU6`).
pub fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes a PLAIN response: base64 of `[authzid] NUL authcid NUL passwd`.
pub fn decode_plain(s: &str) -> Result<PlainCredentials, AuthError> {
    let raw = decode_base64(s)?;
    let text = String::from_utf8(raw).map_err(|_| AuthError::Utf8)?;
    let mut parts = text.split('\0');
    let (Some(authzid), Some(username), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::MalformedPlain);
    };
    if username.is_empty() || password.is_empty() {
        return Err(AuthError::MalformedPlain);
    }
    Ok(PlainCredentials {
        authzid: (!authzid.is_empty()).then(|| authzid.to_owned()),
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

/// Decodes one LOGIN response (user name or password): base64 of UTF-8
/// without NUL.
pub fn decode_login(s: &str) -> Result<String, AuthError> {
    let text = String::from_utf8(decode_base64(s)?).map_err(|_| AuthError::Utf8)?;
    if text.contains('\0') {
        return Err(AuthError::Utf8);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mechanism_names() {
        assert_eq!(Mechanism::from_name("plain"), Some(Mechanism::Plain));
        assert_eq!(Mechanism::from_name("LOGIN"), Some(Mechanism::Login));
        assert_eq!(Mechanism::from_name("CRAM-MD5"), None);
        assert_eq!(Mechanism::Login.as_str(), "LOGIN");
    }

    #[test]
    fn plain_with_and_without_authzid() {
        let c = decode_plain(&encode_base64(b"\0alice\0s3cret")).unwrap();
        assert_eq!(c, PlainCredentials { authzid: None, username: "alice".into(), password: "s3cret".into() });
        let c = decode_plain(&encode_base64(b"admin\0alice\0pw")).unwrap();
        assert_eq!(c.authzid.as_deref(), Some("admin"));
        assert!(!format!("{c:?}").contains("pw\""));
    }

    #[test]
    fn plain_errors() {
        assert_eq!(decode_plain("not base64!"), Err(AuthError::Base64));
        assert_eq!(decode_plain("AGFsaWNl"), Err(AuthError::MalformedPlain)); // "\0alice"
        assert_eq!(decode_plain("="), Err(AuthError::MalformedPlain));
        assert_eq!(decode_plain(&encode_base64(b"\0\0pw")), Err(AuthError::MalformedPlain));
        assert_eq!(decode_plain(&encode_base64(b"\0a\0")), Err(AuthError::MalformedPlain));
        assert_eq!(decode_plain(&encode_base64(b"\0a\0b\0c")), Err(AuthError::MalformedPlain));
        assert_eq!(decode_plain(&encode_base64(b"\0a\0\xff")), Err(AuthError::Utf8));
    }

    #[test]
    fn login_fields_and_challenges() {
        assert_eq!(encode_base64(b"Username:"), "VXNlcm5hbWU6");
        assert_eq!(encode_base64(b"Password:"), "UGFzc3dvcmQ6");
        assert_eq!(decode_login("YWxpY2U=").as_deref(), Ok("alice"));
        assert_eq!(decode_login("="), Ok(String::new()));
        assert_eq!(decode_login("YWxpY2U"), Err(AuthError::Base64));
        assert_eq!(decode_login(&encode_base64(b"a\0b")), Err(AuthError::Utf8));
    }

    proptest! {
        #[test]
        fn plain_round_trips(z in "[^\\x00]{0,10}", u in "[^\\x00]{1,20}", p in "[^\\x00]{1,20}") {
            let enc = encode_base64(format!("{z}\0{u}\0{p}").as_bytes());
            let c = decode_plain(&enc).unwrap();
            prop_assert_eq!(c.authzid, (!z.is_empty()).then_some(z));
            prop_assert_eq!(c.username, u);
            prop_assert_eq!(c.password, p);
        }
    }
}
