//! An in-process SMTP receiver for tests of what Postfix cannot show
//! conveniently: extra EHLO keywords (`REQUIRETLS`), sessions counted and
//! told apart (connection reuse, source addresses), STARTTLS with a chosen
//! certificate (DANE), and a chosen refusal of every recipient.
//!
//! It speaks plain SMTP without PIPELINING: greeting, EHLO/HELO, STARTTLS
//! (rustls, TLS 1.2 and 1.3), any number of MAIL … RCPT … DATA transactions,
//! RSET, NOOP, QUIT. It answers 250 to everything reasonable and 503 to
//! commands out of order, and records each completed transaction.
//!
//! ```no_run
//! use std::time::Duration;
//! use sealpost_testkit::{ReceiverOptions, SmtpReceiver};
//! let receiver = SmtpReceiver::start(ReceiverOptions {
//!     extensions: vec!["REQUIRETLS".into()],
//!     ..ReceiverOptions::default()
//! })
//! .unwrap();
//! // deliver to receiver.addr() ...
//! let txns = receiver.wait_for_transactions(1, Duration::from_secs(10)).unwrap();
//! assert!(txns[0].mail_from.contains("REQUIRETLS"));
//! ```
//!
//! Each connection runs on its own thread; everything stops when the
//! [`SmtpReceiver`] is dropped.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::{Error, Result, io};

/// How a [`SmtpReceiver`] behaves.
#[derive(Debug, Clone)]
pub struct ReceiverOptions {
    /// Offer STARTTLS with this certificate chain and private key (both PEM,
    /// leaf first). `None`: no STARTTLS.
    pub tls: Option<(String, String)>,
    /// Extra EHLO keywords, e.g. `"REQUIRETLS"`.
    pub extensions: Vec<String>,
    /// The address to listen on (a free port is chosen). Default 127.0.0.1.
    pub listen: IpAddr,
    /// A reply line (without CRLF) given to every RCPT instead of `250`,
    /// e.g. `"451 4.3.0 later"`; refused recipients are not recorded.
    pub rcpt_reply: Option<String>,
}

impl Default for ReceiverOptions {
    fn default() -> Self {
        Self { tls: None, extensions: Vec::new(), listen: IpAddr::V4(Ipv4Addr::LOCALHOST), rcpt_reply: None }
    }
}

/// One completed MAIL … DATA transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedTxn {
    /// Everything after `MAIL FROM:` (the path and any parameters), trimmed.
    pub mail_from: String,
    /// Everything after `RCPT TO:` of each accepted recipient, trimmed.
    pub rcpts: Vec<String>,
    /// The message as the client meant it: dot-unstuffed, without the final
    /// `.CRLF` line.
    pub data: Vec<u8>,
}

/// One connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedSession {
    /// The client's address (its source address and port).
    pub peer: SocketAddr,
    /// The TLS version after STARTTLS (e.g. `TLSv1.3`), `None` while plain.
    pub tls_version: Option<String>,
    /// Completed transactions, in order.
    pub transactions: Vec<ReceivedTxn>,
}

type Sessions = Arc<Mutex<Vec<Arc<Mutex<ReceivedSession>>>>>;

/// A running receiver (see the module docs).
#[derive(Debug)]
pub struct SmtpReceiver {
    addr: SocketAddr,
    sessions: Sessions,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

const HOST: &str = "receiver.test";
/// How often blocked reads look at the stop flag.
const POLL: Duration = Duration::from_millis(100);
/// An idle client is dropped after this long (real servers use minutes; a
/// test that waits this long has already failed).
const IDLE: Duration = Duration::from_secs(120);
/// The longest command line or DATA line accepted (RFC 5321 §4.5.3.1 allows
/// 512 and 1000; this is generous on purpose).
const MAX_LINE: usize = 64 * 1024;

impl SmtpReceiver {
    /// Listens on a free port of `opts.listen` and serves until dropped.
    pub fn start(opts: ReceiverOptions) -> Result<SmtpReceiver> {
        let tls = opts.tls.as_ref().map(|(chain, key)| server_config(chain, key)).transpose()?;
        let listener = TcpListener::bind((opts.listen, 0)).map_err(io("bind SMTP receiver"))?;
        let addr = listener.local_addr().map_err(io("SMTP receiver address"))?;
        listener.set_nonblocking(true).map_err(io("SMTP receiver nonblocking"))?;
        let sessions: Sessions = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let behaviour = Arc::new(Behaviour { tls, extensions: opts.extensions, rcpt_reply: opts.rcpt_reply });
        let (sess, s) = (sessions.clone(), stop.clone());
        let accept = std::thread::Builder::new()
            .name("testkit-receiver".into())
            .spawn(move || {
                let mut workers = Vec::new();
                while !s.load(Ordering::Relaxed) {
                    let Ok((conn, peer)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    let session =
                        Arc::new(Mutex::new(ReceivedSession { peer, tls_version: None, transactions: Vec::new() }));
                    sess.lock().unwrap_or_else(|p| p.into_inner()).push(session.clone());
                    let (b, s) = (behaviour.clone(), s.clone());
                    workers.push(std::thread::spawn(move || serve(conn, &b, &session, &s)));
                    workers.retain(|w| !w.is_finished());
                }
                // Workers see the stop flag within one POLL.
                for w in workers {
                    let _ = w.join();
                }
            })
            .map_err(io("spawn SMTP receiver thread"))?;
        Ok(SmtpReceiver { addr, sessions, stop, accept: Some(accept) })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every connection so far, in order of arrival (a snapshot).
    pub fn sessions(&self) -> Vec<ReceivedSession> {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .collect()
    }

    /// Every completed transaction of every session, sessions in order of
    /// arrival, once there are at least `n`; an error after `timeout`.
    pub fn wait_for_transactions(&self, n: usize, timeout: Duration) -> Result<Vec<ReceivedTxn>> {
        let deadline = Instant::now() + timeout;
        loop {
            let all: Vec<ReceivedTxn> = self.sessions().into_iter().flat_map(|s| s.transactions).collect();
            if all.len() >= n {
                return Ok(all);
            }
            if Instant::now() > deadline {
                return Err(Error::Setup(format!(
                    "SMTP receiver: {} of {n} transactions after {timeout:?}",
                    all.len()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn server_config(chain_pem: &str, key_pem: &str) -> Result<Arc<ServerConfig>> {
    let chain = rustls_pemfile::certs(&mut chain_pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(io("receiver certificate PEM"))?;
    if chain.is_empty() {
        return Err(Error::Setup("receiver certificate PEM holds no certificate".into()));
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(io("receiver key PEM"))?
        .ok_or_else(|| Error::Setup("receiver key PEM holds no private key".into()))?;
    let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::Setup(format!("receiver TLS versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| Error::Setup(format!("receiver certificate: {e}")))?;
    Ok(Arc::new(config))
}

/// What every connection shares.
struct Behaviour {
    tls: Option<Arc<ServerConfig>>,
    extensions: Vec<String>,
    rcpt_reply: Option<String>,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }

    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(data).and_then(|()| s.flush()),
            Stream::Tls(s) => s.write_all(data).and_then(|()| s.flush()),
        }
    }
}

fn would_block(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
}

struct Conn<'a> {
    stream: Option<Stream>,
    buf: Vec<u8>,
    stop: &'a AtomicBool,
}

impl Conn<'_> {
    /// Reads more bytes; false on EOF, error, idle timeout or stop.
    fn fill(&mut self) -> bool {
        let deadline = Instant::now() + IDLE;
        let mut chunk = [0u8; 8192];
        loop {
            let Some(stream) = self.stream.as_mut() else { return false };
            if self.stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                return false;
            }
            match stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e) if would_block(&e) => {}
                Err(_) => return false,
            }
        }
    }

    /// One line including its CRLF (or bare LF), or None when the client is
    /// gone or the line is too long.
    fn line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                return Some(self.buf.drain(..=pos).collect());
            }
            if self.buf.len() > MAX_LINE || !self.fill() {
                return None;
            }
        }
    }

    fn reply(&mut self, text: &str) -> bool {
        self.stream.as_mut().is_some_and(|s| s.write_all(text.as_bytes()).is_ok())
    }

    /// The DATA body up to the `.` line, dot-unstuffed (RFC 5321 §4.5.2).
    fn data(&mut self) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.line()?;
            if line == b".\r\n" {
                return Some(body);
            }
            body.extend_from_slice(line.strip_prefix(b".").unwrap_or(&line));
        }
    }

    /// Replaces the plain stream by a TLS one; the TLS version, or None if
    /// the handshake failed (the connection is then closed).
    fn start_tls(&mut self, config: &Arc<ServerConfig>) -> Option<String> {
        let Some(Stream::Plain(mut tcp)) = self.stream.take() else { return None };
        let mut tls = ServerConnection::new(config.clone()).ok()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while tls.is_handshaking() {
            if self.stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                return None;
            }
            match tls.complete_io(&mut tcp) {
                Ok((0, 0)) if tls.wants_read() => return None, // peer closed mid-handshake
                Ok(_) => {}
                Err(e) if would_block(&e) => {}
                Err(_) => return None,
            }
        }
        let version = tls.protocol_version().map(|v| format!("{v:?}").replace("TLSv1_", "TLSv1."))?;
        self.stream = Some(Stream::Tls(Box::new(StreamOwned::new(tls, tcp))));
        Some(version)
    }
}

/// The transaction being built.
#[derive(Default)]
struct Txn {
    mail_from: Option<String>,
    rcpts: Vec<String>,
}

/// The argument after `prefix` (ASCII case-insensitive), trimmed.
fn argument<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let head = line.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| line[prefix.len()..].trim())
}

fn serve(tcp: TcpStream, b: &Behaviour, session: &Mutex<ReceivedSession>, stop: &AtomicBool) {
    let _ = tcp.set_nonblocking(false);
    let _ = tcp.set_read_timeout(Some(POLL));
    let _ = tcp.set_nodelay(true);
    let mut c = Conn { stream: Some(Stream::Plain(tcp)), buf: Vec::new(), stop };
    let mut in_tls = false;
    let mut txn = Txn::default();
    let mut queued = 0usize;
    if !c.reply(&format!("220 {HOST} ESMTP sealpost-testkit\r\n")) {
        return;
    }
    while let Some(raw) = c.line() {
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches(['\r', '\n']);
        let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        let ok = match verb.as_str() {
            "EHLO" => {
                txn = Txn::default();
                let mut keywords: Vec<String> =
                    vec!["8BITMIME".into(), "SMTPUTF8".into(), "ENHANCEDSTATUSCODES".into()];
                if b.tls.is_some() && !in_tls {
                    keywords.push("STARTTLS".into());
                }
                keywords.extend(b.extensions.iter().cloned());
                let mut reply = format!("250-{HOST}\r\n");
                for (i, k) in keywords.iter().enumerate() {
                    reply.push_str(if i + 1 == keywords.len() { "250 " } else { "250-" });
                    reply.push_str(k);
                    reply.push_str("\r\n");
                }
                c.reply(&reply)
            }
            "HELO" => {
                txn = Txn::default();
                c.reply(&format!("250 {HOST}\r\n"))
            }
            "STARTTLS" => match (&b.tls, in_tls) {
                (Some(config), false) => {
                    if !c.reply("220 2.0.0 ready to start TLS\r\n") {
                        break;
                    }
                    // Anything the client sent after STARTTLS in clear must
                    // not be taken as a command inside TLS (RFC 3207 §4.2).
                    c.buf.clear();
                    let Some(version) = c.start_tls(config) else { break };
                    session.lock().unwrap_or_else(|p| p.into_inner()).tls_version = Some(version);
                    in_tls = true;
                    txn = Txn::default();
                    true
                }
                (Some(_), true) => c.reply("503 5.5.1 TLS already active\r\n"),
                (None, _) => c.reply("502 5.5.1 STARTTLS not offered\r\n"),
            },
            "MAIL" => match argument(line, "MAIL FROM:") {
                _ if txn.mail_from.is_some() => c.reply("503 5.5.1 nested MAIL command\r\n"),
                Some(from) => {
                    txn.mail_from = Some(from.to_owned());
                    c.reply("250 2.1.0 ok\r\n")
                }
                None => c.reply("501 5.5.4 syntax: MAIL FROM:<address>\r\n"),
            },
            "RCPT" => match argument(line, "RCPT TO:") {
                _ if txn.mail_from.is_none() => c.reply("503 5.5.1 need MAIL first\r\n"),
                Some(to) => match &b.rcpt_reply {
                    Some(refusal) => c.reply(&format!("{refusal}\r\n")),
                    None => {
                        txn.rcpts.push(to.to_owned());
                        c.reply("250 2.1.5 ok\r\n")
                    }
                },
                None => c.reply("501 5.5.4 syntax: RCPT TO:<address>\r\n"),
            },
            "DATA" => {
                if txn.rcpts.is_empty() {
                    c.reply("503 5.5.1 need RCPT first\r\n")
                } else {
                    if !c.reply("354 end data with <CRLF>.<CRLF>\r\n") {
                        break;
                    }
                    let Some(data) = c.data() else { break };
                    let done = std::mem::take(&mut txn);
                    session.lock().unwrap_or_else(|p| p.into_inner()).transactions.push(ReceivedTxn {
                        mail_from: done.mail_from.unwrap_or_default(),
                        rcpts: done.rcpts,
                        data,
                    });
                    queued += 1;
                    c.reply(&format!("250 2.0.0 ok queued as {queued}\r\n"))
                }
            }
            "RSET" => {
                txn = Txn::default();
                c.reply("250 2.0.0 ok\r\n")
            }
            "NOOP" => c.reply("250 2.0.0 ok\r\n"),
            "VRFY" => c.reply("252 2.5.0 cannot verify\r\n"),
            "QUIT" => {
                c.reply("221 2.0.0 bye\r\n");
                break;
            }
            _ => c.reply("500 5.5.2 command not recognized\r\n"),
        };
        if !ok {
            break;
        }
    }
    if let Some(Stream::Tls(mut s)) = c.stream.take() {
        // A close_notify, so a client reading after QUIT sees a clean end.
        s.conn.send_close_notify();
        let _ = s.conn.complete_io(&mut s.sock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    fn read_reply(c: &mut std::io::BufReader<TcpStream>) -> String {
        let mut all = String::new();
        loop {
            let mut l = String::new();
            c.read_line(&mut l).unwrap();
            all.push_str(&l);
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    fn say(c: &mut std::io::BufReader<TcpStream>, line: &str) -> String {
        c.get_mut().write_all(line.as_bytes()).unwrap();
        read_reply(c)
    }

    #[test]
    fn records_several_transactions_per_session_unstuffed() {
        let r = SmtpReceiver::start(ReceiverOptions {
            extensions: vec!["REQUIRETLS".into()],
            ..ReceiverOptions::default()
        })
        .unwrap();
        let mut c = std::io::BufReader::new(TcpStream::connect(r.addr()).unwrap());
        assert!(read_reply(&mut c).starts_with("220 "));
        let ehlo = say(&mut c, "EHLO client.test\r\n");
        assert!(ehlo.contains("250-REQUIRETLS\r\n") || ehlo.contains("250 REQUIRETLS\r\n"), "{ehlo}");
        assert!(!ehlo.contains("STARTTLS"), "no TLS configured: {ehlo}");
        assert!(say(&mut c, "RCPT TO:<early@x.test>\r\n").starts_with("503"));
        assert!(say(&mut c, "MAIL FROM:<a@x.test> REQUIRETLS BODY=8BITMIME\r\n").starts_with("250"));
        assert!(say(&mut c, "MAIL FROM:<again@x.test>\r\n").starts_with("503"), "nested MAIL");
        assert!(say(&mut c, "RCPT TO:<b@y.test>\r\n").starts_with("250"));
        assert!(say(&mut c, "rcpt to:<c@y.test>\r\n").starts_with("250"));
        assert!(say(&mut c, "DATA\r\n").starts_with("354"));
        assert!(say(&mut c, "Subject: one\r\n\r\n..dot\r\n.\r\n").starts_with("250"));
        assert!(say(&mut c, "NOOP\r\n").starts_with("250"));
        assert!(say(&mut c, "MAIL FROM:<>\r\n").starts_with("250"));
        assert!(say(&mut c, "RSET\r\n").starts_with("250"));
        assert!(say(&mut c, "DATA\r\n").starts_with("503"), "RSET dropped the transaction");
        assert!(say(&mut c, "MAIL FROM:<d@x.test>\r\n").starts_with("250"));
        assert!(say(&mut c, "RCPT TO:<e@y.test>\r\n").starts_with("250"));
        assert!(say(&mut c, "DATA\r\n").starts_with("354"));
        assert!(say(&mut c, "two\r\n.\r\n").starts_with("250"));
        assert!(say(&mut c, "QUIT\r\n").starts_with("221"));

        let txns = r.wait_for_transactions(2, Duration::from_secs(5)).unwrap();
        assert_eq!(
            txns[0],
            ReceivedTxn {
                mail_from: "<a@x.test> REQUIRETLS BODY=8BITMIME".into(),
                rcpts: vec!["<b@y.test>".into(), "<c@y.test>".into()],
                data: b"Subject: one\r\n\r\n.dot\r\n".to_vec(),
            }
        );
        assert_eq!(txns[1].data, b"two\r\n");
        let sessions = r.sessions();
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].peer, c.get_ref().local_addr().unwrap());
        assert_eq!(sessions[0].tls_version, None);
        assert!(r.wait_for_transactions(3, Duration::from_millis(50)).is_err());
    }

    #[test]
    fn refuses_every_recipient_when_told_and_offers_starttls_with_a_certificate() {
        let (cert, key) = crate::self_signed(&["receiver.test"]).unwrap();
        let r = SmtpReceiver::start(ReceiverOptions {
            tls: Some((cert, key)),
            rcpt_reply: Some("451 4.3.0 later".into()),
            ..ReceiverOptions::default()
        })
        .unwrap();
        let mut c = std::io::BufReader::new(TcpStream::connect(r.addr()).unwrap());
        read_reply(&mut c);
        assert!(say(&mut c, "EHLO client.test\r\n").contains("STARTTLS"));
        assert!(say(&mut c, "MAIL FROM:<a@x.test>\r\n").starts_with("250"));
        assert_eq!(say(&mut c, "RCPT TO:<b@y.test>\r\n"), "451 4.3.0 later\r\n");
        assert!(say(&mut c, "DATA\r\n").starts_with("503"), "no accepted recipient");
        assert!(r.wait_for_transactions(1, Duration::from_millis(100)).is_err());
    }

    #[test]
    fn bad_pem_is_a_setup_error() {
        let opts = ReceiverOptions { tls: Some(("junk".into(), "junk".into())), ..ReceiverOptions::default() };
        assert!(matches!(SmtpReceiver::start(opts), Err(Error::Setup(_))));
    }
}
