//! The HTTPS fetcher's destination check (issue 13.10) on loopback: names
//! from a test DNS server that resolve to loopback, private, unique-local
//! or metadata addresses are refused before any connection unless the
//! fetcher's allow-list names them. A [`TcpProbe`] listening where the
//! fetcher would connect shows whether it did.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use sealpost_outbound::destination::Class;
use sealpost_outbound::{AllowList, HttpsError, HttpsFetcher, HttpsOptions, MxResolver};
use sealpost_testkit::{DnsServer, HttpsServer, Route, TcpProbe, TestCa, Zone};

const HOST: &str = "mta-sts.internal.test";
const PATH: &str = "/.well-known/mta-sts.txt?l=jane.doe";
const BODY: &str = "served from loopback\n";

struct Env {
    _dir: tempfile::TempDir,
    _dns: DnsServer,
    https: HttpsServer,
    resolver: MxResolver,
    ca_path: PathBuf,
}

impl Env {
    /// DNS serving `zone`; HTTPS on 127.0.0.1 with a certificate for [`HOST`].
    fn start(zone: Zone) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new().unwrap();
        let ca_path = ca.write_cert(dir.path()).unwrap();
        let (cert, key) = ca.issue(&[HOST]).unwrap();
        let https = HttpsServer::start(&cert, &key, [Route::new("/.well-known/", 200, "text/plain", BODY)]).unwrap();
        let dns = DnsServer::start(zone).unwrap();
        let resolver = MxResolver::with_servers(&[dns.addr()], 25).unwrap();
        Env { _dir: dir, _dns: dns, https, resolver, ca_path }
    }

    /// A fetcher connecting to `port`, allowing the internal hosts `allow`.
    fn fetcher(&self, port: u16, allow: &[&str]) -> HttpsFetcher {
        let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
        let options = HttpsOptions {
            https_port: port,
            connect_timeout: Duration::from_millis(500),
            total_timeout: Duration::from_secs(2),
            allow_internal: AllowList::parse(&allow).unwrap(),
        };
        HttpsFetcher::with_options(self.resolver.clone(), std::slice::from_ref(&self.ca_path), options).unwrap()
    }
}

fn refused(result: Result<sealpost_outbound::HttpsResponse, HttpsError>) -> (IpAddr, Class) {
    match result {
        Err(HttpsError::Refused(r)) => {
            let text = HttpsError::Refused(r.clone()).to_string();
            assert!(!text.contains("/.well-known") && !text.contains("jane"), "errors carry no URL: {text}");
            (r.ip, r.class)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn loopback_is_refused_without_a_connection_unless_allowed() {
    let env = Env::start(Zone::new().a(HOST, Ipv4Addr::LOCALHOST));
    let probe = TcpProbe::bind("127.0.0.1:0").unwrap();

    let fetcher = env.fetcher(probe.addr().port(), &[]);
    let outcome = refused(fetcher.get(HOST, PATH, 1024).await);
    assert_eq!(outcome, (IpAddr::V4(Ipv4Addr::LOCALHOST), Class::Loopback));
    assert_eq!(probe.connections(), 0, "a refused fetch connects to nothing");

    // Listed by address, by network or by host name: fetched.
    for allow in ["127.0.0.1", "127.0.0.0/8", HOST] {
        let fetcher = env.fetcher(env.https.addr().port(), &[allow]);
        let response = fetcher.get(HOST, PATH, 1024).await.unwrap_or_else(|e| panic!("allowed by {allow}: {e}"));
        assert_eq!(response.body, BODY.as_bytes());
    }
    assert_eq!(env.https.requests().len(), 3);

    // A listed name does not open other names that lead to the same address.
    let other = Env::start(Zone::new().a("mta-sts.other.test", Ipv4Addr::LOCALHOST));
    let fetcher = other.fetcher(probe.addr().port(), &[HOST]);
    assert_eq!(refused(fetcher.get("mta-sts.other.test", PATH, 1024).await).1, Class::Loopback);
    assert_eq!(probe.connections(), 0);
}

#[tokio::test]
async fn ipv6_loopback_is_refused_without_a_connection_unless_allowed() {
    let Ok(probe) = TcpProbe::bind("[::1]:0") else {
        eprintln!("skipped: no IPv6 loopback on this machine");
        return;
    };
    let env = Env::start(Zone::new().aaaa(HOST, Ipv6Addr::LOCALHOST));

    let fetcher = env.fetcher(probe.addr().port(), &[]);
    assert_eq!(refused(fetcher.get(HOST, PATH, 1024).await), (IpAddr::V6(Ipv6Addr::LOCALHOST), Class::Loopback));
    assert_eq!(probe.connections(), 0, "a refused fetch connects to nothing");

    // Allowed: the fetcher connects (the probe never answers the TLS
    // handshake, so the fetch itself then times out).
    let fetcher = env.fetcher(probe.addr().port(), &["::1"]);
    let result = fetcher.get(HOST, PATH, 1024).await;
    assert!(matches!(result, Err(HttpsError::Timeout | HttpsError::Request(_))), "{result:?}");
    assert_eq!(probe.connections(), 1, "an allowed address is connected to");
}

#[tokio::test]
async fn private_unique_local_and_metadata_addresses_are_refused() {
    let zone = Zone::new()
        .a("mta-sts.private.test", Ipv4Addr::new(10, 0, 0, 1))
        .a("mta-sts.rfc1918.test", Ipv4Addr::new(192, 168, 1, 1))
        .a("mta-sts.metadata.test", Ipv4Addr::new(169, 254, 169, 254))
        .a("mta-sts.cgnat.test", Ipv4Addr::new(100, 64, 0, 1))
        .aaaa("mta-sts.ula.test", "fd00::1".parse().unwrap())
        .aaaa("mta-sts.linklocal.test", "fe80::1".parse().unwrap())
        .aaaa("mta-sts.mapped.test", "::ffff:127.0.0.1".parse().unwrap())
        .aaaa("mta-sts.ec2.test", "fd00:ec2::254".parse().unwrap());
    let env = Env::start(zone);
    let fetcher = env.fetcher(443, &[]);
    for (host, ip, class) in [
        ("mta-sts.private.test", "10.0.0.1", Class::Private),
        ("mta-sts.rfc1918.test", "192.168.1.1", Class::Private),
        ("mta-sts.metadata.test", "169.254.169.254", Class::Metadata),
        ("mta-sts.cgnat.test", "100.64.0.1", Class::SharedCgnat),
        ("mta-sts.ula.test", "fd00::1", Class::UniqueLocal),
        ("mta-sts.linklocal.test", "fe80::1", Class::LinkLocal),
        // Judged by the IPv4 address it stands for.
        ("mta-sts.mapped.test", "127.0.0.1", Class::Loopback),
        ("mta-sts.ec2.test", "fd00:ec2::254", Class::Metadata),
    ] {
        assert_eq!(refused(fetcher.get(host, PATH, 1024).await), (ip.parse().unwrap(), class), "{host}");
    }

    // Listed networks pass the check: the fetcher then tries to connect
    // (nothing answers there, so the fetch fails, but not as a refusal).
    let fetcher = env.fetcher(9, &["10.0.0.0/8", "fd00::/8"]);
    for host in ["mta-sts.private.test", "mta-sts.ula.test"] {
        let result = fetcher.get(host, PATH, 1024).await;
        assert!(!matches!(result, Err(HttpsError::Refused(_))), "{host}: {result:?}");
    }
    // A metadata address only when listed by itself, never through a network.
    let fetcher = env.fetcher(9, &["169.254.0.0/16", "fd00::/8"]);
    for host in ["mta-sts.metadata.test", "mta-sts.ec2.test"] {
        assert_eq!(refused(fetcher.get(host, PATH, 1024).await).1, Class::Metadata, "{host}");
    }
}

#[tokio::test]
async fn only_the_allowed_addresses_of_a_name_are_connected_to() {
    // The name has two loopback addresses; only 127.0.0.1, where the HTTPS
    // server is, is listed. A probe on 127.0.0.2 at the same port would take
    // (and stall) any connection made there.
    let env = Env::start(Zone::new().a(HOST, Ipv4Addr::new(127, 0, 0, 2)).a(HOST, Ipv4Addr::LOCALHOST));
    let port = env.https.addr().port();
    let probe = TcpProbe::bind((Ipv4Addr::new(127, 0, 0, 2), port)).unwrap();
    let fetcher = env.fetcher(port, &["127.0.0.1"]);
    for _ in 0..3 {
        env.resolver.clear_cache();
        assert_eq!(fetcher.get(HOST, PATH, 1024).await.unwrap().body, BODY.as_bytes());
    }
    assert_eq!(probe.connections(), 0, "the address that is not listed was never connected to");
}
