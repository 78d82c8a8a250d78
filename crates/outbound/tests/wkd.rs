//! WKD key discovery end to end on loopback: host addresses from a test DNS
//! server, keys from a test HTTPS server whose certificate comes from a test
//! CA the fetcher trusts. The fetcher is allowed 127.0.0.1 explicitly
//! (issue 13.10: by default a key directory on loopback is refused).
//!
//! `adv.test` publishes `openpgpkey.adv.test` (advanced method);
//! `direct.test` does not (direct method).

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use sealpost_outbound::destination::Class;
use sealpost_outbound::{AllowList, HttpsError, HttpsFetcher, HttpsOptions, MxResolver, Wkd, WkdError, wkd_hash};
use sealpost_testkit::{DnsServer, HttpsServer, Route, TestCa, Zone, self_signed};

const KEY_A: &[u8] = b"\x98\x33\x04binary-key-A";
const KEY_B: &[u8] = b"\x98\x33\x04binary-key-B";
const NAMES: &[&str] = &["openpgpkey.adv.test", "adv.test", "direct.test"];

fn zone() -> Zone {
    Zone::new()
        .a("openpgpkey.adv.test", Ipv4Addr::LOCALHOST)
        .a("adv.test", Ipv4Addr::LOCALHOST)
        .a("direct.test", Ipv4Addr::LOCALHOST)
        .mx("nohost.test", 10, "mx.nohost.test")
}

fn advanced(domain: &str, local: &str) -> String {
    format!("/.well-known/openpgpkey/{domain}/hu/{}", wkd_hash(local))
}

fn direct(local: &str) -> String {
    format!("/.well-known/openpgpkey/hu/{}", wkd_hash(local))
}

fn key_route(path: &str, body: &[u8]) -> Route {
    Route::new(path, 200, "application/octet-stream", body)
}

struct Env {
    _dir: tempfile::TempDir,
    _dns: DnsServer,
    https: HttpsServer,
    fetcher: HttpsFetcher,
}

impl Env {
    /// The server presents `cert`; the fetcher trusts `ca_pem` and may
    /// reach the server's 127.0.0.1.
    fn start(ca_pem: &str, cert: &str, key: &str, routes: Vec<Route>) -> Env {
        Self::start_allowing(ca_pem, cert, key, routes, &["127.0.0.1"])
    }

    /// Like [`Env::start`], the fetcher allowing the internal hosts `allow`.
    fn start_allowing(ca_pem: &str, cert: &str, key: &str, routes: Vec<Route>, allow: &[&str]) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let ca_path = sealpost_testkit::write_pem(dir.path(), "ca.pem", ca_pem).unwrap();
        let https = HttpsServer::start(cert, key, routes).unwrap();
        let dns = DnsServer::start(zone()).unwrap();
        let resolver = MxResolver::with_servers(&[dns.addr()], 25).unwrap();
        let options = HttpsOptions {
            https_port: https.addr().port(),
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(10),
            allow_internal: AllowList::parse(&allow.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap(),
        };
        let fetcher = HttpsFetcher::with_options(resolver, &[ca_path.as_path() as &Path], options).unwrap();
        Env { _dir: dir, _dns: dns, https, fetcher }
    }

    fn trusted(routes: Vec<Route>) -> Env {
        let ca = TestCa::new().unwrap();
        let (cert, key) = ca.issue(NAMES).unwrap();
        Self::start(ca.cert_pem(), &cert, &key, routes)
    }
}

#[tokio::test]
async fn advanced_method_when_the_subdomain_resolves() {
    let env = Env::trusted(vec![
        key_route(&advanced("adv.test", "joe.doe"), KEY_A),
        // Served too, so a client that also tried the direct method would get KEY_B.
        key_route(&direct("joe.doe"), KEY_B),
    ]);
    let wkd = Wkd::new(env.fetcher.clone());
    assert_eq!(wkd.fetch_key("Joe.Doe@ADV.test").await.unwrap().as_deref(), Some(KEY_A));
    assert_eq!(
        env.https.requests(),
        ["GET /.well-known/openpgpkey/adv.test/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe HTTP/1.1"]
    );
}

#[tokio::test]
async fn direct_method_when_the_subdomain_does_not_resolve() {
    let env = Env::trusted(vec![key_route(&direct("joe.doe"), KEY_B)]);
    let wkd = Wkd::new(env.fetcher.clone());
    assert_eq!(wkd.fetch_key("joe.doe@direct.test").await.unwrap().as_deref(), Some(KEY_B));
    assert_eq!(
        env.https.requests(),
        ["GET /.well-known/openpgpkey/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=joe.doe HTTP/1.1"]
    );
}

#[tokio::test]
async fn not_found_is_none_and_cached() {
    // The direct route exists but must not be used: the advanced host answered.
    let env = Env::trusted(vec![key_route(&direct("nobody"), KEY_B)]);
    let wkd = Wkd::new(env.fetcher.clone());
    assert_eq!(wkd.fetch_key("nobody@adv.test").await.unwrap(), None);
    assert_eq!(env.https.requests().len(), 1);
    assert!(env.https.requests()[0].starts_with(&format!("GET {}?l=nobody ", advanced("adv.test", "nobody"))));

    // The negative answer is cached: no second request.
    assert_eq!(wkd.fetch_key("nobody@adv.test").await.unwrap(), None);
    assert_eq!(env.https.requests().len(), 1);

    // Without caching, it asks again and sees a key published since.
    let uncached = Wkd::with_cache_ttls(env.fetcher.clone(), Duration::ZERO, Duration::ZERO);
    env.https.set_routes([key_route(&advanced("adv.test", "nobody"), KEY_A)]);
    assert_eq!(uncached.fetch_key("nobody@adv.test").await.unwrap().as_deref(), Some(KEY_A));
    assert_eq!(env.https.requests().len(), 2);
}

#[tokio::test]
async fn found_keys_are_cached() {
    let env = Env::trusted(vec![key_route(&direct("ann"), KEY_B)]);
    let wkd = Wkd::new(env.fetcher.clone());
    assert_eq!(wkd.fetch_key("ann@direct.test").await.unwrap().as_deref(), Some(KEY_B));
    env.https.set_routes([key_route(&direct("ann"), KEY_A)]);
    assert_eq!(wkd.fetch_key("ann@direct.test").await.unwrap().as_deref(), Some(KEY_B));
    assert_eq!(env.https.requests().len(), 1);
}

#[tokio::test]
async fn domain_without_hosts_has_no_key() {
    let env = Env::trusted(vec![]);
    let wkd = Wkd::new(env.fetcher.clone());
    assert_eq!(wkd.fetch_key("joe@nohost.test").await.unwrap(), None);
    assert_eq!(wkd.fetch_key("joe@unknown.test").await.unwrap(), None);
    assert!(env.https.requests().is_empty());
    assert!(matches!(wkd.fetch_key("not-an-address").await, Err(WkdError::InvalidAddress)));
}

#[tokio::test]
async fn untrusted_certificate_is_an_error() {
    let other = TestCa::new().unwrap();
    let (cert, key) = self_signed(NAMES).unwrap();
    let env = Env::start(other.cert_pem(), &cert, &key, vec![key_route(&advanced("adv.test", "joe"), KEY_A)]);
    let wkd = Wkd::new(env.fetcher.clone());
    match wkd.fetch_key("joe@adv.test").await {
        Err(WkdError::Fetch(HttpsError::Request(text))) => {
            assert!(text.contains("certificate"), "{text}");
            assert!(!text.contains("joe"), "errors carry no local part: {text}");
        }
        other => panic!("expected a certificate failure, got {other:?}"),
    }
    assert!(env.https.requests().is_empty(), "no request may be sent over an unverified connection");
    // The failure is remembered for a while rather than retried per message.
    assert!(matches!(wkd.fetch_key("joe@adv.test").await, Err(WkdError::RecentlyFailed)));
}

#[tokio::test]
async fn redirects_errors_and_oversized_keys() {
    let env = Env::trusted(vec![
        Route::redirect(&advanced("adv.test", "moved"), 302, "https://direct.test/key"),
        key_route("/key", KEY_B),
        Route::new(&advanced("adv.test", "broken"), 500, "text/plain", "oops"),
        key_route(&advanced("adv.test", "empty"), b""),
        key_route(&advanced("adv.test", "huge"), &vec![0u8; 256 * 1024 + 1]),
        key_route(&advanced("adv.test", "max"), &vec![7u8; 256 * 1024]),
    ]);
    let wkd = Wkd::new(env.fetcher.clone());
    assert!(matches!(wkd.fetch_key("moved@adv.test").await, Err(WkdError::Fetch(HttpsError::Status(302)))));
    assert!(matches!(wkd.fetch_key("broken@adv.test").await, Err(WkdError::Fetch(HttpsError::Status(500)))));
    assert!(matches!(wkd.fetch_key("empty@adv.test").await, Err(WkdError::EmptyKey)));
    assert!(matches!(
        wkd.fetch_key("huge@adv.test").await,
        Err(WkdError::Fetch(HttpsError::TooLarge { limit: 262144 }))
    ));
    assert_eq!(wkd.fetch_key("max@adv.test").await.unwrap().map(|k| k.len()), Some(256 * 1024));
    assert!(!env.https.requests().iter().any(|r| r.contains("/key")), "the redirect was followed");
}

#[tokio::test]
async fn key_directory_on_loopback_is_refused_unless_allowed() {
    let ca = TestCa::new().unwrap();
    let (cert, key) = ca.issue(NAMES).unwrap();
    let routes = vec![key_route(&advanced("adv.test", "joe"), KEY_A), key_route(&direct("joe"), KEY_B)];
    let env = Env::start_allowing(ca.cert_pem(), &cert, &key, routes, &[]);
    let wkd = Wkd::with_cache_ttls(env.fetcher.clone(), Duration::ZERO, Duration::ZERO);
    // Advanced method (openpgpkey.adv.test) and direct method (direct.test).
    for address in ["joe@adv.test", "joe@direct.test"] {
        match wkd.fetch_key(address).await {
            Err(WkdError::Fetch(e @ HttpsError::Refused(_))) => {
                assert!(matches!(&e, HttpsError::Refused(r) if r.class == Class::Loopback), "{e}");
                assert!(!e.to_string().contains("joe"), "errors carry no local part: {e}");
            }
            other => panic!("{address}: expected a refusal, got {other:?}"),
        }
    }
    assert!(env.https.requests().is_empty(), "nothing was fetched from loopback");

    // The same directory, allowed: the key.
    let env = Env::trusted(vec![key_route(&advanced("adv.test", "joe"), KEY_A)]);
    assert_eq!(Wkd::new(env.fetcher.clone()).fetch_key("joe@adv.test").await.unwrap().as_deref(), Some(KEY_A));
}
