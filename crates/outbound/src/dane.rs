//! DANE for SMTP (RFC 7672): TLSA records of an MX host, looked up with
//! their DNSSEC status, and matched against the certificate chain the MX
//! presents.
//!
//! # Where trust in DNSSEC comes from
//!
//! Sealpost does not validate DNSSEC itself. Like Postfix with
//! `smtp_dns_support_level = dnssec`, it trusts the AD (authentic data) bit
//! of answers from **explicitly configured name servers only** — an
//! operator-run validating resolver (unbound, on loopback, so nothing on the
//! network can forge the bit). [`DaneResolver::with_servers`] queries exactly
//! those servers; with no configured servers (the system resolver is in
//! use) DANE is off and every lookup finds nothing. Only TLSA records from an
//! authenticated answer count ([`TlsaLookup::dane_records`]); unauthenticated
//! records mean "DANE does not apply", not an error.
//!
//! The lookup is a raw query (hickory-resolver does not report the AD bit):
//! `_<port>._tcp.<mx host>` TLSA over UDP with EDNS0 DO=1 and AD=1, retried
//! over TCP when the answer is truncated. NXDOMAIN and NODATA are "no TLSA".
//! A failed lookup (SERVFAIL, timeouts) is an error: RFC 7672 §2.2 says to
//! treat such an MX as unreachable rather than fall back to unauthenticated
//! TLS, which a forger could otherwise force; that decision is the caller's.
//!
//! # Matching (RFC 7672 §3.1, RFC 6698 §2.1)
//!
//! * DANE-EE (3): the leaf certificate matches (selector 0: the whole
//!   certificate, 1: its SubjectPublicKeyInfo; matching 0: exact, 1: SHA-256,
//!   2: SHA-512). Name and validity dates are deliberately not checked.
//! * DANE-TA (2): a certificate the server sent after its leaf matches, and
//!   the leaf chains to it (webpki with that certificate as the only trust
//!   anchor) and is valid for the MX name. A trust anchor published only as a
//!   key and not sent by the server is not supported (RFC 7672 §3.1.2 asks
//!   servers to send it).
//! * PKIX-TA (0) and PKIX-EE (1) are unusable for SMTP (RFC 7672 §3.1.3), as
//!   are unknown selectors and matching types: they are ignored, and when no
//!   usable record is left DANE does not apply.
//!
//! When usable records exist, they decide: a chain none of them matches is
//! not verified even if it would pass WebPKI.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{LowerName, Name, RData, RecordType};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Certificate usage DANE-TA: a trust anchor for the server's chain.
pub const DANE_TA: u8 = 2;
/// Certificate usage DANE-EE: the server's own certificate or key.
pub const DANE_EE: u8 = 3;

/// One TLSA record (RFC 6698 §2.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tlsa {
    /// Certificate usage: 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.
    pub usage: u8,
    /// Selector: 0 full certificate, 1 SubjectPublicKeyInfo.
    pub selector: u8,
    /// Matching type: 0 exact, 1 SHA-256, 2 SHA-512.
    pub matching: u8,
    /// Certificate association data.
    pub data: Vec<u8>,
}

impl Tlsa {
    /// Whether SMTP may use this record (RFC 7672 §3.1): DANE-TA or DANE-EE
    /// with a known selector and matching type.
    pub fn is_usable(&self) -> bool {
        matches!(self.usage, DANE_TA | DANE_EE) && self.selector <= 1 && self.matching <= 2
    }

    /// Whether `cert_der` (one DER certificate) matches this record's
    /// selector, matching type and data; usage is not considered. A
    /// certificate that does not parse matches nothing.
    pub fn matches_cert(&self, cert_der: &[u8]) -> bool {
        let selected = match self.selector {
            0 => cert_der.to_vec(),
            1 => {
                let der = CertificateDer::from(cert_der);
                match webpki::EndEntityCert::try_from(&der) {
                    Ok(cert) => cert.subject_public_key_info().as_ref().to_vec(),
                    Err(_) => return false,
                }
            }
            _ => return false,
        };
        match self.matching {
            0 => selected == self.data,
            1 => aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &selected).as_ref() == self.data,
            2 => aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, &selected).as_ref() == self.data,
            _ => false,
        }
    }
}

/// What a TLSA lookup found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsaLookup {
    /// The TLSA records in the answer (empty for NXDOMAIN or NODATA).
    pub records: Vec<Tlsa>,
    /// Whether the resolver set the AD bit (the answer is DNSSEC-validated).
    pub authenticated: bool,
}

impl TlsaLookup {
    /// The records DANE may use: all of them when the answer was
    /// authenticated, none otherwise. Pass these to the connection.
    pub fn dane_records(&self) -> &[Tlsa] {
        if self.authenticated { &self.records } else { &[] }
    }
}

/// Why a TLSA lookup failed. Texts name hosts and causes, never content.
#[derive(Debug, thiserror::Error)]
pub enum DaneError {
    /// The MX host name cannot be made into a TLSA query name.
    #[error("invalid TLSA query name for MX host")]
    Name,
    /// No configured name server gave a usable answer (timeouts, SERVFAIL,
    /// malformed replies); RFC 7672 §2.2: treat the MX as unreachable.
    #[error("TLSA lookup for {host} failed: {reason}")]
    Lookup {
        /// The MX host.
        host: String,
        /// The last server's failure.
        reason: String,
    },
}

/// Looks up TLSA records at configured, trusted name servers (see the
/// module docs for why only those).
#[derive(Debug, Clone)]
pub struct DaneResolver {
    servers: Vec<SocketAddr>,
    timeout: Duration,
}

/// Advertised EDNS0 UDP payload size (the DNS flag day 2020 value).
const EDNS_PAYLOAD: u16 = 1232;

impl DaneResolver {
    /// Queries `servers` in order (each over UDP, then TCP if truncated).
    /// Empty `servers` means DANE is off: every lookup finds nothing.
    pub fn with_servers(servers: &[SocketAddr]) -> DaneResolver {
        DaneResolver { servers: servers.to_vec(), timeout: Duration::from_secs(5) }
    }

    /// Sets the wait per server and transport (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> DaneResolver {
        self.timeout = timeout;
        self
    }

    /// Whether lookups can find anything (servers are configured).
    pub fn is_enabled(&self) -> bool {
        !self.servers.is_empty()
    }

    /// The TLSA records of `_<port>._tcp.<mx_host>` and whether the answer
    /// was authenticated.
    pub async fn lookup(&self, mx_host: &str, port: u16) -> Result<TlsaLookup, DaneError> {
        if self.servers.is_empty() {
            return Ok(TlsaLookup::default());
        }
        let name = Name::from_ascii(format!("_{port}._tcp.{}.", mx_host.trim_end_matches('.')))
            .map_err(|_| DaneError::Name)?;
        let mut last = String::from("no server answered");
        for server in &self.servers {
            match self.ask(*server, &name).await {
                Ok(found) => return Ok(found),
                Err(reason) => {
                    tracing::debug!(%server, %reason, "TLSA query failed");
                    last = reason;
                }
            }
        }
        Err(DaneError::Lookup { host: mx_host.trim_end_matches('.').to_owned(), reason: last })
    }

    async fn ask(&self, server: SocketAddr, name: &Name) -> Result<TlsaLookup, String> {
        let id: u16 = rand_id();
        let query = build_query(id, name)?;
        match tokio::time::timeout(self.timeout, ask_udp(server, &query, id, name)).await {
            Err(_) => return Err("UDP timeout".into()),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(Reply::Answer(found))) => return Ok(found),
            Ok(Ok(Reply::Truncated)) => {}
        }
        match tokio::time::timeout(self.timeout, ask_tcp(server, &query, id, name)).await {
            Err(_) => Err("TCP timeout".into()),
            Ok(Err(e)) => Err(e),
            Ok(Ok(Reply::Answer(found))) => Ok(found),
            Ok(Ok(Reply::Truncated)) => Err("truncated over TCP".into()),
        }
    }
}

/// A query id that an off-path attacker cannot guess cheaply (the AD bit is
/// only as good as the answer's authenticity on the way from the resolver).
fn rand_id() -> u16 {
    let mut b = [0u8; 2];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        // The system RNG failing is not a reason to give up on delivery;
        // the id still must match and the resolver should be on loopback.
        return std::process::id() as u16;
    }
    u16::from_be_bytes(b)
}

fn build_query(id: u16, name: &Name) -> Result<Vec<u8>, String> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    // RFC 6840 §5.7: AD=1 in a query asks for the AD bit in the answer
    // without needing the signatures; DO=1 does so on older resolvers.
    msg.metadata.authentic_data = true;
    msg.add_query(Query::query(name.clone(), RecordType::TLSA));
    let mut edns = Edns::new();
    edns.set_dnssec_ok(true).set_max_payload(EDNS_PAYLOAD);
    msg.set_edns(edns);
    msg.to_vec().map_err(|e| format!("encode query: {e}"))
}

/// A reply to our query.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    /// TC was set: ask again over TCP.
    Truncated,
    /// A final answer.
    Answer(TlsaLookup),
}

/// What a received message is, relative to the query `id` for `name`.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// Not a reply to this query (another id, not a response): ignore it.
    Stray,
    /// Our reply.
    Reply(Reply),
    /// Our reply, but unusable (SERVFAIL, REFUSED, wrong question, ...).
    Failed(String),
}

/// Interprets a DNS message received for the TLSA query `id` on `name`.
/// Never panics, whatever the bytes.
fn parse_reply(bytes: &[u8], id: u16, name: &Name) -> Parsed {
    let Ok(msg) = Message::from_vec(bytes) else {
        // A malformed message with our id is a failed answer; anything else
        // may be a stray datagram.
        return match bytes.get(..2) {
            Some(head) if u16::from_be_bytes([head[0], head[1]]) == id => Parsed::Failed("malformed reply".into()),
            _ => Parsed::Stray,
        };
    };
    let meta = &msg.metadata;
    if meta.id != id || meta.message_type != MessageType::Response {
        return Parsed::Stray;
    }
    if meta.truncation {
        return Parsed::Reply(Reply::Truncated);
    }
    let asked = LowerName::from(name.clone());
    let echoed = msg.queries.len() == 1
        && msg.queries.iter().all(|q| LowerName::from(q.name().clone()) == asked && q.query_type() == RecordType::TLSA);
    if !echoed {
        return Parsed::Failed("reply is for another question".into());
    }
    match meta.response_code {
        ResponseCode::NoError | ResponseCode::NXDomain => {}
        other => return Parsed::Failed(format!("rcode {other}")),
    }
    let records = msg
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TLSA(t) => Some(Tlsa {
                usage: u8::from(t.cert_usage),
                selector: u8::from(t.selector),
                matching: u8::from(t.matching),
                data: t.cert_data.clone(),
            }),
            _ => None,
        })
        .collect();
    Parsed::Reply(Reply::Answer(TlsaLookup { records, authenticated: meta.authentic_data }))
}

async fn ask_udp(server: SocketAddr, query: &[u8], id: u16, name: &Name) -> Result<Reply, String> {
    let local: SocketAddr = if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let socket = UdpSocket::bind(local).await.map_err(|e| format!("UDP bind: {e}"))?;
    socket.connect(server).await.map_err(|e| format!("UDP connect: {e}"))?;
    socket.send(query).await.map_err(|e| format!("UDP send: {e}"))?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = socket.recv(&mut buf).await.map_err(|e| format!("UDP receive: {e}"))?;
        match parse_reply(&buf[..n], id, name) {
            Parsed::Stray => continue,
            Parsed::Reply(r) => return Ok(r),
            Parsed::Failed(e) => return Err(e),
        }
    }
}

async fn ask_tcp(server: SocketAddr, query: &[u8], id: u16, name: &Name) -> Result<Reply, String> {
    let mut tcp = TcpStream::connect(server).await.map_err(|e| format!("TCP connect: {e}"))?;
    let len = u16::try_from(query.len()).map_err(|_| "query too long".to_owned())?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    tcp.write_all(&framed).await.map_err(|e| format!("TCP send: {e}"))?;
    let mut len = [0u8; 2];
    tcp.read_exact(&mut len).await.map_err(|e| format!("TCP receive: {e}"))?;
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    tcp.read_exact(&mut msg).await.map_err(|e| format!("TCP receive: {e}"))?;
    match parse_reply(&msg, id, name) {
        Parsed::Reply(r) => Ok(r),
        Parsed::Stray => Err("TCP reply is not for this query".into()),
        Parsed::Failed(e) => Err(e),
    }
}

/// The DANE verdict on a presented chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DaneVerdict {
    /// No usable record: DANE does not apply; WebPKI decides.
    NotApplicable,
    /// A usable record matched (and, for DANE-TA, the chain and name hold).
    Authenticated,
    /// Usable records exist and none matched: not verified.
    Failed(&'static str),
}

/// Applies `records` to the chain the server presented (RFC 7672 §3.1).
pub(crate) fn authenticate(
    records: &[Tlsa],
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    server_name: &ServerName<'_>,
    now: UnixTime,
    provider: &Arc<CryptoProvider>,
) -> DaneVerdict {
    let usable: Vec<&Tlsa> = records.iter().filter(|r| r.is_usable()).collect();
    if usable.is_empty() {
        return DaneVerdict::NotApplicable;
    }
    if usable.iter().any(|r| r.usage == DANE_EE && r.matches_cert(end_entity)) {
        return DaneVerdict::Authenticated;
    }
    let mut anchor_seen = false;
    for record in usable.iter().filter(|r| r.usage == DANE_TA) {
        for anchor in intermediates.iter().filter(|c| record.matches_cert(c)) {
            anchor_seen = true;
            if chains_to(anchor, end_entity, intermediates, server_name, now, provider) {
                return DaneVerdict::Authenticated;
            }
        }
    }
    if anchor_seen {
        DaneVerdict::Failed("DANE-TA: certificate does not chain to the TLSA trust anchor for the MX name")
    } else {
        DaneVerdict::Failed("DANE: no TLSA record matches the certificate chain")
    }
}

/// Whether the leaf validates (chain, dates, MX name) with `anchor` as the
/// only trust anchor.
fn chains_to(
    anchor: &CertificateDer<'_>,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    server_name: &ServerName<'_>,
    now: UnixTime,
    provider: &Arc<CryptoProvider>,
) -> bool {
    let mut roots = RootCertStore::empty();
    if roots.add(anchor.clone().into_owned()).is_err() {
        return false;
    }
    let Ok(verifier) = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build() else {
        return false;
    };
    verifier.verify_server_cert(end_entity, intermediates, server_name, &[], now).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::TLSA;
    use proptest::prelude::*;
    use sealpost_testkit::{TestCa, self_signed};

    const MX: &str = "mx.dane.test";

    fn der(pem: &str) -> Vec<CertificateDer<'static>> {
        rustls_pemfile::certs(&mut pem.as_bytes()).collect::<Result<_, _>>().unwrap()
    }

    fn spki(cert: &CertificateDer<'_>) -> Vec<u8> {
        webpki::EndEntityCert::try_from(cert).unwrap().subject_public_key_info().as_ref().to_vec()
    }

    fn sha256(d: &[u8]) -> Vec<u8> {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, d).as_ref().to_vec()
    }

    fn sha512(d: &[u8]) -> Vec<u8> {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, d).as_ref().to_vec()
    }

    fn tlsa(usage: u8, selector: u8, matching: u8, data: Vec<u8>) -> Tlsa {
        Tlsa { usage, selector, matching, data }
    }

    /// Every selector/matching combination's association data for `cert`.
    fn associations(cert: &CertificateDer<'_>) -> Vec<(u8, u8, Vec<u8>)> {
        let (full, key) = (cert.as_ref().to_vec(), spki(cert));
        vec![
            (0, 0, full.clone()),
            (0, 1, sha256(&full)),
            (0, 2, sha512(&full)),
            (1, 0, key.clone()),
            (1, 1, sha256(&key)),
            (1, 2, sha512(&key)),
        ]
    }

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }

    fn check(records: &[Tlsa], chain: &[CertificateDer<'_>], name: &str) -> DaneVerdict {
        let name = ServerName::try_from(name.to_owned()).unwrap();
        authenticate(records, &chain[0], &chain[1..], &name, UnixTime::now(), &provider())
    }

    #[test]
    fn dane_ee_matches_every_selector_and_matching_type_and_ignores_name() {
        let (pem, _) = self_signed(&["some.other.name"]).unwrap();
        let chain = der(&pem);
        let (other_pem, _) = self_signed(&[MX]).unwrap();
        let other = der(&other_pem);
        for (selector, matching, data) in associations(&chain[0]) {
            let r = tlsa(DANE_EE, selector, matching, data);
            assert!(r.matches_cert(&chain[0]), "{selector} {matching}");
            assert!(!r.matches_cert(&other[0]), "{selector} {matching} must not match another key");
            // Self-signed, for another name: DANE-EE checks neither.
            assert_eq!(
                check(std::slice::from_ref(&r), &chain, MX),
                DaneVerdict::Authenticated,
                "{selector} {matching}"
            );
            let mut wrong = r.clone();
            wrong.data[0] ^= 1;
            assert!(matches!(check(&[wrong], &chain, MX), DaneVerdict::Failed(_)), "{selector} {matching}");
            // The same association under the wrong matching type fails.
            let mismatched = tlsa(DANE_EE, selector, (matching + 1) % 3, r.data.clone());
            assert!(!mismatched.matches_cert(&chain[0]));
        }
    }

    #[test]
    fn pkix_usages_and_unknown_parameters_are_ignored() {
        let (pem, _) = self_signed(&[MX]).unwrap();
        let chain = der(&pem);
        let digest = sha256(&spki(&chain[0]));
        for r in [tlsa(0, 1, 1, digest.clone()), tlsa(1, 1, 1, digest.clone()), tlsa(4, 1, 1, digest.clone())] {
            assert!(!r.is_usable());
            assert!(r.matches_cert(&chain[0]), "the data matches; only the usage is unusable");
            assert_eq!(check(&[r], &chain, MX), DaneVerdict::NotApplicable);
        }
        for r in [tlsa(3, 2, 1, digest.clone()), tlsa(3, 1, 3, digest.clone()), tlsa(3, 1, 255, digest.clone())] {
            assert!(!r.is_usable());
            assert!(!r.matches_cert(&chain[0]));
        }
        assert_eq!(check(&[], &chain, MX), DaneVerdict::NotApplicable);
        // One usable record among unusable ones decides.
        let records = [tlsa(1, 1, 1, digest.clone()), tlsa(3, 1, 1, vec![0; 32])];
        assert!(matches!(check(&records, &chain, MX), DaneVerdict::Failed(_)));
        let records = [tlsa(0, 1, 1, vec![0; 32]), tlsa(3, 1, 1, digest)];
        assert_eq!(check(&records, &chain, MX), DaneVerdict::Authenticated);
    }

    #[test]
    fn dane_ta_needs_the_anchor_in_the_chain_a_valid_chain_and_the_mx_name() {
        let ca = TestCa::new().unwrap();
        let (chain_pem, _) = ca.issue_chain(&[MX]).unwrap();
        let chain = der(&chain_pem);
        assert_eq!(chain.len(), 2);
        for (selector, matching, data) in associations(&chain[1]) {
            let r = tlsa(DANE_TA, selector, matching, data);
            assert_eq!(
                check(std::slice::from_ref(&r), &chain, MX),
                DaneVerdict::Authenticated,
                "{selector} {matching}"
            );
            assert!(
                matches!(check(std::slice::from_ref(&r), &chain, "other.dane.test"), DaneVerdict::Failed(_)),
                "name"
            );
            // The anchor must be sent by the server.
            assert!(matches!(check(&[r], &chain[..1], MX), DaneVerdict::Failed(_)));
        }
        // DANE-TA naming the leaf is not an anchor for itself.
        let leaf = tlsa(DANE_TA, 1, 1, sha256(&spki(&chain[0])));
        assert!(matches!(check(&[leaf], &chain, MX), DaneVerdict::Failed(_)));
        // A leaf of another CA sent along with this CA's certificate does not chain.
        let other = TestCa::new().unwrap();
        let (other_leaf, _) = other.issue(&[MX]).unwrap();
        let mixed = [der(&other_leaf)[0].clone(), chain[1].clone()];
        let r = tlsa(DANE_TA, 1, 1, sha256(&spki(&chain[1])));
        assert!(matches!(check(&[r], &mixed, MX), DaneVerdict::Failed(_)));
    }

    #[test]
    fn lookup_without_servers_is_off() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let r = DaneResolver::with_servers(&[]);
        assert!(!r.is_enabled());
        assert_eq!(rt.block_on(r.lookup(MX, 25)).unwrap(), TlsaLookup::default());
    }

    #[test]
    fn unauthenticated_lookups_give_no_dane_records() {
        let found = TlsaLookup { records: vec![tlsa(3, 1, 1, vec![1; 32])], authenticated: false };
        assert!(found.dane_records().is_empty());
        let found = TlsaLookup { authenticated: true, ..found };
        assert_eq!(found.dane_records().len(), 1);
    }

    fn qname() -> Name {
        Name::from_ascii("_25._tcp.mx.dane.test.").unwrap()
    }

    fn response(id: u16, records: &[Tlsa], ad: bool, tc: bool, rcode: ResponseCode) -> Vec<u8> {
        let mut m = Message::new(id, MessageType::Response, OpCode::Query);
        m.metadata.authentic_data = ad;
        m.metadata.truncation = tc;
        m.metadata.response_code = rcode;
        m.add_query(Query::query(qname(), RecordType::TLSA));
        for t in records {
            let data = TLSA::new(t.usage.into(), t.selector.into(), t.matching.into(), t.data.clone());
            m.add_answer(Record::from_rdata(qname(), 60, RData::TLSA(data)));
        }
        m.to_vec().unwrap()
    }

    #[test]
    fn replies_are_read_strictly() {
        let recs = vec![tlsa(3, 1, 1, vec![7; 32]), tlsa(2, 0, 2, vec![8; 64])];
        let ok = response(5, &recs, true, false, ResponseCode::NoError);
        assert_eq!(
            parse_reply(&ok, 5, &qname()),
            Parsed::Reply(Reply::Answer(TlsaLookup { records: recs.clone(), authenticated: true }))
        );
        assert_eq!(parse_reply(&ok, 6, &qname()), Parsed::Stray, "another id");
        let other = Name::from_ascii("_25._tcp.other.test.").unwrap();
        assert!(matches!(parse_reply(&ok, 5, &other), Parsed::Failed(_)), "another question");
        let nx = response(5, &[], false, false, ResponseCode::NXDomain);
        assert_eq!(parse_reply(&nx, 5, &qname()), Parsed::Reply(Reply::Answer(TlsaLookup::default())));
        let tc = response(5, &[], false, true, ResponseCode::NoError);
        assert_eq!(parse_reply(&tc, 5, &qname()), Parsed::Reply(Reply::Truncated));
        let servfail = response(5, &[], false, false, ResponseCode::ServFail);
        assert!(matches!(parse_reply(&servfail, 5, &qname()), Parsed::Failed(_)));
        let query = build_query(5, &qname()).unwrap();
        assert_eq!(parse_reply(&query, 5, &qname()), Parsed::Stray, "our own query is not a reply");
        assert!(matches!(parse_reply(&ok[..ok.len() - 3], 5, &qname()), Parsed::Failed(_)), "cut short");
    }

    #[test]
    fn query_asks_for_tlsa_with_do_and_ad() {
        let q = Message::from_vec(&build_query(77, &qname()).unwrap()).unwrap();
        assert_eq!(q.metadata.id, 77);
        assert!(q.metadata.authentic_data && q.metadata.recursion_desired);
        assert_eq!(q.queries.len(), 1);
        assert_eq!(q.queries[0].query_type(), RecordType::TLSA);
        let edns = q.edns.expect("EDNS0");
        assert!(edns.flags().dnssec_ok);
        assert_eq!(edns.max_payload(), EDNS_PAYLOAD);
    }

    proptest! {
        #[test]
        fn random_association_data_never_matches(
            usage in 2u8..=3, selector in 0u8..=1, matching in 0u8..=2,
            data in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let (pem, _) = self_signed(&[MX]).unwrap();
            let chain = der(&pem);
            let r = tlsa(usage, selector, matching, data);
            prop_assert!(!r.matches_cert(&chain[0]));
            prop_assert!(matches!(check(&[r], &chain, MX), DaneVerdict::Failed(_)));
        }

        #[test]
        fn parsing_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), id: u16) {
            let _ = parse_reply(&bytes, id, &qname());
        }

        #[test]
        fn mangled_replies_never_panic(flip in 0usize..400, byte: u8) {
            let mut reply = response(9, &[tlsa(3, 1, 1, vec![1; 32]), tlsa(2, 0, 0, vec![2; 40])], true, false,
                ResponseCode::NoError);
            let at = flip % reply.len();
            reply[at] = byte;
            let _ = parse_reply(&reply, 9, &qname());
        }

        #[test]
        fn tlsa_records_round_trip_through_the_wire(
            recs in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(),
                proptest::collection::vec(any::<u8>(), 1..70)), 0..5),
            ad: bool,
        ) {
            let recs: Vec<Tlsa> = recs.into_iter().map(|(u, s, m, d)| tlsa(u, s, m, d)).collect();
            let wire = response(3, &recs, ad, false, ResponseCode::NoError);
            prop_assert_eq!(
                parse_reply(&wire, 3, &qname()),
                Parsed::Reply(Reply::Answer(TlsaLookup { records: recs, authenticated: ad }))
            );
        }
    }
}
