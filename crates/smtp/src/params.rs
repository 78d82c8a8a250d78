//! MAIL FROM and RCPT TO parameters: SIZE (RFC 1870), BODY (RFC 6152),
//! SMTPUTF8 (RFC 6531), RET/ENVID/NOTIFY/ORCPT (RFC 3461), AUTH (RFC 4954,
//! accepted and ignored), and xtext.

use crate::command::Param;
use crate::reply::Reply;

/// The BODY parameter (RFC 6152); absent means 7BIT.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BodyType {
    /// `BODY=7BIT`, or no BODY parameter.
    #[default]
    SevenBit,
    /// `BODY=8BITMIME`.
    EightBitMime,
}

/// The RET parameter of a DSN request (RFC 3461 §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DsnRet {
    /// `RET=FULL`: return the whole message in a DSN.
    Full,
    /// `RET=HDRS`: return the headers only.
    Headers,
}

/// The NOTIFY parameter of a recipient (RFC 3461 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notify {
    /// `NOTIFY=NEVER`.
    Never,
    /// A non-empty set of conditions: `NOTIFY=SUCCESS,FAILURE,DELAY` (any subset).
    On {
        /// Notify on successful delivery.
        success: bool,
        /// Notify on failure.
        failure: bool,
        /// Notify on delay.
        delay: bool,
    },
}

/// Parameters of a MAIL command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailParams {
    /// `SIZE=n`, the declared size.
    pub size: Option<u64>,
    /// `BODY=`.
    pub body: Option<BodyType>,
    /// `SMTPUTF8` was given.
    pub smtputf8: bool,
    /// `RET=`.
    pub ret: Option<DsnRet>,
    /// `ENVID=`, xtext-decoded.
    pub envid: Option<String>,
    /// `REQUIRETLS` (RFC 8689): every hop must use verified TLS.
    pub requiretls: bool,
}

/// Parameters of a RCPT command.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RcptParams {
    /// `NOTIFY=`.
    pub notify: Option<Notify>,
    /// `ORCPT=addr-type;xtext`, decoded to `addr-type;address`.
    pub orcpt: Option<String>,
}

/// ORCPT holds an address (PHI): Debug does not show it.
impl std::fmt::Debug for RcptParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RcptParams")
            .field("notify", &self.notify)
            .field("orcpt", &self.orcpt.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why MAIL or RCPT parameters were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A keyword this server does not implement.
    #[error("parameter not recognized")]
    Unknown,
    /// A known keyword with a missing, unexpected or invalid value, or a
    /// keyword that is not an esmtp-keyword.
    #[error("malformed parameter")]
    Malformed,
    /// The same keyword twice.
    #[error("duplicate parameter")]
    Duplicate,
    /// `SIZE=n` above the server's limit.
    #[error("message size exceeds fixed maximum message size")]
    SizeExceeded,
}

impl ParamError {
    /// `555 5.5.4` for bad parameters, `552 5.3.4` for an excessive SIZE.
    pub fn reply(&self) -> Reply {
        match self {
            ParamError::SizeExceeded => {
                Reply::new(552, Some((5, 3, 4)), "Message size exceeds fixed maximum message size")
            }
            ParamError::Unknown => Reply::new(555, Some((5, 5, 4)), "Parameter not recognized or not implemented"),
            ParamError::Malformed => Reply::new(555, Some((5, 5, 4)), "Malformed parameter"),
            ParamError::Duplicate => Reply::new(555, Some((5, 5, 4)), "Duplicate parameter"),
        }
    }
}

/// RFC 5321 esmtp-keyword: `(ALPHA / DIGIT) *(ALPHA / DIGIT / "-")`.
fn valid_keyword(k: &str) -> bool {
    let b = k.as_bytes();
    !b.is_empty() && b[0].is_ascii_alphanumeric() && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// RFC 5321 esmtp-value (`%d33-60 / %d62-126`), plus non-ASCII (RFC 6531).
fn valid_value(v: &str) -> bool {
    !v.is_empty() && v.chars().all(|c| !c.is_ascii() || (c.is_ascii_graphic() && c != '='))
}

/// Checks the generic syntax of every parameter and that none repeats.
fn check_generic(params: &[Param]) -> Result<(), ParamError> {
    for (i, p) in params.iter().enumerate() {
        if !valid_keyword(&p.keyword) || p.value.as_deref().is_some_and(|v| !valid_value(v)) {
            return Err(ParamError::Malformed);
        }
        if params[..i].iter().any(|q| q.keyword.eq_ignore_ascii_case(&p.keyword)) {
            return Err(ParamError::Duplicate);
        }
    }
    Ok(())
}

/// Interprets MAIL parameters; `max_size` is the advertised SIZE limit.
pub fn parse_mail_params(params: &[Param], max_size: usize) -> Result<MailParams, ParamError> {
    check_generic(params)?;
    let mut out = MailParams::default();
    for p in params {
        let value = p.value.as_deref();
        match p.keyword.to_ascii_uppercase().as_str() {
            "SIZE" => {
                let v = value.ok_or(ParamError::Malformed)?;
                if v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ParamError::Malformed);
                }
                let n: u64 = v.parse().map_err(|_| ParamError::Malformed)?;
                if n > max_size as u64 {
                    return Err(ParamError::SizeExceeded);
                }
                out.size = Some(n);
            }
            "BODY" => {
                out.body = Some(match value.map(str::to_ascii_uppercase).as_deref() {
                    Some("7BIT") => BodyType::SevenBit,
                    Some("8BITMIME") => BodyType::EightBitMime,
                    _ => return Err(ParamError::Malformed),
                });
            }
            "SMTPUTF8" => {
                if value.is_some() {
                    return Err(ParamError::Malformed);
                }
                out.smtputf8 = true;
            }
            "RET" => {
                out.ret = Some(match value.map(str::to_ascii_uppercase).as_deref() {
                    Some("FULL") => DsnRet::Full,
                    Some("HDRS") => DsnRet::Headers,
                    _ => return Err(ParamError::Malformed),
                });
            }
            "ENVID" => {
                let v = xtext_decode(value.ok_or(ParamError::Malformed)?).ok_or(ParamError::Malformed)?;
                // RFC 3461 §4.4: at most 100 characters, printable US-ASCII.
                if v.is_empty() || v.len() > 100 || !v.bytes().all(|b| (b' '..=b'~').contains(&b)) {
                    return Err(ParamError::Malformed);
                }
                out.envid = Some(v);
            }
            "REQUIRETLS" => {
                if value.is_some() {
                    return Err(ParamError::Malformed);
                }
                out.requiretls = true;
            }
            "AUTH" => {
                // RFC 4954 §5: accepted; the identity asserted is not trusted.
                value.ok_or(ParamError::Malformed)?;
            }
            _ => return Err(ParamError::Unknown),
        }
    }
    Ok(out)
}

/// Interprets RCPT parameters.
pub fn parse_rcpt_params(params: &[Param]) -> Result<RcptParams, ParamError> {
    check_generic(params)?;
    let mut out = RcptParams::default();
    for p in params {
        let value = p.value.as_deref().ok_or(ParamError::Malformed);
        match p.keyword.to_ascii_uppercase().as_str() {
            "NOTIFY" => out.notify = Some(parse_notify(value?)?),
            "ORCPT" => {
                let (kind, addr) = value?.split_once(';').ok_or(ParamError::Malformed)?;
                if !valid_keyword(kind) {
                    return Err(ParamError::Malformed);
                }
                let addr = xtext_decode(addr).ok_or(ParamError::Malformed)?;
                if addr.is_empty() || addr.chars().any(char::is_control) {
                    return Err(ParamError::Malformed);
                }
                out.orcpt = Some(format!("{kind};{addr}"));
            }
            _ => return Err(ParamError::Unknown),
        }
    }
    Ok(out)
}

fn parse_notify(v: &str) -> Result<Notify, ParamError> {
    if v.eq_ignore_ascii_case("NEVER") {
        return Ok(Notify::Never);
    }
    let (mut success, mut failure, mut delay) = (false, false, false);
    for item in v.split(',') {
        let flag = match item.to_ascii_uppercase().as_str() {
            "SUCCESS" => &mut success,
            "FAILURE" => &mut failure,
            "DELAY" => &mut delay,
            _ => return Err(ParamError::Malformed),
        };
        if *flag {
            return Err(ParamError::Malformed);
        }
        *flag = true;
    }
    Ok(Notify::On { success, failure, delay })
}

/// Decodes xtext (RFC 3461 §4): `+HH` (upper-case hex) stands for an octet;
/// other characters must be printable ASCII other than `+` and `=`, or
/// non-ASCII (RFC 6533 UTF-8). Returns `None` if malformed or not UTF-8.
pub fn xtext_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'+' {
            let hex = bytes.get(i + 1..i + 3)?;
            let digit = |h: u8| match h {
                b'0'..=b'9' => Some(h - b'0'),
                b'A'..=b'F' => Some(h - b'A' + 10),
                _ => None,
            };
            out.push(digit(hex[0])? << 4 | digit(hex[1])?);
            i += 3;
        } else if b >= 0x80 || ((b'!'..=b'~').contains(&b) && b != b'=') {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes text as xtext: `+`, `=`, controls, space and non-ASCII octets become `+HH`.
pub fn xtext_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(list: &[(&str, Option<&str>)]) -> Vec<Param> {
        list.iter().map(|(k, v)| Param { keyword: (*k).into(), value: v.map(Into::into) }).collect()
    }

    #[test]
    fn all_mail_parameters() {
        let p = parse_mail_params(
            &params(&[
                ("size", Some("1000")),
                ("BODY", Some("8bitmime")),
                ("SMTPUTF8", None),
                ("RET", Some("HDRS")),
                ("ENVID", Some("QQ314159+2Bx")),
                ("AUTH", Some("<>")),
                ("requiretls", None),
            ]),
            10_000,
        )
        .unwrap();
        assert_eq!(
            p,
            MailParams {
                size: Some(1000),
                body: Some(BodyType::EightBitMime),
                smtputf8: true,
                ret: Some(DsnRet::Headers),
                envid: Some("QQ314159+x".into()),
                requiretls: true,
            }
        );
        assert_eq!(parse_mail_params(&[], 1), Ok(MailParams::default()));
    }

    #[test]
    fn mail_parameter_errors() {
        let e = |list: &[(&str, Option<&str>)]| parse_mail_params(&params(list), 1000).unwrap_err();
        assert_eq!(e(&[("SIZE", Some("1001"))]), ParamError::SizeExceeded);
        assert_eq!(e(&[("SIZE", Some("99999999999999999999999"))]), ParamError::Malformed);
        assert_eq!(e(&[("SIZE", Some("-1"))]), ParamError::Malformed);
        assert_eq!(e(&[("SIZE", None)]), ParamError::Malformed);
        assert_eq!(e(&[("BODY", Some("BINARYMIME"))]), ParamError::Malformed);
        assert_eq!(e(&[("SMTPUTF8", Some("yes"))]), ParamError::Malformed);
        assert_eq!(e(&[("REQUIRETLS", Some("yes"))]), ParamError::Malformed);
        assert_eq!(e(&[("RET", Some("ALL"))]), ParamError::Malformed);
        assert_eq!(e(&[("ENVID", Some("a+2"))]), ParamError::Malformed);
        assert_eq!(e(&[("ENVID", Some("a+0A"))]), ParamError::Malformed);
        assert_eq!(e(&[("XFOO", Some("1"))]), ParamError::Unknown);
        assert_eq!(e(&[("-X", None)]), ParamError::Malformed);
        assert_eq!(e(&[("SIZE", Some("1")), ("size", Some("2"))]), ParamError::Duplicate);
        assert_eq!(e(&[("NOTIFY", Some("NEVER"))]), ParamError::Unknown);
        assert_eq!(ParamError::SizeExceeded.reply().code, 552);
        assert_eq!(ParamError::Unknown.reply().enhanced, Some((5, 5, 4)));
        assert_eq!(ParamError::Malformed.reply().code, 555);
    }

    #[test]
    fn rcpt_parameters() {
        let p =
            parse_rcpt_params(&params(&[("NOTIFY", Some("success,DELAY")), ("ORCPT", Some("rfc822;a+2Bb@x.example"))]))
                .unwrap();
        assert_eq!(p.notify, Some(Notify::On { success: true, failure: false, delay: true }));
        assert_eq!(p.orcpt.as_deref(), Some("rfc822;a+b@x.example"));
        assert!(!format!("{p:?}").contains("x.example"));
        assert_eq!(parse_rcpt_params(&params(&[("NOTIFY", Some("never"))])).unwrap().notify, Some(Notify::Never));
        for bad in ["NEVER,SUCCESS", "SUCCESS,SUCCESS", "", "SUCCESS,", "SOMETIMES"] {
            assert_eq!(parse_rcpt_params(&params(&[("NOTIFY", Some(bad))])), Err(ParamError::Malformed), "{bad}");
        }
        for bad in ["rfc822", ";a@b.c", "rfc822;", "rfc822;a+ZZ"] {
            assert_eq!(parse_rcpt_params(&params(&[("ORCPT", Some(bad))])), Err(ParamError::Malformed), "{bad}");
        }
        assert_eq!(parse_rcpt_params(&params(&[("SIZE", Some("1"))])), Err(ParamError::Unknown));
    }

    #[test]
    fn xtext_examples() {
        assert_eq!(xtext_decode("a+2Bb+3Dc").as_deref(), Some("a+b=c"));
        assert_eq!(xtext_decode("+2b"), None);
        assert_eq!(xtext_decode("a=b"), None);
        assert_eq!(xtext_decode("a b"), None);
        assert_eq!(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
    }

    proptest! {
        #[test]
        fn xtext_round_trips(s in "\\PC{0,40}") {
            let enc = xtext_encode(&s);
            prop_assert!(enc.is_ascii());
            prop_assert_eq!(xtext_decode(&enc), Some(s));
        }
    }
}
