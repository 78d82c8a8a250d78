//! An SMTP client connection: greeting, EHLO, STARTTLS whenever offered,
//! then transactions. Replies are parsed strictly; every wait is bounded.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;

use crate::dane::Tlsa;
use crate::tls::{TlsClient, TlsConfigError};

/// Outbound failures. Texts carry codes and host names, never content.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// TCP connect or I/O failed (temporary).
    #[error("{0}")]
    Io(String),
    /// The server said something that is not SMTP.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server refused at greeting or EHLO, or mid-session.
    #[error("rejected: {0}")]
    Rejected(Reply),
    /// STARTTLS was offered but the handshake failed.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// A wait ran out.
    #[error("timed out during {0}")]
    Timeout(&'static str),
    /// Bad client configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// The message to send has a bare CR or LF: a receiver could take a
    /// bare-LF dot line for the end of DATA (SMTP smuggling), so it is refused.
    #[error("message has a bare CR or LF; lines must end with CRLF")]
    BareLineEnding,
}

impl From<TlsConfigError> for OutboundError {
    fn from(e: TlsConfigError) -> Self {
        OutboundError::Config(e.0)
    }
}

/// Whether every CR is followed by LF and every LF preceded by CR.
fn crlf_clean(data: &[u8]) -> bool {
    data.iter().enumerate().all(|(i, &b)| match b {
        b'\r' => data.get(i + 1) == Some(&b'\n'),
        b'\n' => i > 0 && data[i - 1] == b'\r',
        _ => true,
    })
}

/// A server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Three-digit code.
    pub code: u16,
    /// Text lines (without code and separator).
    pub lines: Vec<String>,
}

impl Reply {
    /// 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }
    /// 4xx: try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }
    /// 5xx: permanent.
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.lines.first().map(String::as_str).unwrap_or(""))
    }
}

/// What TLS the connection has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// e.g. `TLSv1.3`.
    pub version: String,
    /// e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher: String,
    /// The certificate chains to a trusted root and is valid for the MX name,
    /// or (when authenticated TLSA records were given) a usable TLSA record
    /// matched it. With usable TLSA records, DANE alone decides.
    pub verified: bool,
    /// Verified by a DANE TLSA match (RFC 7672) rather than WebPKI.
    pub dane: bool,
    /// Why verification failed, when it did.
    pub verify_error: Option<String>,
}

/// Per-connection choices beyond the defaults of [`Connection::open`].
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// The MX's DNSSEC-authenticated TLSA records
    /// ([`crate::dane::TlsaLookup::dane_records`]); empty: DANE does not apply.
    pub tlsa: Vec<Tlsa>,
    /// Local address to connect from (e.g. a per-stream source address);
    /// `None`: the system chooses. Must be of the MX address's family.
    pub bind: Option<IpAddr>,
}

/// One recipient's answer.
#[derive(Debug, Clone)]
pub struct RcptOutcome {
    /// The reply to RCPT TO.
    pub reply: Reply,
}

/// The result of one transaction.
#[derive(Debug, Clone)]
pub struct SendOutcome {
    /// Reply to MAIL FROM.
    pub mail: Reply,
    /// Reply per recipient, in order (empty if MAIL failed).
    pub rcpts: Vec<RcptOutcome>,
    /// Reply to the end of DATA (None if no recipient was accepted).
    pub data: Option<Reply>,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while the plain stream is handed to the TLS handshake.
    Upgrading,
}

fn upgrading() -> std::io::Error {
    std::io::Error::other("connection is being upgraded to TLS")
}

impl Stream {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf).await,
            Stream::Tls(s) => s.read(buf).await,
            Stream::Upgrading => Err(upgrading()),
        }
    }
    async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => write_flush(s, data).await,
            Stream::Tls(s) => write_flush(s.as_mut(), data).await,
            Stream::Upgrading => Err(upgrading()),
        }
    }
}

async fn write_flush<S: AsyncWrite + Unpin>(s: &mut S, data: &[u8]) -> std::io::Result<()> {
    s.write_all(data).await?;
    s.flush().await
}

/// Timeouts (RFC 5321 §4.5.3.2 gives the spirit; these are shorter for a
/// healthy queue and are configurable by the caller).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP connect.
    pub connect: Duration,
    /// Each command's reply.
    pub command: Duration,
    /// The reply to the end of DATA.
    pub data_end: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { connect: Duration::from_secs(30), command: Duration::from_secs(120), data_end: Duration::from_secs(600) }
    }
}

/// An open SMTP session with an MX.
pub struct Connection {
    stream: Stream,
    buf: Vec<u8>,
    extensions: Vec<String>,
    tls: Option<TlsInfo>,
    timeouts: Timeouts,
}

fn io(e: std::io::Error) -> OutboundError {
    OutboundError::Io(e.to_string())
}

impl Connection {
    /// Connects to `addr` (an address of MX `mx_host`), reads the greeting,
    /// says EHLO as `helo`, and upgrades with STARTTLS whenever offered.
    /// `tls == None` afterwards means the server offered no STARTTLS.
    pub async fn open(
        addr: SocketAddr,
        mx_host: &str,
        helo: &str,
        tls: &TlsClient,
        timeouts: Timeouts,
    ) -> Result<Connection, OutboundError> {
        Self::open_with(addr, mx_host, helo, tls, timeouts, &ConnectOptions::default()).await
    }

    /// Like [`Connection::open`], with DANE TLSA records for the MX and a
    /// local address to connect from ([`ConnectOptions`]).
    pub async fn open_with(
        addr: SocketAddr,
        mx_host: &str,
        helo: &str,
        tls: &TlsClient,
        timeouts: Timeouts,
        options: &ConnectOptions,
    ) -> Result<Connection, OutboundError> {
        let tcp = tokio::time::timeout(timeouts.connect, connect(addr, options.bind))
            .await
            .map_err(|_| OutboundError::Timeout("connect"))??;
        let _ = tcp.set_nodelay(true);
        let mut c =
            Connection { stream: Stream::Plain(tcp), buf: Vec::new(), extensions: Vec::new(), tls: None, timeouts };
        let greeting = c.read_reply(timeouts.command, "greeting").await?;
        if greeting.code != 220 {
            return Err(OutboundError::Rejected(greeting));
        }
        c.ehlo(helo).await?;
        if c.has_extension("STARTTLS") {
            let r = c.command("STARTTLS\r\n").await?;
            if r.code != 220 {
                return Err(OutboundError::Rejected(r));
            }
            if !c.buf.is_empty() {
                // Bytes after the 220 before the handshake: a response-injection attempt.
                return Err(OutboundError::Protocol("data after STARTTLS reply".into()));
            }
            let (config, verdict) = tls.for_connection(&options.tlsa)?;
            let name = ServerName::try_from(mx_host.trim_end_matches('.').to_owned())
                .map_err(|e| OutboundError::Config(format!("MX name: {e}")))?;
            let Stream::Plain(tcp) = std::mem::replace(&mut c.stream, Stream::Upgrading) else {
                return Err(OutboundError::Protocol("TLS twice".into()));
            };
            let tls_stream =
                tokio::time::timeout(timeouts.command, tokio_rustls::TlsConnector::from(config).connect(name, tcp))
                    .await
                    .map_err(|_| OutboundError::Timeout("TLS handshake"))?
                    .map_err(|e| OutboundError::Tls(e.to_string()))?;
            let (_, session) = tls_stream.get_ref();
            let version = session.protocol_version().map(|v| format!("{v:?}")).unwrap_or_default();
            let cipher = session.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())).unwrap_or_default();
            let (verified, dane, verify_error) = {
                let v = verdict.lock().unwrap_or_else(|p| p.into_inner());
                (v.verified, v.dane, v.error.clone())
            };
            let version = version.replace("TLSv1_", "TLSv1.");
            c.tls = Some(TlsInfo { version, cipher, verified, dane, verify_error });
            c.stream = Stream::Tls(Box::new(tls_stream));
            c.ehlo(helo).await?;
        }
        Ok(c)
    }

    async fn ehlo(&mut self, helo: &str) -> Result<(), OutboundError> {
        let r = self.command(&format!("EHLO {helo}\r\n")).await?;
        if r.code != 250 {
            return Err(OutboundError::Rejected(r));
        }
        self.extensions = r.lines.iter().skip(1).map(|l| l.to_ascii_uppercase()).collect();
        Ok(())
    }

    /// The TLS in force, if any.
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    /// Whether the last EHLO advertised `ext` (keyword, case-insensitive).
    pub fn has_extension(&self, ext: &str) -> bool {
        let ext = ext.to_ascii_uppercase();
        self.extensions.iter().any(|l| l.split_whitespace().next() == Some(ext.as_str()))
    }

    /// Sends one message to `rcpts`. `data` is the exact message; it is
    /// dot-stuffed on the wire and terminated with CRLF.CRLF (a final CRLF is
    /// added only when the message lacks one). `mail_params` are appended to
    /// MAIL FROM (e.g. `SMTPUTF8`, `REQUIRETLS`, `BODY=8BITMIME`).
    pub async fn send(
        &mut self,
        mail_from: &str,
        mail_params: &[String],
        rcpts: &[String],
        data: &[u8],
    ) -> Result<SendOutcome, OutboundError> {
        if !crlf_clean(data) {
            return Err(OutboundError::BareLineEnding);
        }
        let mut line = format!("MAIL FROM:<{mail_from}>");
        for p in mail_params {
            line.push(' ');
            line.push_str(p);
        }
        line.push_str("\r\n");
        let mail = self.command(&line).await?;
        if !mail.is_positive() {
            return Ok(SendOutcome { mail, rcpts: Vec::new(), data: None });
        }
        let mut outcomes = Vec::with_capacity(rcpts.len());
        for r in rcpts {
            let reply = self.command(&format!("RCPT TO:<{r}>\r\n")).await?;
            outcomes.push(RcptOutcome { reply });
        }
        if !outcomes.iter().any(|o| o.reply.is_positive()) {
            let _ = self.command("RSET\r\n").await;
            return Ok(SendOutcome { mail, rcpts: outcomes, data: None });
        }
        let go = self.command("DATA\r\n").await?;
        if go.code != 354 {
            return Ok(SendOutcome { mail, rcpts: outcomes, data: Some(go) });
        }
        let mut wire = sealpost_smtp::dot_stuff(data);
        if !wire.ends_with(b"\r\n") {
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b".\r\n");
        self.stream.write_all(&wire).await.map_err(io)?;
        let end = self.read_reply(self.timeouts.data_end, "end of data").await?;
        Ok(SendOutcome { mail, rcpts: outcomes, data: Some(end) })
    }

    /// Says QUIT and closes (errors ignored: the transaction is already decided).
    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.command("QUIT\r\n")).await;
    }

    async fn command(&mut self, line: &str) -> Result<Reply, OutboundError> {
        self.stream.write_all(line.as_bytes()).await.map_err(io)?;
        self.read_reply(self.timeouts.command, "command").await
    }

    async fn read_reply(&mut self, wait: Duration, what: &'static str) -> Result<Reply, OutboundError> {
        tokio::time::timeout(wait, self.read_reply_inner()).await.map_err(|_| OutboundError::Timeout(what))?
    }

    async fn read_reply_inner(&mut self) -> Result<Reply, OutboundError> {
        let mut lines = Vec::new();
        let mut code = None;
        loop {
            while let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..pos + 2).take(pos).collect();
                let (c, last, text) = parse_line(&line)?;
                if code.is_some_and(|prev| prev != c) {
                    return Err(OutboundError::Protocol("reply code changed within a reply".into()));
                }
                code = Some(c);
                lines.push(text);
                if last {
                    return Ok(Reply { code: c, lines });
                }
                if lines.len() > 200 {
                    return Err(OutboundError::Protocol("reply too long".into()));
                }
            }
            if self.buf.len() > 64 * 1024 {
                return Err(OutboundError::Protocol("reply line too long".into()));
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await.map_err(io)?;
            if n == 0 {
                return Err(OutboundError::Io("connection closed by server".into()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// A TCP connection to `addr`, from `bind` when given.
async fn connect(addr: SocketAddr, bind: Option<IpAddr>) -> Result<TcpStream, OutboundError> {
    let Some(local) = bind else { return TcpStream::connect(addr).await.map_err(io) };
    if local.is_ipv4() != addr.is_ipv4() {
        return Err(OutboundError::Config(format!("source address {local} cannot reach {addr}")));
    }
    let socket = if local.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.map_err(io)?;
    socket.bind(SocketAddr::new(local, 0)).map_err(|e| OutboundError::Config(format!("bind to {local}: {e}")))?;
    socket.connect(addr).await.map_err(io)
}

fn parse_line(line: &[u8]) -> Result<(u16, bool, String), OutboundError> {
    let bad = || OutboundError::Protocol("malformed reply line".into());
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let code = std::str::from_utf8(&line[..3]).map_err(|_| bad())?.parse::<u16>().map_err(|_| bad())?;
    if !(200..600).contains(&code) {
        return Err(bad());
    }
    let last = match line.get(3) {
        None | Some(b' ') => true,
        Some(b'-') => false,
        Some(_) => return Err(bad()),
    };
    let text = String::from_utf8_lossy(line.get(4..).unwrap_or_default()).into_owned();
    Ok((code, last, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_crlf_line_endings_are_clean() {
        assert!(crlf_clean(b"a\r\nb\r\n"));
        assert!(crlf_clean(b""));
        for bad in [&b"a\nb"[..], b"\n", b"a\rb", b"a\r", b"x\r\n.\n"] {
            assert!(!crlf_clean(bad), "{bad:?}");
        }
    }

    #[test]
    fn reply_lines_parse_strictly() {
        assert_eq!(parse_line(b"250-PIPELINING").unwrap(), (250, false, "PIPELINING".into()));
        assert_eq!(parse_line(b"250 OK").unwrap(), (250, true, "OK".into()));
        assert_eq!(parse_line(b"220").unwrap(), (220, true, String::new()));
        for bad in [&b"25"[..], b"abc OK", b"250xOK", b"999 no", b"100 no"] {
            assert!(parse_line(bad).is_err(), "{bad:?}");
        }
    }
}
