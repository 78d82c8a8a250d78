//! MTA-STS discovery end to end on loopback: the `_mta-sts` TXT record and
//! the policy host's address from a test DNS server, the policy from a test
//! HTTPS server whose certificate comes from a test CA the fetcher trusts.
//! The fetcher is allowed 127.0.0.1 explicitly (issue 13.10: by default a
//! policy host on loopback is refused).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use sealpost_outbound::destination::Class;
use sealpost_outbound::{
    AllowList, HttpsError, HttpsFetcher, HttpsOptions, Mode, MtaSts, MtaStsError, MxResolver, PolicyError,
};
use sealpost_testkit::{DnsServer, HttpsServer, Route, TcpProbe, TestCa, Zone, self_signed};

const DOMAIN: &str = "example.test";
const POLICY_HOST: &str = "mta-sts.example.test";
const POLICY_PATH: &str = "/.well-known/mta-sts.txt";
const ENFORCE: &str =
    "version: STSv1\r\nmode: enforce\r\nmx: mx.example.test\r\nmx: *.backup.example.test\r\nmax_age: 86400\r\n";

fn zone(id: &str) -> Zone {
    zone_at(id, Ipv4Addr::LOCALHOST)
}

/// The TXT record with `id`, the policy host at `policy_host`.
fn zone_at(id: &str, policy_host: Ipv4Addr) -> Zone {
    Zone::new().txt("_mta-sts.example.test", &format!("v=STSv1; id={id};")).a(POLICY_HOST, policy_host).mx(
        DOMAIN,
        10,
        "mx.example.test",
    )
}

fn policy_route(body: &str) -> Route {
    Route::new(POLICY_PATH, 200, "text/plain", body)
}

struct Env {
    _dir: tempfile::TempDir,
    dns: DnsServer,
    https: HttpsServer,
    resolver: MxResolver,
    ca_path: PathBuf,
}

impl Env {
    /// DNS serving `zone`, HTTPS serving `routes` with a certificate for the
    /// policy host from a CA in `ca_path`.
    fn start(zone: Zone, routes: Vec<Route>) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new().unwrap();
        let ca_path = ca.write_cert(dir.path()).unwrap();
        let (cert, key) = ca.issue(&[POLICY_HOST]).unwrap();
        Self::with_cert(dir, ca_path, &cert, &key, zone, routes)
    }

    fn with_cert(
        dir: tempfile::TempDir,
        ca_path: PathBuf,
        cert: &str,
        key: &str,
        zone: Zone,
        routes: Vec<Route>,
    ) -> Env {
        let https = HttpsServer::start(cert, key, routes).unwrap();
        let dns = DnsServer::start(zone).unwrap();
        let resolver = MxResolver::with_servers(&[dns.addr()], 25).unwrap();
        Env { _dir: dir, dns, https, resolver, ca_path }
    }

    /// Policy discovery whose fetcher may reach the test server's 127.0.0.1.
    fn mta_sts(&self) -> MtaSts {
        self.mta_sts_allowing(&["127.0.0.1"])
    }

    /// Policy discovery whose fetcher allows the internal hosts `allow`.
    fn mta_sts_allowing(&self, allow: &[&str]) -> MtaSts {
        let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
        let options = HttpsOptions {
            https_port: self.https.addr().port(),
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(10),
            allow_internal: AllowList::parse(&allow).unwrap(),
        };
        let fetcher =
            HttpsFetcher::with_options(self.resolver.clone(), std::slice::from_ref(&self.ca_path), options).unwrap();
        MtaSts::new(fetcher, self.resolver.clone())
    }

    /// Publishes a new zone and makes the resolver see it at once.
    fn set_zone(&self, zone: Zone) {
        self.dns.set_zone(zone);
        self.resolver.clear_cache();
    }
}

#[tokio::test]
async fn enforce_policy_is_fetched_matched_and_cached() {
    let env = Env::start(zone("one"), vec![policy_route(ENFORCE)]);
    let sts = env.mta_sts();
    let policy = sts.policy("Example.Test.").await.expect("policy");
    assert_eq!(policy.mode, Mode::Enforce);
    assert_eq!(policy.max_age, 86400);
    assert!(policy.matches_mx("mx.example.test"));
    assert!(policy.matches_mx("MX2.backup.example.test."));
    assert!(!policy.matches_mx("evil.example.test"));
    assert!(!policy.matches_mx("a.b.backup.example.test"));
    assert_eq!(env.https.requests(), [format!("GET {POLICY_PATH} HTTP/1.1")]);

    // Same id: served from the cache, no second fetch.
    assert_eq!(sts.policy(DOMAIN).await, Some(policy));
    assert_eq!(env.https.requests().len(), 1);
}

#[tokio::test]
async fn new_txt_id_refreshes_the_policy() {
    let env = Env::start(zone("one"), vec![policy_route(ENFORCE)]);
    let sts = env.mta_sts();
    assert!(sts.policy(DOMAIN).await.expect("policy").matches_mx("mx.example.test"));

    let moved = "version: STSv1\nmode: enforce\nmx: new-mx.example.test\nmax_age: 86400\n";
    env.https.set_routes([policy_route(moved)]);
    // The id did not change: the cached policy still applies.
    assert!(sts.policy(DOMAIN).await.expect("cached").matches_mx("mx.example.test"));
    assert_eq!(env.https.requests().len(), 1);

    env.set_zone(zone("two"));
    let policy = sts.policy(DOMAIN).await.expect("refreshed");
    assert!(policy.matches_mx("new-mx.example.test"));
    assert!(!policy.matches_mx("mx.example.test"));
    assert_eq!(env.https.requests().len(), 2);
}

#[tokio::test]
async fn expired_policy_is_fetched_again() {
    let short = "version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 1\n";
    let env = Env::start(zone("one"), vec![policy_route(short)]);
    let sts = env.mta_sts();
    assert!(sts.policy(DOMAIN).await.is_some());
    env.https.set_routes([policy_route("version: STSv1\nmode: testing\nmx: mx.example.test\nmax_age: 1\n")]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(sts.policy(DOMAIN).await.map(|p| p.mode), Some(Mode::Testing));
    assert_eq!(env.https.requests().len(), 2);
}

#[tokio::test]
async fn failed_refresh_keeps_the_cached_policy() {
    let env = Env::start(zone("one"), vec![policy_route(ENFORCE)]);
    let sts = env.mta_sts();
    let cached = sts.policy(DOMAIN).await.expect("policy");

    env.https.set_routes([Route::new(POLICY_PATH, 500, "text/plain", "down")]);
    env.set_zone(zone("two"));
    assert_eq!(sts.policy(DOMAIN).await, Some(cached.clone()), "cached enforce policy must survive a failed refresh");
    assert_eq!(env.https.requests().len(), 2, "the new id was tried");
    // The failed id is not retried at once (RFC 8461 §3.3: at most every five minutes).
    assert_eq!(sts.policy(DOMAIN).await, Some(cached.clone()));
    assert_eq!(env.https.requests().len(), 2);

    // The TXT record disappearing does not drop a live cached policy either.
    env.set_zone(Zone::new().a(POLICY_HOST, Ipv4Addr::LOCALHOST));
    assert_eq!(sts.policy(DOMAIN).await, Some(cached));

    // Without a cached policy, the same failure means "no policy".
    env.set_zone(zone("three"));
    assert_eq!(env.mta_sts().policy(DOMAIN).await, None);
}

#[tokio::test]
async fn policy_host_on_loopback_is_refused_unless_allowed() {
    let env = Env::start(zone("one"), vec![policy_route(ENFORCE)]);
    let sts = env.mta_sts_allowing(&[]);
    assert_eq!(sts.policy(DOMAIN).await, None, "a refused fetch is a failed fetch: no policy without a cached one");
    match sts.fetch(DOMAIN).await {
        Err(MtaStsError::Fetch(HttpsError::Refused(r))) => {
            assert_eq!((r.ip, r.class), (IpAddr::V4(Ipv4Addr::LOCALHOST), Class::Loopback));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(env.https.requests().is_empty(), "nothing was fetched from loopback");
}

#[tokio::test]
async fn refused_refresh_never_downgrades_a_cached_enforce_policy() {
    let env = Env::start(zone("one"), vec![policy_route(ENFORCE)]);
    let sts = env.mta_sts();
    let cached = sts.policy(DOMAIN).await.expect("policy");
    assert_eq!(cached.mode, Mode::Enforce);

    // A new id, and the policy host re-pointed at an address the fetcher
    // does not allow, where a probe listens on the fetcher's port. The
    // server would now withdraw the policy, if it were asked.
    let elsewhere = Ipv4Addr::new(127, 0, 0, 2);
    let probe = TcpProbe::bind((elsewhere, env.https.addr().port())).unwrap();
    env.https.set_routes([policy_route("version: STSv1\nmode: none\nmax_age: 86400\n")]);
    env.set_zone(zone_at("two", elsewhere));
    assert_eq!(sts.policy(DOMAIN).await, Some(cached.clone()), "a refused fetch keeps the cached enforce policy");
    assert!(matches!(sts.fetch(DOMAIN).await, Err(MtaStsError::Fetch(HttpsError::Refused(_)))));
    assert_eq!(probe.connections(), 0, "nothing was connected to");
    // Like any failed fetch, the id is not retried at once (§3.3).
    assert_eq!(sts.policy(DOMAIN).await, Some(cached.clone()));

    // The cloud metadata address, with yet another id: the same.
    env.set_zone(zone_at("three", Ipv4Addr::new(169, 254, 169, 254)));
    assert_eq!(sts.policy(DOMAIN).await, Some(cached));
    match sts.fetch(DOMAIN).await {
        Err(MtaStsError::Fetch(HttpsError::Refused(r))) => assert_eq!(r.class, Class::Metadata),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(env.https.requests().len(), 1, "only the first policy was fetched");
}

#[tokio::test]
async fn untrusted_policy_certificate_means_no_policy() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = TestCa::new().unwrap();
    let ca_path = trusted.write_cert(dir.path()).unwrap();
    let (cert, key) = self_signed(&[POLICY_HOST]).unwrap();
    let env = Env::with_cert(dir, ca_path, &cert, &key, zone("one"), vec![policy_route(ENFORCE)]);
    let sts = env.mta_sts();
    assert_eq!(sts.policy(DOMAIN).await, None);
    assert!(env.https.requests().is_empty(), "no request may be sent over an unverified connection");
    match sts.fetch(DOMAIN).await {
        Err(MtaStsError::Fetch(HttpsError::Request(text))) => {
            assert!(text.contains("certificate"), "{text}");
            assert!(!text.contains(POLICY_PATH), "errors carry no URL: {text}");
        }
        other => panic!("expected a certificate failure, got {other:?}"),
    }
}

#[tokio::test]
async fn certificate_for_another_name_means_no_policy() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new().unwrap();
    let ca_path = ca.write_cert(dir.path()).unwrap();
    let (cert, key) = ca.issue(&["www.example.test"]).unwrap();
    let env = Env::with_cert(dir, ca_path, &cert, &key, zone("one"), vec![policy_route(ENFORCE)]);
    assert_eq!(env.mta_sts().policy(DOMAIN).await, None);
    assert!(env.https.requests().is_empty());
}

#[tokio::test]
async fn redirect_is_not_followed() {
    let elsewhere = format!("https://{POLICY_HOST}/elsewhere.txt");
    // A policy waits at the redirect's target: a client that followed the
    // redirect would find one.
    let env = Env::start(
        zone("one"),
        vec![Route::redirect(POLICY_PATH, 301, &elsewhere), Route::new("/elsewhere.txt", 200, "text/plain", ENFORCE)],
    );
    let sts = env.mta_sts();
    assert_eq!(sts.policy(DOMAIN).await, None);
    assert_eq!(env.https.requests(), [format!("GET {POLICY_PATH} HTTP/1.1")]);
    assert!(matches!(sts.fetch(DOMAIN).await, Err(MtaStsError::Fetch(HttpsError::Status(301)))));
}

#[tokio::test]
async fn modes_none_and_testing() {
    let env = Env::start(zone("one"), vec![policy_route("version: STSv1\nmode: none\nmax_age: 86400\n")]);
    assert_eq!(env.mta_sts().policy(DOMAIN).await, None);
    env.https.set_routes([policy_route("version: STSv1\nmode: testing\nmx: mx.example.test\nmax_age: 86400\n")]);
    assert_eq!(env.mta_sts().policy(DOMAIN).await.map(|p| p.mode), Some(Mode::Testing));
}

#[tokio::test]
async fn none_policy_with_a_new_id_withdraws_a_cached_one() {
    let env = Env::start(zone("one"), vec![policy_route(ENFORCE)]);
    let sts = env.mta_sts();
    assert!(sts.policy(DOMAIN).await.is_some());
    env.https.set_routes([policy_route("version: STSv1\nmode: none\nmax_age: 86400\n")]);
    env.set_zone(zone("two"));
    assert_eq!(sts.policy(DOMAIN).await, None);
}

#[tokio::test]
async fn bad_responses_mean_no_policy() {
    let env = Env::start(zone("one"), vec![Route::new(POLICY_PATH, 200, "text/html", ENFORCE)]);
    let sts = env.mta_sts();
    assert_eq!(sts.policy(DOMAIN).await, None);
    assert!(matches!(sts.fetch(DOMAIN).await, Err(MtaStsError::ContentType)));

    env.https.set_routes([Route::new(POLICY_PATH, 200, "text/plain; charset=utf-8", ENFORCE)]);
    assert!(sts.fetch(DOMAIN).await.is_ok(), "parameters after the media type are fine");

    env.https.set_routes([policy_route("version: STSv1\nmode: enforce\nmax_age: 86400\n")]);
    assert!(matches!(sts.fetch(DOMAIN).await, Err(MtaStsError::Policy(PolicyError::Missing("mx")))));

    let huge = format!("{ENFORCE}{}", "x: y\n".repeat(20_000));
    env.https.set_routes([policy_route(&huge)]);
    assert!(matches!(sts.fetch(DOMAIN).await, Err(MtaStsError::Fetch(HttpsError::TooLarge { limit: 65536 }))));

    env.https.set_routes([Route::new(POLICY_PATH, 404, "text/plain", "")]);
    assert!(matches!(sts.fetch(DOMAIN).await, Err(MtaStsError::Fetch(HttpsError::Status(404)))));
}

#[tokio::test]
async fn txt_record_decides_whether_to_fetch() {
    let env = Env::start(Zone::new().a(POLICY_HOST, Ipv4Addr::LOCALHOST), vec![policy_route(ENFORCE)]);
    let sts = env.mta_sts();
    assert_eq!(sts.policy(DOMAIN).await, None, "no TXT record");

    // Two STSv1 records: no policy (RFC 8461 §3.1). Other TXT records do not count.
    env.set_zone(
        zone("one").txt("_mta-sts.example.test", "v=STSv1; id=two;").txt("_mta-sts.example.test", "v=spf1 -all"),
    );
    assert_eq!(sts.policy(DOMAIN).await, None, "two records");
    env.set_zone(zone("bad-id!"));
    assert_eq!(sts.policy(DOMAIN).await, None, "invalid record");
    assert!(env.https.requests().is_empty(), "nothing fetched without one valid record");

    env.set_zone(zone("one").txt("_mta-sts.example.test", "v=spf1 -all"));
    assert!(sts.policy(DOMAIN).await.is_some());
    assert_eq!(env.https.requests().len(), 1);
}
