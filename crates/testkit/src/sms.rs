//! A fake SMS provider for tests of the SMS client: HTTPS (rustls, a
//! certificate for `127.0.0.1` from its own [`TestCa`]) on a free loopback
//! port, speaking either Twilio's Messages API or the generic signed JSON
//! webhook, recording every request and answering like the provider.
//!
//! * [`FakeSmsProvider::start_twilio`] takes `POST
//!   /2010-04-01/Accounts/{sid}/Messages.json` with a form body; Basic auth
//!   must be `{sid}:{auth_token}` (else `401`, Twilio error 20003); `To` is
//!   required (else `400`, 21604); success is `201` with
//!   `{"sid":"SM…","status":"queued",…}`.
//! * [`FakeSmsProvider::start_webhook`] takes `POST` any path with a JSON body
//!   `{"to","from","text","id"}`; success is `200` `{"accepted":true}`. It
//!   does not know the secret: tests check the recorded signature
//!   themselves ([`webhook_signature`]).
//! * [`FakeSmsProvider::fail_next`] makes the next request fail with a
//!   status and a provider-style `{"code","message"}` body.
//! * [`twilio_signature`] / [`signed_twilio_status_callback`] build a status
//!   callback the way Twilio signs it, written from Twilio's published
//!   algorithm (not from the code under test).
//!
//! One request per connection (`Connection: close`).
//!
//! ```no_run
//! let fake = sealpost_testkit::FakeSmsProvider::start_twilio("token").unwrap();
//! // SmsClient::new(Twilio { base_url: fake.base_url(), .. }, vec![fake.root()]) ...
//! assert!(fake.requests().is_empty());
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::{Error, Result, TestCa, io};

/// Longest request head and body read.
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 1024 * 1024;

/// One request as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedSms {
    /// `POST`, normally.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Every header, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The request body as sent.
    pub raw_body: String,
    /// The `user:password` of a Basic `Authorization` header, decoded.
    pub basic_auth: Option<(String, String)>,
    /// `To` (Twilio) or `to` (webhook); empty when absent.
    pub to: String,
    /// `From` (Twilio) or `from` (webhook).
    pub from: Option<String>,
    /// `Body` (Twilio) or `text` (webhook); empty when absent.
    pub body: String,
    /// `StatusCallback` (Twilio only).
    pub status_callback: Option<String>,
    /// The webhook's `id` field.
    pub id: Option<String>,
    /// The status the fake answered with.
    pub answered: u16,
}

impl RecordedSms {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Twilio { auth_token: String },
    Webhook,
}

#[derive(Debug, Clone)]
struct Failure {
    status: u16,
    code: u32,
    message: String,
}

#[derive(Debug)]
struct State {
    kind: Kind,
    requests: Mutex<Vec<RecordedSms>>,
    fail_next: Mutex<Option<Failure>>,
    sent: AtomicU64,
}

/// A running fake provider (see the module docs). Stops on drop.
#[derive(Debug)]
pub struct FakeSmsProvider {
    addr: SocketAddr,
    ca: TestCa,
    root: CertificateDer<'static>,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl FakeSmsProvider {
    /// A Twilio-compatible provider accepting any account SID with this
    /// auth token.
    pub fn start_twilio(auth_token: &str) -> Result<FakeSmsProvider> {
        Self::start(Kind::Twilio { auth_token: auth_token.to_owned() })
    }

    /// A generic JSON webhook provider.
    pub fn start_webhook() -> Result<FakeSmsProvider> {
        Self::start(Kind::Webhook)
    }

    fn start(kind: Kind) -> Result<FakeSmsProvider> {
        let ca = TestCa::named("Sealpost Fake SMS Provider CA")?;
        let (cert, key) = ca.issue(&["127.0.0.1"])?;
        let root = CertificateDer::from_pem_slice(ca.cert_pem().as_bytes())
            .map_err(|e| Error::Setup(format!("fake SMS provider CA PEM: {e}")))?;
        let config = Arc::new(server_config(&cert, &key)?);
        let listener = TcpListener::bind("127.0.0.1:0").map_err(io("bind fake SMS provider"))?;
        let addr = listener.local_addr().map_err(io("fake SMS provider address"))?;
        listener.set_nonblocking(true).map_err(io("fake SMS provider nonblocking"))?;
        let state =
            Arc::new(State { kind, requests: Mutex::default(), fail_next: Mutex::default(), sent: AtomicU64::new(0) });
        let stop = Arc::new(AtomicBool::new(false));
        let (st, s) = (state.clone(), stop.clone());
        let accept = std::thread::Builder::new()
            .name("testkit-sms".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    let Ok((conn, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    let (config, st) = (config.clone(), st.clone());
                    std::thread::spawn(move || serve(conn, config, &st));
                }
            })
            .map_err(io("spawn fake SMS provider thread"))?;
        Ok(FakeSmsProvider { addr, ca, root, state, stop, accept: Some(accept) })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Twilio `base_url` to configure: `https://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The webhook `url` to configure: `https://127.0.0.1:PORT/sms`.
    pub fn webhook_url(&self) -> String {
        format!("https://{}/sms", self.addr)
    }

    /// The CA certificate (DER) a client must trust to reach the fake.
    pub fn root(&self) -> CertificateDer<'static> {
        self.root.clone()
    }

    /// The same CA certificate, PEM.
    pub fn root_pem(&self) -> &str {
        self.ca.cert_pem()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedSms> {
        self.state.requests.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The next request is answered with `status` and a provider error body
    /// with a typical code for that status.
    pub fn fail_next(&self, status: u16) {
        let (code, message) = match status {
            400 => (21211, "Invalid 'To' Phone Number"),
            401 => (20003, "Authentication Error"),
            429 => (20429, "Too Many Requests"),
            _ => (20500, "Internal Server Error"),
        };
        self.fail_next_with(status, code, message);
    }

    /// The next request is answered with `status` and
    /// `{"code": code, "message": message, "status": status}`.
    pub fn fail_next_with(&self, status: u16, code: u32, message: &str) {
        *self.state.fail_next.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Failure { status, code, message: message.to_owned() });
    }
}

impl Drop for FakeSmsProvider {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Twilio's request signature (`X-Twilio-Signature`), from its published
/// algorithm: the URL, then each POST parameter sorted by name with its
/// name and value appended; HMAC-SHA1 keyed with the auth token; base64.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut pairs = params.to_vec();
    pairs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let mut text = String::from(url);
    for (name, value) in &pairs {
        text += name;
        text += value;
    }
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, auth_token.as_bytes());
    B64.encode(hmac::sign(&key, text.as_bytes()).as_ref())
}

/// A status callback as Twilio would post it to `url` for message
/// `message_sid`: its form parameters and its `X-Twilio-Signature`.
pub fn signed_twilio_status_callback(
    auth_token: &str,
    url: &str,
    message_sid: &str,
    status: &str,
    error_code: Option<&str>,
) -> (Vec<(String, String)>, String) {
    let mut params: Vec<(String, String)> = [
        ("ApiVersion", "2010-04-01"),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("MessageSid", message_sid),
        ("SmsSid", message_sid),
        ("MessageStatus", status),
        ("SmsStatus", status),
        ("From", "+15005550006"),
        ("To", "+15558675310"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    if let Some(code) = error_code {
        params.push(("ErrorCode".into(), code.into()));
    }
    let signature = twilio_signature(auth_token, url, &params);
    (params, signature)
}

/// The Standard Webhooks `webhook-signature` (`v1,` and the base64
/// HMAC-SHA256 of `id.timestamp.body`; a `whsec_` secret is base64).
pub fn webhook_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = match secret.strip_prefix("whsec_") {
        Some(b64) => B64.decode(b64).unwrap_or_default(),
        None => secret.as_bytes().to_vec(),
    };
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), &signed);
    format!("v1,{}", B64.encode(tag.as_ref()))
}

fn server_config(cert_chain_pem: &str, key_pem: &str) -> Result<ServerConfig> {
    let certs = CertificateDer::pem_slice_iter(cert_chain_pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Setup(format!("fake SMS provider certificate PEM: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| Error::Setup(format!("fake SMS provider key PEM: {e}")))?;
    ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Setup(format!("fake SMS provider TLS versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Setup(format!("fake SMS provider certificate: {e}")))
}

/// A request head and body off the wire.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn serve(conn: TcpStream, config: Arc<ServerConfig>, state: &State) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(10)));
    let Ok(tls) = ServerConnection::new(config) else { return };
    let mut stream = StreamOwned::new(tls, conn);
    let Some(request) = read_request(&mut stream) else { return };
    let (status, body) = answer(state, request);
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
    stream.conn.send_close_notify();
    let _ = stream.flush();
}

fn read_request(stream: &mut impl Read) -> Option<Request> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if data.len() > MAX_HEAD {
            return None;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or("").split(' ');
    let (method, path) = (request_line.next().unwrap_or("").to_owned(), request_line.next().unwrap_or("").to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_BODY);
    let mut body = data[end + 4..].to_vec();
    while body.len() < length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(length);
    Some(Request { method, path, headers, body })
}

fn basic_auth(headers: &[(String, String)]) -> Option<(String, String)> {
    let value = headers.iter().find(|(n, _)| n == "authorization")?.1.as_str();
    let b64 = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(B64.decode(b64.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn error_body(status: u16, code: u32, message: &str) -> String {
    serde_json::json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    })
    .to_string()
}

/// Records the request and decides the answer.
fn answer(state: &State, request: Request) -> (u16, String) {
    let mut recorded = RecordedSms {
        method: request.method.clone(),
        path: request.path.clone(),
        headers: request.headers.clone(),
        raw_body: String::from_utf8_lossy(&request.body).into_owned(),
        basic_auth: basic_auth(&request.headers),
        to: String::new(),
        from: None,
        body: String::new(),
        status_callback: None,
        id: None,
        answered: 0,
    };
    let (status, body) = match &state.kind {
        Kind::Twilio { auth_token } => twilio(state, auth_token, &request, &mut recorded),
        Kind::Webhook => webhook(state, &request, &mut recorded),
    };
    recorded.answered = status;
    state.requests.lock().unwrap_or_else(|p| p.into_inner()).push(recorded);
    (status, body)
}

fn take_failure(state: &State) -> Option<(u16, String)> {
    let failure = state.fail_next.lock().unwrap_or_else(|p| p.into_inner()).take()?;
    Some((failure.status, error_body(failure.status, failure.code, &failure.message)))
}

fn twilio(state: &State, auth_token: &str, request: &Request, recorded: &mut RecordedSms) -> (u16, String) {
    for (name, value) in form_urlencoded::parse(&request.body) {
        let value = value.into_owned();
        match &*name {
            "To" => recorded.to = value,
            "From" => recorded.from = Some(value),
            "Body" => recorded.body = value,
            "StatusCallback" => recorded.status_callback = Some(value),
            _ => {}
        }
    }
    let sid = request
        .path
        .strip_prefix("/2010-04-01/Accounts/")
        .and_then(|rest| rest.strip_suffix("/Messages.json"))
        .filter(|sid| !sid.is_empty() && !sid.contains('/'));
    let Some(sid) = sid.filter(|_| request.method == "POST") else {
        return (404, error_body(404, 20404, "The requested resource was not found"));
    };
    let authorized = recorded.basic_auth.as_ref().is_some_and(|(u, p)| u == sid && p == auth_token);
    if !authorized {
        return (401, error_body(401, 20003, "Authenticate"));
    }
    if let Some(failure) = take_failure(state) {
        return failure;
    }
    if recorded.to.is_empty() {
        return (400, error_body(400, 21604, "A 'To' phone number is required."));
    }
    let n = state.sent.fetch_add(1, Ordering::Relaxed) + 1;
    let reply = serde_json::json!({
        "sid": format!("SM{n:032x}"),
        "account_sid": sid,
        "status": "queued",
        "to": recorded.to,
        "from": recorded.from,
        "num_segments": "1",
        "api_version": "2010-04-01",
    });
    (201, reply.to_string())
}

fn webhook(state: &State, request: &Request, recorded: &mut RecordedSms) -> (u16, String) {
    let json: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
    let text = |name: &str| json.get(name).and_then(serde_json::Value::as_str).map(str::to_owned);
    recorded.to = text("to").unwrap_or_default();
    recorded.from = text("from");
    recorded.body = text("text").unwrap_or_default();
    recorded.id = text("id");
    if request.method != "POST" {
        return (405, error_body(405, 405, "Method not allowed"));
    }
    if let Some(failure) = take_failure(state) {
        return failure;
    }
    if recorded.to.is_empty() || recorded.id.is_none() {
        return (400, error_body(400, 400, "to and id are required"));
    }
    state.sent.fetch_add(1, Ordering::Relaxed);
    (200, r#"{"accepted":true}"#.to_owned())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_signature_matches_the_published_example() {
        // Twilio's documented example ("Validating Requests are coming from Twilio").
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        let sig = twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &params);
        assert_eq!(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    }

    #[test]
    fn webhook_signature_matches_the_specification_example() {
        let sig = webhook_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
