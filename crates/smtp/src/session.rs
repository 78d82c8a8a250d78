//! [`Session`]: the SMTP submission state machine (RFC 5321, RFC 6409,
//! RFC 3207 STARTTLS, RFC 4954 AUTH, RFC 2920 PIPELINING).

use std::collections::VecDeque;

use sealpost_model::{AddressError, EmailAddress};

use crate::auth::{self, Mechanism};
use crate::command::{Command, parse_command};
use crate::data::DataDecoder;
use crate::message::check_message;
use crate::params::{BodyType, DsnRet, MailParams, Notify, parse_mail_params, parse_rcpt_params};
use crate::reply::Reply;

/// Longest command line, including CRLF (RFC 5321 §4.5.3.1.4).
pub const MAX_COMMAND_LINE: usize = 512;
/// Longest AUTH command or SASL response line, including CRLF (RFC 4954 §4).
pub const MAX_AUTH_LINE: usize = 12288;
/// Errors tolerated in a session; one more closes it with 421.
pub const MAX_ERRORS: u32 = 20;

/// Per-connection settings, fixed by the listener and the client's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Server host name, used in the greeting and the EHLO reply.
    pub hostname: String,
    /// SIZE limit in octets, advertised as `SIZE n` and enforced on DATA.
    pub max_message_size: usize,
    /// Most recipients per transaction; beyond, `452 4.5.3`.
    pub max_recipients: usize,
    /// TLS is active from the start (implicit-TLS listener).
    pub tls_active: bool,
    /// The listener can do STARTTLS.
    pub starttls_offered: bool,
    /// The listener accepts mail without TLS.
    pub plaintext_allowed: bool,
    /// The client is in the trusted networks: MAIL is allowed without AUTH.
    pub relay_without_auth: bool,
    /// Ask the network layer about each reverse-path ([`Event::Mail`])
    /// before answering MAIL, so a sender the account may not use is
    /// refused at once rather than after DATA.
    pub check_sender: bool,
}

/// The envelope of a received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse-path; `None` for the null sender `<>`.
    pub mail_from: Option<EmailAddress>,
    /// `BODY=` (7BIT when absent).
    pub body: BodyType,
    /// `SMTPUTF8` was given.
    pub smtputf8: bool,
    /// DSN `RET=`.
    pub ret: Option<DsnRet>,
    /// DSN `ENVID=`, xtext-decoded.
    pub envid: Option<String>,
    /// `REQUIRETLS` (RFC 8689) was given (only accepted over TLS).
    pub requiretls: bool,
    /// `SIZE=` as declared by the client.
    pub declared_size: Option<u64>,
    /// Accepted recipients, in order.
    pub recipients: Vec<Recipient>,
}

/// One accepted recipient.
#[derive(Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The forward-path.
    pub address: EmailAddress,
    /// DSN `NOTIFY=`.
    pub notify: Option<Notify>,
    /// DSN `ORCPT=`, decoded to `addr-type;address`.
    pub orcpt: Option<String>,
}

/// ORCPT holds an address (PHI): Debug does not show it.
impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipient")
            .field("address", &self.address)
            .field("notify", &self.notify)
            .field("orcpt", &self.orcpt.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What the network layer must do next.
#[derive(Clone, PartialEq, Eq)]
pub enum Event {
    /// Write this reply. Flush when `next_event` returns `None`, or before awaiting.
    Reply(Reply),
    /// The `220` was already emitted; start the TLS handshake now, then call
    /// [`Session::tls_started`].
    StartTls,
    /// Check these credentials, then call [`Session::auth_result`].
    Authenticate {
        /// The SASL mechanism used.
        mechanism: Mechanism,
        /// Authorization identity (PLAIN only), if given.
        authzid: Option<String>,
        /// Authentication identity.
        username: String,
        /// The password.
        password: String,
    },
    /// A syntactically valid MAIL (only with [`SessionConfig::check_sender`]):
    /// decide whether this reverse-path may be used, then call
    /// [`Session::mail_result`].
    Mail {
        /// The reverse-path; `None` for the null sender `<>`.
        from: Option<EmailAddress>,
    },
    /// A complete, checked message: queue it, then call [`Session::message_result`].
    Message {
        /// The envelope.
        envelope: Envelope,
        /// The content, dot-unstuffed, exactly as received.
        data: Vec<u8>,
    },
    /// Close the connection (after flushing).
    Close,
}

/// Passwords and message content never appear in Debug output.
impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Reply(r) => f.debug_tuple("Reply").field(r).finish(),
            Event::StartTls => f.write_str("StartTls"),
            Event::Authenticate { mechanism, authzid, username, .. } => f
                .debug_struct("Authenticate")
                .field("mechanism", mechanism)
                .field("authzid", authzid)
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Event::Message { envelope, data } => {
                f.debug_struct("Message").field("envelope", envelope).field("data_len", &data.len()).finish()
            }
            Event::Mail { from } => f.debug_struct("Mail").field("null_sender", &from.is_none()).finish(),
            Event::Close => f.write_str("Close"),
        }
    }
}

#[derive(Debug)]
enum Phase {
    /// Reading command lines.
    Command,
    /// `334 ` sent for PLAIN; reading the response.
    AuthPlain,
    /// `334 VXNlcm5hbWU6` sent; reading the user name.
    AuthLoginUser,
    /// `334 UGFzc3dvcmQ6` sent; reading the password.
    AuthLoginPass(String),
    /// Between `354` and the terminator.
    Data(Box<DataDecoder>),
    /// Waiting for [`Session::auth_result`].
    WaitAuth,
    /// Waiting for [`Session::mail_result`] about this transaction.
    WaitMail(Box<Transaction>),
    /// Waiting for [`Session::message_result`].
    WaitMessage,
    /// Waiting for [`Session::tls_started`].
    WaitTls,
    /// Closed: nothing more happens.
    Closed,
}

#[derive(Debug)]
struct Transaction {
    from: Option<EmailAddress>,
    params: MailParams,
    recipients: Vec<Recipient>,
}

enum Line {
    Complete(Vec<u8>),
    TooLong,
    BareLf,
    Incomplete,
}

/// One SMTP session: feed it bytes, take events, answer the events that ask.
///
/// See the crate documentation for an example.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    buf: Vec<u8>,
    pos: usize,
    /// Dropping the rest of an over-long line.
    discarding: bool,
    phase: Phase,
    client_name: Option<String>,
    tls: bool,
    authenticated: bool,
    tx: Option<Transaction>,
    errors: u32,
    events: VecDeque<Event>,
}

fn ok(code: u16, enhanced: (u8, u16, u16), text: &str) -> Reply {
    Reply::new(code, Some(enhanced), text)
}

impl Session {
    /// A new session; send [`Session::greeting`] first.
    pub fn new(cfg: SessionConfig) -> Self {
        let tls = cfg.tls_active;
        Self {
            cfg,
            buf: Vec::new(),
            pos: 0,
            discarding: false,
            phase: Phase::Command,
            client_name: None,
            tls,
            authenticated: false,
            tx: None,
            errors: 0,
            events: VecDeque::new(),
        }
    }

    /// The greeting: `220 <host> ESMTP Sealpost`.
    pub fn greeting(&self) -> Reply {
        Reply::new(220, None, format!("{} ESMTP Sealpost", self.cfg.hostname))
    }

    /// Appends network input, however it is chunked. Ignored once closed.
    ///
    /// Input is buffered while the session waits for a `*_result` call; the
    /// network layer should stop reading meanwhile to bound memory.
    pub fn feed(&mut self, bytes: &[u8]) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Processes buffered input up to the next event. `None` means more input
    /// is needed, or the session waits for a `*_result` / `tls_started` call,
    /// or it is closed.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(ev) = self.events.pop_front() {
                return Some(ev);
            }
            match &mut self.phase {
                Phase::Closed | Phase::WaitAuth | Phase::WaitMail(_) | Phase::WaitMessage | Phase::WaitTls => {
                    return None;
                }
                Phase::Data(decoder) => match decoder.decode(&self.buf[self.pos..]) {
                    Some(n) => {
                        self.pos += n;
                        self.finish_data();
                    }
                    None => {
                        self.pos = self.buf.len();
                        return None;
                    }
                },
                _ => match self.read_line() {
                    Line::Incomplete => return None,
                    Line::TooLong => {
                        self.phase = Phase::Command;
                        self.error(Reply::new(500, Some((5, 5, 2)), "Line too long"));
                    }
                    Line::BareLf => {
                        self.phase = Phase::Command;
                        self.error(Reply::new(500, Some((5, 5, 2)), "Bare LF not allowed; lines must end with CRLF"));
                    }
                    Line::Complete(line) => self.handle_line(line),
                },
            }
        }
    }

    /// The STARTTLS handshake is done: input buffered after the STARTTLS
    /// command is discarded (CVE-2011-0411) and the session returns to the
    /// state before EHLO (RFC 3207 §4.2). Ignored unless a StartTls event is pending.
    pub fn tls_started(&mut self) {
        if !matches!(self.phase, Phase::WaitTls) {
            return;
        }
        self.buf.clear();
        self.pos = 0;
        self.discarding = false;
        self.tls = true;
        self.client_name = None;
        self.authenticated = false;
        self.tx = None;
        self.phase = Phase::Command;
    }

    /// Answers [`Event::Authenticate`]: `235 2.7.0` or `535 5.7.8`.
    /// Ignored unless an authentication is pending.
    pub fn auth_result(&mut self, ok: bool) {
        if !matches!(self.phase, Phase::WaitAuth) {
            return;
        }
        self.phase = Phase::Command;
        if ok {
            self.authenticated = true;
            self.reply(Reply::new(235, Some((2, 7, 0)), "Authentication successful"));
        } else {
            self.error(Reply::new(535, Some((5, 7, 8)), "Authentication credentials invalid"));
        }
    }

    /// Answers [`Event::Mail`]: `Ok(())` opens the transaction with
    /// `250 2.1.0`; `Err(reply)` is sent as is and no transaction starts
    /// (not counted as a client error). Ignored unless a MAIL is pending.
    pub fn mail_result(&mut self, r: Result<(), Reply>) {
        let Phase::WaitMail(_) = &self.phase else { return };
        let Phase::WaitMail(tx) = std::mem::replace(&mut self.phase, Phase::Command) else { unreachable!() };
        match r {
            Ok(()) => {
                self.tx = Some(*tx);
                self.reply(ok(250, (2, 1, 0), "Ok"));
            }
            Err(reply) => self.reply(reply),
        }
    }

    /// Answers [`Event::Message`]: `Ok(id)` gives `250 2.0.0 Ok: queued as <id>`,
    /// `Err(reply)` is sent as is (and is not counted as a client error).
    /// Ignored unless a message is pending.
    pub fn message_result(&mut self, r: Result<String, Reply>) {
        if !matches!(self.phase, Phase::WaitMessage) {
            return;
        }
        self.phase = Phase::Command;
        match r {
            Ok(id) => self.reply(Reply::new(250, Some((2, 0, 0)), format!("Ok: queued as {id}"))),
            Err(reply) => self.reply(reply),
        }
    }

    /// The client's EHLO/HELO argument, once given (reset by STARTTLS).
    pub fn client_name(&self) -> Option<&str> {
        self.client_name.as_deref()
    }

    /// Whether TLS is active.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Whether the client has authenticated.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Whether the session has ended (a Close event was emitted).
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Number of client errors so far.
    pub fn error_count(&self) -> u32 {
        self.errors
    }

    fn reply(&mut self, r: Reply) {
        self.events.push_back(Event::Reply(r));
    }

    /// Emits an error reply and counts it; past [`MAX_ERRORS`], also
    /// `421 4.7.0 Too many errors` and Close.
    fn error(&mut self, r: Reply) {
        self.reply(r);
        self.errors += 1;
        if self.errors > MAX_ERRORS {
            self.close_with(Reply::new(421, Some((4, 7, 0)), "Too many errors"));
        }
    }

    fn close_with(&mut self, r: Reply) {
        self.reply(r);
        self.events.push_back(Event::Close);
        self.phase = Phase::Closed;
        self.buf.clear();
        self.pos = 0;
    }

    fn line_limit(&self, line: &[u8]) -> usize {
        let sasl = matches!(self.phase, Phase::AuthPlain | Phase::AuthLoginUser | Phase::AuthLoginPass(_));
        let auth_cmd = line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"AUTH ");
        if sasl || auth_cmd { MAX_AUTH_LINE } else { MAX_COMMAND_LINE }
    }

    /// Takes the next line from the buffer. Too-long lines are dropped as
    /// they arrive and reported at their end, so the outcome does not depend
    /// on chunking.
    fn read_line(&mut self) -> Line {
        let avail = &self.buf[self.pos..];
        match avail.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let line = &avail[..i];
                self.pos += i + 1;
                if std::mem::take(&mut self.discarding) || i + 1 > self.line_limit(line) {
                    return Line::TooLong;
                }
                match line.strip_suffix(b"\r") {
                    Some(l) => Line::Complete(l.to_vec()),
                    None => Line::BareLf,
                }
            }
            None => {
                if !self.discarding && avail.len() >= self.line_limit(avail) {
                    self.discarding = true;
                }
                if self.discarding {
                    self.pos = self.buf.len();
                }
                Line::Incomplete
            }
        }
    }

    fn handle_line(&mut self, line: Vec<u8>) {
        match std::mem::replace(&mut self.phase, Phase::Command) {
            Phase::AuthPlain => {
                if let Some(text) = self.sasl_text(&line) {
                    match auth::decode_plain(text) {
                        Ok(c) => self.authenticate(Mechanism::Plain, c.authzid, c.username, c.password),
                        Err(e) => self.sasl_error(e),
                    }
                }
            }
            Phase::AuthLoginUser => {
                if let Some(text) = self.sasl_text(&line) {
                    match auth::decode_login(text) {
                        Ok(user) => {
                            self.phase = Phase::AuthLoginPass(user);
                            self.reply(Reply::new(334, None, "UGFzc3dvcmQ6"));
                        }
                        Err(e) => self.sasl_error(e),
                    }
                }
            }
            Phase::AuthLoginPass(user) => {
                if let Some(text) = self.sasl_text(&line) {
                    match auth::decode_login(text) {
                        Ok(pass) => self.authenticate(Mechanism::Login, None, user, pass),
                        Err(e) => self.sasl_error(e),
                    }
                }
            }
            _ => match parse_command(&line) {
                Ok(cmd) => self.handle_command(cmd),
                Err(e) => self.error(e.reply()),
            },
        }
    }

    /// A SASL response line as text; handles `*` (cancel) and non-ASCII.
    fn sasl_text<'a>(&mut self, line: &'a [u8]) -> Option<&'a str> {
        if line == b"*" {
            self.error(Reply::new(501, Some((5, 7, 0)), "Authentication cancelled"));
            return None;
        }
        match std::str::from_utf8(line) {
            Ok(s) if s.is_ascii() => Some(s),
            _ => {
                self.sasl_error(auth::AuthError::Base64);
                None
            }
        }
    }

    fn sasl_error(&mut self, e: auth::AuthError) {
        let text = match e {
            auth::AuthError::Base64 => "Invalid base64 data",
            auth::AuthError::Utf8 | auth::AuthError::MalformedPlain => "Malformed authentication response",
        };
        self.error(Reply::new(501, Some((5, 5, 2)), text));
    }

    fn authenticate(&mut self, mechanism: Mechanism, authzid: Option<String>, username: String, password: String) {
        self.events.push_back(Event::Authenticate { mechanism, authzid, username, password });
        self.phase = Phase::WaitAuth;
    }

    fn handle_command(&mut self, cmd: Command) {
        match cmd {
            Command::Ehlo(name) => {
                self.tx = None;
                self.client_name = Some(name);
                let mut lines = vec![
                    self.cfg.hostname.clone(),
                    "PIPELINING".to_owned(),
                    format!("SIZE {}", self.cfg.max_message_size),
                    "8BITMIME".to_owned(),
                    "SMTPUTF8".to_owned(),
                    "ENHANCEDSTATUSCODES".to_owned(),
                    "DSN".to_owned(),
                ];
                if self.cfg.starttls_offered && !self.tls {
                    lines.push("STARTTLS".to_owned());
                }
                if self.tls {
                    // RFC 8689 §4.1: offered only on a TLS session.
                    lines.push("REQUIRETLS".to_owned());
                    lines.push("AUTH PLAIN LOGIN".to_owned());
                }
                self.reply(Reply::multiline(250, None, lines));
            }
            Command::Helo(name) => {
                self.tx = None;
                self.client_name = Some(name);
                self.reply(Reply::new(250, None, self.cfg.hostname.clone()));
            }
            Command::Mail { reverse_path, params } => self.mail(&reverse_path, &params),
            Command::Rcpt { forward_path, params } => self.rcpt(&forward_path, &params),
            Command::Data => self.data(),
            Command::Rset => {
                self.tx = None;
                self.reply(ok(250, (2, 0, 0), "Ok"));
            }
            Command::Noop => self.reply(ok(250, (2, 0, 0), "Ok")),
            Command::Quit => self.close_with(ok(221, (2, 0, 0), "Bye")),
            Command::Vrfy => {
                self.reply(ok(252, (2, 5, 0), "Cannot VRFY user, but will accept message and attempt delivery"))
            }
            Command::Expn => self.error(ok(502, (5, 5, 1), "EXPN not implemented")),
            Command::Help => self.reply(ok(214, (2, 0, 0), "See https://www.rfc-editor.org/rfc/rfc5321")),
            Command::StartTls => self.starttls(),
            Command::Auth { mechanism, initial_response } => self.auth(&mechanism, initial_response.as_deref()),
        }
    }

    fn need_helo(&mut self) -> bool {
        if self.client_name.is_none() {
            self.error(ok(503, (5, 5, 1), "Send EHLO first"));
            return false;
        }
        true
    }

    fn starttls(&mut self) {
        if self.tls {
            return self.error(ok(503, (5, 5, 1), "TLS already active"));
        }
        if !self.cfg.starttls_offered {
            return self.error(ok(502, (5, 5, 1), "STARTTLS not available"));
        }
        if self.tx.is_some() {
            return self.error(ok(503, (5, 5, 1), "Mail transaction in progress"));
        }
        self.reply(ok(220, (2, 0, 0), "Ready to start TLS"));
        self.events.push_back(Event::StartTls);
        self.phase = Phase::WaitTls;
        // Anything pipelined after STARTTLS is dropped (again at tls_started).
        self.buf.clear();
        self.pos = 0;
    }

    fn auth(&mut self, mechanism: &str, initial: Option<&str>) {
        if !self.need_helo() {
            return;
        }
        if !self.tls {
            return self.error(ok(538, (5, 7, 11), "Encryption required for requested authentication mechanism"));
        }
        if self.authenticated {
            return self.error(ok(503, (5, 5, 1), "Already authenticated"));
        }
        if self.tx.is_some() {
            return self.error(ok(503, (5, 5, 1), "Mail transaction in progress"));
        }
        let Some(mech) = Mechanism::from_name(mechanism) else {
            return self.error(ok(504, (5, 5, 4), "Unrecognized authentication mechanism"));
        };
        match (mech, initial) {
            (Mechanism::Plain, None) => {
                self.phase = Phase::AuthPlain;
                self.reply(Reply::new(334, None, ""));
            }
            (Mechanism::Plain, Some(resp)) => match auth::decode_plain(resp) {
                Ok(c) => self.authenticate(mech, c.authzid, c.username, c.password),
                Err(e) => self.sasl_error(e),
            },
            (Mechanism::Login, None) => {
                self.phase = Phase::AuthLoginUser;
                self.reply(Reply::new(334, None, "VXNlcm5hbWU6"));
            }
            (Mechanism::Login, Some(resp)) => match auth::decode_login(resp) {
                Ok(user) => {
                    self.phase = Phase::AuthLoginPass(user);
                    self.reply(Reply::new(334, None, "UGFzc3dvcmQ6"));
                }
                Err(e) => self.sasl_error(e),
            },
        }
    }

    fn mail(&mut self, path: &str, params: &[crate::command::Param]) {
        if !self.need_helo() {
            return;
        }
        if self.tx.is_some() {
            return self.error(ok(503, (5, 5, 1), "Nested MAIL command"));
        }
        if !self.tls && !self.cfg.plaintext_allowed {
            return self.error(ok(530, (5, 7, 0), "Must issue a STARTTLS command first"));
        }
        if !self.authenticated && !self.cfg.relay_without_auth {
            return self.error(ok(530, (5, 7, 0), "Authentication required"));
        }
        let params = match parse_mail_params(params, self.cfg.max_message_size) {
            Ok(p) => p,
            Err(e) => return self.error(e.reply()),
        };
        if params.requiretls && !self.tls {
            return self.error(ok(530, (5, 7, 10), "REQUIRETLS needed a TLS session"));
        }
        let from = if path.is_empty() {
            None
        } else {
            match EmailAddress::parse(path, params.smtputf8) {
                Ok(a) => Some(a),
                Err(AddressError::NeedsUtf8) => {
                    return self.error(ok(553, (5, 6, 7), "Non-ASCII sender address requires SMTPUTF8"));
                }
                Err(e) => {
                    return self.error(Reply::new(553, Some((5, 1, 7)), format!("Bad sender address syntax: {e}")));
                }
            }
        };
        let tx = Transaction { from, params, recipients: Vec::new() };
        if self.cfg.check_sender {
            self.events.push_back(Event::Mail { from: tx.from.clone() });
            self.phase = Phase::WaitMail(Box::new(tx));
            return;
        }
        self.tx = Some(tx);
        self.reply(ok(250, (2, 1, 0), "Ok"));
    }

    fn rcpt(&mut self, path: &str, params: &[crate::command::Param]) {
        let Some(tx) = &self.tx else {
            return self.error(ok(503, (5, 5, 1), "Need MAIL command"));
        };
        if tx.recipients.len() >= self.cfg.max_recipients {
            // Not counted as an error: pipelining clients send all RCPTs at once.
            return self.reply(ok(452, (4, 5, 3), "Too many recipients"));
        }
        let utf8 = tx.params.smtputf8;
        let params = match parse_rcpt_params(params) {
            Ok(p) => p,
            Err(e) => return self.error(e.reply()),
        };
        let address = match EmailAddress::parse(path, utf8) {
            Ok(a) => a,
            Err(AddressError::NeedsUtf8) => {
                return self.error(ok(553, (5, 6, 7), "Non-ASCII recipient address requires SMTPUTF8"));
            }
            Err(e) => {
                return self.error(Reply::new(553, Some((5, 1, 3)), format!("Bad recipient address syntax: {e}")));
            }
        };
        if let Some(tx) = &mut self.tx {
            tx.recipients.push(Recipient { address, notify: params.notify, orcpt: params.orcpt });
        }
        self.reply(ok(250, (2, 1, 5), "Ok"));
    }

    fn data(&mut self) {
        match &self.tx {
            None => self.error(ok(503, (5, 5, 1), "Need MAIL command")),
            Some(tx) if tx.recipients.is_empty() => self.error(ok(503, (5, 5, 1), "Need RCPT command")),
            Some(_) => {
                self.phase = Phase::Data(Box::new(DataDecoder::new(self.cfg.max_message_size)));
                self.reply(Reply::new(354, None, "End data with <CR><LF>.<CR><LF>"));
            }
        }
    }

    fn finish_data(&mut self) {
        let Phase::Data(decoder) = std::mem::replace(&mut self.phase, Phase::Command) else {
            return;
        };
        let Some(tx) = self.tx.take() else {
            return;
        };
        if decoder.exceeded_limit() {
            return self.error(ok(552, (5, 3, 4), "Message size exceeds fixed maximum message size"));
        }
        let data = decoder.into_data();
        if let Err(e) = check_message(&data) {
            return self.error(Reply::new(554, Some((5, 6, 0)), e.to_string()));
        }
        let envelope = Envelope {
            mail_from: tx.from,
            body: tx.params.body.unwrap_or_default(),
            smtputf8: tx.params.smtputf8,
            ret: tx.params.ret,
            envid: tx.params.envid,
            requiretls: tx.params.requiretls,
            declared_size: tx.params.size,
            recipients: tx.recipients,
        };
        self.events.push_back(Event::Message { envelope, data });
        self.phase = Phase::WaitMessage;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SessionConfig {
        SessionConfig {
            hostname: "mx.example".into(),
            max_message_size: 100,
            max_recipients: 10,
            tls_active: true,
            starttls_offered: false,
            plaintext_allowed: false,
            relay_without_auth: true,
            check_sender: false,
        }
    }

    fn drain(s: &mut Session) -> Vec<Event> {
        std::iter::from_fn(|| s.next_event()).collect()
    }

    #[test]
    fn results_without_a_pending_request_are_ignored() {
        let mut s = Session::new(cfg());
        s.auth_result(true);
        s.message_result(Ok("x".into()));
        s.tls_started();
        assert!(drain(&mut s).is_empty());
        assert!(!s.is_authenticated());
        s.feed(b"EHLO c\r\n");
        assert_eq!(drain(&mut s).len(), 1);
        assert_eq!(s.client_name(), Some("c"));
    }

    #[test]
    fn partial_lines_wait_for_crlf() {
        let mut s = Session::new(cfg());
        s.feed(b"NO");
        assert_eq!(s.next_event(), None);
        s.feed(b"OP\r");
        assert_eq!(s.next_event(), None);
        s.feed(b"\n");
        assert_eq!(s.next_event(), Some(Event::Reply(Reply::new(250, Some((2, 0, 0)), "Ok"))));
    }

    #[test]
    fn long_line_is_dropped_as_it_arrives() {
        let mut s = Session::new(cfg());
        for _ in 0..100 {
            s.feed(&[b'a'; 1000]);
            assert_eq!(s.next_event(), None);
        }
        // Memory stays bounded by one chunk.
        assert!(s.buf.len() <= 1000, "{}", s.buf.len());
        s.feed(b"\r\n");
        assert_eq!(s.next_event(), Some(Event::Reply(Reply::new(500, Some((5, 5, 2)), "Line too long"))));
        assert_eq!(s.error_count(), 1);
    }

    #[test]
    fn line_limit_depends_on_auth() {
        let s = Session::new(cfg());
        assert_eq!(s.line_limit(b"auth plain xyz"), MAX_AUTH_LINE);
        assert_eq!(s.line_limit(b"AUTHX"), MAX_COMMAND_LINE);
        assert_eq!(s.line_limit(b"NOOP"), MAX_COMMAND_LINE);
    }

    #[test]
    fn event_debug_redacts() {
        let ev = Event::Authenticate {
            mechanism: Mechanism::Plain,
            authzid: None,
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{ev:?}").contains("hunter2"));
        let ev = Event::Message {
            envelope: Envelope {
                mail_from: None,
                body: BodyType::SevenBit,
                smtputf8: false,
                ret: None,
                envid: None,
                requiretls: false,
                declared_size: None,
                recipients: vec![Recipient {
                    address: EmailAddress::parse("p@x.example", false).expect("valid"),
                    notify: None,
                    orcpt: Some("rfc822;p@x.example".into()),
                }],
            },
            data: b"From: secret".to_vec(),
        };
        let dbg = format!("{ev:?}");
        assert!(!dbg.contains("secret") && !dbg.contains("x.example"), "{dbg}");
    }
}
