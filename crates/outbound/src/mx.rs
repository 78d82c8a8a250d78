//! MX resolution (RFC 5321 §5.1): MX records by preference (ties shuffled
//! by the caller if it wants), implicit MX (the domain's own A/AAAA) when
//! there are none, and null MX (RFC 7505: "no mail here") as an error.

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

/// Why a domain has no usable mail host.
#[derive(Debug, thiserror::Error)]
pub enum MxError {
    /// The domain publishes a null MX: it accepts no mail (permanent).
    #[error("domain accepts no mail (null MX)")]
    NullMx,
    /// The domain does not exist or has no MX and no address (permanent).
    #[error("no mail host for domain")]
    NoHost,
    /// The lookup failed (temporary).
    #[error("DNS lookup failed: {0}")]
    Lookup(String),
}

/// One mail host of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxHost {
    /// MX preference (lower first); 0 for an implicit MX.
    pub preference: u16,
    /// Host name, without the trailing dot.
    pub host: String,
    /// Its addresses, with the SMTP port.
    pub addrs: Vec<SocketAddr>,
}

/// Resolves mail hosts.
#[derive(Clone)]
pub struct MxResolver {
    resolver: TokioResolver,
    port: u16,
}

impl MxResolver {
    /// Uses the system's resolver configuration; connects to port 25.
    pub fn system() -> Result<Self, MxError> {
        let resolver = TokioResolver::builder_tokio()
            .map_err(|e| MxError::Lookup(e.to_string()))?
            .build()
            .map_err(|e| MxError::Lookup(e.to_string()))?;
        Ok(Self { resolver, port: 25 })
    }

    /// Uses the given name servers (address and port, UDP and TCP), and
    /// connects to mail hosts on `smtp_port` (tests use a loopback port).
    pub fn with_servers(servers: &[SocketAddr], smtp_port: u16) -> Result<Self, MxError> {
        let configs = servers
            .iter()
            .map(|s| {
                let mut udp = ConnectionConfig::udp();
                udp.port = s.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = s.port();
                let mut ns = NameServerConfig::udp_and_tcp(s.ip());
                ns.connections = vec![udp, tcp];
                ns
            })
            .collect();
        let resolver = TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(configs),
            TokioRuntimeProvider::default(),
        )
        .build()
        .map_err(|e| MxError::Lookup(e.to_string()))?;
        Ok(Self { resolver, port: smtp_port })
    }

    /// The mail hosts of `domain`, best first, with their addresses.
    /// Hosts whose addresses do not resolve are left out.
    pub async fn resolve(&self, domain: &str) -> Result<Vec<MxHost>, MxError> {
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        let mut hosts: Vec<(u16, String)> = match self.resolver.mx_lookup(fqdn.as_str()).await {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => Some((mx.preference, mx.exchange.to_utf8())),
                    _ => None,
                })
                .collect(),
            Err(e) if e.is_no_records_found() => Vec::new(),
            Err(e) => return Err(MxError::Lookup(e.to_string())),
        };
        if hosts.len() == 1 && (hosts[0].1 == "." || hosts[0].1.is_empty()) {
            return Err(MxError::NullMx);
        }
        if hosts.is_empty() {
            hosts.push((0, fqdn.clone()));
        }
        hosts.sort_by_key(|h| h.0);
        let mut out = Vec::with_capacity(hosts.len());
        let mut lookup_error = None;
        for (preference, host) in hosts {
            // One broken backup MX must not block a healthy primary: a failed
            // address lookup skips that host only.
            let addrs: Vec<SocketAddr> = match self.resolver.lookup_ip(host.as_str()).await {
                Ok(ips) => ips.iter().map(|ip: IpAddr| SocketAddr::new(ip, self.port)).collect(),
                Err(e) if e.is_no_records_found() => Vec::new(),
                Err(e) => {
                    lookup_error = Some(e.to_string());
                    Vec::new()
                }
            };
            if !addrs.is_empty() {
                out.push(MxHost { preference, host: host.trim_end_matches('.').to_owned(), addrs });
            }
        }
        match (out.is_empty(), lookup_error) {
            (false, _) => Ok(out),
            (true, Some(e)) => Err(MxError::Lookup(e)),
            (true, None) => Err(MxError::NoHost),
        }
    }

    /// A configured route: `host` (resolved here) on `port`, bypassing MX.
    pub async fn resolve_host(&self, host: &str, port: u16) -> Result<MxHost, MxError> {
        let host = host.trim_end_matches('.');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(MxHost { preference: 0, host: host.to_owned(), addrs: vec![SocketAddr::new(ip, port)] });
        }
        let fqdn = format!("{host}.");
        let addrs: Vec<SocketAddr> = match self.resolver.lookup_ip(fqdn.as_str()).await {
            Ok(ips) => ips.iter().map(|ip: IpAddr| SocketAddr::new(ip, port)).collect(),
            Err(e) if e.is_no_records_found() => Vec::new(),
            Err(e) => return Err(MxError::Lookup(e.to_string())),
        };
        if addrs.is_empty() {
            return Err(MxError::NoHost);
        }
        Ok(MxHost { preference: 0, host: host.to_owned(), addrs })
    }

    /// The addresses of `host` (A and AAAA); empty when the name has none
    /// or does not exist. For HTTPS fetches (MTA-STS policies, WKD keys),
    /// which must go through the same name servers as mail.
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, MxError> {
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        match self.resolver.lookup_ip(fqdn.as_str()).await {
            Ok(ips) => Ok(ips.iter().collect()),
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(MxError::Lookup(e.to_string())),
        }
    }

    /// The TXT records at `name`, each record's strings joined (RFC 7208
    /// §3.3 style); empty when there are none. Records that are not UTF-8
    /// are left out: every TXT format read here is ASCII.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, MxError> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let lookup = match self.resolver.txt_lookup(fqdn.as_str()).await {
            Ok(lookup) => lookup,
            Err(e) if e.is_no_records_found() => return Ok(Vec::new()),
            Err(e) => return Err(MxError::Lookup(e.to_string())),
        };
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(txt) => String::from_utf8(txt.txt_data.concat()).ok(),
                _ => None,
            })
            .collect())
    }

    /// Forgets every cached DNS answer, so the next lookups ask the name
    /// servers again (tests that change their zone mid-test; a flush after
    /// an operator fixed a record).
    pub fn clear_cache(&self) {
        self.resolver.clear_cache();
    }
}
