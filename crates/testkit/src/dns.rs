//! A loopback DNS server for tests: answers A, AAAA, MX, TXT and TLSA queries
//! from an in-memory [`Zone`], over UDP and TCP on the same 127.0.0.1 port.
//!
//! It is authoritative for every name: a name with records but none of the
//! asked type gets NOERROR with no answers (NODATA), any other name gets
//! NXDOMAIN; both carry an SOA in the authority section so resolvers can cache
//! the negative answer. Names are matched case-insensitively, without the
//! trailing dot. A null MX (RFC 7505) is `MX 0 .`: [`Zone::null_mx`].
//!
//! [`Zone::authenticated`] makes every answer carry the AD (authentic data)
//! bit, as a local validating resolver does for a signed zone: that is how
//! tests stand in for DNSSEC without signing anything.
//!
//! UDP answers larger than the query allows (512 bytes, or the EDNS0 payload
//! size the query advertises) are truncated to the header and question with
//! TC set, so clients must retry over TCP, as with a real server.
//!
//! The server runs on two threads that end when [`DnsServer`] is dropped.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{Error, Result, io};

/// One resource record's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    /// IPv4 address.
    A(Ipv4Addr),
    /// IPv6 address.
    Aaaa(Ipv6Addr),
    /// Mail exchanger: preference and host (`"."` or `""` for the root: null MX).
    Mx(u16, String),
    /// Text (split into 255-byte strings on the wire).
    Txt(String),
    /// DANE TLSA (RFC 6698 §2.1): certificate usage, selector, matching type
    /// and certificate association data.
    Tlsa {
        /// 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.
        usage: u8,
        /// 0 full certificate, 1 SubjectPublicKeyInfo.
        selector: u8,
        /// 0 exact, 1 SHA-256, 2 SHA-512.
        matching: u8,
        /// The certificate association data.
        data: Vec<u8>,
    },
}

impl RecordData {
    fn qtype(&self) -> u16 {
        match self {
            RecordData::A(_) => TYPE_A,
            RecordData::Aaaa(_) => TYPE_AAAA,
            RecordData::Mx(..) => TYPE_MX,
            RecordData::Txt(_) => TYPE_TXT,
            RecordData::Tlsa { .. } => TYPE_TLSA,
        }
    }
}

/// The records the server answers from.
#[derive(Debug, Clone, Default)]
pub struct Zone {
    records: Vec<(String, RecordData)>,
    authenticated: bool,
}

fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Zone {
    /// An empty zone (every name is NXDOMAIN).
    pub fn new() -> Zone {
        Zone::default()
    }

    /// Adds a record.
    pub fn record(mut self, name: &str, data: RecordData) -> Zone {
        self.records.push((norm(name), data));
        self
    }

    /// Adds `name A ip`.
    pub fn a(self, name: &str, ip: Ipv4Addr) -> Zone {
        self.record(name, RecordData::A(ip))
    }

    /// Adds `name AAAA ip`.
    pub fn aaaa(self, name: &str, ip: Ipv6Addr) -> Zone {
        self.record(name, RecordData::Aaaa(ip))
    }

    /// Adds `name MX preference host`.
    pub fn mx(self, name: &str, preference: u16, host: &str) -> Zone {
        self.record(name, RecordData::Mx(preference, host.to_owned()))
    }

    /// Adds the null MX `name MX 0 .` (RFC 7505).
    pub fn null_mx(self, name: &str) -> Zone {
        self.record(name, RecordData::Mx(0, ".".into()))
    }

    /// Adds `name TXT "text"`.
    pub fn txt(self, name: &str, text: &str) -> Zone {
        self.record(name, RecordData::Txt(text.to_owned()))
    }

    /// Adds `name TLSA usage selector matching data`; for SMTP `name` is
    /// `_25._tcp.<mx host>` (RFC 7672 §2.2.3).
    pub fn tlsa(self, name: &str, usage: u8, selector: u8, matching: u8, data: &[u8]) -> Zone {
        self.record(name, RecordData::Tlsa { usage, selector, matching, data: data.to_vec() })
    }

    /// When `true`, every answer (negative ones too) sets the AD bit, as a
    /// validating resolver does for a DNSSEC-signed zone. Default `false`.
    pub fn authenticated(mut self, authenticated: bool) -> Zone {
        self.authenticated = authenticated;
        self
    }
}

/// A running DNS server (see the module docs).
#[derive(Debug)]
pub struct DnsServer {
    addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    queries: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Binds UDP and TCP on the same free 127.0.0.1 port and serves `zone`.
    pub fn start(zone: Zone) -> Result<DnsServer> {
        let mut last = None;
        for _ in 0..20 {
            let udp = UdpSocket::bind("127.0.0.1:0").map_err(io("bind DNS UDP socket"))?;
            let addr = udp.local_addr().map_err(io("DNS UDP address"))?;
            match TcpListener::bind(addr) {
                Ok(tcp) => return Self::run(udp, tcp, zone),
                Err(e) => last = Some(e),
            }
        }
        Err(Error::Io {
            what: "bind DNS TCP listener".into(),
            source: last.unwrap_or_else(|| std::io::Error::other("no port")),
        })
    }

    fn run(udp: UdpSocket, tcp: TcpListener, zone: Zone) -> Result<DnsServer> {
        let addr = udp.local_addr().map_err(io("DNS address"))?;
        udp.set_read_timeout(Some(Duration::from_millis(100))).map_err(io("DNS UDP timeout"))?;
        tcp.set_nonblocking(true).map_err(io("DNS TCP nonblocking"))?;
        let zone = Arc::new(Mutex::new(zone));
        let queries = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));

        let (z, q, s) = (zone.clone(), queries.clone(), stop.clone());
        let udp_thread = std::thread::Builder::new()
            .name("testkit-dns-udp".into())
            .spawn(move || {
                let mut buf = [0u8; 4096];
                while !s.load(Ordering::Relaxed) {
                    let Ok((n, peer)) = udp.recv_from(&mut buf) else { continue };
                    q.fetch_add(1, Ordering::Relaxed);
                    let zone = z.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    if let Some(reply) = answer(&zone, &buf[..n]) {
                        let _ = udp.send_to(&truncate_for_udp(reply, &buf[..n]), peer);
                    }
                }
            })
            .map_err(io("spawn DNS UDP thread"))?;

        let (z, q, s) = (zone.clone(), queries.clone(), stop.clone());
        let tcp_thread = std::thread::Builder::new()
            .name("testkit-dns-tcp".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    match tcp.accept() {
                        Ok((conn, _)) => {
                            let (z, q) = (z.clone(), q.clone());
                            std::thread::spawn(move || serve_tcp(conn, &z, &q));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
            .map_err(io("spawn DNS TCP thread"))?;

        Ok(DnsServer { addr, zone, queries, stop, threads: vec![udp_thread, tcp_thread] })
    }

    /// The address (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the zone; later queries see the new records.
    pub fn set_zone(&self, zone: Zone) {
        *self.zone.lock().unwrap_or_else(|p| p.into_inner()) = zone;
    }

    /// How many queries arrived (UDP and TCP).
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn serve_tcp(mut conn: TcpStream, zone: &Mutex<Zone>, queries: &AtomicU64) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    loop {
        let mut len = [0u8; 2];
        if conn.read_exact(&mut len).is_err() {
            return;
        }
        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
        if conn.read_exact(&mut msg).is_err() {
            return;
        }
        queries.fetch_add(1, Ordering::Relaxed);
        let zone = zone.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(reply) = answer(&zone, &msg) else { return };
        let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&reply);
        if conn.write_all(&framed).is_err() {
            return;
        }
    }
}

const TYPE_A: u16 = 1;
const TYPE_MX: u16 = 15;
const TYPE_TXT: u16 = 16;
const TYPE_AAAA: u16 = 28;
const TYPE_OPT: u16 = 41;
const TYPE_TLSA: u16 = 52;
const TYPE_SOA: u16 = 6;
const CLASS_IN: u16 = 1;
const RCODE_FORMERR: u16 = 1;
const RCODE_NXDOMAIN: u16 = 3;
const RCODE_NOTIMP: u16 = 4;
const TTL: u32 = 60;

/// The question of a query: the name as sent (wire form) and as text.
struct Question {
    wire_name: Vec<u8>,
    name: String,
    qtype: u16,
    qclass: u16,
}

fn parse_question(msg: &[u8]) -> Option<(Question, usize)> {
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = *msg.get(pos)? as usize;
        if len == 0 {
            pos += 1;
            break;
        }
        if len > 63 {
            return None; // compression pointers have no place in a question
        }
        let label = msg.get(pos + 1..pos + 1 + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        pos += 1 + len;
    }
    let wire_name = msg[12..pos].to_vec();
    let qtype = u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]);
    let qclass = u16::from_be_bytes([*msg.get(pos + 2)?, *msg.get(pos + 3)?]);
    Some((Question { wire_name, name: labels.join("."), qtype, qclass }, pos + 4))
}

fn encode_name(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        out.push(label.len().min(63) as u8);
        out.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    out.push(0);
}

fn push_record(out: &mut Vec<u8>, owner: &[u8], rtype: u16, rdata: &[u8]) {
    out.extend_from_slice(owner);
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&TTL.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
}

fn rdata(data: &RecordData) -> Vec<u8> {
    let mut out = Vec::new();
    match data {
        RecordData::A(ip) => out.extend_from_slice(&ip.octets()),
        RecordData::Aaaa(ip) => out.extend_from_slice(&ip.octets()),
        RecordData::Mx(pref, host) => {
            out.extend_from_slice(&pref.to_be_bytes());
            encode_name(&mut out, host);
        }
        RecordData::Tlsa { usage, selector, matching, data } => {
            out.extend_from_slice(&[*usage, *selector, *matching]);
            out.extend_from_slice(data);
        }
        RecordData::Txt(text) => {
            let bytes = text.as_bytes();
            if bytes.is_empty() {
                out.push(0);
            }
            for chunk in bytes.chunks(255) {
                out.push(chunk.len() as u8);
                out.extend_from_slice(chunk);
            }
        }
    }
    out
}

/// The SOA for negative answers: owned by the question's last label (its
/// "TLD"), which is an ancestor of every name asked.
fn soa(out: &mut Vec<u8>, qname: &str) {
    let tld = qname.rsplit('.').next().unwrap_or("");
    let mut owner = Vec::new();
    encode_name(&mut owner, tld);
    let mut data = Vec::new();
    encode_name(&mut data, &format!("ns.{tld}"));
    encode_name(&mut data, &format!("hostmaster.{tld}"));
    for v in [1u32, 3600, 600, 86400, TTL] {
        data.extend_from_slice(&v.to_be_bytes());
    }
    push_record(out, &owner, TYPE_SOA, &data);
}

/// The reply to one query message, or None if it is not worth answering
/// (too short to carry an id, or a response).
fn answer(zone: &Zone, msg: &[u8]) -> Option<Vec<u8>> {
    if msg.len() < 12 || msg[2] & 0x80 != 0 {
        return None;
    }
    let id = [msg[0], msg[1]];
    let opcode = (msg[2] >> 3) & 0x0f;
    let rd = msg[2] & 0x01;
    let qdcount = u16::from_be_bytes([msg[4], msg[5]]);
    let header = |rcode: u16, qd: u16, an: u16, ns: u16| {
        let mut h = id.to_vec();
        // QR=1, opcode echoed, AA=1, RD echoed; RA=1, AD as configured, rcode.
        let ad = if zone.authenticated { 0x20 } else { 0 };
        h.push(0x80 | (opcode << 3) | 0x04 | rd);
        h.push(0x80 | ad | rcode as u8);
        for n in [qd, an, ns, 0] {
            h.extend_from_slice(&n.to_be_bytes());
        }
        h
    };
    if opcode != 0 {
        return Some(header(RCODE_NOTIMP, 0, 0, 0));
    }
    let parsed = if qdcount == 1 { parse_question(msg) } else { None };
    let Some((q, qend)) = parsed else { return Some(header(RCODE_FORMERR, 0, 0, 0)) };

    let known = zone.records.iter().any(|(n, _)| *n == q.name);
    let answers: Vec<&RecordData> = if q.qclass == CLASS_IN {
        zone.records.iter().filter(|(n, d)| *n == q.name && d.qtype() == q.qtype).map(|(_, d)| d).collect()
    } else {
        Vec::new()
    };
    let rcode = if known { 0 } else { RCODE_NXDOMAIN };
    let ns = u16::from(answers.is_empty());
    let mut out = header(rcode, 1, answers.len() as u16, ns);
    out.extend_from_slice(&msg[12..qend]);
    for a in &answers {
        push_record(&mut out, &q.wire_name, a.qtype(), &rdata(a));
    }
    if answers.is_empty() {
        soa(&mut out, &q.name);
    }
    Some(out)
}

/// The largest UDP reply the query allows: its EDNS0 payload size (RFC 6891
/// §6.2.3, at least 512) when it carries an OPT record, else 512.
fn udp_limit(query: &[u8]) -> usize {
    let arcount = query.get(10..12).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let Some((_, qend)) = parse_question(query) else { return 512 };
    // Only the simple case matters here: OPT as the first additional record
    // with the root owner name (one zero byte), right after the question.
    if arcount >= 1 && query.get(qend) == Some(&0) {
        let field = |at: usize| query.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
        if field(qend + 1) == Some(TYPE_OPT) {
            return field(qend + 3).map_or(512, |size| usize::from(size.max(512)));
        }
    }
    512
}

/// A reply that fits the query's UDP limit as is, or its header and question
/// with TC=1 and no records (RFC 1035 §4.2.1), telling the client to use TCP.
fn truncate_for_udp(reply: Vec<u8>, query: &[u8]) -> Vec<u8> {
    if reply.len() <= udp_limit(query) {
        return reply;
    }
    let Some((_, qend)) = parse_question(query) else { return reply };
    let mut out = reply[..4].to_vec();
    out[2] |= 0x02;
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&query[12..qend]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        encode_name(&mut q, name);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&CLASS_IN.to_be_bytes());
        q
    }

    #[test]
    fn answers_over_udp_and_tcp() {
        let zone = Zone::new().mx("example.test", 10, "mx.example.test").a("mx.example.test", Ipv4Addr::LOCALHOST);
        let server = DnsServer::start(zone).unwrap();

        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        udp.send_to(&query(7, "EXAMPLE.test.", TYPE_MX), server.addr()).unwrap();
        let mut buf = [0u8; 512];
        let n = udp.recv(&mut buf).unwrap();
        let r = &buf[..n];
        assert_eq!(&r[..2], &7u16.to_be_bytes());
        assert_eq!(r[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");

        let mut tcp = TcpStream::connect(server.addr()).unwrap();
        let q = query(8, "nope.test", TYPE_A);
        tcp.write_all(&(q.len() as u16).to_be_bytes()).unwrap();
        tcp.write_all(&q).unwrap();
        let mut len = [0u8; 2];
        tcp.read_exact(&mut len).unwrap();
        let mut r = vec![0u8; u16::from_be_bytes(len) as usize];
        tcp.read_exact(&mut r).unwrap();
        assert_eq!(r[3] & 0x0f, RCODE_NXDOMAIN as u8);
        assert_eq!(u16::from_be_bytes([r[8], r[9]]), 1, "SOA in authority");
        assert!(server.queries() >= 2);
    }

    fn udp_ask(server: &DnsServer, q: &[u8]) -> Vec<u8> {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        udp.send_to(q, server.addr()).unwrap();
        let mut buf = [0u8; 4096];
        let n = udp.recv(&mut buf).unwrap();
        buf[..n].to_vec()
    }

    fn with_opt(mut q: Vec<u8>, payload: u16) -> Vec<u8> {
        q[11] = 1; // ARCOUNT
        q.push(0); // root owner
        q.extend_from_slice(&TYPE_OPT.to_be_bytes());
        q.extend_from_slice(&payload.to_be_bytes());
        q.extend_from_slice(&[0, 0, 0x80, 0, 0, 0]); // ttl with DO=1, rdlen 0
        q
    }

    #[test]
    fn tlsa_rdata_is_rfc6698_wire_format_and_ad_follows_the_zone() {
        let name = "_25._tcp.mx.example.test";
        let zone = Zone::new().tlsa(name, 3, 1, 1, &[0xab; 32]);
        let server = DnsServer::start(zone.clone()).unwrap();
        let r = udp_ask(&server, &query(9, name, TYPE_TLSA));
        assert_eq!(r[3] & 0x20, 0, "AD off by default");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");
        // The answer's RDATA is the last 35 bytes: 3 1 1 then the 32-byte digest.
        let rdlen = u16::from_be_bytes([r[r.len() - 37], r[r.len() - 36]]);
        assert_eq!(rdlen, 35);
        assert_eq!(&r[r.len() - 35..r.len() - 32], &[3, 1, 1]);
        assert_eq!(&r[r.len() - 32..], &[0xab; 32]);

        server.set_zone(zone.authenticated(true));
        let r = udp_ask(&server, &query(10, name, TYPE_TLSA));
        assert_eq!(r[3] & 0x20, 0x20, "AD set for an authenticated zone");
        let r = udp_ask(&server, &query(11, "missing.example.test", TYPE_TLSA));
        assert_eq!(r[3], 0x80 | 0x20 | RCODE_NXDOMAIN as u8, "negative answers are authenticated too");
    }

    #[test]
    fn large_udp_answers_are_truncated_to_the_advertised_size() {
        let name = "_25._tcp.big.example.test";
        let zone = (0..4u8).fold(Zone::new(), |z, i| z.tlsa(name, 3, 0, 0, &[i; 400]));
        let server = DnsServer::start(zone).unwrap();

        let r = udp_ask(&server, &query(12, name, TYPE_TLSA));
        assert_eq!(r[2] & 0x02, 0x02, "TC set beyond 512 bytes without EDNS0");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 0, "no answers in a truncated reply");
        assert_eq!(&r[12..], &query(12, name, TYPE_TLSA)[12..], "question echoed");

        let r = udp_ask(&server, &with_opt(query(13, name, TYPE_TLSA), 1232));
        assert_eq!(r[2] & 0x02, 0x02, "1.6 kB does not fit 1232 either");
        let r = udp_ask(&server, &with_opt(query(14, name, TYPE_TLSA), 4096));
        assert_eq!(r[2] & 0x02, 0, "fits 4096");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 4);
    }
}
