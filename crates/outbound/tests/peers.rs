//! The outbound client against real and scripted peers on loopback: MX
//! resolution through a test DNS server, delivery to a private Postfix with
//! and without STARTTLS (verified, untrusted, wrong name, stripped by a man
//! in the middle), and reply handling against a scripted SMTP server.
//!
//! Postfix needs root and the `postfix` package (scripts/setup-test-env.sh).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use sealpost_outbound::client::Timeouts;
use sealpost_outbound::destination::Class;
use sealpost_outbound::{AllowList, Connection, MxError, MxHost, MxResolver, OutboundError, TlsClient};
use sealpost_testkit::{
    DnsServer, PostfixOptions, PostfixReceiver, Script, ScriptedServer, StarttlsStripper, TestCa, Tls, Zone,
    received_tls, self_signed, strip_trace_headers,
};

const MX: &str = "mx.test.sealpost";
const HELO: &str = "client.test.sealpost";

fn timeouts() -> Timeouts {
    Timeouts { connect: Duration::from_secs(5), command: Duration::from_secs(20), data_end: Duration::from_secs(30) }
}

/// A CA, its certificate written to a tempdir, and a receiver whose
/// certificate (from that CA) names [`MX`].
struct TlsPeer {
    _dir: tempfile::TempDir,
    ca_path: PathBuf,
    receiver: PostfixReceiver,
}

fn tls_peer() -> TlsPeer {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new().unwrap();
    let ca_path = ca.write_cert(dir.path()).unwrap();
    let (cert_pem, key_pem) = ca.issue_chain(&[MX, "127.0.0.1"]).unwrap();
    let receiver = PostfixReceiver::start(PostfixOptions::with_tls(Tls::Offered { cert_pem, key_pem })).unwrap();
    TlsPeer { _dir: dir, ca_path, receiver }
}

fn trusting(ca_path: &PathBuf) -> TlsClient {
    TlsClient::new(std::slice::from_ref(ca_path)).unwrap()
}

fn no_extra_roots() -> TlsClient {
    TlsClient::new(&[] as &[PathBuf]).unwrap()
}

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@{HELO}>\r\nTo: <rcpt@example.test>\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@{HELO}>\r\nDate: Mon, 01 Jan 2024 00:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    )
    .into_bytes()
}

fn crlf_to_lf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(data[i]);
        i += 1;
    }
    out
}

/// Sends `data` to `rcpt@example.test` and asserts every reply was positive.
async fn send_ok(conn: &mut Connection, data: &[u8]) {
    let out = conn.send(&format!("sender@{HELO}"), &[], &["rcpt@example.test".to_owned()], data).await.unwrap();
    assert!(out.mail.is_positive(), "MAIL: {}", out.mail);
    assert_eq!(out.rcpts.len(), 1);
    assert!(out.rcpts[0].reply.is_positive(), "RCPT: {}", out.rcpts[0].reply);
    let end = out.data.expect("DATA was sent");
    assert_eq!(end.code, 250, "end of DATA: {end}");
}

/// The single delivered message, as sent (trace headers removed).
fn delivered_one(receiver: &PostfixReceiver) -> Vec<u8> {
    let msgs = receiver.wait_for_messages(1, Duration::from_secs(30)).unwrap();
    assert_eq!(msgs.len(), 1, "exactly one message delivered");
    msgs.into_iter().next().unwrap()
}

// ---------------------------------------------------------------- MX

fn mx_zone() -> Zone {
    Zone::new()
        // Deliberately out of order, with a host that has no address.
        .mx("example.test", 20, "mx2.example.test")
        .mx("example.test", 10, "mx1.example.test.")
        .mx("example.test", 30, "mx3.example.test")
        .mx("example.test", 5, "noaddr.example.test")
        .a("mx1.example.test", Ipv4Addr::new(127, 0, 0, 11))
        .a("mx2.example.test", Ipv4Addr::new(127, 0, 0, 12))
        .a("mx3.example.test", Ipv4Addr::new(127, 0, 0, 13))
        .a("mx3.example.test", Ipv4Addr::new(127, 0, 0, 14))
        .a("implicit.test", Ipv4Addr::new(127, 0, 0, 21))
        .txt("implicit.test", "v=spf1 -all")
        .null_mx("nullmx.test")
        .a("nullmx.test", Ipv4Addr::new(127, 0, 0, 31))
        .mx("dangling.test", 10, "nowhere.dangling.test")
}

fn addr(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

#[tokio::test]
async fn mx_hosts_come_in_preference_order_without_unresolvable_ones() {
    let dns = DnsServer::start(mx_zone()).unwrap();
    let resolver = MxResolver::with_servers(&[dns.addr()], 2525).unwrap();
    let mut hosts = resolver.resolve("example.test").await.unwrap();
    for h in &mut hosts {
        h.addrs.sort();
    }
    assert_eq!(
        hosts,
        vec![
            MxHost { preference: 10, host: "mx1.example.test".into(), addrs: vec![addr([127, 0, 0, 11], 2525)] },
            MxHost { preference: 20, host: "mx2.example.test".into(), addrs: vec![addr([127, 0, 0, 12], 2525)] },
            MxHost {
                preference: 30,
                host: "mx3.example.test".into(),
                addrs: vec![addr([127, 0, 0, 13], 2525), addr([127, 0, 0, 14], 2525)]
            },
        ]
    );
    // A trailing dot and upper case in the query name change nothing.
    let again: Vec<String> = resolver.resolve("EXAMPLE.test.").await.unwrap().into_iter().map(|h| h.host).collect();
    assert_eq!(again, ["mx1.example.test", "mx2.example.test", "mx3.example.test"]);
}

#[tokio::test]
async fn domain_without_mx_is_its_own_mail_host() {
    let dns = DnsServer::start(mx_zone()).unwrap();
    let resolver = MxResolver::with_servers(&[dns.addr()], 25).unwrap();
    let hosts = resolver.resolve("implicit.test").await.unwrap();
    assert_eq!(
        hosts,
        vec![MxHost { preference: 0, host: "implicit.test".into(), addrs: vec![addr([127, 0, 0, 21], 25)] }]
    );
}

#[tokio::test]
async fn null_mx_means_no_mail_even_with_an_address() {
    let dns = DnsServer::start(mx_zone()).unwrap();
    let resolver = MxResolver::with_servers(&[dns.addr()], 25).unwrap();
    let r = resolver.resolve("nullmx.test").await;
    assert!(matches!(r, Err(MxError::NullMx)), "{r:?}");
}

#[tokio::test]
async fn unknown_domain_and_dangling_mx_have_no_host() {
    let dns = DnsServer::start(mx_zone()).unwrap();
    let resolver = MxResolver::with_servers(&[dns.addr()], 25).unwrap();
    let r = resolver.resolve("no-such-domain.test").await;
    assert!(matches!(r, Err(MxError::NoHost)), "NXDOMAIN: {r:?}");
    let r = resolver.resolve("dangling.test").await;
    assert!(matches!(r, Err(MxError::NoHost)), "MX without address: {r:?}");
    assert!(dns.queries() >= 2, "the test DNS server was asked");
}

/// The MX addresses of `domain` that `allow` lets delivery connect to, by
/// host (the check delivery makes on the addresses it connects to).
async fn permitted_mx(resolver: &MxResolver, domain: &str, allow: &[&str]) -> Vec<(String, Vec<SocketAddr>)> {
    let allow = AllowList::parse(&allow.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let mut out = Vec::new();
    for host in resolver.resolve(domain).await.unwrap() {
        let mut addrs: Vec<SocketAddr> =
            host.addrs.iter().copied().filter(|a| allow.check(&host.host, a.ip()).is_ok()).collect();
        addrs.sort();
        if !addrs.is_empty() {
            out.push((host.host, addrs));
        }
    }
    out
}

#[tokio::test]
async fn mx_on_loopback_is_refused_unless_allowed() {
    let dns = DnsServer::start(mx_zone()).unwrap();
    let resolver = MxResolver::with_servers(&[dns.addr()], 25).unwrap();
    // Every MX of example.test resolves to loopback: refused by default.
    for host in resolver.resolve("example.test").await.unwrap() {
        for a in &host.addrs {
            let refused = AllowList::default().check(&host.host, a.ip()).unwrap_err();
            assert_eq!((refused.ip, refused.class), (a.ip(), Class::Loopback), "{}", host.host);
        }
    }
    assert!(permitted_mx(&resolver, "example.test", &[]).await.is_empty());
    assert!(permitted_mx(&resolver, "implicit.test", &[]).await.is_empty(), "an implicit MX too");

    // Allowed by network, by MX host name, or by address: only what is listed.
    let all = permitted_mx(&resolver, "example.test", &["127.0.0.0/8"]).await;
    assert_eq!(
        all.iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>(),
        ["mx1.example.test", "mx2.example.test", "mx3.example.test"]
    );
    assert_eq!(
        permitted_mx(&resolver, "example.test", &["MX3.example.test."]).await,
        [("mx3.example.test".to_owned(), vec![addr([127, 0, 0, 13], 25), addr([127, 0, 0, 14], 25)])]
    );
    assert_eq!(
        permitted_mx(&resolver, "example.test", &["127.0.0.14"]).await,
        [("mx3.example.test".to_owned(), vec![addr([127, 0, 0, 14], 25)])]
    );
}

// ---------------------------------------------------------------- Postfix with STARTTLS

#[tokio::test]
async fn verified_tls_delivery_arrives_intact() {
    let peer = tls_peer();
    let tls = trusting(&peer.ca_path);
    let mut conn = Connection::open(peer.receiver.addr(), MX, HELO, &tls, timeouts()).await.unwrap();
    let info = conn.tls().cloned().expect("STARTTLS was offered, so the connection must be TLS");
    assert!(info.verified, "certificate from a trusted CA for {MX}: {info:?}");
    assert_eq!(info.verify_error, None);
    assert!(info.version == "TLSv1.3" || info.version == "TLSv1.2", "version {:?}", info.version);
    assert!(!info.cipher.is_empty());

    let data = message("verified-tls", "Hello over TLS.\r\nSecond line.\r\n");
    send_ok(&mut conn, &data).await;
    conn.quit().await;

    let msg = delivered_one(&peer.receiver);
    assert_eq!(strip_trace_headers(&msg), crlf_to_lf(&data).as_slice(), "message changed in transit");
    let (version, cipher) = received_tls(&msg).expect("Received: header says TLS");
    assert_eq!(version, info.version, "the receiver saw the version the client reported");
    assert!(!cipher.is_empty());
    let text = String::from_utf8_lossy(&msg);
    assert!(text.contains("Delivered-To: rcpt@example.test"), "{text}");
}

#[tokio::test]
async fn tls12_receiver_is_reported_as_tls12() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new().unwrap();
    let ca_path = ca.write_cert(dir.path()).unwrap();
    let (cert_pem, key_pem) = ca.issue_chain(&[MX]).unwrap();
    let mut opts = PostfixOptions::with_tls(Tls::Offered { cert_pem, key_pem });
    opts.main_cf.push(("smtpd_tls_protocols".into(), ">=TLSv1.2, <=TLSv1.2".into()));
    let receiver = PostfixReceiver::start(opts).unwrap();
    let mut conn = Connection::open(receiver.addr(), MX, HELO, &trusting(&ca_path), timeouts()).await.unwrap();
    let info = conn.tls().cloned().expect("TLS negotiated");
    assert_eq!(info.version, "TLSv1.2");
    assert!(info.verified, "{info:?}");
    assert!(!info.cipher.is_empty());
    send_ok(&mut conn, &message("tls12", "over 1.2\r\n")).await;
    conn.quit().await;
    let msg = delivered_one(&receiver);
    assert_eq!(received_tls(&msg).map(|(v, _)| v).as_deref(), Some("TLSv1.2"));
}

#[tokio::test]
async fn untrusted_issuer_is_recorded_not_verified() {
    let peer = tls_peer();
    // The Mozilla roots only: the test CA is unknown.
    let mut conn = Connection::open(peer.receiver.addr(), MX, HELO, &no_extra_roots(), timeouts()).await.unwrap();
    let info = conn.tls().cloned().expect("TLS still negotiated");
    assert!(!info.verified, "{info:?}");
    let err = info.verify_error.clone().expect("why verification failed");
    assert!(err.to_ascii_lowercase().contains("issuer"), "verify_error should name the issuer problem: {err}");
    // The client does not decide what may be sent; the channel still works.
    send_ok(&mut conn, &message("untrusted", "notification only\r\n")).await;
    conn.quit().await;
    let msg = delivered_one(&peer.receiver);
    assert!(received_tls(&msg).is_some());
}

#[tokio::test]
async fn self_signed_certificate_is_not_verified() {
    let (cert_pem, key_pem) = self_signed(&[MX]).unwrap();
    let receiver = PostfixReceiver::start(PostfixOptions::with_tls(Tls::Offered { cert_pem, key_pem })).unwrap();
    let conn = Connection::open(receiver.addr(), MX, HELO, &no_extra_roots(), timeouts()).await.unwrap();
    let info = conn.tls().cloned().expect("TLS negotiated");
    assert!(!info.verified, "{info:?}");
    assert!(info.verify_error.is_some());
    conn.quit().await;
}

#[tokio::test]
async fn certificate_for_another_name_is_not_verified() {
    let peer = tls_peer();
    let tls = trusting(&peer.ca_path);
    let conn = Connection::open(peer.receiver.addr(), "other.test.sealpost", HELO, &tls, timeouts()).await.unwrap();
    let info = conn.tls().cloned().expect("TLS negotiated");
    assert!(!info.verified, "certificate names {MX}, not other.test.sealpost: {info:?}");
    let err = info.verify_error.clone().expect("why verification failed");
    assert!(err.to_ascii_lowercase().contains("name"), "{err}");
    conn.quit().await;

    // Control: the same client and receiver verify under the right name,
    // also when it is written as an absolute name.
    let conn = Connection::open(peer.receiver.addr(), "mx.test.sealpost.", HELO, &tls, timeouts()).await.unwrap();
    assert!(conn.tls().is_some_and(|t| t.verified), "{:?}", conn.tls());
    conn.quit().await;
}

// ---------------------------------------------------------------- no TLS

#[tokio::test]
async fn receiver_without_starttls_gives_no_tls() {
    let receiver = PostfixReceiver::start(PostfixOptions::with_tls(Tls::None)).unwrap();
    let mut conn = Connection::open(receiver.addr(), MX, HELO, &no_extra_roots(), timeouts()).await.unwrap();
    assert_eq!(conn.tls(), None);
    assert!(!conn.has_extension("STARTTLS"));
    let data = message("plain", "in clear\r\n");
    send_ok(&mut conn, &data).await;
    conn.quit().await;
    let msg = delivered_one(&receiver);
    assert_eq!(received_tls(&msg), None, "delivered in clear");
    assert_eq!(strip_trace_headers(&msg), crlf_to_lf(&data).as_slice());
}

#[tokio::test]
async fn starttls_stripping_proxy_yields_no_tls() {
    let peer = tls_peer();
    let tls = trusting(&peer.ca_path);

    // Control: directly, the receiver gives verified TLS.
    let direct = Connection::open(peer.receiver.addr(), MX, HELO, &tls, timeouts()).await.unwrap();
    assert!(direct.tls().is_some_and(|t| t.verified));
    direct.quit().await;

    let mitm = StarttlsStripper::start(peer.receiver.addr()).unwrap();
    let conn = Connection::open(mitm.addr(), MX, HELO, &tls, timeouts()).await.unwrap();
    assert_eq!(conn.tls(), None, "the client can only report what it got: no STARTTLS, no TLS");
    conn.quit().await;
    assert_eq!(mitm.connections(), 1);
    assert!(mitm.stripped() >= 1, "the proxy removed STARTTLS from the EHLO reply");
    assert!(mitm.client_sent(format!("EHLO {HELO}").as_bytes()), "traffic went through the proxy");
    assert!(!mitm.client_sent(b"STARTTLS"), "the client did not ask for TLS it was not offered");
}

// ---------------------------------------------------------------- DATA transparency

#[tokio::test]
async fn dot_stuffing_keeps_lines_that_start_with_a_dot() {
    let receiver = PostfixReceiver::start(PostfixOptions::default()).unwrap();
    let mut conn = Connection::open(receiver.addr(), MX, HELO, &no_extra_roots(), timeouts()).await.unwrap();
    let body = ".\r\n..\r\n.leading dot\r\n...three\r\nmiddle . dot\r\n.\r\n";
    let data = message("dots", body);
    send_ok(&mut conn, &data).await;
    conn.quit().await;
    let msg = delivered_one(&receiver);
    assert_eq!(strip_trace_headers(&msg), crlf_to_lf(&data).as_slice());
}

/// A lone "." after a bare LF: receivers that take LF as a line end (Postfix
/// 3.7 by default) must not see the end of DATA there, or the rest of the
/// message would be read as SMTP commands (SMTP smuggling).
#[tokio::test]
async fn bare_lf_dot_line_does_not_end_data_early() {
    let receiver = PostfixReceiver::start(PostfixOptions::default()).unwrap();
    let mut conn = Connection::open(receiver.addr(), MX, HELO, &no_extra_roots(), timeouts()).await.unwrap();
    let data = message("bare-lf", "before\n.\nRSET\r\nafter\r\n");
    let out = conn.send(&format!("sender@{HELO}"), &[], &["rcpt@example.test".to_owned()], &data).await;
    conn.quit().await;
    // Either the client refuses such a message, or it arrives whole.
    if let Ok(out) = out
        && out.data.as_ref().is_some_and(|r| r.is_positive())
    {
        let msg = delivered_one(&receiver);
        let got = strip_trace_headers(&msg);
        assert!(got.ends_with(b"after\n"), "message cut short at the bare-LF dot: {:?}", String::from_utf8_lossy(got));
    }
}

// ---------------------------------------------------------------- scripted replies

fn mail_rcpt_script(rcpt_reply: &str) -> Script {
    Script::smtp_greeting()
        .expect("MAIL FROM:<sender@")
        .send("250 2.1.0 ok\r\n")
        .expect("RCPT TO:<rcpt@example.test>")
        .send(rcpt_reply)
        .expect("RSET")
        .send("250 2.0.0 ok\r\n")
        .expect("QUIT")
        .send("221 bye\r\n")
}

async fn send_to_scripted(server: &ScriptedServer) -> sealpost_outbound::SendOutcome {
    let mut conn = Connection::open(server.addr(), MX, HELO, &no_extra_roots(), timeouts()).await.unwrap();
    assert_eq!(conn.tls(), None);
    let out = conn
        .send(&format!("sender@{HELO}"), &[], &["rcpt@example.test".to_owned()], &message("scripted", "x\r\n"))
        .await
        .unwrap();
    conn.quit().await;
    out
}

#[tokio::test]
async fn rcpt_4xx_is_transient_and_no_data_is_sent() {
    let server = ScriptedServer::start(vec![mail_rcpt_script("451 4.3.0 try again later\r\n")]).unwrap();
    let out = send_to_scripted(&server).await;
    assert!(out.mail.is_positive());
    let r = &out.rcpts[0].reply;
    assert!(r.is_transient() && !r.is_permanent() && !r.is_positive(), "{r}");
    assert_eq!(r.code, 451);
    assert!(out.data.is_none(), "no recipient accepted: no DATA");
    let t = &server.transcripts()[0];
    assert!(t.errors.is_empty(), "client strayed from the script: {:?}", t.errors);
    assert!(!String::from_utf8_lossy(&t.client_bytes).contains("DATA"));
}

#[tokio::test]
async fn rcpt_5xx_is_permanent() {
    let server = ScriptedServer::start(vec![mail_rcpt_script("550 5.1.1 no such user\r\n")]).unwrap();
    let out = send_to_scripted(&server).await;
    let r = &out.rcpts[0].reply;
    assert!(r.is_permanent() && !r.is_transient(), "{r}");
    assert_eq!(r.code, 550);
    assert!(out.data.is_none());
    assert!(server.transcripts()[0].errors.is_empty(), "{:?}", server.transcripts()[0].errors);
}

#[tokio::test]
async fn transient_failure_then_success_on_the_next_attempt() {
    let accept = Script::smtp_greeting()
        .expect("MAIL FROM:")
        .send("250 ok\r\n")
        .expect("RCPT TO:")
        .send("250 ok\r\n")
        .expect("DATA")
        .send("354 go on\r\n")
        .read_data()
        .send("250 2.0.0 queued\r\n")
        .expect("QUIT")
        .send("221 bye\r\n");
    let server = ScriptedServer::start(vec![
        mail_rcpt_script("452 4.2.2 mailbox full\r\n"),
        mail_rcpt_script("421 4.3.2 busy\r\n"),
        accept,
    ])
    .unwrap();
    for attempt in 0..2 {
        let out = send_to_scripted(&server).await;
        assert!(out.rcpts[0].reply.is_transient(), "attempt {attempt}: {}", out.rcpts[0].reply);
    }
    let out = send_to_scripted(&server).await;
    assert_eq!(out.data.map(|r| r.code), Some(250));
    assert_eq!(server.connections(), 3);
    let t = server.transcripts();
    assert!(t.iter().all(|t| t.errors.is_empty()), "{:?}", t.iter().map(|t| &t.errors).collect::<Vec<_>>());
    assert!(String::from_utf8_lossy(&t[2].client_bytes).contains("Subject: scripted\r\n"));
}

#[tokio::test]
async fn mixed_recipients_send_data_for_the_accepted_one() {
    let script = Script::smtp_greeting()
        .expect("MAIL FROM:")
        .send("250 ok\r\n")
        .expect("RCPT TO:<a@example.test>")
        .send("550 5.1.1 unknown\r\n")
        .expect("RCPT TO:<b@example.test>")
        .send("250 ok\r\n")
        .expect("DATA")
        .send("354 go on\r\n")
        .read_data()
        .send("250 2.0.0 queued\r\n");
    let server = ScriptedServer::start(vec![script]).unwrap();
    let mut conn = Connection::open(server.addr(), MX, HELO, &no_extra_roots(), timeouts()).await.unwrap();
    let rcpts = ["a@example.test".to_owned(), "b@example.test".to_owned()];
    let out = conn.send("", &[], &rcpts, &message("mixed", "x\r\n")).await.unwrap();
    assert_eq!(out.rcpts.iter().map(|r| r.reply.code).collect::<Vec<_>>(), vec![550, 250]);
    assert_eq!(out.data.map(|r| r.code), Some(250));
    conn.quit().await;
    let t = &server.transcripts()[0];
    assert!(t.errors.is_empty(), "{:?}", t.errors);
    assert!(t.client_bytes.starts_with(b"EHLO client.test.sealpost\r\nMAIL FROM:<>\r\n"), "null sender");
}

#[tokio::test]
async fn bytes_after_the_starttls_reply_are_refused() {
    let script = Script::new()
        .send("220 evil ESMTP\r\n")
        .expect("EHLO")
        .send("250-evil\r\n250 STARTTLS\r\n")
        .expect("STARTTLS")
        // One write: the 220 and an injected reply the client must not
        // carry into the TLS session.
        .send("220 2.0.0 ready\r\n250-injected\r\n250 AUTH PLAIN\r\n");
    let server = ScriptedServer::start(vec![script]).unwrap();
    let r = Connection::open(server.addr(), MX, HELO, &no_extra_roots(), timeouts()).await;
    assert!(matches!(r, Err(OutboundError::Protocol(_))), "{:?}", r.as_ref().map(|c| c.tls().cloned()));
}

#[tokio::test]
async fn greeting_rejection_and_silent_server_fail_open() {
    let server = ScriptedServer::start(vec![Script::new().send("554 5.7.1 go away\r\n").close()]).unwrap();
    let r = Connection::open(server.addr(), MX, HELO, &no_extra_roots(), timeouts()).await;
    assert!(matches!(&r, Err(OutboundError::Rejected(reply)) if reply.code == 554), "{:?}", r.err());

    let server = ScriptedServer::start(vec![Script::new().send("220 slow\r\n").sleep(Duration::from_secs(5))]).unwrap();
    let short = Timeouts { command: Duration::from_millis(500), ..timeouts() };
    let r = Connection::open(server.addr(), MX, HELO, &no_extra_roots(), short).await;
    assert!(matches!(r, Err(OutboundError::Timeout(_))), "{:?}", r.err());

    let server = ScriptedServer::start(vec![Script::new().send("220 hi\r\n").expect("EHLO").send("250 hi\n")]).unwrap();
    let r = Connection::open(server.addr(), MX, HELO, &no_extra_roots(), short).await;
    assert!(r.is_err(), "a reply without CRLF is not a reply");
}
