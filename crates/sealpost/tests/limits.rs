//! Issue 13.8 (R-IN-5): connection caps and timeouts. A client that opens
//! connections and sends nothing, or half a TLS handshake, is cut off, and
//! one address cannot take every connection; the server keeps serving
//! everyone else meanwhile.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Backend, Opts, Server, queued_id_in, swaks};

fn server(extra_limits: &str) -> Server {
    Server::start_with(Backend::Embedded, Opts { extra_limits: extra_limits.into(), ..Opts::default() })
}

/// Reads until the server closes the connection; how long that took, and
/// what it sent. Panics if it is still open after `within`.
fn closed_within(mut s: TcpStream, within: Duration) -> (Duration, Vec<u8>) {
    let start = Instant::now();
    s.set_read_timeout(Some(within)).expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (start.elapsed(), got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionReset) => return (start.elapsed(), got),
            Err(e) => panic!("still open after {:?} ({e}); got {:?}", start.elapsed(), String::from_utf8_lossy(&got)),
        }
    }
}

fn swaks_send(port: u16, key: &str, local: Option<&str>) -> (bool, String) {
    let server = format!("127.0.0.1:{port}");
    let mut args =
        vec!["--server", &server, "--tls", "--auth", "PLAIN", "--auth-user", "apikey", "--auth-password", key];
    if let Some(l) = local {
        args.extend(["--local-interface", l]);
    }
    args.extend(["--from", "clinic@example.org", "--to", "patient@example.net", "--body", "limits"]);
    swaks(&args)
}

#[test]
fn silent_clients_and_half_handshakes_are_cut_off() {
    let server = server("tls_handshake_seconds = 1\nsmtp_idle_seconds = 2\nhttp_header_seconds = 1");
    let addr = |port: u16| format!("127.0.0.1:{port}");

    // Implicit TLS, nothing sent: the handshake times out.
    let silent_tls = TcpStream::connect(addr(server.ports.implicit)).expect("connect");
    // HTTPS, half a ClientHello (a record header announcing 512 bytes, then nothing).
    let mut half = TcpStream::connect(addr(server.ports.https)).expect("connect");
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).expect("write");
    // STARTTLS port, greeting read, then silence: the idle timeout.
    let silent_smtp = TcpStream::connect(addr(server.ports.starttls)).expect("connect");

    // Meanwhile everyone else is served.
    let (ok, t) = swaks_send(server.ports.starttls, &server.api_key, None);
    assert!(ok && queued_id_in(&t).is_some(), "another client was not served:\n{t}");

    let (took, _) = closed_within(silent_tls, Duration::from_secs(8));
    assert!(took < Duration::from_secs(8), "implicit TLS without a handshake: {took:?}");
    let (took, _) = closed_within(half, Duration::from_secs(8));
    assert!(took < Duration::from_secs(8), "half a ClientHello on HTTPS: {took:?}");
    let (_, said) = closed_within(silent_smtp, Duration::from_secs(8));
    let said = String::from_utf8_lossy(&said);
    assert!(said.starts_with("220 ") && said.contains("421"), "idle SMTP client: {said}");
}

#[test]
fn one_address_cannot_take_every_connection() {
    let server = server("max_connections_per_client = 2");
    let port = server.ports.starttls;
    let hog: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect");
            let mut greeting = [0u8; 4];
            s.read_exact(&mut greeting).expect("greeting");
            assert_eq!(&greeting, b"220 ");
            s
        })
        .collect();
    // The third from the same address is told 421 and closed.
    let third = TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect");
    let (_, said) = closed_within(third, Duration::from_secs(5));
    let said = String::from_utf8_lossy(&said);
    assert!(said.starts_with("421 4.7.0"), "over the per-client cap: {said}");
    // Another address is served.
    let (ok, t) = swaks_send(port, &server.api_key, Some("127.0.0.2"));
    assert!(ok && queued_id_in(&t).is_some(), "another address was refused:\n{t}");
    // Slots come back when connections close.
    drop(hog);
    std::thread::sleep(Duration::from_millis(300));
    let (ok, t) = swaks_send(port, &server.api_key, None);
    assert!(ok && queued_id_in(&t).is_some(), "slots were not given back:\n{t}");
    let metrics = server.http().get(server.url("/metrics")).bearer_auth(&server.api_key).send().expect("metrics");
    let text = metrics.text().expect("text");
    assert!(
        text.lines()
            .any(|l| l.starts_with("sealpost_connections_refused_total{listener=\"smtp\"} ") && !l.ends_with(" 0")),
        "{text}"
    );
}
