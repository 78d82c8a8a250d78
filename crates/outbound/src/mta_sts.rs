//! MTA-STS (RFC 8461): a recipient domain's published demand that mail to it
//! travel only to listed MX hosts over TLS with a certificate that verifies.
//!
//! * [`parse_policy`] reads a policy file (§3.2) into a [`Policy`];
//!   [`parse_txt_record`] reads the `_mta-sts` TXT record (§3.1).
//! * [`MtaSts`] discovers and caches policies: TXT `_mta-sts.<domain>`, then
//!   `GET https://mta-sts.<domain>/.well-known/mta-sts.txt` through
//!   [`HttpsFetcher`] (no redirects, 64 KiB, `text/plain`, 200 only).
//!
//! # What the caller does with a policy
//!
//! This crate only reports (ARCHITECTURE: `outbound` decides nothing). The
//! delivery code applies a policy of the *recipient's domain* (not the MX
//! host's) like this (§5):
//!
//! * [`Mode::Enforce`]: only MX hosts for which [`Policy::matches_mx`] holds
//!   may be used, and a message goes to such a host only over TLS whose
//!   certificate verified (WebPKI chain to a trusted root and valid for the
//!   MX host name: [`crate::TlsInfo`]'s `verified`). A host that does not
//!   match, offers no STARTTLS, or presents a certificate that does not
//!   verify gets nothing (not even a PHI-free notice); the attempt moves to
//!   the next matching MX and, when none is left, the recipient is deferred
//!   (a temporary failure, retried later) — never sent in clear or over
//!   unverified TLS. A delivery under an enforce policy counts as "verified
//!   TLS" for R-DL-1.
//! * [`Mode::Testing`]: nothing is enforced; the delivery goes on as without
//!   a policy and a mismatch is only logged (§5: report, do not block).
//! * [`Mode::None`] and no policy: [`MtaSts::policy`] returns `None`.
//!
//! A configured smart host (relayhost) bypasses MX resolution, so a policy
//! does not apply to it. Where DANE validated TLSA records for an MX, a
//! failing DANE check is not overridden by MTA-STS (RFC 8461 §2).
//!
//! # Cache (§3.3, §5.1)
//!
//! Policies are cached in memory per domain for `max_age` seconds. Every
//! call looks up the TXT record; a new id fetches the policy again. When no
//! live policy can be had — TXT gone or invalid, DNS failing, the fetch
//! failing — an unexpired cached policy keeps applying, as §3.3 requires;
//! without one, delivery goes on as if the domain had no policy. A failed
//! fetch is not retried for the same id within five minutes (§3.3).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::https::{HttpsError, HttpsFetcher, is_host_name};
use crate::mx::MxResolver;

/// Largest `max_age` a policy may carry (§3.2: about one year).
pub const MAX_AGE_LIMIT: u32 = 31_557_600;
/// Largest policy body fetched (§3.3 lets senders limit it; 64 KiB is plenty).
pub const POLICY_BODY_LIMIT: usize = 64 * 1024;
/// How long a failed fetch is not retried for the same policy id (§3.3).
const FAILED_FETCH_BACKOFF: Duration = Duration::from_secs(5 * 60);
/// Domains kept in the cache before expired entries are swept out.
const CACHE_SWEEP_AT: usize = 10_000;

/// What a sender does when a connection does not satisfy the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Do not deliver to a host that fails the policy.
    Enforce,
    /// Deliver anyway; report (log) the failure.
    Testing,
    /// The domain withdrew its policy.
    None,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// A parsed policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The mode.
    pub mode: Mode,
    /// Allowed MX host patterns, lowercase without a trailing dot: a host
    /// name, or `*.` and a domain (matching exactly one more left-most label).
    /// Empty only in mode `none`.
    pub mx: Vec<String>,
    /// Seconds the policy may be cached (at most [`MAX_AGE_LIMIT`]).
    pub max_age: u32,
}

impl Policy {
    /// Whether `host` (an MX host name; case and a trailing dot ignored)
    /// matches one of the policy's patterns (§4.1).
    pub fn matches_mx(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|pattern| match pattern.strip_prefix("*.") {
            // A wildcard stands for exactly one label: `*.example.com`
            // matches `mx.example.com`, not `example.com` or `a.b.example.com`.
            Some(suffix) => host.split_once('.').is_some_and(|(first, rest)| !first.is_empty() && rest == suffix),
            None => *pattern == host,
        })
    }
}

impl std::fmt::Display for Policy {
    /// The policy file form (CRLF lines), which [`parse_policy`] reads back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "version: STSv1\r\nmode: {}\r\n", self.mode.as_str())?;
        for mx in &self.mx {
            write!(f, "mx: {mx}\r\n")?;
        }
        write!(f, "max_age: {}\r\n", self.max_age)
    }
}

/// Why a policy file was rejected. Lines count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A line is not `key: value`.
    #[error("line {line}: not a key: value pair")]
    Syntax {
        /// Line number.
        line: usize,
    },
    /// `version` is not `STSv1`.
    #[error("line {line}: unsupported version")]
    Version {
        /// Line number.
        line: usize,
    },
    /// `mode` is not `enforce`, `testing` or `none`.
    #[error("line {line}: unknown mode")]
    Mode {
        /// Line number.
        line: usize,
    },
    /// `max_age` is not an integer from 0 to 31557600.
    #[error("line {line}: max_age is not an integer from 0 to 31557600")]
    MaxAge {
        /// Line number.
        line: usize,
    },
    /// An `mx` value is not a host name or `*.` and a domain.
    #[error("line {line}: invalid mx pattern")]
    Mx {
        /// Line number.
        line: usize,
    },
    /// A required field is absent (`mx` is required unless mode is `none`).
    #[error("missing field {0}")]
    Missing(&'static str),
}

/// Parses a policy file (RFC 8461 §3.2). Lines end with CRLF or LF; blank
/// lines and unknown keys are ignored; of a repeated field other than `mx`
/// the first counts (§3.2). Keys are case-sensitive, values of `mode` and
/// `version` too (the grammar says `%s`).
pub fn parse_policy(text: &str) -> Result<Policy, PolicyError> {
    let (mut version, mut mode, mut max_age) = (false, None, None);
    let mut mx = Vec::new();
    for (index, raw) in text.split('\n').enumerate() {
        let line = index + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.trim_matches(is_wsp).is_empty() {
            continue;
        }
        let (key, value) = raw.split_once(':').ok_or(PolicyError::Syntax { line })?;
        let (key, value) = (key.trim_matches(is_wsp), value.trim_matches(is_wsp));
        if !is_field_name(key) {
            return Err(PolicyError::Syntax { line });
        }
        match key {
            "version" if !version => {
                if value != "STSv1" {
                    return Err(PolicyError::Version { line });
                }
                version = true;
            }
            "mode" if mode.is_none() => {
                mode = Some(match value {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    _ => return Err(PolicyError::Mode { line }),
                });
            }
            "max_age" if max_age.is_none() => {
                let age = (!value.is_empty() && value.len() <= 10 && value.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| value.parse::<u64>().ok())
                    .flatten()
                    .filter(|&age| age <= u64::from(MAX_AGE_LIMIT))
                    .ok_or(PolicyError::MaxAge { line })?;
                max_age = Some(age as u32);
            }
            "mx" => mx.push(mx_pattern(value).ok_or(PolicyError::Mx { line })?),
            // Repeated single fields and extension fields are ignored.
            _ => {}
        }
    }
    if !version {
        return Err(PolicyError::Missing("version"));
    }
    let mode = mode.ok_or(PolicyError::Missing("mode"))?;
    let max_age = max_age.ok_or(PolicyError::Missing("max_age"))?;
    // A `none` policy withdraws an earlier one (§8.3) and is never applied,
    // so it need not list hosts; refusing it would keep a stale enforce
    // policy alive in the cache.
    if mx.is_empty() && mode != Mode::None {
        return Err(PolicyError::Missing("mx"));
    }
    Ok(Policy { mode, mx, max_age })
}

fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// `(ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")` (§3.2).
fn is_field_name(key: &str) -> bool {
    key.len() <= 32
        && key.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// `["*."] Domain`, lowercased, trailing dot dropped.
fn mx_pattern(value: &str) -> Option<String> {
    let value = value.trim_end_matches('.').to_ascii_lowercase();
    let domain = value.strip_prefix("*.").unwrap_or(&value);
    let labels_ok = domain.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    });
    (!domain.is_empty() && domain.len() <= 253 && labels_ok).then_some(value)
}

/// Why a `_mta-sts` TXT record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxtError {
    /// It does not start with `v=STSv1`.
    #[error("not an STSv1 record")]
    NotStsV1,
    /// Field `field` (counting `v=STSv1` as 1) is not `name=value`.
    #[error("field {field}: not a name=value pair")]
    Syntax {
        /// Field number.
        field: usize,
    },
    /// The `id` is not 1 to 32 letters and digits.
    #[error("field {field}: invalid id")]
    Id {
        /// Field number.
        field: usize,
    },
    /// There is no `id`.
    #[error("missing id")]
    MissingId,
}

/// Parses `v=STSv1; id=...;` (RFC 8461 §3.1) and returns the id. Extension
/// fields are ignored; of repeated ids the first counts.
pub fn parse_txt_record(record: &str) -> Result<String, TxtError> {
    let mut fields = record.split(';').map(|f| f.trim_matches(is_wsp));
    if fields.next() != Some("v=STSv1") {
        return Err(TxtError::NotStsV1);
    }
    let mut id = None;
    for (index, field) in fields.enumerate() {
        let number = index + 2;
        // The grammar allows one trailing separator; empty fields elsewhere
        // are harmless and tolerated.
        if field.is_empty() {
            continue;
        }
        let (name, value) = field.split_once('=').ok_or(TxtError::Syntax { field: number })?;
        let value_ok = !value.is_empty() && value.bytes().all(|b| matches!(b, 0x21..=0x3a | 0x3c | 0x3e..=0x7e));
        if !is_field_name(name) || !value_ok {
            return Err(TxtError::Syntax { field: number });
        }
        if name == "id" && id.is_none() {
            if value.len() > 32 || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(TxtError::Id { field: number });
            }
            id = Some(value.to_owned());
        }
    }
    id.ok_or(TxtError::MissingId)
}

/// Why a policy could not be fetched ([`MtaSts::fetch`]).
#[derive(Debug, thiserror::Error)]
pub enum MtaStsError {
    /// The domain is not a DNS name policies are looked up for.
    #[error("not a domain name")]
    InvalidDomain,
    /// The HTTPS fetch failed (certificate, status, redirect, size, time).
    #[error("policy fetch: {0}")]
    Fetch(#[from] HttpsError),
    /// The response is not `text/plain`.
    #[error("policy Content-Type is not text/plain")]
    ContentType,
    /// The body is not UTF-8.
    #[error("policy is not UTF-8")]
    NotUtf8,
    /// The body is not a valid policy.
    #[error("policy: {0}")]
    Policy(#[from] PolicyError),
}

#[derive(Debug, Clone)]
struct Cached {
    id: String,
    policy: Policy,
    expires: Instant,
}

/// Policy discovery with an in-memory cache (see the module docs). Share
/// one per process; it is `Send + Sync`.
pub struct MtaSts {
    fetcher: HttpsFetcher,
    resolver: MxResolver,
    cache: Mutex<HashMap<String, Cached>>,
    /// Domain → (policy id whose fetch failed, when).
    failed: Mutex<HashMap<String, (String, Instant)>>,
}

impl std::fmt::Debug for MtaSts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MtaSts").finish_non_exhaustive()
    }
}

impl MtaSts {
    /// Fetches policies with `fetcher` and looks up TXT records with
    /// `resolver` (normally the one the fetcher resolves with).
    pub fn new(fetcher: HttpsFetcher, resolver: MxResolver) -> Self {
        Self { fetcher, resolver, cache: Mutex::default(), failed: Mutex::default() }
    }

    /// The policy that applies to mail for `domain` now: `None` when the
    /// domain has no policy, its mode is `none`, or none could be had and
    /// nothing is cached. Never fails: per §3.3 a domain whose policy cannot
    /// be discovered is treated as having none, unless a cached one is live.
    pub async fn policy(&self, domain: &str) -> Option<Policy> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        if !is_host_name(&domain) {
            return None;
        }
        let cached = self.cached(&domain);
        let live_id = match self.txt_id(&domain).await {
            Some(id) => id,
            None => return cached.and_then(|c| applicable(c.policy)),
        };
        if let Some(c) = &cached
            && c.id == live_id
        {
            return applicable(c.policy.clone());
        }
        if self.recently_failed(&domain, &live_id) {
            return cached.and_then(|c| applicable(c.policy));
        }
        match self.fetch(&domain).await {
            Ok(policy) => {
                self.store(&domain, live_id, policy.clone());
                applicable(policy)
            }
            Err(e) => {
                tracing::debug!(error = %e, "MTA-STS policy fetch failed; keeping a cached policy if any");
                lock(&self.failed).insert(domain, (live_id, Instant::now()));
                cached.and_then(|c| applicable(c.policy))
            }
        }
    }

    /// Fetches and parses the policy of `domain`, bypassing the cache and
    /// the TXT record (for diagnostics; delivery uses [`MtaSts::policy`]).
    pub async fn fetch(&self, domain: &str) -> Result<Policy, MtaStsError> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        if !is_host_name(&domain) {
            return Err(MtaStsError::InvalidDomain);
        }
        let response =
            self.fetcher.get(&format!("mta-sts.{domain}"), "/.well-known/mta-sts.txt", POLICY_BODY_LIMIT).await?;
        let media_type = response.content_type.as_deref().and_then(|t| t.split(';').next()).map(str::trim);
        if !media_type.is_some_and(|t| t.eq_ignore_ascii_case("text/plain")) {
            return Err(MtaStsError::ContentType);
        }
        let text = std::str::from_utf8(&response.body).map_err(|_| MtaStsError::NotUtf8)?;
        Ok(parse_policy(text)?)
    }

    /// The id of the domain's one valid STSv1 TXT record; `None` when there
    /// is none, more than one, it is invalid, or DNS failed (§3.1).
    async fn txt_id(&self, domain: &str) -> Option<String> {
        let records = match self.resolver.txt(&format!("_mta-sts.{domain}")).await {
            Ok(records) => records,
            Err(e) => {
                tracing::debug!(error = %e, "MTA-STS TXT lookup failed");
                return None;
            }
        };
        let mut sts = records
            .iter()
            .filter(|r| r.strip_prefix("v=STSv1").is_some_and(|rest| rest.trim_start_matches(is_wsp).starts_with(';')));
        match (sts.next(), sts.next()) {
            (Some(record), None) => parse_txt_record(record).ok(),
            _ => None,
        }
    }

    /// The unexpired cached entry of `domain`, dropping an expired one.
    fn cached(&self, domain: &str) -> Option<Cached> {
        let mut cache = lock(&self.cache);
        match cache.get(domain) {
            Some(c) if c.expires > Instant::now() => Some(c.clone()),
            Some(_) => {
                cache.remove(domain);
                None
            }
            None => None,
        }
    }

    fn store(&self, domain: &str, id: String, policy: Policy) {
        let expires = Instant::now() + Duration::from_secs(u64::from(policy.max_age));
        let mut cache = lock(&self.cache);
        if cache.len() >= CACHE_SWEEP_AT {
            let now = Instant::now();
            cache.retain(|_, c| c.expires > now);
        }
        cache.insert(domain.to_owned(), Cached { id, policy, expires });
        lock(&self.failed).remove(domain);
    }

    fn recently_failed(&self, domain: &str, id: &str) -> bool {
        let mut failed = lock(&self.failed);
        match failed.get(domain) {
            Some((failed_id, at)) if failed_id == id && at.elapsed() < FAILED_FETCH_BACKOFF => true,
            Some(_) => {
                failed.remove(domain);
                false
            }
            None => false,
        }
    }
}

/// A policy the caller must act on: enforce or testing.
fn applicable(policy: Policy) -> Option<Policy> {
    (policy.mode != Mode::None).then_some(policy)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps stay consistent even if a holder panicked: every update is
    // a single insert or remove.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(mode: Mode, mx: &[&str], max_age: u32) -> Policy {
        Policy { mode, mx: mx.iter().map(|s| s.to_string()).collect(), max_age }
    }

    #[test]
    fn parses_valid_policies() {
        let table: &[(&str, Policy)] = &[
            (
                "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n",
                policy(Mode::Enforce, &["mail.example.com", "*.example.net"], 604800),
            ),
            // LF lines, no final newline, fields in another order.
            (
                "mode: testing\nmax_age: 86400\nmx: MX.Example.COM.\nversion: STSv1",
                policy(Mode::Testing, &["mx.example.com"], 86400),
            ),
            // Whitespace around values, blank lines, unknown keys.
            (
                "version:STSv1\n\nmode:\tenforce \nmx:  a.example\nmax_age: 0\nfoo_bar.x-1: anything at all\n",
                policy(Mode::Enforce, &["a.example"], 0),
            ),
            // Repeated single fields: the first counts; mx accumulates.
            (
                "version: STSv1\nmode: enforce\nmode: bogus\nmx: a.example\nmx: b.example\nmax_age: 5\nmax_age: x\n",
                policy(Mode::Enforce, &["a.example", "b.example"], 5),
            ),
            // `none` may omit mx.
            ("version: STSv1\nmode: none\nmax_age: 31557600\n", policy(Mode::None, &[], 31_557_600)),
        ];
        for (text, want) in table {
            assert_eq!(parse_policy(text).as_ref(), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn rejects_invalid_policies_naming_the_line() {
        let ok = "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n";
        assert!(parse_policy(ok).is_ok());
        let table: &[(&str, PolicyError)] = &[
            ("version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", PolicyError::Version { line: 1 }),
            ("version: stsv1\nmode: enforce\nmx: a.example\nmax_age: 1\n", PolicyError::Version { line: 1 }),
            ("version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n", PolicyError::Mode { line: 2 }),
            ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", PolicyError::MaxAge { line: 4 }),
            ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", PolicyError::MaxAge { line: 4 }),
            ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 00000000001\n", PolicyError::MaxAge { line: 4 }),
            ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age:\n", PolicyError::MaxAge { line: 4 }),
            ("version: STSv1\r\nmode: enforce\r\nmx: *.*.example\r\nmax_age: 1\r\n", PolicyError::Mx { line: 3 }),
            ("version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n", PolicyError::Mx { line: 3 }),
            ("version: STSv1\nmode: enforce\nmx: mail.example.com:25\nmax_age: 1\n", PolicyError::Mx { line: 3 }),
            ("version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n", PolicyError::Mx { line: 3 }),
            ("version: STSv1\nmode: enforce\nmx: a.example\nthis line has no colon\n", PolicyError::Syntax { line: 4 }),
            ("version: STSv1\n: value\n", PolicyError::Syntax { line: 2 }),
            ("version: STSv1\n_x: value\n", PolicyError::Syntax { line: 2 }),
            ("mode: enforce\nmx: a.example\nmax_age: 1\n", PolicyError::Missing("version")),
            ("version: STSv1\nmx: a.example\nmax_age: 1\n", PolicyError::Missing("mode")),
            ("version: STSv1\nmode: enforce\nmx: a.example\n", PolicyError::Missing("max_age")),
            ("version: STSv1\nmode: testing\nmax_age: 1\n", PolicyError::Missing("mx")),
            ("", PolicyError::Missing("version")),
        ];
        for (text, want) in table {
            assert_eq!(parse_policy(text).as_ref(), Err(want), "{text:?}");
        }
    }

    #[test]
    fn matches_mx_hosts() {
        let p = policy(Mode::Enforce, &["mail.example.com", "*.example.net"], 1);
        for host in ["mail.example.com", "MAIL.Example.Com.", "mx1.example.net", "MX2.EXAMPLE.NET."] {
            assert!(p.matches_mx(host), "{host}");
        }
        for host in
            ["example.com", "x.mail.example.com", "example.net", "a.b.example.net", ".example.net", "mail.example.co"]
        {
            assert!(!p.matches_mx(host), "{host}");
        }
    }

    #[test]
    fn parses_txt_records() {
        assert_eq!(parse_txt_record("v=STSv1; id=20160831085700Z;"), Ok("20160831085700Z".into()));
        assert_eq!(parse_txt_record("v=STSv1;id=abc"), Ok("abc".into()));
        assert_eq!(parse_txt_record("v=STSv1 ;\tid=a1 ; ext=x-y; id=second"), Ok("a1".into()));
        assert_eq!(parse_txt_record("v=STSv2; id=abc;"), Err(TxtError::NotStsV1));
        assert_eq!(parse_txt_record("id=abc; v=STSv1;"), Err(TxtError::NotStsV1));
        assert_eq!(parse_txt_record("v=STSv1;"), Err(TxtError::MissingId));
        assert_eq!(parse_txt_record("v=STSv1; id=a-b;"), Err(TxtError::Id { field: 2 }));
        assert_eq!(parse_txt_record(&format!("v=STSv1; id={};", "a".repeat(33))), Err(TxtError::Id { field: 2 }));
        assert_eq!(parse_txt_record("v=STSv1; id=abc; junk"), Err(TxtError::Syntax { field: 3 }));
        assert_eq!(parse_txt_record("v=STSv1; id=abc; x=a b"), Err(TxtError::Syntax { field: 3 }));
    }

    fn label() -> impl Strategy<Value = String> {
        "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?"
    }

    fn domain() -> impl Strategy<Value = String> {
        proptest::collection::vec(label(), 1..4).prop_map(|l| l.join("."))
    }

    fn any_policy() -> impl Strategy<Value = Policy> {
        let mode = prop_oneof![Just(Mode::Enforce), Just(Mode::Testing), Just(Mode::None)];
        let pattern = (any::<bool>(), domain()).prop_map(|(w, d)| if w { format!("*.{d}") } else { d });
        (mode, proptest::collection::vec(pattern, 1..5), 0..=MAX_AGE_LIMIT).prop_map(|(mode, mx, max_age)| Policy {
            mode,
            mx,
            max_age,
        })
    }

    proptest! {
        #[test]
        fn parse_policy_never_panics(text in "\\PC*") {
            let _ = parse_policy(&text);
        }

        #[test]
        fn parse_policy_never_panics_on_policy_like_lines(
            lines in proptest::collection::vec("(version|mode|mx|max_age|x)?:?[ \t]?[a-zA-Z0-9.*:-]{0,12}\r?", 0..8)
        ) {
            let _ = parse_policy(&lines.join("\n"));
        }

        #[test]
        fn valid_policies_round_trip(p in any_policy(), lf in any::<bool>()) {
            let text = p.to_string();
            let text = if lf { text.replace("\r\n", "\n") } else { text };
            prop_assert_eq!(parse_policy(&text), Ok(p.clone()));
            for pattern in &p.mx {
                let host = pattern.replacen('*', "mx", 1);
                prop_assert!(p.matches_mx(&host.to_ascii_uppercase()));
            }
        }

        #[test]
        fn wildcards_match_exactly_one_label(d in domain(), first in label(), second in label()) {
            let p = Policy { mode: Mode::Enforce, mx: vec![format!("*.{d}")], max_age: 1 };
            let (one, two) = (format!("{first}.{d}"), format!("{first}.{second}.{d}"));
            prop_assert!(p.matches_mx(&one));
            prop_assert!(!p.matches_mx(&d));
            prop_assert!(!p.matches_mx(&two));
        }

        #[test]
        fn parse_txt_record_never_panics(text in "\\PC*") {
            let _ = parse_txt_record(&text);
        }

        #[test]
        fn valid_txt_records_round_trip(id in "[A-Za-z0-9]{1,32}", ext in "[a-z]{1,8}", trailing in any::<bool>()) {
            let record = format!("v=STSv1; x{ext}=1; id={id}{}", if trailing { ";" } else { "" });
            prop_assert_eq!(parse_txt_record(&record), Ok(id));
        }
    }
}
