//! Whole SMTP conversations driven through the public API.

use proptest::prelude::*;
use sealpost_smtp::{BodyType, DsnRet, Envelope, Event, Mechanism, Notify, Reply, Session, SessionConfig};

const HOST: &str = "mx.sealpost.example";

/// Implicit TLS, AUTH required.
fn tls_cfg() -> SessionConfig {
    SessionConfig {
        hostname: HOST.into(),
        max_message_size: 10_000,
        max_recipients: 3,
        tls_active: true,
        starttls_offered: false,
        plaintext_allowed: false,
        relay_without_auth: false,
        check_sender: false,
    }
}

/// Plaintext port offering STARTTLS, plaintext mail not allowed.
fn starttls_cfg() -> SessionConfig {
    SessionConfig { tls_active: false, starttls_offered: true, ..tls_cfg() }
}

/// Implicit TLS, trusted client: no AUTH needed.
fn relay_cfg() -> SessionConfig {
    SessionConfig { relay_without_auth: true, ..tls_cfg() }
}

/// Drives a session like a network layer would, answering requests.
struct Client {
    s: Session,
    /// Answers to Authenticate, in turn; then `true`.
    auth_answers: Vec<bool>,
    /// Answer to Message.
    message_answer: Result<String, Reply>,
    /// Answers to Mail (with `check_sender`), in turn; then `Ok(())`.
    mail_answers: Vec<Result<(), Reply>>,
    /// Call tls_started on StartTls.
    auto_tls: bool,
    events: Vec<Event>,
}

impl Client {
    fn new(cfg: SessionConfig) -> Self {
        Self {
            s: Session::new(cfg),
            auth_answers: Vec::new(),
            message_answer: Ok("Q1".into()),
            mail_answers: Vec::new(),
            auto_tls: true,
            events: Vec::new(),
        }
    }

    /// Feeds bytes, drains events (answering them), returns them as text.
    fn send(&mut self, bytes: &[u8]) -> Vec<String> {
        self.s.feed(bytes);
        self.drain()
    }

    fn drain(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(ev) = self.s.next_event() {
            out.push(describe(&ev));
            match &ev {
                Event::Authenticate { .. } => {
                    let ok = if self.auth_answers.is_empty() { true } else { self.auth_answers.remove(0) };
                    self.s.auth_result(ok);
                }
                Event::Message { .. } => self.s.message_result(self.message_answer.clone()),
                Event::Mail { .. } => {
                    let answer = if self.mail_answers.is_empty() { Ok(()) } else { self.mail_answers.remove(0) };
                    self.s.mail_result(answer);
                }
                Event::StartTls if self.auto_tls => self.s.tls_started(),
                _ => {}
            }
            self.events.push(ev);
        }
        out
    }

    fn messages(&self) -> Vec<(Envelope, Vec<u8>)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message { envelope, data } => Some((envelope.clone(), data.clone())),
                _ => None,
            })
            .collect()
    }

    /// Authenticated session on implicit TLS, after EHLO.
    fn logged_in() -> Self {
        let mut c = Client::new(tls_cfg());
        c.send(b"EHLO c.example\r\nAUTH PLAIN AGFsaWNlAHB3\r\n");
        assert!(c.s.is_authenticated());
        c
    }
}

/// One string per event; replies as their wire text without CRLF.
fn describe(ev: &Event) -> String {
    match ev {
        Event::Reply(r) => r.to_string(),
        Event::StartTls => "STARTTLS".into(),
        Event::Authenticate { mechanism, authzid, username, password } => {
            format!("AUTH {mechanism:?} {authzid:?} {username} {password}")
        }
        Event::Message { data, .. } => format!("MESSAGE {}", data.len()),
        Event::Mail { from } => format!("MAIL {}", from.as_ref().map(|a| a.as_str()).unwrap_or("<>")),
        Event::Close => "CLOSE".into(),
    }
}

const MSG: &[u8] = b"From: a@example.org\r\nSubject: test\r\n\r\nHello\r\n";

fn transaction(body: &[u8]) -> Vec<u8> {
    let mut v = b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n".to_vec();
    v.extend_from_slice(body);
    v
}

#[test]
fn greeting() {
    let s = Session::new(tls_cfg());
    assert_eq!(s.greeting().to_bytes(), format!("220 {HOST} ESMTP Sealpost\r\n").into_bytes());
}

#[test]
fn ehlo_on_implicit_tls_offers_auth_not_starttls() {
    let mut c = Client::new(tls_cfg());
    let r = c.send(b"EHLO client.example\r\n");
    assert_eq!(
        r,
        vec![format!(
            "250-{HOST}\n250-PIPELINING\n250-SIZE 10000\n250-8BITMIME\n250-SMTPUTF8\n250-ENHANCEDSTATUSCODES\n250-DSN\n250-REQUIRETLS\n250 AUTH PLAIN LOGIN"
        )]
    );
    assert_eq!(c.s.client_name(), Some("client.example"));
}

#[test]
fn ehlo_before_starttls_offers_starttls_not_auth() {
    let mut c = Client::new(starttls_cfg());
    let r = c.send(b"ehlo client.example\r\n");
    assert!(r[0].ends_with("250-DSN\n250 STARTTLS"), "{r:?}");
    assert!(!r[0].contains("AUTH"));
    // A plaintext listener that does not offer STARTTLS advertises neither.
    let mut c = Client::new(SessionConfig { starttls_offered: false, plaintext_allowed: true, ..starttls_cfg() });
    let r = c.send(b"EHLO x\r\n");
    assert!(r[0].ends_with("250 DSN"), "{r:?}");
}

#[test]
fn requiretls_only_over_tls() {
    // RFC 8689 §4.1: a plaintext session neither offers nor accepts REQUIRETLS.
    let plain = SessionConfig { tls_active: false, starttls_offered: false, plaintext_allowed: true, ..relay_cfg() };
    let mut c = Client::new(plain);
    let r = c.send(b"EHLO x\r\n");
    assert!(!r[0].contains("REQUIRETLS"), "{r:?}");
    assert_eq!(c.send(b"MAIL FROM:<a@example.org> REQUIRETLS\r\n"), vec!["530 5.7.10 REQUIRETLS needed a TLS session"]);
}

#[test]
fn helo_and_missing_arguments() {
    let mut c = Client::new(tls_cfg());
    assert_eq!(c.send(b"HELO client.example\r\n"), vec![format!("250 {HOST}")]);
    assert_eq!(c.send(b"EHLO\r\n"), vec!["501 5.5.4 Syntax: EHLO hostname"]);
    assert_eq!(c.send(b"HELO \r\n"), vec!["501 5.5.4 Syntax: HELO hostname"]);
}

#[test]
fn command_order_errors() {
    let mut c = Client::new(relay_cfg());
    assert_eq!(c.send(b"MAIL FROM:<a@example.org>\r\n"), vec!["503 5.5.1 Send EHLO first"]);
    c.send(b"EHLO c\r\n");
    assert_eq!(c.send(b"RCPT TO:<b@example.org>\r\n"), vec!["503 5.5.1 Need MAIL command"]);
    assert_eq!(c.send(b"DATA\r\n"), vec!["503 5.5.1 Need MAIL command"]);
    assert_eq!(c.send(b"MAIL FROM:<a@example.org>\r\n"), vec!["250 2.1.0 Ok"]);
    assert_eq!(c.send(b"DATA\r\n"), vec!["503 5.5.1 Need RCPT command"]);
    assert_eq!(c.send(b"MAIL FROM:<a@example.org>\r\n"), vec!["503 5.5.1 Nested MAIL command"]);
    // A refused recipient does not count for DATA.
    assert_eq!(c.send(b"RCPT TO:<bad>\r\n")[0].split(' ').next(), Some("553"));
    assert_eq!(c.send(b"DATA\r\n"), vec!["503 5.5.1 Need RCPT command"]);
}

#[test]
fn rset_noop_vrfy_help_quit_unknown() {
    let mut c = Client::new(relay_cfg());
    c.send(b"EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
    assert_eq!(c.send(b"RSET\r\n"), vec!["250 2.0.0 Ok"]);
    assert_eq!(c.send(b"RCPT TO:<b@example.org>\r\n"), vec!["503 5.5.1 Need MAIL command"]);
    assert_eq!(c.send(b"MAIL FROM:<a@example.org>\r\n"), vec!["250 2.1.0 Ok"]);
    assert_eq!(c.send(b"NOOP\r\n"), vec!["250 2.0.0 Ok"]);
    assert_eq!(
        c.send(b"VRFY someone\r\n"),
        vec!["252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery"]
    );
    assert!(c.send(b"HELP\r\n")[0].starts_with("214 2.0.0 "));
    assert_eq!(c.send(b"EXPN list\r\n"), vec!["502 5.5.1 EXPN not implemented"]);
    assert_eq!(c.send(b"FROB x\r\n"), vec!["500 5.5.2 Unknown command"]);
    assert_eq!(c.send(b"RSET now\r\n"), vec!["501 5.5.4 Syntax: RSET"]);
    assert_eq!(c.send(b"QUIT\r\nNOOP\r\n"), vec!["221 2.0.0 Bye", "CLOSE"]);
    assert!(c.s.is_closed());
    assert!(c.send(b"NOOP\r\n").is_empty());
}

#[test]
fn line_length_limits_and_nul() {
    let mut c = Client::new(tls_cfg());
    // 510 octets + CRLF = 512: allowed.
    let ok = format!("NOOP {}\r\n", "x".repeat(505));
    assert_eq!(ok.len(), 512);
    assert_eq!(c.send(ok.as_bytes()), vec!["250 2.0.0 Ok"]);
    let long = format!("NOOP {}\r\n", "x".repeat(506));
    assert_eq!(c.send(long.as_bytes()), vec!["500 5.5.2 Line too long"]);
    // Over-long line arriving in pieces, then a normal command.
    c.s.feed(&[b'x'; 400]);
    assert!(c.drain().is_empty());
    c.s.feed(&[b'x'; 400]);
    assert!(c.drain().is_empty());
    assert_eq!(c.send(b"yyy\r\nNOOP\r\n"), vec!["500 5.5.2 Line too long", "250 2.0.0 Ok"]);
    assert_eq!(c.send(b"NO\0OP\r\n"), vec!["500 5.5.2 Syntax error: NUL character in command"]);
    assert_eq!(c.send(b"NOOP\n"), vec!["500 5.5.2 Bare LF not allowed; lines must end with CRLF"]);
}

#[test]
fn auth_lines_may_be_long() {
    let mut c = Client::new(tls_cfg());
    c.send(b"EHLO c\r\n");
    let user = "u".repeat(3000);
    let resp = sealpost_smtp::encode_base64(format!("\0{user}\0pw").as_bytes());
    let r = c.send(format!("AUTH PLAIN {resp}\r\n").as_bytes());
    assert_eq!(r[0], format!("AUTH Plain None {user} pw"));
    assert_eq!(r[1], "235 2.7.0 Authentication successful");
    let mut c = Client::new(tls_cfg());
    c.send(b"EHLO c\r\n");
    let r = c.send(format!("AUTH PLAIN {}\r\n", "A".repeat(12280)).as_bytes());
    assert_eq!(r, vec!["500 5.5.2 Line too long"]);
}

#[test]
fn tls_and_auth_policy() {
    // STARTTLS listener, before TLS.
    let mut c = Client::new(starttls_cfg());
    c.send(b"EHLO c\r\n");
    assert_eq!(c.send(b"MAIL FROM:<a@example.org>\r\n"), vec!["530 5.7.0 Must issue a STARTTLS command first"]);
    assert_eq!(
        c.send(b"AUTH PLAIN AGFsaWNlAHB3\r\n"),
        vec!["538 5.7.11 Encryption required for requested authentication mechanism"]
    );
    // Plaintext allowed: MAIL passes the TLS check, AUTH still needs TLS.
    let mut c = Client::new(SessionConfig { plaintext_allowed: true, ..starttls_cfg() });
    c.send(b"EHLO c\r\n");
    assert_eq!(c.send(b"MAIL FROM:<a@example.org>\r\n"), vec!["530 5.7.0 Authentication required"]);
    assert!(c.send(b"AUTH LOGIN\r\n")[0].starts_with("538 5.7.11 "));
    let mut c = Client::new(SessionConfig { plaintext_allowed: true, relay_without_auth: true, ..starttls_cfg() });
    c.send(b"EHLO c\r\n");
    assert_eq!(c.send(b"MAIL FROM:<a@example.org>\r\n"), vec!["250 2.1.0 Ok"]);
    // TLS, not authenticated.
    let mut c = Client::new(tls_cfg());
    c.send(b"EHLO c\r\n");
    assert_eq!(c.send(b"MAIL FROM:<a@example.org>\r\n"), vec!["530 5.7.0 Authentication required"]);
}

#[test]
fn starttls_refusals() {
    let mut c = Client::new(tls_cfg());
    c.send(b"EHLO c\r\n");
    assert_eq!(c.send(b"STARTTLS\r\n"), vec!["503 5.5.1 TLS already active"]);
    let mut c = Client::new(SessionConfig { starttls_offered: false, plaintext_allowed: true, ..starttls_cfg() });
    assert_eq!(c.send(b"STARTTLS\r\n"), vec!["502 5.5.1 STARTTLS not available"]);
    let mut c = Client::new(starttls_cfg());
    assert_eq!(c.send(b"STARTTLS now\r\n"), vec!["501 5.5.4 Syntax: STARTTLS"]);
}

#[test]
fn starttls_upgrade_resets_and_discards_injected_commands() {
    let mut c = Client::new(starttls_cfg());
    c.auto_tls = false;
    c.send(b"EHLO c\r\n");
    let r = c.send(b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<x@example.org>\r\n");
    assert_eq!(r, vec!["220 2.0.0 Ready to start TLS", "STARTTLS"]);
    // Waiting for the handshake: more bytes produce nothing.
    assert!(c.send(b"NOOP\r\n").is_empty());
    c.s.tls_started();
    assert!(c.s.is_tls());
    assert_eq!(c.s.client_name(), None);
    // Nothing of the injected commands is left.
    assert!(c.drain().is_empty());
    // Back to the pre-EHLO state.
    assert_eq!(c.send(b"AUTH PLAIN AGFsaWNlAHB3\r\n"), vec!["503 5.5.1 Send EHLO first"]);
    let r = c.send(b"EHLO c\r\n");
    assert!(r[0].ends_with("250 AUTH PLAIN LOGIN") && !r[0].contains("STARTTLS"), "{r:?}");
    assert_eq!(c.send(b"STARTTLS\r\n"), vec!["503 5.5.1 TLS already active"]);
}

#[test]
fn auth_plain_initial_response_and_result() {
    let mut c = Client::new(tls_cfg());
    c.auth_answers = vec![false, true];
    c.send(b"EHLO c\r\n");
    // "\0alice\0pw"
    let r = c.send(b"AUTH PLAIN AGFsaWNlAHB3\r\n");
    assert_eq!(r, vec!["AUTH Plain None alice pw", "535 5.7.8 Authentication credentials invalid"]);
    assert!(!c.s.is_authenticated());
    // "admin\0alice\0pw", mechanism name case-insensitive.
    let r = c.send(b"auth plain YWRtaW4AYWxpY2UAcHc=\r\n");
    assert_eq!(r, vec!["AUTH Plain Some(\"admin\") alice pw", "235 2.7.0 Authentication successful"]);
    assert!(c.s.is_authenticated());
    assert_eq!(c.send(b"AUTH PLAIN AGFsaWNlAHB3\r\n"), vec!["503 5.5.1 Already authenticated"]);
    assert_eq!(c.send(b"MAIL FROM:<a@example.org>\r\n"), vec!["250 2.1.0 Ok"]);
}

#[test]
fn auth_plain_after_challenge_and_cancel() {
    let mut c = Client::new(tls_cfg());
    c.send(b"EHLO c\r\n");
    assert_eq!(c.send(b"AUTH PLAIN\r\n"), vec!["334 "]);
    assert_eq!(c.send(b"*\r\n"), vec!["501 5.7.0 Authentication cancelled"]);
    assert_eq!(c.send(b"AUTH PLAIN\r\n"), vec!["334 "]);
    assert_eq!(c.send(b"%%%\r\n"), vec!["501 5.5.2 Invalid base64 data"]);
    assert_eq!(c.send(b"AUTH PLAIN !!\r\n"), vec!["501 5.5.2 Invalid base64 data"]);
    assert_eq!(c.send(b"AUTH CRAM-MD5\r\n"), vec!["504 5.5.4 Unrecognized authentication mechanism"]);
    assert_eq!(c.send(b"AUTH PLAIN\r\n"), vec!["334 "]);
    assert_eq!(c.send(b"AGFsaWNlAHB3\r\n"), vec!["AUTH Plain None alice pw", "235 2.7.0 Authentication successful"]);
}

#[test]
fn auth_login_flow() {
    let mut c = Client::new(tls_cfg());
    c.send(b"EHLO c\r\n");
    assert_eq!(c.send(b"AUTH LOGIN\r\n"), vec!["334 VXNlcm5hbWU6"]);
    assert_eq!(c.send(b"YWxpY2U=\r\n"), vec!["334 UGFzc3dvcmQ6"]);
    assert_eq!(c.send(b"cHc=\r\n"), vec!["AUTH Login None alice pw", "235 2.7.0 Authentication successful"]);
    let mut c = Client::new(tls_cfg());
    c.send(b"EHLO c\r\n");
    // Initial response carries the user name; cancel at the password.
    assert_eq!(c.send(b"AUTH LOGIN YWxpY2U=\r\n"), vec!["334 UGFzc3dvcmQ6"]);
    assert_eq!(c.send(b"*\r\n"), vec!["501 5.7.0 Authentication cancelled"]);
    assert_eq!(c.send(b"NOOP\r\n"), vec!["250 2.0.0 Ok"]);
    let ev = c.events.iter().find(|e| matches!(e, Event::Authenticate { .. }));
    assert!(ev.is_none());
    let _ = Mechanism::Login;
}

#[test]
fn auth_inside_transaction_is_refused() {
    let mut c = Client::new(relay_cfg());
    c.send(b"EHLO c\r\nMAIL FROM:<a@example.org>\r\n");
    assert_eq!(c.send(b"AUTH PLAIN AGFsaWNlAHB3\r\n"), vec!["503 5.5.1 Mail transaction in progress"]);
}

#[test]
fn pipelined_input_waits_for_auth_result() {
    let mut c = Client::new(tls_cfg());
    c.send(b"EHLO c\r\n");
    c.s.feed(b"AUTH PLAIN AGFsaWNlAHB3\r\nMAIL FROM:<a@example.org>\r\n");
    assert!(matches!(c.s.next_event(), Some(Event::Authenticate { .. })));
    assert_eq!(c.s.next_event(), None);
    c.s.feed(b"NOOP\r\n");
    assert_eq!(c.s.next_event(), None);
    c.s.auth_result(true);
    assert_eq!(c.drain(), vec!["235 2.7.0 Authentication successful", "250 2.1.0 Ok", "250 2.0.0 Ok"]);
}

#[test]
fn whole_transaction_in_one_feed() {
    let mut c = Client::logged_in();
    let mut input = b"MAIL FROM:<a@example.org> SIZE=50 BODY=8BITMIME RET=HDRS ENVID=ab+2Bc\r\n".to_vec();
    input.extend_from_slice(b"RCPT TO:<b@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx@example.org\r\n");
    input.extend_from_slice(b"RCPT TO:<c@example.org>\r\nDATA\r\n");
    input.extend_from_slice(MSG);
    input.extend_from_slice(b".\r\nQUIT\r\n");
    let r = c.send(&input);
    assert_eq!(
        r,
        vec![
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
            "250 2.1.5 Ok",
            "354 End data with <CR><LF>.<CR><LF>",
            &format!("MESSAGE {}", MSG.len()),
            "250 2.0.0 Ok: queued as Q1",
            "221 2.0.0 Bye",
            "CLOSE",
        ]
    );
    let (env, data) = c.messages().remove(0);
    assert_eq!(data, MSG);
    assert_eq!(env.mail_from.as_ref().map(|a| a.as_str()), Some("a@example.org"));
    assert_eq!(env.body, BodyType::EightBitMime);
    assert_eq!(env.ret, Some(DsnRet::Headers));
    assert_eq!(env.envid.as_deref(), Some("ab+c"));
    assert_eq!(env.declared_size, Some(50));
    assert!(!env.smtputf8);
    assert_eq!(env.recipients.len(), 2);
    assert_eq!(env.recipients[0].address.as_str(), "b@example.org");
    assert_eq!(env.recipients[0].notify, Some(Notify::On { success: true, failure: true, delay: false }));
    assert_eq!(env.recipients[0].orcpt.as_deref(), Some("rfc822;b+x@example.org"));
    assert_eq!(env.recipients[1].notify, None);
}

#[test]
fn null_sender_and_default_envelope() {
    let mut c = Client::logged_in();
    let mut input = b"MAIL FROM: <>\r\nRCPT TO:<b@example.org> NOTIFY=NEVER\r\nDATA\r\n".to_vec();
    input.extend_from_slice(MSG);
    input.extend_from_slice(b".\r\n");
    c.send(&input);
    let (env, _) = c.messages().remove(0);
    assert_eq!(env.mail_from, None);
    assert_eq!(env.body, BodyType::SevenBit);
    assert_eq!((env.ret, env.envid, env.declared_size), (None, None, None));
    assert_eq!(env.recipients[0].notify, Some(Notify::Never));
}

#[test]
fn mail_parameter_and_sender_errors() {
    let mut c = Client::logged_in();
    assert_eq!(
        c.send(b"MAIL FROM:<a@example.org> SIZE=10001\r\n"),
        vec!["552 5.3.4 Message size exceeds fixed maximum message size"]
    );
    assert_eq!(
        c.send(b"MAIL FROM:<a@example.org> FOO=BAR\r\n"),
        vec!["555 5.5.4 Parameter not recognized or not implemented"]
    );
    assert_eq!(c.send(b"MAIL FROM:<a@example.org> BODY=BINARY\r\n"), vec!["555 5.5.4 Malformed parameter"]);
    assert_eq!(c.send(b"MAIL FROM:<a@example.org> SIZE=x\r\n"), vec!["555 5.5.4 Malformed parameter"]);
    assert_eq!(
        c.send(b"MAIL FROM:<patient.name@>\r\n"),
        vec!["553 5.1.7 Bad sender address syntax: address must have the form local-part@domain"]
    );
    assert_eq!(c.send(b"MAIL FROM:<a@-bad.example>\r\n"), vec!["553 5.1.7 Bad sender address syntax: invalid domain"]);
    assert_eq!(c.send(b"MAIL FROM:a@example.org\r\n"), vec!["501 5.5.4 Syntax: MAIL FROM:<address> [parameters]"]);
    assert_eq!(
        c.send("MAIL FROM:<jörg@example.org>\r\n".as_bytes()),
        vec!["553 5.6.7 Non-ASCII sender address requires SMTPUTF8"]
    );
    assert_eq!(c.send("MAIL FROM:<jörg@example.org> SMTPUTF8 AUTH=<>\r\n".as_bytes()), vec!["250 2.1.0 Ok"]);
    assert_eq!(c.send("RCPT TO:<zoë@bücher.example>\r\n".as_bytes()), vec!["250 2.1.5 Ok"]);
}

#[test]
fn rcpt_errors_and_limit() {
    let mut c = Client::logged_in();
    c.send(b"MAIL FROM:<a@example.org>\r\n");
    assert_eq!(
        c.send(b"RCPT TO:<>\r\n"),
        vec!["553 5.1.3 Bad recipient address syntax: address must have the form local-part@domain"]
    );
    assert_eq!(
        c.send(b"RCPT TO:<postmaster>\r\n"),
        vec!["553 5.1.3 Bad recipient address syntax: address must have the form local-part@domain"]
    );
    assert_eq!(
        c.send(b"RCPT TO:<a..b@example.org>\r\n"),
        vec!["553 5.1.3 Bad recipient address syntax: invalid local part"]
    );
    assert_eq!(
        c.send("RCPT TO:<zoë@example.org>\r\n".as_bytes()),
        vec!["553 5.6.7 Non-ASCII recipient address requires SMTPUTF8"]
    );
    assert_eq!(c.send(b"RCPT TO:<b@example.org> NOTIFY=NEVER,DELAY\r\n"), vec!["555 5.5.4 Malformed parameter"]);
    assert_eq!(
        c.send(b"RCPT TO:<b@example.org> SIZE=1\r\n"),
        vec!["555 5.5.4 Parameter not recognized or not implemented"]
    );
    let r = c.send(b"RCPT TO:<b1@example.org>\r\nRCPT TO:<b2@example.org>\r\nRCPT TO:<b3@example.org>\r\nRCPT TO:<b4@example.org>\r\n");
    assert_eq!(r, vec!["250 2.1.5 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok", "452 4.5.3 Too many recipients"]);
}

#[test]
fn replies_never_echo_addresses() {
    let mut c = Client::logged_in();
    let r = c.send(b"MAIL FROM:<jane.doe.patient@-x>\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<john.patient@>\r\n");
    for line in r {
        assert!(!line.contains("patient"), "{line}");
    }
}

#[test]
fn dot_unstuffing_in_session() {
    let mut c = Client::logged_in();
    let mut input = transaction(b"From: a@example.org\r\n\r\n..leading dot\r\n..\r\n...\r\n");
    input.extend_from_slice(b".\r\n");
    c.send(&input);
    assert_eq!(c.messages()[0].1, b"From: a@example.org\r\n\r\n.leading dot\r\n.\r\n..\r\n");
}

#[test]
fn smuggling_sequences_do_not_end_data() {
    for smuggle in [&b"\n.\n"[..], b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n"] {
        let mut c = Client::logged_in();
        let mut input = transaction(b"From: a@example.org\r\n\r\nx");
        input.extend_from_slice(smuggle);
        input.extend_from_slice(b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<v@example.org>\r\nDATA\r\nFrom: x\r\n\r\n");
        input.extend_from_slice(b"\r\n.\r\n");
        let r = c.send(&input);
        let shown = String::from_utf8_lossy(smuggle).escape_debug().to_string();
        // The smuggled commands are content, never commands; the real end
        // of data finds the bare CR/LF and refuses the whole message.
        assert_eq!(r.len(), 4, "{shown}: {r:?}");
        assert!(r[3].starts_with("554 5.6.0 Bare CR or LF not allowed"), "{shown}: {r:?}");
        assert!(c.messages().is_empty());
    }
}

#[test]
fn content_checks_in_order() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (MSG.to_vec(), "MESSAGE"),
        (b"From: a\r\n\r\nx\0\ny\r\n".to_vec(), "554 5.6.0 NUL bytes are not allowed (line 3)"),
        (b"From: a\r\n\r\nx\ny\r\n".to_vec(), "554 5.6.0 Bare CR or LF not allowed (bare LF on line 3)"),
        (b"From: a\r\n\r\nx\ry\r\n".to_vec(), "554 5.6.0 Bare CR or LF not allowed (bare CR on line 3)"),
        (
            format!("From: a\r\n{}\r\n", "y".repeat(999)).into_bytes(),
            "554 5.6.0 Line too long (line 2 exceeds 998 octets)",
        ),
        (b"Subject: x\r\n\r\nFrom: a\r\n".to_vec(), "554 5.6.0 Missing From header field"),
        (b"From: a\r\nSecret patient data\r\n".to_vec(), "554 5.6.0 Header field without colon (line 2)"),
        (b"\r\nbody only\r\n".to_vec(), "554 5.6.0 Message has no header fields"),
    ];
    for (body, expected) in cases {
        let mut c = Client::logged_in();
        let mut input = transaction(&body);
        input.extend_from_slice(b".\r\nRCPT TO:<x@example.org>\r\n");
        let r = c.send(&input);
        assert!(r[3].starts_with(expected), "{expected}: {r:?}");
        // The transaction is over either way.
        assert_eq!(r.last().map(String::as_str), Some("503 5.5.1 Need MAIL command"));
    }
}

#[test]
fn oversized_message_is_refused_but_read_to_the_end() {
    let mut c = Client::logged_in();
    let mut input = transaction(b"From: a\r\n\r\n");
    for _ in 0..200 {
        input.extend_from_slice(&[b'z'; 98]);
        input.extend_from_slice(b"\r\n");
    }
    // Even with a NUL: size is checked first.
    input.extend_from_slice(b"\0\r\n.\r\nNOOP\r\n");
    let r = c.send(&input);
    assert_eq!(&r[3..], &["552 5.3.4 Message size exceeds fixed maximum message size", "250 2.0.0 Ok"]);
}

#[test]
fn message_result_error_is_sent_as_is_and_input_waits() {
    let mut c = Client::logged_in();
    let mut input = transaction(MSG);
    input.extend_from_slice(b".\r\nNOOP\r\n");
    c.s.feed(&input);
    let mut seen = Vec::new();
    loop {
        match c.s.next_event() {
            Some(Event::Message { .. }) => break,
            Some(ev) => seen.push(ev),
            None => panic!("no message"),
        }
    }
    assert_eq!(seen.len(), 3);
    assert_eq!(c.s.next_event(), None);
    c.s.message_result(Err(Reply::new(452, Some((4, 3, 1)), "Insufficient system storage")));
    assert_eq!(c.drain(), vec!["452 4.3.1 Insufficient system storage", "250 2.0.0 Ok"]);
    assert_eq!(c.s.error_count(), 0);
}

#[test]
fn too_many_errors_closes_the_session() {
    let mut c = Client::new(tls_cfg());
    let r = c.send(&b"BOGUS\r\n".repeat(25));
    assert_eq!(r.len(), 23);
    assert!(r[..21].iter().all(|l| l == "500 5.5.2 Unknown command"));
    assert_eq!(r[21], "421 4.7.0 Too many errors");
    assert_eq!(r[22], "CLOSE");
    assert!(c.s.is_closed());
    assert!(c.send(b"NOOP\r\n").is_empty());
}

#[test]
fn twenty_errors_are_tolerated() {
    let mut c = Client::new(tls_cfg());
    let r = c.send(&b"BOGUS\r\n".repeat(20));
    assert_eq!(r.len(), 20);
    assert_eq!(c.send(b"NOOP\r\n"), vec!["250 2.0.0 Ok"]);
}

#[test]
fn debug_output_hides_secrets_and_content() {
    let mut c = Client::logged_in();
    let mut input = transaction(b"From: a@example.org\r\n\r\nDiagnosis: secret\r\n");
    input.extend_from_slice(b".\r\n");
    c.send(&input);
    let dbg = format!("{:?}", c.events);
    assert!(!dbg.contains("secret"), "{dbg}");
    assert!(!dbg.contains("\"pw\""), "{dbg}");
    assert!(!dbg.contains("example.org"), "{dbg}");
}

/// Runs input through a session split at the given points; returns all events.
fn run_chunked(cfg: SessionConfig, input: &[u8], cuts: &[usize]) -> Vec<Event> {
    let mut c = Client::new(cfg);
    c.auth_answers = (0..64).map(|i| i % 2 == 1).collect();
    let mut start = 0;
    for &end in cuts.iter().chain([&input.len()]) {
        let end = end.clamp(start, input.len());
        c.send(&input[start..end]);
        start = end;
    }
    c.events
}

fn fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"EHLO c.example\r\n".to_vec()),
        Just(b"HELO c\r\n".to_vec()),
        Just(b"AUTH PLAIN AGFsaWNlAHB3\r\n".to_vec()),
        Just(b"AUTH LOGIN\r\nYWxpY2U=\r\ncHc=\r\n".to_vec()),
        Just(b"AUTH PLAIN\r\n*\r\n".to_vec()),
        Just(b"MAIL FROM:<a@example.org> SIZE=20\r\n".to_vec()),
        Just(b"MAIL FROM:<>\r\n".to_vec()),
        Just(b"RCPT TO:<b@example.org>\r\n".to_vec()),
        Just(b"RCPT TO:<bad>\r\n".to_vec()),
        Just(b"DATA\r\n".to_vec()),
        Just(b"From: a\r\n\r\n..x\r\n.\r\n".to_vec()),
        Just(b"x\n.\ny\r.\r\n.\r\n".to_vec()),
        Just(b"RSET\r\nNOOP\r\n".to_vec()),
        Just(b"STARTTLS\r\n".to_vec()),
        Just(b"QUIT\r\n".to_vec()),
        Just([b'L'; 600].to_vec()),
        Just(b"\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..20),
        "[ -~]{0,30}\r\n".prop_map(String::into_bytes),
    ]
}

fn any_cfg() -> impl Strategy<Value = SessionConfig> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(), 0usize..200, 0usize..4).prop_map(
        |(
            tls_active,
            starttls_offered,
            plaintext_allowed,
            relay_without_auth,
            check_sender,
            max_message_size,
            max_recipients,
        )| {
            SessionConfig {
                hostname: HOST.into(),
                max_message_size,
                max_recipients,
                tls_active,
                starttls_offered,
                plaintext_allowed,
                relay_without_auth,
                check_sender,
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The same input split at arbitrary points yields the same events.
    /// (Implicit TLS: bytes after STARTTLS are legitimately chunk-dependent.)
    #[test]
    fn chunking_invariance(
        frags in proptest::collection::vec(fragment(), 0..25),
        relay in any::<bool>(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let input: Vec<u8> = frags.concat();
        let cfg = SessionConfig { relay_without_auth: relay, max_message_size: 40, ..tls_cfg() };
        let whole = run_chunked(cfg.clone(), &input, &[]);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        points.sort_unstable();
        let chunked = run_chunked(cfg.clone(), &input, &points);
        prop_assert_eq!(&whole, &chunked);
        let bytewise: Vec<usize> = (0..input.len()).collect();
        prop_assert_eq!(&whole, &run_chunked(cfg, &input, &bytewise));
    }

    /// Arbitrary bytes in arbitrary chunks never panic, and whatever comes
    /// out is well-formed.
    #[test]
    fn arbitrary_input_never_panics(
        cfg in any_cfg(),
        chunks in proptest::collection::vec(prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            fragment(),
        ], 0..40),
    ) {
        let mut c = Client::new(cfg);
        c.auth_answers = (0..64).map(|i| i % 2 == 0).collect();
        for chunk in &chunks {
            c.send(chunk);
        }
        let mut closed = false;
        for ev in &c.events {
            prop_assert!(!closed, "event after Close");
            match ev {
                Event::Reply(r) => {
                    prop_assert!((200..=599).contains(&r.code));
                    let wire = r.to_bytes();
                    prop_assert!(wire.ends_with(b"\r\n"));
                    prop_assert_eq!(wire.iter().filter(|&&b| b == b'\n').count(), r.lines.len().max(1));
                }
                Event::Message { data, .. } => prop_assert!(sealpost_smtp::check_message(data).is_ok()),
                Event::Close => closed = true,
                _ => {}
            }
        }
    }
}

/// With `check_sender`, MAIL waits for the network layer's verdict: a
/// refused reverse-path is answered at MAIL with the layer's reply, no
/// transaction starts, and pipelined RCPT and DATA fail for want of one;
/// an accepted one goes on as usual (issue 13.9).
#[test]
fn a_checked_sender_is_refused_at_mail_and_nothing_follows() {
    let mut c = Client::new(SessionConfig { check_sender: true, ..tls_cfg() });
    c.send(b"EHLO c.example\r\nAUTH PLAIN AGFsaWNlAHB3\r\n");
    let refusal = Reply::new(550, Some((5, 7, 1)), "sender domain example.org is not a sending domain of this account");
    c.mail_answers = vec![Err(refusal.clone()), Ok(())];
    let mut input = transaction(MSG);
    input.extend_from_slice(b".\r\n");
    let out = c.send(&input);
    assert_eq!(out[0], "MAIL a@example.org");
    assert_eq!(out[1], refusal.to_string());
    assert!(out[2].starts_with("503 5.5.1"), "RCPT without a transaction: {out:?}");
    assert!(c.messages().is_empty(), "nothing was taken: {out:?}");
    // The session goes on; the next sender is accepted.
    let out = c.send(&[transaction(MSG), b".\r\n".to_vec()].concat());
    assert_eq!(out[0], "MAIL a@example.org");
    assert!(out[1].starts_with("250 2.1.0"), "{out:?}");
    assert_eq!(c.messages().len(), 1);
}

/// Without an answer, a pending MAIL holds all later input back, and
/// answers given when nothing is pending are ignored.
#[test]
fn a_pending_mail_check_holds_input_back() {
    let mut s = Session::new(SessionConfig { check_sender: true, ..tls_cfg() });
    s.feed(b"EHLO c.example\r\nAUTH PLAIN AGFsaWNlAHB3\r\n");
    while let Some(ev) = s.next_event() {
        if let Event::Authenticate { .. } = ev {
            s.auth_result(true);
        }
    }
    s.mail_result(Err(Reply::new(550, None, "stray")));
    s.feed(b"MAIL FROM:<>\r\nNOOP\r\n");
    assert_eq!(s.next_event(), Some(Event::Mail { from: None }));
    assert_eq!(s.next_event(), None, "NOOP waits for the verdict");
    s.mail_result(Ok(()));
    assert!(matches!(s.next_event(), Some(Event::Reply(r)) if r.code == 250));
    assert!(matches!(s.next_event(), Some(Event::Reply(r)) if r.code == 250));
    assert_eq!(s.next_event(), None);
}
