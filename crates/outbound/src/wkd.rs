//! OpenPGP Web Key Directory lookups (draft-koch-openpgp-webkey-service):
//! discovering a recipient's public key over HTTPS from their domain.
//!
//! The local part is lowercased (ASCII), hashed with SHA-1 and written in
//! z-base-32 ([`wkd_hash`]). The *advanced* method asks
//! `https://openpgpkey.<domain>/.well-known/openpgpkey/<domain>/hu/<hash>?l=<local>`
//! and is used whenever `openpgpkey.<domain>` resolves; only when it does
//! not does the *direct* method ask
//! `https://<domain>/.well-known/openpgpkey/hu/<hash>?l=<local>` (the draft:
//! a failing advanced server is no reason to fall back).
//!
//! [`Wkd::fetch_key`] returns the key bytes as served (binary OpenPGP
//! packets, possibly several keys concatenated). It does not parse them: the
//! caller must accept only a key that carries a User ID with exactly the
//! address asked for, as the draft requires — a directory may serve other
//! keys, and the fetch proves control of the domain's web server only.
//!
//! Results are cached in memory: a key for an hour, "no key" for an hour, a
//! failure for five minutes (so a broken directory does not slow every
//! delivery to its domain).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::https::{HttpsError, HttpsFetcher, is_host_name};

/// Largest key body fetched.
pub const KEY_BODY_LIMIT: usize = 256 * 1024;
/// Default time a found key is reused without asking again.
pub const FOUND_TTL: Duration = Duration::from_secs(60 * 60);
/// Default time "no key" is reused without asking again.
pub const NOT_FOUND_TTL: Duration = Duration::from_secs(60 * 60);
/// Time a failed lookup is not retried.
const FAILED_TTL: Duration = Duration::from_secs(5 * 60);
/// Entries kept before expired ones are swept out.
const CACHE_SWEEP_AT: usize = 10_000;

/// Why a key could not be looked up. Texts never carry the address.
#[derive(Debug, thiserror::Error)]
pub enum WkdError {
    /// The address has no `@` or its domain is not a DNS name.
    #[error("not an address with a DNS domain")]
    InvalidAddress,
    /// Resolving the key directory's host failed (temporary).
    #[error("DNS lookup failed: {0}")]
    Lookup(String),
    /// The HTTPS fetch failed (certificate, status other than 200 or 404,
    /// redirect, size, time).
    #[error("key fetch: {0}")]
    Fetch(#[from] HttpsError),
    /// The directory answered 200 with an empty body.
    #[error("key directory returned an empty body")]
    EmptyKey,
    /// A lookup for this address failed within the last five minutes.
    #[error("key lookup failed recently; not retried yet")]
    RecentlyFailed,
}

/// The WKD hash of a local part: z-base-32 of the SHA-1 of the local part
/// with ASCII letters lowercased (32 characters).
pub fn wkd_hash(local: &str) -> String {
    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, local.to_ascii_lowercase().as_bytes());
    zbase32(digest.as_ref())
}

/// The advanced and the direct lookup URL for `address` (`local@domain`;
/// the domain is lowercased, the local part is sent as given in `l=`).
pub fn wkd_urls(address: &str) -> Result<(String, String), WkdError> {
    let target = Target::parse(address)?;
    Ok((
        format!("https://{}{}", target.advanced_host(), target.advanced_path()),
        format!("https://{}{}", target.domain, target.direct_path()),
    ))
}

/// z-base-32 (the human-oriented base-32 of RFC 6189 §5.1.6): 5 bits per
/// character, most significant first, no padding.
fn zbase32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in data {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so any
/// local part (quotes, `+`, `&`, `%`, UTF-8) fits in a query value.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct Target {
    local: String,
    domain: String,
}

impl Target {
    fn parse(address: &str) -> Result<Self, WkdError> {
        // The last `@` separates the domain: a quoted local part may hold one.
        let (local, domain) = address.rsplit_once('@').ok_or(WkdError::InvalidAddress)?;
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        if local.is_empty() || !is_host_name(&domain) {
            return Err(WkdError::InvalidAddress);
        }
        Ok(Self { local: local.to_owned(), domain })
    }

    fn advanced_host(&self) -> String {
        format!("openpgpkey.{}", self.domain)
    }

    fn advanced_path(&self) -> String {
        format!(
            "/.well-known/openpgpkey/{}/hu/{}?l={}",
            self.domain,
            wkd_hash(&self.local),
            percent_encode(&self.local)
        )
    }

    fn direct_path(&self) -> String {
        format!("/.well-known/openpgpkey/hu/{}?l={}", wkd_hash(&self.local), percent_encode(&self.local))
    }

    fn cache_key(&self) -> String {
        format!("{}@{}", self.local, self.domain)
    }
}

#[derive(Clone)]
enum Outcome {
    Key(Vec<u8>),
    NoKey,
    Failed,
}

struct Entry {
    outcome: Outcome,
    expires: Instant,
}

/// Key discovery with a small cache (see the module docs). Share one per
/// process; it is `Send + Sync`.
pub struct Wkd {
    fetcher: HttpsFetcher,
    found_ttl: Duration,
    not_found_ttl: Duration,
    cache: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for Wkd {
    // The cache is keyed by addresses: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wkd").finish_non_exhaustive()
    }
}

impl Wkd {
    /// Looks keys up with `fetcher` (and its resolver), caching for
    /// [`FOUND_TTL`] and [`NOT_FOUND_TTL`].
    pub fn new(fetcher: HttpsFetcher) -> Self {
        Self::with_cache_ttls(fetcher, FOUND_TTL, NOT_FOUND_TTL)
    }

    /// Like [`Wkd::new`] with other cache times (zero: no caching).
    pub fn with_cache_ttls(fetcher: HttpsFetcher, found: Duration, not_found: Duration) -> Self {
        Self { fetcher, found_ttl: found, not_found_ttl: not_found, cache: Mutex::default() }
    }

    /// The key bytes the recipient's domain publishes for `address`:
    /// `Ok(None)` when it publishes none (404, or no host to ask), an error
    /// when that could not be found out. Only a 200 yields a key.
    pub async fn fetch_key(&self, address: &str) -> Result<Option<Vec<u8>>, WkdError> {
        let target = Target::parse(address)?;
        let key = target.cache_key();
        if let Some(outcome) = self.cached(&key) {
            return match outcome {
                Outcome::Key(bytes) => Ok(Some(bytes)),
                Outcome::NoKey => Ok(None),
                Outcome::Failed => Err(WkdError::RecentlyFailed),
            };
        }
        let result = self.lookup(&target).await;
        let (outcome, ttl) = match &result {
            Ok(Some(bytes)) => (Outcome::Key(bytes.clone()), self.found_ttl),
            Ok(None) => (Outcome::NoKey, self.not_found_ttl),
            Err(_) => (Outcome::Failed, FAILED_TTL),
        };
        self.store(key, outcome, ttl);
        result
    }

    async fn lookup(&self, target: &Target) -> Result<Option<Vec<u8>>, WkdError> {
        let resolver = self.fetcher.resolver();
        let advanced = target.advanced_host();
        let (host, path) = if resolves(resolver, &advanced).await? {
            (advanced, target.advanced_path())
        } else if resolves(resolver, &target.domain).await? {
            (target.domain.clone(), target.direct_path())
        } else {
            return Ok(None);
        };
        match self.fetcher.get(&host, &path, KEY_BODY_LIMIT).await {
            Ok(response) if response.body.is_empty() => Err(WkdError::EmptyKey),
            Ok(response) => Ok(Some(response.body)),
            Err(HttpsError::Status(404)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn cached(&self, key: &str) -> Option<Outcome> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        match cache.get(key) {
            Some(entry) if entry.expires > Instant::now() => Some(entry.outcome.clone()),
            Some(_) => {
                cache.remove(key);
                None
            }
            None => None,
        }
    }

    fn store(&self, key: String, outcome: Outcome, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_SWEEP_AT {
            cache.retain(|_, e| e.expires > now);
        }
        cache.insert(key, Entry { outcome, expires: now + ttl });
    }
}

async fn resolves(resolver: &crate::MxResolver, host: &str) -> Result<bool, WkdError> {
    resolver.addresses(host).await.map(|a| !a.is_empty()).map_err(|e| WkdError::Lookup(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hash_of_the_draft_example() {
        // draft-koch-openpgp-webkey-service §3.1: "Joe.Doe@Example.ORG".
        assert_eq!(wkd_hash("Joe.Doe"), "iy9q119eutrkn8s1mk4r39qejnbu3n5q");
        assert_eq!(wkd_hash("joe.doe"), wkd_hash("JOE.DOE"));
    }

    #[test]
    fn zbase32_vectors() {
        assert_eq!(zbase32(&[]), "");
        assert_eq!(zbase32(&[0x00]), "yy");
        assert_eq!(zbase32(&[0xff]), "9h");
        assert_eq!(zbase32(&[0xf0, 0xbf, 0xc7]), "6n9hq");
        assert_eq!(zbase32(&[0xd4, 0x7a, 0x04]), "4t7ye");
    }

    #[test]
    fn urls_of_the_draft_example() {
        let (advanced, direct) = wkd_urls("Joe.Doe@Example.ORG").unwrap();
        assert_eq!(
            advanced,
            "https://openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe"
        );
        assert_eq!(direct, "https://example.org/.well-known/openpgpkey/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe");
        let (_, direct) = wkd_urls("a+b&c=d%e@example.org").unwrap();
        assert!(direct.ends_with("?l=a%2Bb%26c%3Dd%25e"), "{direct}");
        for bad in ["no-at-sign", "@example.org", "joe@", "joe@[127.0.0.1]", "joe@localhost", "joe@exa mple.org"] {
            assert!(matches!(wkd_urls(bad), Err(WkdError::InvalidAddress)), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn hash_is_32_zbase32_characters(local in "\\PC*") {
            let h = wkd_hash(&local);
            prop_assert_eq!(h.len(), 32);
            prop_assert!(h.bytes().all(|b| b"ybndrfg8ejkmcpqxot1uwisza345h769".contains(&b)));
        }

        #[test]
        fn zbase32_is_injective_on_equal_lengths(a in proptest::collection::vec(any::<u8>(), 20), b in proptest::collection::vec(any::<u8>(), 20)) {
            prop_assert_eq!(zbase32(&a) == zbase32(&b), a == b);
        }

        #[test]
        fn encoded_local_parts_stay_in_the_query(local in "\\PC{1,40}") {
            let encoded = percent_encode(&local);
            prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
        }
    }
}
