//! `sealpost.toml`: the documented configuration. Every path is relative to
//! the data directory unless absolute. See docs/configuration.md.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use sealpost_model::TenantId;
use serde::{Deserialize, Serialize};

use crate::ServerError;

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Name used in SMTP greetings and generated Message-IDs.
    #[serde(default = "default_hostname")]
    pub hostname: String,
    /// Storage backends.
    #[serde(default)]
    pub storage: StorageConfig,
    /// Input limits.
    #[serde(default)]
    pub limits: Limits,
    /// SMTP listeners.
    #[serde(default = "default_smtp")]
    pub smtp: Vec<SmtpListener>,
    /// HTTPS listener for the API.
    #[serde(default)]
    pub http: HttpConfig,
    /// Certificate and key for every TLS listener.
    #[serde(default)]
    pub tls: TlsConfig,
    /// Root key file and passphrase.
    #[serde(default)]
    pub keys: KeysConfig,
    /// Brute-force protection.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Outbound delivery.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Retention and disposal (R-AR-2, R-AR-3).
    #[serde(default)]
    pub archive: ArchiveConfig,
    /// Prometheus metrics (R-OP-3).
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Where webhook events may be posted (issue 13.10).
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    /// The secure portal (issue 14).
    #[serde(default)]
    pub portal: PortalConfig,
}

/// `[portal]`: the portal's pages are always served on the API listener;
/// `listen` adds a listener of its own (same TLS certificate) serving only
/// the portal, so an installation can expose the portal to the internet
/// and keep the API private.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalConfig {
    /// A portal-only HTTPS listener, e.g. `"0.0.0.0:8443"`.
    #[serde(default)]
    pub listen: Option<std::net::SocketAddr>,
    /// How long a one-time code works.
    #[serde(default = "default_code_ttl")]
    pub code_ttl_seconds: u64,
    /// Tries per code.
    #[serde(default = "default_code_tries")]
    pub code_tries: i64,
    /// Codes per recipient per hour.
    #[serde(default = "default_codes_per_hour")]
    pub codes_per_hour: i64,
    /// Consecutive wrong codes that lock a recipient out.
    #[serde(default = "default_lock_after")]
    pub lock_after: i64,
    /// The first lockout, in minutes; each further one doubles (at most a day).
    #[serde(default = "default_lock_minutes")]
    pub lock_minutes: u64,
    /// Idle timeout of a portal session.
    #[serde(default = "default_session_idle")]
    pub session_idle_seconds: u64,
    /// Absolute limit of a signed-in portal session.
    #[serde(default = "default_session_hours")]
    pub session_hours: u64,
    /// Largest reply, attachments included.
    #[serde(default = "default_max_reply")]
    pub max_reply_bytes: usize,
    /// Unopened messages get one reminder this long before they expire.
    #[serde(default = "default_reminder_hours")]
    pub reminder_hours: u64,
    /// How often reminders and session clean-up run.
    #[serde(default = "default_housekeeping")]
    pub housekeeping_seconds: u64,
}

fn default_code_ttl() -> u64 {
    600
}
fn default_code_tries() -> i64 {
    5
}
fn default_codes_per_hour() -> i64 {
    5
}
fn default_lock_after() -> i64 {
    10
}
fn default_lock_minutes() -> u64 {
    15
}
fn default_session_idle() -> u64 {
    900
}
fn default_session_hours() -> u64 {
    8
}
fn default_max_reply() -> usize {
    10 * 1024 * 1024
}
fn default_reminder_hours() -> u64 {
    48
}
fn default_housekeeping() -> u64 {
    300
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            listen: None,
            code_ttl_seconds: default_code_ttl(),
            code_tries: default_code_tries(),
            codes_per_hour: default_codes_per_hour(),
            lock_after: default_lock_after(),
            lock_minutes: default_lock_minutes(),
            session_idle_seconds: default_session_idle(),
            session_hours: default_session_hours(),
            max_reply_bytes: default_max_reply(),
            reminder_hours: default_reminder_hours(),
            housekeeping_seconds: default_housekeeping(),
        }
    }
}

/// `[webhooks]`: webhook endpoints are HTTPS, never internal addresses
/// (loopback, private, link-local, unique-local, CGNAT, metadata, …) unless
/// listed here; see [`crate::destination`] and docs/configuration.md.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Internal hosts webhooks may reach anyway: host names (exact match),
    /// IP addresses and CIDR networks, e.g.
    /// `["hooks.internal.example", "127.0.0.1", "10.20.0.0/16"]`.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    /// Extra CA certificates (PEM) trusted for webhook endpoints, besides the
    /// Mozilla roots (an internal CA).
    #[serde(default)]
    pub extra_ca_files: Vec<PathBuf>,
}

impl WebhooksConfig {
    /// The parsed allow-list.
    pub fn allow_list(&self) -> Result<crate::destination::AllowList, ServerError> {
        crate::destination::AllowList::parse(&self.allow_hosts)
            .map_err(|e| ServerError::Config(format!("[webhooks] allow_hosts: {e}")))
    }
}

/// `[metrics]`: where `GET /metrics` (Prometheus text) is served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` on the HTTPS API, to API keys with the `admin` scope.
    #[serde(default = "default_metrics_api")]
    pub api: bool,
    /// Also serve `/metrics` over plain HTTP, without authentication, on
    /// this address, which must be a loopback address (a local agent scrapes it).
    #[serde(default)]
    pub listen: Option<SocketAddr>,
}

fn default_metrics_api() -> bool {
    true
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { api: default_metrics_api(), listen: None }
    }
}

impl MetricsConfig {
    /// Whether metrics are served anywhere (if not, none are recorded).
    pub fn enabled(&self) -> bool {
        self.api || self.listen.is_some()
    }
}

/// `[archive]`: the disposal schedule and the state medical-record table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveConfig {
    /// Hours between scheduled disposal runs (the first runs 5 minutes
    /// after start); 0 turns the schedule off (`sealpost retention run` still works).
    #[serde(default = "default_disposal_interval")]
    pub disposal_interval_hours: u64,
    /// An edited copy of the state medical-record table (TOML, the shipped
    /// file's format); none: the shipped table.
    #[serde(default)]
    pub state_table: Option<PathBuf>,
}

fn default_disposal_interval() -> u64 {
    24
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        Self { disposal_interval_hours: default_disposal_interval(), state_table: None }
    }
}

/// Delivery policy mode (R-DL-2): per tenant, per domain, per message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyMode {
    /// Strongest available; verified TLS is enough; else portal.
    TlsPreferred,
    /// Only over verified TLS; otherwise fail without sending.
    TlsExclusive,
    /// Always hold for the portal and notify.
    PortalAlways,
    /// Never TLS alone: PGP, S/MIME or portal.
    EncryptAlways,
}

impl PolicyMode {
    /// Parses the kebab-case name (`tls-preferred`, …).
    pub fn parse(s: &str) -> Option<PolicyMode> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "tls-preferred" => PolicyMode::TlsPreferred,
            "tls-exclusive" => PolicyMode::TlsExclusive,
            "portal-always" => PolicyMode::PortalAlways,
            "encrypt-always" => PolicyMode::EncryptAlways,
            _ => return None,
        })
    }

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyMode::TlsPreferred => "tls-preferred",
            PolicyMode::TlsExclusive => "tls-exclusive",
            PolicyMode::PortalAlways => "portal-always",
            PolicyMode::EncryptAlways => "encrypt-always",
        }
    }
}

/// Outbound delivery (issue 3): see docs/configuration.md and docs/design/delivery.md.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Run the delivery workers (on unless turned off).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Concurrent deliveries.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Port MX hosts are contacted on (25; tests use a loopback port).
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
    /// Name servers (`ip:port`) for MX lookups; empty: the system's.
    #[serde(default)]
    pub name_servers: Vec<std::net::SocketAddr>,
    /// Extra CA certificates (PEM) trusted for MX certificates, besides the Mozilla roots.
    #[serde(default)]
    pub extra_ca_files: Vec<PathBuf>,
    /// Give up (bounce) after this many hours (R-DL-4: default 5 days).
    #[serde(default = "default_lifetime_hours")]
    pub lifetime_hours: u64,
    /// First retry delay; doubles per attempt, capped at 4 hours.
    #[serde(default = "default_retry_base")]
    pub retry_base_seconds: u64,
    /// Tenant policy mode.
    #[serde(default = "default_policy")]
    pub policy: PolicyMode,
    /// Recipient domains whose mail always goes to the portal (consumer webmail).
    #[serde(default)]
    pub portal_domains: Vec<String>,
    /// Base URL of portal links in notifications.
    #[serde(default = "default_portal_url")]
    pub portal_url: String,
    /// Days a portal link stays valid.
    #[serde(default = "default_pickup_days")]
    pub pickup_days: u64,
    /// Envelope sender of notices (portal notifications, bounces).
    #[serde(default = "default_notice_from")]
    pub notice_from: String,
    /// Static routes: recipient domain -> `host:port`, used instead of MX
    /// (a smart host for a partner domain; tests). TLS is verified for `host`.
    #[serde(default)]
    pub routes: std::collections::BTreeMap<String, String>,
    /// How long a worker holds a recipient before another may retry it
    /// (after a crash, this is how long the recipient waits).
    #[serde(default = "default_lease_seconds")]
    pub lease_seconds: u64,
    /// Smart host (`host:port`) for every domain without a route, instead of MX
    /// (like Postfix's `relayhost`).
    #[serde(default)]
    pub relayhost: Option<String>,
    /// Send the sender one PHI-free delay notice when a recipient is still
    /// undelivered after this many seconds (0: never). Default 4 hours.
    #[serde(default = "default_delay_notice")]
    pub delay_notice_seconds: u64,
    /// Simultaneous connections per destination domain (R-DL-4).
    #[serde(default = "default_destination_concurrency")]
    pub destination_concurrency: usize,
    /// Messages per minute per destination domain; 0: unlimited.
    #[serde(default)]
    pub destination_rate_per_minute: u32,
    /// Per-domain overrides of the two limits above.
    #[serde(default)]
    pub destination_limits: std::collections::BTreeMap<String, DestinationLimit>,
    /// Seconds an idle connection to a destination is kept for the next
    /// message to the same domain (0: one connection per message).
    #[serde(default = "default_connection_cache")]
    pub connection_cache_seconds: u64,
    /// The transactional and marketing streams: separate queues, workers and
    /// source addresses (R-DL-4).
    #[serde(default)]
    pub streams: Streams,
    /// Honour recipient domains' MTA-STS policies (RFC 8461): under
    /// `enforce`, only policy MX hosts over verified TLS (not for routed
    /// domains or the relayhost).
    #[serde(default = "yes")]
    pub mta_sts: bool,
    /// Verify MX certificates by DANE TLSA records (RFC 7672). Only with
    /// `name_servers`: their AD bit is trusted, so they must be validating
    /// resolvers you run (e.g. unbound on loopback).
    #[serde(default = "yes")]
    pub dane: bool,
    /// Look up recipients' OpenPGP keys in their domain's Web Key Directory.
    #[serde(default = "yes")]
    pub wkd: bool,
    /// Port for MTA-STS policy and WKD fetches (443; tests use a loopback port).
    #[serde(default = "default_https_port")]
    pub https_port: u16,
    /// Internal MX hosts delivery may connect to (issue 13.10): MX host
    /// names, IP addresses and CIDR networks, as `[webhooks] allow_hosts`.
    /// By default an MX address in loopback, private, link-local,
    /// unique-local, CGNAT, metadata or other non-public space is skipped.
    /// The list also opens MTA-STS policy and WKD key hosts, which are
    /// refused there by the same rule.
    /// Routes and the relayhost are the operator's own choice and are not
    /// checked.
    #[serde(default)]
    pub allow_internal_mx: Vec<String>,
}

impl DeliveryConfig {
    /// The resolver for MX, TXT and TLSA lookups: `name_servers`, else
    /// the system's (delivery and sending-domain proofs share it).
    pub fn resolver(&self) -> Result<sealpost_outbound::MxResolver, ServerError> {
        if self.name_servers.is_empty() {
            sealpost_outbound::MxResolver::system()
        } else {
            sealpost_outbound::MxResolver::with_servers(&self.name_servers, self.smtp_port)
        }
        .map_err(|e| ServerError::Config(format!("delivery resolver: {e}")))
    }

    /// The parsed `allow_internal_mx` list.
    pub fn internal_mx(&self) -> Result<crate::destination::AllowList, ServerError> {
        crate::destination::AllowList::parse(&self.allow_internal_mx)
            .map_err(|e| ServerError::Config(format!("[delivery] allow_internal_mx: {e}")))
    }
}

/// Limits for one destination domain.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationLimit {
    /// Simultaneous connections.
    pub concurrency: Option<usize>,
    /// Messages per minute (0: unlimited).
    pub rate_per_minute: Option<u32>,
}

/// The two delivery streams.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Streams {
    /// Transactional mail (and Sealpost's own notices).
    #[serde(default)]
    pub transactional: StreamConfig,
    /// Marketing mail.
    #[serde(default)]
    pub marketing: StreamConfig,
}

/// One stream's settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Concurrent deliveries of this stream; default: `workers` for
    /// transactional, a quarter of it for marketing.
    pub workers: Option<usize>,
    /// Local address outbound connections are made from (like Postfix's
    /// `smtp_bind_address`), so the streams keep separate IP reputations.
    pub source_address: Option<std::net::IpAddr>,
    /// Name said in EHLO; default: the server's hostname.
    pub helo_name: Option<String>,
}

impl DeliveryConfig {
    /// The stream settings of a category.
    pub fn stream(&self, stream: sealpost_model::Category) -> &StreamConfig {
        match stream {
            sealpost_model::Category::Marketing => &self.streams.marketing,
            _ => &self.streams.transactional,
        }
    }

    /// The addresses outbound mail is sent from, as configured per stream
    /// (transactional first), each once; an unspecified address (`0.0.0.0`,
    /// `::`) names none. Empty: the system chooses (`sealpost dns records`
    /// then authorizes only the MX hosts in SPF).
    pub fn source_addresses(&self) -> Vec<std::net::IpAddr> {
        let mut out = Vec::new();
        for ip in [&self.streams.transactional, &self.streams.marketing].into_iter().filter_map(|s| s.source_address) {
            if !ip.is_unspecified() && !out.contains(&ip) {
                out.push(ip);
            }
        }
        out
    }

    /// Concurrent deliveries of a stream.
    pub fn stream_workers(&self, stream: sealpost_model::Category) -> usize {
        let default = match stream {
            sealpost_model::Category::Marketing => (self.workers / 4).max(1),
            _ => self.workers.max(1),
        };
        self.stream(stream).workers.unwrap_or(default).max(1)
    }

    /// Connection limit and messages per minute (0: unlimited) for a domain.
    pub fn destination_limit(&self, domain: &str) -> (usize, u32) {
        let o = self.destination_limits.iter().find(|(d, _)| d.eq_ignore_ascii_case(domain)).map(|(_, l)| l);
        (
            o.and_then(|l| l.concurrency).unwrap_or(self.destination_concurrency).max(1),
            o.and_then(|l| l.rate_per_minute).unwrap_or(self.destination_rate_per_minute),
        )
    }

    /// The route of a domain, if one is configured: (host, port).
    pub fn route(&self, domain: &str) -> Option<(String, u16)> {
        let target = match self.routes.iter().find(|(d, _)| d.eq_ignore_ascii_case(domain)) {
            Some((_, t)) => t,
            None => self.relayhost.as_ref()?,
        };
        let (host, port) = target.rsplit_once(':')?;
        Some((host.to_owned(), port.parse().ok()?))
    }
}

fn default_workers() -> usize {
    16
}
fn default_smtp_port() -> u16 {
    25
}
fn default_lifetime_hours() -> u64 {
    120
}
fn default_retry_base() -> u64 {
    60
}
fn default_policy() -> PolicyMode {
    PolicyMode::TlsPreferred
}
fn default_portal_url() -> String {
    "https://localhost:8443/p".into()
}
fn default_pickup_days() -> u64 {
    30
}
fn default_lease_seconds() -> u64 {
    600
}
fn yes() -> bool {
    true
}
fn default_https_port() -> u16 {
    443
}
fn default_delay_notice() -> u64 {
    4 * 3600
}
fn default_destination_concurrency() -> usize {
    20
}
fn default_connection_cache() -> u64 {
    5
}
fn default_notice_from() -> String {
    "no-reply@localhost".into()
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            workers: default_workers(),
            smtp_port: default_smtp_port(),
            name_servers: Vec::new(),
            extra_ca_files: Vec::new(),
            lifetime_hours: default_lifetime_hours(),
            retry_base_seconds: default_retry_base(),
            policy: default_policy(),
            portal_domains: Vec::new(),
            portal_url: default_portal_url(),
            pickup_days: default_pickup_days(),
            notice_from: default_notice_from(),
            routes: Default::default(),
            relayhost: None,
            lease_seconds: default_lease_seconds(),
            delay_notice_seconds: default_delay_notice(),
            destination_concurrency: default_destination_concurrency(),
            destination_rate_per_minute: 0,
            destination_limits: Default::default(),
            connection_cache_seconds: default_connection_cache(),
            streams: Streams::default(),
            mta_sts: true,
            dane: true,
            wkd: true,
            https_port: default_https_port(),
            allow_internal_mx: Vec::new(),
        }
    }
}

fn default_hostname() -> String {
    "localhost".into()
}

fn default_smtp() -> Vec<SmtpListener> {
    vec![
        SmtpListener { addr: "127.0.0.1:2587".parse().expect("literal"), ..SmtpListener::starttls() },
        SmtpListener {
            addr: "127.0.0.1:2465".parse().expect("literal"),
            tls: ListenerTls::Implicit,
            ..SmtpListener::starttls()
        },
    ]
}

/// Database and blob locations.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `sqlite://PATH` (relative paths are under the data dir) or `postgres://…`.
    #[serde(default = "default_db")]
    pub database_url: String,
    /// Blob backend.
    #[serde(default)]
    pub blobs: BlobsConfig,
    /// Sign an audit checkpoint every this many events.
    #[serde(default = "default_checkpoint_every")]
    pub audit_checkpoint_every: i64,
}

fn default_db() -> String {
    "sqlite://sealpost.db".into()
}
fn default_checkpoint_every() -> i64 {
    1000
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self { database_url: default_db(), blobs: BlobsConfig::default(), audit_checkpoint_every: 1000 }
    }
}

/// Blob backend choice.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum BlobsConfig {
    /// Local segment files.
    Local {
        /// Directory.
        #[serde(default = "default_blob_dir")]
        dir: PathBuf,
    },
    /// S3-compatible object storage.
    S3 {
        /// Endpoint URL.
        endpoint: String,
        /// Bucket.
        bucket: String,
        /// Region.
        #[serde(default = "default_region")]
        region: String,
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: String,
        /// Allow plain-HTTP endpoints.
        #[serde(default)]
        allow_http: bool,
    },
}

fn default_blob_dir() -> PathBuf {
    "blobs".into()
}
fn default_region() -> String {
    "us-east-1".into()
}

impl Default for BlobsConfig {
    fn default() -> Self {
        BlobsConfig::Local { dir: default_blob_dir() }
    }
}

/// Input limits (R-IN-5).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest message accepted, in octets (advertised as SMTP SIZE).
    #[serde(default = "default_max_size")]
    pub max_message_size: usize,
    /// Most recipients per message.
    #[serde(default = "default_max_rcpts")]
    pub max_recipients: usize,
    /// Most messages per batch API call.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// Open connections per listener (SMTP, HTTPS); 0: no cap.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Open connections per listener from one client address; 0: no cap.
    #[serde(default = "default_max_connections_per_client")]
    pub max_connections_per_client: usize,
    /// Seconds a client has to complete a TLS handshake.
    #[serde(default = "default_tls_handshake_seconds")]
    pub tls_handshake_seconds: u64,
    /// Seconds an SMTP client may stay silent (RFC 5321 §4.5.3.2: 5 minutes).
    #[serde(default = "default_smtp_idle_seconds")]
    pub smtp_idle_seconds: u64,
    /// Seconds an HTTPS client has to send a request's headers, and to
    /// start the next request on a kept-alive connection.
    #[serde(default = "default_http_header_seconds")]
    pub http_header_seconds: u64,
    /// Password hashes (Argon2id, 19 MiB each) computed at once; further
    /// logins wait their turn.
    #[serde(default = "default_max_concurrent_password_hashes")]
    pub max_concurrent_password_hashes: usize,
}

fn default_max_connections() -> usize {
    1000
}
fn default_max_connections_per_client() -> usize {
    100
}
fn default_tls_handshake_seconds() -> u64 {
    10
}
fn default_smtp_idle_seconds() -> u64 {
    300
}
fn default_http_header_seconds() -> u64 {
    30
}
fn default_max_concurrent_password_hashes() -> usize {
    4
}

fn default_max_size() -> usize {
    25 * 1024 * 1024
}
fn default_max_rcpts() -> usize {
    1000
}
fn default_max_batch() -> usize {
    1000
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: default_max_size(),
            max_recipients: default_max_rcpts(),
            max_batch: default_max_batch(),
            max_connections: default_max_connections(),
            max_connections_per_client: default_max_connections_per_client(),
            tls_handshake_seconds: default_tls_handshake_seconds(),
            smtp_idle_seconds: default_smtp_idle_seconds(),
            http_header_seconds: default_http_header_seconds(),
            max_concurrent_password_hashes: default_max_concurrent_password_hashes(),
        }
    }
}

/// How a listener does TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerTls {
    /// Plain connect, then STARTTLS required before mail (port 587 style).
    Starttls,
    /// TLS from the first byte (port 465 style).
    Implicit,
    /// No TLS at all; needs `allow_plaintext = true`.
    None,
}

/// One SMTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpListener {
    /// Address to bind.
    pub addr: SocketAddr,
    /// TLS mode.
    pub tls: ListenerTls,
    /// Accept mail without TLS (on `starttls` listeners: without issuing STARTTLS).
    /// Must be said explicitly; never the default.
    #[serde(default)]
    pub allow_plaintext: bool,
    /// Client networks that may relay without AUTH (gateway mode).
    #[serde(default)]
    pub trusted_networks: Vec<IpNet>,
    /// The tenant that mail relayed from trusted networks belongs to.
    #[serde(default)]
    pub relay_tenant: Option<TenantId>,
}

impl SmtpListener {
    fn starttls() -> Self {
        SmtpListener {
            addr: "127.0.0.1:0".parse().expect("literal"),
            tls: ListenerTls::Starttls,
            allow_plaintext: false,
            trusted_networks: Vec::new(),
            relay_tenant: None,
        }
    }

    /// Whether `ip` may relay without AUTH here.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_networks.iter().any(|n| n.contains(&ip))
    }
}

/// HTTPS listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to bind.
    #[serde(default = "default_http_addr")]
    pub addr: SocketAddr,
}

fn default_http_addr() -> SocketAddr {
    "127.0.0.1:8443".parse().expect("literal")
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { addr: default_http_addr() }
    }
}

/// TLS certificate; generated self-signed on first start if missing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    #[serde(default = "default_cert")]
    pub cert: PathBuf,
    /// PEM private key.
    #[serde(default = "default_key")]
    pub key: PathBuf,
}

fn default_cert() -> PathBuf {
    "tls/cert.pem".into()
}
fn default_key() -> PathBuf {
    "tls/key.pem".into()
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self { cert: default_cert(), key: default_key() }
    }
}

/// Root key location. The passphrase comes from `SEALPOST_ROOT_PASSPHRASE`
/// if set, else from `passphrase_file`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// Passphrase-protected root key file.
    #[serde(default = "default_root_key")]
    pub root_key_file: PathBuf,
    /// File holding the passphrase (mode 0600). Move it off the machine, or
    /// use the environment variable, in production.
    #[serde(default = "default_passphrase_file")]
    pub passphrase_file: PathBuf,
}

fn default_root_key() -> PathBuf {
    "keys/root.key".into()
}
fn default_passphrase_file() -> PathBuf {
    "keys/root.pass".into()
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self { root_key_file: default_root_key(), passphrase_file: default_passphrase_file() }
    }
}

/// Failed-login handling (R-ID-5).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Failures (per user name and per client IP) before lockout.
    #[serde(default = "default_max_failures")]
    pub max_failures: u32,
    /// Lockout length in seconds.
    #[serde(default = "default_lockout")]
    pub lockout_seconds: u64,
    /// Delay before answering a failed attempt, in milliseconds.
    #[serde(default = "default_failure_delay")]
    pub failure_delay_ms: u64,
    /// Client networks whose failed API authentications do not lock the
    /// client address out (a reverse proxy or load balancer in front of the
    /// API, whose address every client shares). The failure delay, the
    /// audit and the lockout of a presented key still apply.
    #[serde(default)]
    pub api_lockout_exempt: Vec<IpNet>,
}

fn default_max_failures() -> u32 {
    5
}
fn default_lockout() -> u64 {
    900
}
fn default_failure_delay() -> u64 {
    1000
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { max_failures: 5, lockout_seconds: 900, failure_delay_ms: 1000, api_lockout_exempt: Vec::new() }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hostname: default_hostname(),
            storage: StorageConfig::default(),
            limits: Limits::default(),
            smtp: default_smtp(),
            http: HttpConfig::default(),
            tls: TlsConfig::default(),
            keys: KeysConfig::default(),
            auth: AuthConfig::default(),
            delivery: DeliveryConfig::default(),
            archive: ArchiveConfig::default(),
            metrics: MetricsConfig::default(),
            webhooks: WebhooksConfig::default(),
            portal: PortalConfig::default(),
        }
    }
}

/// The config file's name inside the data directory.
pub const CONFIG_FILE: &str = "sealpost.toml";

impl Config {
    /// Reads `DIR/sealpost.toml`, or `None` if it does not exist.
    pub fn load(data_dir: &Path) -> Result<Option<Config>, ServerError> {
        let path = data_dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ServerError::Config(format!("{}: {e}", path.display()))),
        };
        let cfg: Config = toml::from_str(&text).map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))?;
        cfg.validate()?;
        Ok(Some(cfg))
    }

    /// Checks what serde cannot: listener rules.
    pub fn validate(&self) -> Result<(), ServerError> {
        self.webhooks.allow_list()?;
        self.delivery.internal_mx()?;
        for l in &self.smtp {
            if l.tls == ListenerTls::None && !l.allow_plaintext {
                return Err(ServerError::Config(format!(
                    "smtp listener {}: tls = \"none\" needs allow_plaintext = true (mail would travel unencrypted)",
                    l.addr
                )));
            }
            if !l.trusted_networks.is_empty() && l.relay_tenant.is_none() {
                return Err(ServerError::Config(format!(
                    "smtp listener {}: trusted_networks needs relay_tenant (whose mail is relayed?)",
                    l.addr
                )));
            }
        }
        if let Some(r) = &self.delivery.relayhost
            && r.rsplit_once(':').is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
        {
            return Err(ServerError::Config(format!("delivery relayhost {r:?} is not host:port")));
        }
        for (domain, target) in &self.delivery.routes {
            if self.delivery.route(domain).is_none() {
                return Err(ServerError::Config(format!("delivery route for {domain}: {target:?} is not host:port")));
            }
        }
        if let Some(addr) = self.metrics.listen
            && !addr.ip().is_loopback()
        {
            return Err(ServerError::Config(format!(
                "metrics listen {addr}: the plain-HTTP metrics listener has no authentication and may only bind a \
                 loopback address (127.0.0.1, ::1); to scrape from elsewhere use GET /metrics on the HTTPS API \
                 with an admin API key"
            )));
        }
        if self.limits.max_batch == 0
            || self.limits.max_message_size == 0
            || self.limits.tls_handshake_seconds == 0
            || self.limits.smtp_idle_seconds == 0
            || self.limits.http_header_seconds == 0
            || self.limits.max_concurrent_password_hashes == 0
        {
            return Err(ServerError::Config("limits must be positive".into()));
        }
        Ok(())
    }

    /// The commented default file written by `sealpost init`.
    pub fn default_file_text() -> String {
        include_str!("default-config.toml").to_owned()
    }
}

/// Resolves a configured path against the data directory.
pub fn resolve(data_dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() { p.to_path_buf() } else { data_dir.join(p) }
}

/// Resolves `sqlite://relative.db` against the data directory.
pub fn resolve_database_url(data_dir: &Path, url: &str) -> String {
    match url.strip_prefix("sqlite://") {
        Some(path) if !path.starts_with('/') => format!("sqlite://{}", data_dir.join(path).display()),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_default_file_parses_and_equals_the_defaults() {
        let cfg: Config = toml::from_str(&Config::default_file_text()).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.smtp.len(), 2);
        assert_eq!(cfg.http.addr, default_http_addr());
    }

    #[test]
    fn plaintext_must_be_explicit_and_relay_needs_a_tenant() {
        let mut cfg = Config::default();
        cfg.smtp[0].tls = ListenerTls::None;
        assert!(cfg.validate().unwrap_err().to_string().contains("allow_plaintext"));
        cfg.smtp[0].allow_plaintext = true;
        cfg.smtp[0].trusted_networks = vec!["127.0.0.0/8".parse().unwrap()];
        assert!(cfg.validate().unwrap_err().to_string().contains("relay_tenant"));
    }

    #[test]
    fn the_metrics_listener_binds_only_loopback() {
        let cfg: Config = toml::from_str("[metrics]\nlisten = \"127.0.0.1:9464\"").unwrap();
        cfg.validate().unwrap();
        assert!(cfg.metrics.api, "the HTTPS route stays on by default");
        let cfg: Config = toml::from_str("[metrics]\nlisten = \"[::1]:9464\"\napi = false").unwrap();
        cfg.validate().unwrap();
        for addr in ["0.0.0.0:9464", "192.0.2.7:9464", "[::]:9464"] {
            let cfg: Config = toml::from_str(&format!("[metrics]\nlisten = \"{addr}\"")).unwrap();
            let err = cfg.validate().unwrap_err().to_string();
            assert!(err.contains("loopback"), "{addr}: {err}");
        }
        assert!(!Config { metrics: MetricsConfig { api: false, listen: None }, ..Config::default() }.metrics.enabled());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<Config>("hostnam = \"x\"").is_err());
    }
}
