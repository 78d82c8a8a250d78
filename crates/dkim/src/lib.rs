//! DKIM for Sealpost's outbound mail (SPEC R-DL-3): per-domain signing keys (RSA-2048 and
//! Ed25519), the `DKIM-Signature` header field, and the DNS records a sending domain
//! publishes (SPF, DKIM, DMARC, MTA-STS, TLS-RPT) plus its MTA-STS policy file.
//!
//! Keys are generated and held by aws-lc-rs, which also performs every private-key
//! operation (RSA PKCS#1 v1.5 and Ed25519); mail-auth 0.13.3 only canonicalizes the message
//! and formats the header field. The RustCrypto `rsa` crate (RUSTSEC-2023-0071, a timing side
//! channel) is not in this crate's build. The crate does no I/O: storing keys (sealed, by the
//! caller) and publishing records are someone else's job.
//!
//! ```
//! use sealpost_dkim::{Algorithm, DkimKey, Signer, dns_records};
//!
//! let key = DkimKey::generate(Algorithm::Ed25519)?;
//! let signer = Signer::new("example.com", "ed2025", &key)?;
//! let message = b"From: a@example.com\r\nTo: b@example.net\r\nSubject: Hi\r\n\r\nHello\r\n";
//! let signed = [signer.sign(message)?.as_bytes(), &message[..]].concat();
//! assert!(signed.starts_with(b"DKIM-Signature: v=1; a=ed25519-sha256;"));
//!
//! let sources = ["192.0.2.25".parse().unwrap()];
//! for record in dns_records("example.com", &sources, &[("ed2025".into(), &key)], "1", "dmarc@example.com")? {
//!     println!("{record}"); // e.g. `example.com. IN TXT "v=spf1 mx ip4:192.0.2.25 -all"`
//! }
//! # Ok::<(), sealpost_dkim::Error>(())
//! ```

mod dns;
mod error;
mod key;
mod name;
mod sign;

pub use dns::{DnsRecord, MTA_STS_MAX_AGE_SECS, MtaStsPolicy, dns_records, mta_sts_policy};
pub use error::{Error, Result};
pub use key::{Algorithm, DkimKey};
pub use sign::Signer;
