//! A STARTTLS-stripping man in the middle: a TCP proxy in front of an SMTP
//! server that forwards both ways but deletes `STARTTLS` from the server's
//! replies (so the client believes TLS is not offered), and records every
//! byte the client sent, so a test can check that nothing sensitive went
//! through in clear.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{Result, io};

/// A running stripping proxy on a free 127.0.0.1 port; stops accepting on
/// drop (connections in progress end when either side closes).
#[derive(Debug)]
pub struct StarttlsStripper {
    addr: SocketAddr,
    client_bytes: Arc<Mutex<Vec<u8>>>,
    stripped: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl StarttlsStripper {
    /// Listens on a free loopback port and proxies every connection to
    /// `upstream`.
    pub fn start(upstream: SocketAddr) -> Result<StarttlsStripper> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(io("bind STARTTLS stripper"))?;
        let addr = listener.local_addr().map_err(io("stripper address"))?;
        listener.set_nonblocking(true).map_err(io("stripper nonblocking"))?;
        let client_bytes: Arc<Mutex<Vec<u8>>> = Arc::default();
        let stripped = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (cb, st, cn, s) = (client_bytes.clone(), stripped.clone(), connections.clone(), stop.clone());
        let accept = std::thread::Builder::new()
            .name("testkit-mitm".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    let Ok((client, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    cn.fetch_add(1, Ordering::Relaxed);
                    let (cb, st) = (cb.clone(), st.clone());
                    std::thread::spawn(move || proxy(client, upstream, cb, st));
                }
            })
            .map_err(io("spawn stripper thread"))?;
        Ok(StarttlsStripper { addr, client_bytes, stripped, connections, stop, accept: Some(accept) })
    }

    /// Where clients should connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every byte clients sent, all connections concatenated in arrival order.
    pub fn client_bytes(&self) -> Vec<u8> {
        self.client_bytes.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether `needle` appears in what clients sent.
    pub fn client_sent(&self, needle: &[u8]) -> bool {
        !needle.is_empty() && self.client_bytes().windows(needle.len()).any(|w| w == needle)
    }

    /// How many `STARTTLS` reply lines were removed.
    pub fn stripped(&self) -> usize {
        self.stripped.load(Ordering::Relaxed)
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for StarttlsStripper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn proxy(client: TcpStream, upstream: SocketAddr, record: Arc<Mutex<Vec<u8>>>, stripped: Arc<AtomicUsize>) {
    let _ = client.set_nonblocking(false);
    let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(10)) else { return };
    let _ = server.set_nodelay(true);
    let _ = client.set_nodelay(true);
    let (Ok(mut c_read), Ok(mut s_write)) = (client.try_clone(), server.try_clone()) else { return };
    // client -> server: verbatim, recorded.
    let up = std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match c_read.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    record.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(&chunk[..n]);
                    if s_write.write_all(&chunk[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = s_write.shutdown(Shutdown::Write);
    });
    // server -> client: whole replies, STARTTLS lines removed.
    let (mut s_read, mut c_write) = (server, client);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut raw = false;
    'outer: loop {
        match s_read.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        // Not SMTP text (a client that sent STARTTLS anyway now gets the
        // server's TLS records): pass everything through from here on.
        raw = raw || buf.first().is_some_and(|b| !b.is_ascii_digit());
        if raw {
            if c_write.write_all(&buf).is_err() {
                break;
            }
            buf.clear();
            continue;
        }
        while let Some(end) = reply_end(&buf) {
            let reply: Vec<u8> = buf.drain(..end).collect();
            let (out, removed) = strip_starttls(&reply);
            stripped.fetch_add(removed, Ordering::Relaxed);
            if c_write.write_all(&out).is_err() {
                break 'outer;
            }
        }
    }
    if !buf.is_empty() {
        let _ = c_write.write_all(&buf);
    }
    let _ = c_write.shutdown(Shutdown::Write);
    let _ = up.join();
}

/// The end (exclusive) of the first complete reply in `buf`: lines up to one
/// whose fourth byte is not `-`. Non-SMTP lines count as complete replies.
fn reply_end(buf: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') {
        let line = &buf[start..start + pos + 1];
        start += pos + 1;
        if line.get(3) != Some(&b'-') {
            return Some(start);
        }
    }
    None
}

/// Removes `STARTTLS` lines from one reply, keeping it well-formed (the new
/// last line gets the space separator). Returns the reply and how many lines
/// were removed.
pub(crate) fn strip_starttls(reply: &[u8]) -> (Vec<u8>, usize) {
    let lines: Vec<&[u8]> = reply.split_inclusive(|&b| b == b'\n').collect();
    let is_starttls = |l: &[u8]| {
        let text = l.get(4..).unwrap_or_default();
        let text = text.strip_suffix(b"\n").unwrap_or(text);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        l.len() > 4 && l[..3].iter().all(u8::is_ascii_digit) && text.eq_ignore_ascii_case(b"STARTTLS")
    };
    let kept: Vec<&[u8]> = lines.iter().copied().filter(|l| !is_starttls(l)).collect();
    let removed = lines.len() - kept.len();
    if removed == 0 || kept.is_empty() {
        return (reply.to_vec(), 0);
    }
    let mut out = Vec::with_capacity(reply.len());
    for (i, l) in kept.iter().enumerate() {
        let mut l = l.to_vec();
        if l.len() > 3 && l[..3].iter().all(u8::is_ascii_digit) {
            l[3] = if i + 1 == kept.len() { b' ' } else { b'-' };
        }
        out.extend_from_slice(&l);
    }
    (out, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_starttls_lines_and_keeps_reply_well_formed() {
        let (out, n) = strip_starttls(b"250-mx.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n");
        assert_eq!(out, b"250-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
        assert_eq!(n, 1);
        let (out, n) = strip_starttls(b"250-mx.test\r\n250 starttls\r\n");
        assert_eq!(out, b"250 mx.test\r\n");
        assert_eq!(n, 1);
        let (out, n) = strip_starttls(b"220 ready\r\n");
        assert_eq!((out.as_slice(), n), (&b"220 ready\r\n"[..], 0));
        assert_eq!(reply_end(b"250-a\r\n250 b\r\n220"), Some(14));
        assert_eq!(reply_end(b"250-a\r\n250-b"), None);
    }

    #[test]
    fn proxies_and_records() {
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let up_addr = upstream.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = upstream.accept().unwrap();
            s.write_all(b"220 hi\r\n").unwrap();
            let mut b = [0u8; 64];
            let n = s.read(&mut b).unwrap();
            assert_eq!(&b[..n], b"EHLO x\r\n");
            s.write_all(b"250-hi\r\n250-STARTTLS\r\n250 SIZE 10\r\n").unwrap();
        });
        let mitm = StarttlsStripper::start(up_addr).unwrap();
        let mut c = TcpStream::connect(mitm.addr()).unwrap();
        c.write_all(b"EHLO x\r\n").unwrap();
        server.join().unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"220 hi\r\n250-hi\r\n250 SIZE 10\r\n");
        assert!(mitm.client_sent(b"EHLO x"));
        assert_eq!(mitm.stripped(), 1);
    }
}
