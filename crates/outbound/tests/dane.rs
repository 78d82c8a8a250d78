//! DANE end to end: TLSA records served by the test DNS server (with or
//! without the AD bit), looked up by [`DaneResolver`], and applied by the
//! client to the in-process [`SmtpReceiver`]'s certificate; and connections
//! from a chosen source address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use sealpost_outbound::client::Timeouts;
use sealpost_outbound::{ConnectOptions, Connection, DaneError, DaneResolver, OutboundError, TlsClient, TlsInfo};
use sealpost_testkit::{DnsServer, ReceiverOptions, SmtpReceiver, TestCa, Zone, self_signed};

const MX: &str = "mx.dane.test";
const HELO: &str = "client.test.sealpost";

fn timeouts() -> Timeouts {
    Timeouts { connect: Duration::from_secs(5), command: Duration::from_secs(20), data_end: Duration::from_secs(30) }
}

fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref().to_vec()
}

/// SHA-256 of the SubjectPublicKeyInfo of the key in `key_pem`: the data of
/// a `3 1 1` record.
fn spki_sha256(key_pem: &str) -> Vec<u8> {
    use rcgen::PublicKeyData;
    sha256(&rcgen::KeyPair::from_pem(key_pem).unwrap().subject_public_key_info())
}

fn first_cert_der(pem: &str) -> Vec<u8> {
    rustls_pemfile::certs(&mut pem.as_bytes()).next().unwrap().unwrap().as_ref().to_vec()
}

fn tlsa_name(port: u16) -> String {
    format!("_{port}._tcp.{MX}")
}

fn no_extra_roots() -> TlsClient {
    TlsClient::new(&[] as &[PathBuf]).unwrap()
}

fn receiver(cert_pem: String, key_pem: String) -> SmtpReceiver {
    SmtpReceiver::start(ReceiverOptions { tls: Some((cert_pem, key_pem)), ..ReceiverOptions::default() }).unwrap()
}

/// Looks up the receiver's TLSA records in `dns` and connects with whatever
/// DANE records the lookup yields.
async fn connect_with_dane(dns: &DnsServer, rx: &SmtpReceiver, tls: &TlsClient) -> TlsInfo {
    let lookup = DaneResolver::with_servers(&[dns.addr()]).lookup(MX, rx.addr().port()).await.unwrap();
    let options = ConnectOptions { tlsa: lookup.dane_records().to_vec(), bind: None };
    let conn = Connection::open_with(rx.addr(), MX, HELO, tls, timeouts(), &options).await.unwrap();
    let info = conn.tls().cloned().expect("STARTTLS was offered");
    conn.quit().await;
    info
}

#[tokio::test]
async fn authenticated_dane_ee_record_verifies_a_self_signed_certificate() {
    let (cert, key) = self_signed(&["not-the-mx.test"]).unwrap();
    let rx = receiver(cert, key.clone());
    let zone = Zone::new().tlsa(&tlsa_name(rx.addr().port()), 3, 1, 1, &spki_sha256(&key)).authenticated(true);
    let dns = DnsServer::start(zone).unwrap();

    let lookup = DaneResolver::with_servers(&[dns.addr()]).lookup(MX, rx.addr().port()).await.unwrap();
    assert!(lookup.authenticated);
    assert_eq!(lookup.records.len(), 1);
    let options = ConnectOptions { tlsa: lookup.dane_records().to_vec(), bind: None };
    let mut conn = Connection::open_with(rx.addr(), MX, HELO, &no_extra_roots(), timeouts(), &options).await.unwrap();
    let info = conn.tls().cloned().unwrap();
    assert!(info.verified && info.dane, "{info:?}");
    assert_eq!(info.verify_error, None);

    let out = conn.send("a@client.test", &[], &["b@dane.test".into()], b"Subject: x\r\n\r\nbody\r\n").await.unwrap();
    assert_eq!(out.data.map(|r| r.code), Some(250));
    conn.quit().await;
    let txns = rx.wait_for_transactions(1, Duration::from_secs(10)).unwrap();
    assert_eq!(txns[0].data, b"Subject: x\r\n\r\nbody\r\n");
    assert!(rx.sessions()[0].tls_version.is_some(), "the message travelled inside TLS");
}

#[tokio::test]
async fn unauthenticated_tlsa_records_do_not_count() {
    let (cert, key) = self_signed(&[MX]).unwrap();
    let rx = receiver(cert, key.clone());
    let zone = Zone::new().tlsa(&tlsa_name(rx.addr().port()), 3, 1, 1, &spki_sha256(&key)).authenticated(false);
    let dns = DnsServer::start(zone).unwrap();

    let lookup = DaneResolver::with_servers(&[dns.addr()]).lookup(MX, rx.addr().port()).await.unwrap();
    assert_eq!(lookup.records.len(), 1, "the record is there");
    assert!(!lookup.authenticated);
    assert!(lookup.dane_records().is_empty());
    let info = connect_with_dane(&dns, &rx, &no_extra_roots()).await;
    assert!(!info.verified && !info.dane, "{info:?}");
}

#[tokio::test]
async fn non_matching_tlsa_overrides_a_trusted_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new().unwrap();
    let trusting = TlsClient::new(&[ca.write_cert(dir.path()).unwrap()]).unwrap();
    let (chain, key) = ca.issue_chain(&[MX]).unwrap();
    let rx = receiver(chain, key);

    // Control: without TLSA records the chain verifies by WebPKI.
    let dns = DnsServer::start(Zone::new().authenticated(true)).unwrap();
    let info = connect_with_dane(&dns, &rx, &trusting).await;
    assert!(info.verified && !info.dane, "{info:?}");

    // An authenticated record for some other key: DANE takes precedence.
    let (_, other_key) = self_signed(&[MX]).unwrap();
    dns.set_zone(Zone::new().tlsa(&tlsa_name(rx.addr().port()), 3, 1, 1, &spki_sha256(&other_key)).authenticated(true));
    let info = connect_with_dane(&dns, &rx, &trusting).await;
    assert!(!info.verified && !info.dane, "{info:?}");
    assert!(info.verify_error.is_some());

    // PKIX usages are unusable for SMTP: ignored, so WebPKI decides again.
    dns.set_zone(Zone::new().tlsa(&tlsa_name(rx.addr().port()), 1, 1, 1, &spki_sha256(&other_key)).authenticated(true));
    let info = connect_with_dane(&dns, &rx, &trusting).await;
    assert!(info.verified && !info.dane, "{info:?}");
}

#[tokio::test]
async fn dane_ta_record_verifies_a_chain_from_an_untrusted_ca() {
    let ca = TestCa::new().unwrap();
    let (chain, key) = ca.issue_chain(&[MX]).unwrap();
    let rx = receiver(chain, key);
    let ca_hash = sha256(&first_cert_der(ca.cert_pem()));
    let dns = DnsServer::start(Zone::new().tlsa(&tlsa_name(rx.addr().port()), 2, 0, 1, &ca_hash).authenticated(true))
        .unwrap();
    let info = connect_with_dane(&dns, &rx, &no_extra_roots()).await;
    assert!(info.verified && info.dane, "{info:?}");

    // The same anchor does not vouch for a certificate naming another host.
    let (wrong_name, key) = ca.issue_chain(&["other.dane.test"]).unwrap();
    let rx = receiver(wrong_name, key);
    dns.set_zone(Zone::new().tlsa(&tlsa_name(rx.addr().port()), 2, 0, 1, &ca_hash).authenticated(true));
    let info = connect_with_dane(&dns, &rx, &no_extra_roots()).await;
    assert!(!info.verified && !info.dane, "{info:?}");
}

#[tokio::test]
async fn large_tlsa_answers_are_fetched_over_tcp() {
    let name = tlsa_name(25);
    let zone = (0..4u8).fold(Zone::new(), |z, i| z.tlsa(&name, 3, 0, 0, &[i; 400])).authenticated(true);
    let dns = DnsServer::start(zone).unwrap();
    let lookup = DaneResolver::with_servers(&[dns.addr()]).lookup(MX, 25).await.unwrap();
    assert_eq!(lookup.records.len(), 4);
    assert!(lookup.authenticated);
    assert!(lookup.records.iter().all(|r| r.data.len() == 400));
    assert_eq!(dns.queries(), 2, "one truncated UDP answer, then TCP");
}

#[tokio::test]
async fn missing_records_are_empty_and_dead_servers_are_errors() {
    let dns = DnsServer::start(Zone::new().a(MX, Ipv4Addr::LOCALHOST).authenticated(true)).unwrap();
    let resolver = DaneResolver::with_servers(&[dns.addr()]);
    let nodata = resolver.lookup(MX, 25).await.unwrap();
    assert!(nodata.records.is_empty());
    let nxdomain = resolver.lookup("absent.dane.test", 25).await.unwrap();
    assert!(nxdomain.records.is_empty());

    // A server that never answers, then a working one: the second answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let both = DaneResolver::with_servers(&[silent_addr, dns.addr()]).timeout(Duration::from_millis(300));
    assert!(both.lookup(MX, 25).await.is_ok());
    let only_silent = DaneResolver::with_servers(&[silent_addr]).timeout(Duration::from_millis(300));
    assert!(matches!(only_silent.lookup(MX, 25).await, Err(DaneError::Lookup { .. })));
}

#[tokio::test]
async fn connections_come_from_the_bound_source_address() {
    let rx = SmtpReceiver::start(ReceiverOptions::default()).unwrap();
    let tls = no_extra_roots();
    for source in [Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)] {
        let options = ConnectOptions { tlsa: Vec::new(), bind: Some(IpAddr::V4(source)) };
        let conn = Connection::open_with(rx.addr(), MX, HELO, &tls, timeouts(), &options).await.unwrap();
        conn.quit().await;
    }
    let peers: Vec<IpAddr> = rx.sessions().iter().map(|s| s.peer.ip()).collect();
    assert_eq!(peers, [IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3))]);

    let v6 = ConnectOptions { tlsa: Vec::new(), bind: Some("::1".parse().unwrap()) };
    let err = Connection::open_with(rx.addr(), MX, HELO, &tls, timeouts(), &v6).await.err();
    assert!(matches!(err, Some(OutboundError::Config(_))), "{err:?}");
    let unroutable = SocketAddr::from(([127, 0, 0, 1], rx.addr().port()));
    let foreign = ConnectOptions { tlsa: Vec::new(), bind: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))) };
    let err = Connection::open_with(unroutable, MX, HELO, &tls, timeouts(), &foreign).await.err();
    assert!(matches!(err, Some(OutboundError::Config(_))), "an address this host does not have: {err:?}");
}
