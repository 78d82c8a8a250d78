//! A fake SMTP server that plays a fixed script per connection: for tests of
//! what a client does with replies no real server gives on demand (4xx/5xx
//! at a chosen step, a reply followed by injected bytes, a server that goes
//! silent).
//!
//! ```no_run
//! use sealpost_testkit::{Script, ScriptedServer};
//! let script = Script::new()
//!     .send("220 fake ESMTP\r\n")
//!     .expect("EHLO")
//!     .send("250 fake\r\n")
//!     .expect("MAIL FROM:")
//!     .send("250 ok\r\n")
//!     .expect("RCPT TO:")
//!     .send("451 4.3.0 try later\r\n")
//!     .expect_any()
//!     .send("250 ok\r\n");
//! let server = ScriptedServer::start(vec![script]).unwrap();
//! // connect a client to server.addr() ...
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{Result, io};

/// One step of a script.
#[derive(Debug, Clone)]
pub enum Step {
    /// Write these bytes (in one write).
    Send(Vec<u8>),
    /// Read one line (up to LF) and check that it starts with this text
    /// (ASCII case-insensitive); a mismatch is recorded and the connection
    /// closed.
    Expect(String),
    /// Read one line, whatever it is.
    ExpectAny,
    /// Read a DATA body up to and including the `CRLF.CRLF` line.
    ReadData,
    /// Wait this long (e.g. to make the client time out).
    Sleep(Duration),
    /// Close the connection now.
    Close,
}

/// A sequence of steps for one connection. When the steps run out the server
/// keeps reading until the client closes (so a client's last `QUIT` is not
/// met with a reset), answering nothing.
#[derive(Debug, Clone, Default)]
pub struct Script {
    steps: Vec<Step>,
}

impl Script {
    /// An empty script.
    pub fn new() -> Script {
        Script::default()
    }

    /// Appends [`Step::Send`].
    pub fn send(mut self, bytes: impl AsRef<[u8]>) -> Script {
        self.steps.push(Step::Send(bytes.as_ref().to_vec()));
        self
    }

    /// Appends [`Step::Expect`].
    pub fn expect(mut self, prefix: &str) -> Script {
        self.steps.push(Step::Expect(prefix.to_owned()));
        self
    }

    /// Appends [`Step::ExpectAny`].
    pub fn expect_any(mut self) -> Script {
        self.steps.push(Step::ExpectAny);
        self
    }

    /// Appends [`Step::ReadData`].
    pub fn read_data(mut self) -> Script {
        self.steps.push(Step::ReadData);
        self
    }

    /// Appends [`Step::Sleep`].
    pub fn sleep(mut self, d: Duration) -> Script {
        self.steps.push(Step::Sleep(d));
        self
    }

    /// Appends [`Step::Close`].
    pub fn close(mut self) -> Script {
        self.steps.push(Step::Close);
        self
    }

    /// Greeting and a plain `EHLO` answer (no extensions but `8BITMIME`).
    pub fn smtp_greeting() -> Script {
        Script::new().send("220 scripted.test ESMTP\r\n").expect("EHLO").send("250-scripted.test\r\n250 8BITMIME\r\n")
    }
}

/// What the server saw on one connection.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    /// Every byte the client sent.
    pub client_bytes: Vec<u8>,
    /// Script mismatches (`expected X, got Y`), if any.
    pub errors: Vec<String>,
    /// Whether the script ran to its end.
    pub completed: bool,
}

/// A running scripted server on a free 127.0.0.1 port. Connection `i` plays
/// `scripts[i]`, and connections after the last script play the last one
/// again. Stops (and closes its connections) on drop.
#[derive(Debug)]
pub struct ScriptedServer {
    addr: SocketAddr,
    transcripts: Arc<Mutex<Vec<Arc<Mutex<Transcript>>>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    /// Starts listening. `scripts` must not be empty.
    pub fn start(scripts: Vec<Script>) -> Result<ScriptedServer> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(io("bind scripted server"))?;
        let addr = listener.local_addr().map_err(io("scripted server address"))?;
        listener.set_nonblocking(true).map_err(io("scripted server nonblocking"))?;
        let transcripts: Arc<Mutex<Vec<Arc<Mutex<Transcript>>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s) = (transcripts.clone(), stop.clone());
        let accept = std::thread::Builder::new()
            .name("testkit-scripted".into())
            .spawn(move || {
                let mut n = 0usize;
                while !s.load(Ordering::Relaxed) {
                    let Ok((conn, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    let script = scripts.get(n).or(scripts.last()).cloned().unwrap_or_default();
                    n += 1;
                    let transcript = Arc::new(Mutex::new(Transcript::default()));
                    t.lock().unwrap_or_else(|p| p.into_inner()).push(transcript.clone());
                    let s = s.clone();
                    std::thread::spawn(move || play(conn, script, &transcript, &s));
                }
            })
            .map_err(io("spawn scripted server thread"))?;
        Ok(ScriptedServer { addr, transcripts, stop, accept: Some(accept) })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.transcripts.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// What each connection saw so far, in order of arrival.
    pub fn transcripts(&self) -> Vec<Transcript> {
        self.transcripts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|t| t.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .collect()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

struct Conn<'a> {
    stream: TcpStream,
    buf: Vec<u8>,
    transcript: &'a Mutex<Transcript>,
    stop: &'a AtomicBool,
}

impl Conn<'_> {
    /// Reads more bytes; false on EOF, error, or stop.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                return false;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    self.transcript
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .client_bytes
                        .extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return false,
            }
        }
    }

    fn line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                return Some(self.buf.drain(..=pos).collect());
            }
            if !self.fill() {
                return None;
            }
        }
    }

    fn data(&mut self) -> bool {
        let mut at_line_start = true;
        loop {
            let Some(line) = self.line() else { return false };
            if at_line_start && line == b".\r\n" {
                return true;
            }
            at_line_start = line.ends_with(b"\r\n");
        }
    }

    fn error(&self, e: String) {
        self.transcript.lock().unwrap_or_else(|p| p.into_inner()).errors.push(e);
    }
}

fn play(stream: TcpStream, script: Script, transcript: &Mutex<Transcript>, stop: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let _ = stream.set_nodelay(true);
    let mut c = Conn { stream, buf: Vec::new(), transcript, stop };
    for step in script.steps {
        match step {
            Step::Send(bytes) => {
                if c.stream.write_all(&bytes).is_err() {
                    c.error("write failed".into());
                    return;
                }
            }
            Step::Expect(prefix) => match c.line() {
                Some(l) if l.len() >= prefix.len() && l[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes()) => {}
                Some(l) => {
                    c.error(format!("expected {prefix:?}, got {:?}", String::from_utf8_lossy(&l)));
                    return;
                }
                None => {
                    c.error(format!("expected {prefix:?}, got end of stream"));
                    return;
                }
            },
            Step::ExpectAny => {
                if c.line().is_none() {
                    c.error("expected a line, got end of stream".into());
                    return;
                }
            }
            Step::ReadData => {
                if !c.data() {
                    c.error("expected DATA body, got end of stream".into());
                    return;
                }
            }
            Step::Sleep(d) => std::thread::sleep(d),
            Step::Close => {
                c.transcript.lock().unwrap_or_else(|p| p.into_inner()).completed = true;
                return;
            }
        }
    }
    c.transcript.lock().unwrap_or_else(|p| p.into_inner()).completed = true;
    // Keep reading (and recording) until the client goes away.
    while c.fill() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    #[test]
    fn plays_script_and_records() {
        let server = ScriptedServer::start(vec![
            Script::smtp_greeting().expect("QUIT").send("221 bye\r\n"),
            Script::new().send("554 go away\r\n").close(),
        ])
        .unwrap();
        let mut c = std::io::BufReader::new(TcpStream::connect(server.addr()).unwrap());
        let mut l = String::new();
        c.read_line(&mut l).unwrap();
        assert_eq!(l, "220 scripted.test ESMTP\r\n");
        c.get_mut().write_all(b"EHLO me\r\nQUIT\r\n").unwrap();
        for want in ["250-scripted.test\r\n", "250 8BITMIME\r\n", "221 bye\r\n"] {
            l.clear();
            c.read_line(&mut l).unwrap();
            assert_eq!(l, want);
        }
        drop(c);
        let mut c2 = std::io::BufReader::new(TcpStream::connect(server.addr()).unwrap());
        l.clear();
        c2.read_line(&mut l).unwrap();
        assert_eq!(l, "554 go away\r\n");
        let t = server.transcripts();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].client_bytes, b"EHLO me\r\nQUIT\r\n");
        assert!(t[0].errors.is_empty());
    }
}
