//! A small HTTPS GET client for MTA-STS policies and WKD keys.
//!
//! Names are resolved through the same name servers as [`MxResolver`] (so a
//! test zone can point a policy host at loopback), certificates are verified
//! against the Mozilla roots plus the configured extra CA files (the same
//! trust inputs as [`crate::TlsClient::new`]), TLS 1.2 or 1.3 only, redirects
//! are never followed (RFC 8461 §3.3 forbids it, and a key directory that
//! redirects elsewhere is not the domain's), bodies are size-limited and
//! every fetch is bounded in time. Nothing is cached here (RFC 8461 §3.3:
//! no HTTP caching); the callers keep their own caches.
//!
//! The hosts fetched from are named by recipient domains, that is by
//! anyone: every address a name resolves to is checked against
//! [`crate::destination`] before a connection is made, and only addresses
//! that pass are handed to the HTTP client, so `mta-sts.<domain>` pointing
//! at 127.0.0.1, 10.0.0.0/8 or 169.254.169.254 reaches nothing
//! ([`HttpsError::Refused`]) unless [`HttpsOptions::allow_internal`] lists
//! it. The check sits in the resolver the client connects through, so the
//! address checked is the address connected to (no second lookup, no DNS
//! rebinding between the two).
//!
//! Errors never carry the URL: a WKD query string holds the recipient's
//! local part.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::destination::{AllowList, Refused};
use crate::mx::{MxError, MxResolver};

/// Why a fetch returned no body.
#[derive(Debug, thiserror::Error)]
pub enum HttpsError {
    /// Bad client configuration (an unreadable CA file, say).
    #[error("configuration: {0}")]
    Config(String),
    /// The host is not a DNS name this client fetches from.
    #[error("not a host name for HTTPS")]
    InvalidHost,
    /// The host name did not resolve.
    #[error("host name did not resolve")]
    NoAddress,
    /// Resolution failed (temporary).
    #[error("DNS lookup failed: {0}")]
    Lookup(String),
    /// Every address of the host is in internal space (loopback, private,
    /// link-local, metadata, …) and not allowed by
    /// [`HttpsOptions::allow_internal`]: nothing was connected to. Carries
    /// one refused address and its class, never the URL.
    #[error("refused: {0}")]
    Refused(Refused),
    /// TCP, TLS (including a certificate that did not verify) or HTTP failed.
    #[error("request failed: {0}")]
    Request(String),
    /// The connection or the whole fetch took too long.
    #[error("timed out")]
    Timeout,
    /// The server answered with another status than 200 (a redirect included).
    #[error("HTTP status {0}")]
    Status(u16),
    /// The body is longer than the limit for this kind of fetch.
    #[error("response body longer than {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
}

/// Limits, the port and the allowed internal hosts of an [`HttpsFetcher`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsOptions {
    /// Port to connect to (443; tests serve on a free loopback port).
    pub https_port: u16,
    /// Bound on TCP connect plus the TLS handshake.
    pub connect_timeout: Duration,
    /// Bound on the whole fetch, body included.
    pub total_timeout: Duration,
    /// Internal hosts that may be fetched from anyway (host names, addresses,
    /// networks; see [`crate::destination`]). Empty, the default: no
    /// loopback, private, link-local, metadata or other non-public address
    /// is connected to.
    pub allow_internal: AllowList,
}

impl Default for HttpsOptions {
    fn default() -> Self {
        Self {
            https_port: 443,
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            allow_internal: AllowList::default(),
        }
    }
}

/// A 200 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsResponse {
    /// The `Content-Type` header, if present and readable.
    pub content_type: Option<String>,
    /// The body, at most the limit given to [`HttpsFetcher::get`].
    pub body: Vec<u8>,
}

/// The HTTPS GET client (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct HttpsFetcher {
    client: reqwest::Client,
    resolver: MxResolver,
}

impl std::fmt::Debug for HttpsFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsFetcher").finish_non_exhaustive()
    }
}

/// Resolves through [`MxResolver`], drops the addresses `allow` refuses and
/// hands reqwest the rest on the configured port (reqwest uses a resolved
/// address's port when the URL names none). reqwest connects only to
/// addresses this returns.
struct Resolve {
    resolver: MxResolver,
    allow: Arc<AllowList>,
    port: u16,
}

impl reqwest::dns::Resolve for Resolve {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (resolver, allow, port) = (self.resolver.clone(), self.allow.clone(), self.port);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let ips = resolver.addresses(&host).await.map_err(|e| Box::new(e) as Box<_>)?;
            let ips = permitted(&allow, &host, ips)?;
            let addrs: reqwest::dns::Addrs = Box::new(ips.into_iter().map(move |ip| SocketAddr::new(ip, port)));
            Ok(addrs)
        })
    }
}

/// The addresses of `host` that `allow` lets a connection go to. None left:
/// the [`Refused`] of the last one refused (found by [`request_error`] in
/// the error chain), or [`MxError::NoHost`] when there were none at all.
fn permitted(
    allow: &AllowList,
    host: &str,
    ips: Vec<IpAddr>,
) -> Result<Vec<IpAddr>, Box<dyn std::error::Error + Send + Sync>> {
    let mut refused = None;
    let ok: Vec<IpAddr> = ips
        .into_iter()
        .filter(|&ip| match allow.check(host, ip) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, "HTTPS fetch: address refused");
                refused = Some(e);
                false
            }
        })
        .collect();
    match (ok.is_empty(), refused) {
        (false, _) => Ok(ok),
        (true, Some(e)) => Err(Box::new(e)),
        (true, None) => Err(Box::new(MxError::NoHost)),
    }
}

impl HttpsFetcher {
    /// A fetcher on port 443 with the default timeouts and no internal host
    /// allowed, trusting the Mozilla roots plus the CA certificates in
    /// `extra_ca_files` (PEM).
    pub fn new(resolver: MxResolver, extra_ca_files: &[impl AsRef<Path>]) -> Result<Self, HttpsError> {
        Self::with_options(resolver, extra_ca_files, HttpsOptions::default())
    }

    /// Like [`HttpsFetcher::new`] with explicit port, timeouts and allowed
    /// internal hosts.
    pub fn with_options(
        resolver: MxResolver,
        extra_ca_files: &[impl AsRef<Path>],
        options: HttpsOptions,
    ) -> Result<Self, HttpsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| HttpsError::Config(e.to_string()))?
            .with_root_certificates(crate::tls::trust_roots(extra_ca_files).map_err(HttpsError::Config)?)
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would bypass the resolver above
            // and could see (WKD) local parts in query strings.
            .no_proxy()
            .dns_resolver(Resolve {
                resolver: resolver.clone(),
                allow: Arc::new(options.allow_internal),
                port: options.https_port,
            })
            .connect_timeout(options.connect_timeout)
            .timeout(options.total_timeout)
            .user_agent(concat!("sealpost/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpsError::Config(describe(e)))?;
        Ok(Self { client, resolver })
    }

    /// The resolver names are looked up with.
    pub fn resolver(&self) -> &MxResolver {
        &self.resolver
    }

    /// `GET https://<host><path_and_query>`: the body of a 200 response of at
    /// most `limit` bytes. Any other status, redirects included, is
    /// [`HttpsError::Status`]; a host whose every address is internal and
    /// not allowed is [`HttpsError::Refused`], with nothing connected to.
    /// `host` must be a DNS name (no port, no
    /// address literal); `path_and_query` must start with `/` and be
    /// percent-encoded already.
    pub async fn get(&self, host: &str, path_and_query: &str, limit: usize) -> Result<HttpsResponse, HttpsError> {
        let host = host.trim_end_matches('.');
        if !is_host_name(host) || !path_and_query.starts_with('/') {
            return Err(HttpsError::InvalidHost);
        }
        let url = format!("https://{host}{path_and_query}");
        let mut response = self.client.get(url).send().await.map_err(request_error)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(HttpsError::Status(status));
        }
        // Refuse early when the server says the body is too long; the loop
        // below still enforces the limit when it does not say.
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(HttpsError::TooLarge { limit });
        }
        let content_type =
            response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(request_error)? {
            if body.len() + chunk.len() > limit {
                return Err(HttpsError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpsResponse { content_type, body })
    }
}

/// Whether `host` is an ASCII DNS name of letters, digits and hyphens with
/// at least two labels (no address literals, no ports, nothing to inject
/// into a URL).
pub(crate) fn is_host_name(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    host.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        // A name whose last label is all digits would parse as an IPv4 address.
        && labels.last().is_some_and(|l| !l.bytes().all(|b| b.is_ascii_digit()))
}

fn request_error(e: reqwest::Error) -> HttpsError {
    if let Some(refused) = refusal(&e) {
        HttpsError::Refused(refused)
    } else if e.is_timeout() {
        HttpsError::Timeout
    } else {
        HttpsError::Request(describe(e))
    }
}

/// The [`Refused`] that [`permitted`] returned to reqwest, if that is why
/// the request failed (reqwest and hyper wrap it, keeping it as a source).
fn refusal(e: &reqwest::Error) -> Option<Refused> {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return Some(refused.clone());
        }
        source = cause.source();
    }
    None
}

/// The error and its causes, without the URL (it may hold a local part).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::Class;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn only_permitted_addresses_are_handed_to_the_client() {
        let none = AllowList::default();
        let public = ips(&["93.184.216.34", "2606:4700::1"]);
        assert_eq!(permitted(&none, "mta-sts.example.org", public.clone()).unwrap(), public);
        // Internal addresses among public ones are dropped, not connected to.
        let mixed = ips(&["127.0.0.1", "93.184.216.34", "fd00::1", "169.254.169.254"]);
        assert_eq!(permitted(&none, "mta-sts.example.org", mixed).unwrap(), ips(&["93.184.216.34"]));
        // Nothing left: the refusal, which names an address and its class.
        let e = permitted(&none, "mta-sts.example.org", ips(&["10.0.0.1", "fd00::1"])).unwrap_err();
        let refused = e.downcast_ref::<Refused>().expect("a Refused");
        assert_eq!((refused.ip, refused.class), ("fd00::1".parse().unwrap(), Class::UniqueLocal));
        // No address at all is not a refusal.
        let e = permitted(&none, "mta-sts.example.org", Vec::new()).unwrap_err();
        assert!(e.downcast_ref::<MxError>().is_some(), "{e}");

        let allow = AllowList::parse(&["127.0.0.1".to_owned(), "openpgpkey.example.org".to_owned()]).unwrap();
        assert_eq!(permitted(&allow, "x.example.org", ips(&["127.0.0.1"])).unwrap(), ips(&["127.0.0.1"]));
        assert!(permitted(&allow, "x.example.org", ips(&["127.0.0.2"])).is_err());
        assert_eq!(permitted(&allow, "openpgpkey.example.org", ips(&["10.1.1.1"])).unwrap(), ips(&["10.1.1.1"]));
    }

    #[test]
    fn host_names() {
        for ok in ["mta-sts.example.com", "openpgpkey.example.test", "a-b.c1.example"] {
            assert!(is_host_name(ok), "{ok}");
        }
        for bad in [
            "",
            "localhost",
            "127.0.0.1",
            "example.com:8443",
            "[::1]",
            "exa mple.com",
            "-a.example.com",
            "a..example.com",
            "user@example.com",
            "example.com/evil",
            "ex\u{e4}mple.com",
        ] {
            assert!(!is_host_name(bad), "{bad}");
        }
    }
}
