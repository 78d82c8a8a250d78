//! A loopback HTTPS server for tests of HTTPS fetches (MTA-STS policies, WKD
//! keys): HTTP/1.1 over rustls on a free 127.0.0.1 port, answering `GET`s
//! from a fixed list of [`Route`]s and recording every request line.
//!
//! One request per connection (`Connection: close`), which is all a policy
//! or key fetch needs. `POST` is answered like `GET` (the body is read and
//! dropped), for webhook endpoints. A path without a route gets `404`. A redirect is a
//! route with a `Location` header ([`Route::redirect`]), so tests can check
//! that a client does not follow it.
//!
//! ```no_run
//! use sealpost_testkit::{HttpsServer, TestCa};
//! let ca = TestCa::new().unwrap();
//! let (cert, key) = ca.issue(&["mta-sts.example.test"]).unwrap();
//! let policy = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.test\r\nmax_age: 86400\r\n";
//! let server =
//!     HttpsServer::start(&cert, &key, [("/.well-known/mta-sts.txt", 200, "text/plain", policy)]).unwrap();
//! // point mta-sts.example.test at 127.0.0.1 and fetch from server.addr().port() ...
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::{Error, Result, io};

/// How a request whose path-and-query starts with a prefix is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    prefix: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Route {
    /// Answers `status` with this `Content-Type` and body.
    pub fn new(prefix: &str, status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Route {
        Route {
            prefix: prefix.to_owned(),
            status,
            headers: vec![("Content-Type".into(), content_type.to_owned())],
            body: body.into(),
        }
    }

    /// Answers `status` (a 3xx) with `Location: location` and an empty body.
    pub fn redirect(prefix: &str, status: u16, location: &str) -> Route {
        Route {
            prefix: prefix.to_owned(),
            status,
            headers: vec![("Location".into(), location.to_owned())],
            body: Vec::new(),
        }
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Route {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

impl<B: Into<Vec<u8>>> From<(&str, u16, &str, B)> for Route {
    /// `(path_and_query_prefix, status, content_type, body)`.
    fn from((prefix, status, content_type, body): (&str, u16, &str, B)) -> Route {
        Route::new(prefix, status, content_type, body)
    }
}

/// A running HTTPS server (see the module docs). Stops on drop.
#[derive(Debug)]
pub struct HttpsServer {
    addr: SocketAddr,
    routes: Arc<Mutex<Vec<Route>>>,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

/// Longest request head read; anything longer is answered `431`.
const MAX_HEAD: usize = 16 * 1024;

impl HttpsServer {
    /// Serves `routes` (the first whose prefix matches wins) with the given
    /// certificate chain (leaf first) and private key, both PEM.
    pub fn start<R: Into<Route>>(
        cert_chain_pem: &str,
        key_pem: &str,
        routes: impl IntoIterator<Item = R>,
    ) -> Result<HttpsServer> {
        let config = Arc::new(server_config(cert_chain_pem, key_pem)?);
        let listener = TcpListener::bind("127.0.0.1:0").map_err(io("bind HTTPS server"))?;
        let addr = listener.local_addr().map_err(io("HTTPS server address"))?;
        // Non-blocking accept so the thread notices `stop` without a connection.
        listener.set_nonblocking(true).map_err(io("HTTPS server nonblocking"))?;
        let routes = Arc::new(Mutex::new(routes.into_iter().map(Into::into).collect::<Vec<Route>>()));
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, q, s) = (routes.clone(), requests.clone(), stop.clone());
        let accept = std::thread::Builder::new()
            .name("testkit-https".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    let Ok((conn, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    let (config, r, q) = (config.clone(), r.clone(), q.clone());
                    std::thread::spawn(move || serve(conn, config, &r, &q));
                }
            })
            .map_err(io("spawn HTTPS server thread"))?;
        Ok(HttpsServer { addr, routes, requests, stop, accept: Some(accept) })
    }

    /// The listening address (127.0.0.1 and a free port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the routes; later requests see the new ones.
    pub fn set_routes<R: Into<Route>>(&self, routes: impl IntoIterator<Item = R>) {
        *self.routes.lock().unwrap_or_else(|p| p.into_inner()) = routes.into_iter().map(Into::into).collect();
    }

    /// The request lines seen so far (`GET /path?query HTTP/1.1`), in order.
    /// A client that gave up during the TLS handshake leaves no line.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn server_config(cert_chain_pem: &str, key_pem: &str) -> Result<ServerConfig> {
    let certs = CertificateDer::pem_slice_iter(cert_chain_pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Setup(format!("HTTPS server certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Setup("HTTPS server certificate PEM holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| Error::Setup(format!("HTTPS server key PEM: {e}")))?;
    ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Setup(format!("HTTPS server TLS versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Setup(format!("HTTPS server certificate: {e}")))
}

fn serve(conn: TcpStream, config: Arc<ServerConfig>, routes: &Mutex<Vec<Route>>, requests: &Mutex<Vec<String>>) {
    // The listener is non-blocking; the connection must not be, and it must
    // not outlive a client that went silent.
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(10)));
    let Ok(tls) = ServerConnection::new(config) else { return };
    let mut stream = StreamOwned::new(tls, conn);
    let Some(head) = read_head(&mut stream) else { return };
    let request_line = head.lines().next().unwrap_or("").to_owned();
    requests.lock().unwrap_or_else(|p| p.into_inner()).push(request_line.clone());
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let route =
        routes.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|r| target.starts_with(&r.prefix)).cloned();
    if method == "POST" && !read_body(&mut stream, &head) {
        return;
    }
    let route = match (method, route) {
        ("GET" | "POST", Some(route)) => route,
        ("GET" | "POST", None) => Route::new("", 404, "text/plain", "not found\n"),
        _ => Route::new("", 405, "text/plain", "method not allowed\n"),
    };
    let _ = stream.write_all(&response(&route));
    let _ = stream.flush();
    stream.conn.send_close_notify();
    let _ = stream.flush();
}

/// Reads up to the blank line ending the request head; None on EOF, error or
/// an oversized head.
fn read_head(stream: &mut impl Read) -> Option<String> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return None;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// Reads and drops a request body of `Content-Length` bytes (some may have
/// come with the head); false when the stream ends early.
fn read_body(stream: &mut impl Read, head: &str) -> bool {
    let Some(end) = head.find("\r\n\r\n") else { return false };
    let length = head[..end]
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut left = length.saturating_sub(head.len() - end - 4);
    let mut chunk = [0u8; 1024];
    while left > 0 {
        match stream.read(&mut chunk[..left.min(1024)]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => left -= n,
        }
    }
    true
}

fn response(route: &Route) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", route.status, reason(route.status));
    for (name, value) in &route.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", route.body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(&route.body);
    out
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TestCa;

    /// A raw TLS GET trusting `ca_pem`; returns the whole response.
    fn get(addr: SocketAddr, ca_pem: &str, name: &str, target: &str) -> std::io::Result<String> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.map_err(std::io::Error::other)?).map_err(std::io::Error::other)?;
        }
        let config =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(std::io::Error::other)?
                .with_root_certificates(roots)
                .with_no_client_auth();
        let server_name = rustls::pki_types::ServerName::try_from(name.to_owned()).map_err(std::io::Error::other)?;
        let conn = rustls::ClientConnection::new(Arc::new(config), server_name).map_err(std::io::Error::other)?;
        let mut stream = rustls::StreamOwned::new(conn, TcpStream::connect(addr)?);
        stream.write_all(format!("GET {target} HTTP/1.1\r\nHost: {name}\r\n\r\n").as_bytes())?;
        let mut out = String::new();
        stream.read_to_string(&mut out)?;
        Ok(out)
    }

    #[test]
    fn serves_routes_redirects_and_records() {
        let ca = TestCa::new().unwrap();
        let (cert, key) = ca.issue(&["www.example.test"]).unwrap();
        let server = HttpsServer::start(
            &cert,
            &key,
            [Route::new("/a", 200, "text/plain", "hello"), Route::redirect("/moved", 301, "https://elsewhere.test/")],
        )
        .unwrap();
        let ok = get(server.addr(), ca.cert_pem(), "www.example.test", "/a?x=1").unwrap();
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("Content-Type: text/plain\r\n"));
        assert!(ok.ends_with("\r\n\r\nhello"));
        let moved = get(server.addr(), ca.cert_pem(), "www.example.test", "/moved").unwrap();
        assert!(moved.starts_with("HTTP/1.1 301 "), "{moved}");
        assert!(moved.contains("Location: https://elsewhere.test/\r\n"));
        let missing = get(server.addr(), ca.cert_pem(), "www.example.test", "/nothing").unwrap();
        assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");

        server.set_routes([("/a", 500, "text/plain", "down")]);
        let down = get(server.addr(), ca.cert_pem(), "www.example.test", "/a").unwrap();
        assert!(down.starts_with("HTTP/1.1 500 "), "{down}");

        // A client that does not trust the certificate sends no request.
        let other = TestCa::new().unwrap();
        assert!(get(server.addr(), other.cert_pem(), "www.example.test", "/a").is_err());
        assert_eq!(
            server.requests(),
            ["GET /a?x=1 HTTP/1.1", "GET /moved HTTP/1.1", "GET /nothing HTTP/1.1", "GET /a HTTP/1.1"]
        );
    }
}
