//! DKIM signing: mail-auth canonicalizes and formats, aws-lc-rs does the private-key operation.
//!
//! mail-auth 0.13.3 lets a caller bring its own key through its `SigningKey` trait, so its
//! bundled key types (and the RustCrypto `rsa` crate, with its unfixed timing side channel
//! RUSTSEC-2023-0071) are never used: [`AwsLcKey`] signs with the aws-lc-rs key held by
//! [`DkimKey`].

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use mail_auth::common::crypto::{self, CryptoError, SigningKey};
use mail_auth::common::headers::{HeaderWriter as _, Writable};
use mail_auth::dkim::{Canonicalization, DkimSigner};

use crate::error::{Error, Result};
use crate::key::{Algorithm, DkimKey, KeyPair};
use crate::name;

/// Header fields signed when present, in this order (RFC 6376 §5.4.1 plus the RFC 8058
/// one-click unsubscribe pair, which RFC 8058 §4 requires to be signed).
const SIGNED_HEADERS: [&str; 12] = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// Signs messages for one domain with one selector's key.
///
/// Signatures use relaxed/relaxed canonicalization, cover the whole body (no `l=`), and list
/// `From` once more than it occurs ("oversigning", RFC 6376 §8.15) so that a second From
/// added in transit breaks the signature instead of being shown to the reader.
pub struct Signer {
    domain: String,
    selector: String,
    key: AwsLcKey,
}

impl Signer {
    /// A signer for `d=<domain>` and `s=<selector>`. Both must be ASCII host-name syntax
    /// (an IDN as its A-label); they are lowercased.
    pub fn new(domain: &str, selector: &str, key: &DkimKey) -> Result<Self> {
        Ok(Signer {
            domain: name::domain(domain)?,
            selector: name::selector(selector)?,
            key: AwsLcKey { algorithm: key.algorithm(), pair: key.pair() },
        })
    }

    /// The algorithm of the signatures this signer makes.
    pub fn algorithm(&self) -> Algorithm {
        self.key.algorithm
    }

    /// Signs a complete RFC 5322 message (CRLF line endings) and returns the
    /// `DKIM-Signature: ...\r\n` header field to prepend to it unchanged.
    ///
    /// Fails if the message does not have exactly one From field.
    pub fn sign(&self, message: &[u8]) -> Result<String> {
        let present = present_headers(message);
        let froms = present.iter().filter(|name| name.eq_ignore_ascii_case(b"From")).count();
        if froms != 1 {
            return Err(Error::FromHeaderCount(froms));
        }
        // mail-auth signs every occurrence of each listed name and appends listed names it did
        // not find to h=. Listing only present names keeps h= to what is there; the second
        // "From" is never "found" (the first entry matches), so it lands in h= once more: the
        // oversign.
        let mut headers: Vec<&str> = SIGNED_HEADERS
            .into_iter()
            .filter(|h| present.iter().any(|p| p.eq_ignore_ascii_case(h.as_bytes())))
            .collect();
        headers.push("From");
        let signature = DkimSigner::from_key(self.key.clone())
            .domain(self.domain.as_str())
            .selector(self.selector.as_str())
            .headers(headers)
            .header_canonicalization(Canonicalization::Relaxed)
            .body_canonicalization(Canonicalization::Relaxed)
            .sign(message)
            .map_err(|e| Error::Signing(e.to_string()))?;
        Ok(signature.to_header())
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.key.algorithm)
            .finish_non_exhaustive()
    }
}

/// The names of the header fields of `message`, as mail-auth's header parser sees them: the
/// bytes before the colon of each field, up to the first empty line.
fn present_headers(message: &[u8]) -> Vec<&[u8]> {
    let mut names = Vec::new();
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            continue; // continuation of a folded field
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            names.push(&line[..colon]);
        }
    }
    names
}

/// A [`DkimKey`]'s aws-lc-rs key, in the shape mail-auth's signer takes.
#[derive(Clone)]
struct AwsLcKey {
    algorithm: Algorithm,
    pair: Arc<KeyPair>,
}

impl SigningKey for AwsLcKey {
    // mail-auth uses this for the body hash (bh=); with its `aws-lc-rs` feature it is aws-lc-rs.
    type Hasher = crypto::Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        let mut data = Vec::with_capacity(1024);
        input.write(&mut data);
        match &*self.pair {
            KeyPair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), &data, &mut signature).map_err(|_| {
                    mail_auth::Error::Crypto(CryptoError::Library("aws-lc-rs RSA signing failed".into()))
                })?;
                Ok(signature)
            }
            // RFC 8463 §3: ed25519-sha256 signs the SHA-256 digest of the canonicalized data.
            KeyPair::Ed25519(pair) => Ok(pair.sign(digest(&SHA256, &data).as_ref()).as_ref().to_vec()),
        }
    }

    fn algorithm(&self) -> crypto::Algorithm {
        match self.algorithm {
            Algorithm::Rsa2048 => crypto::Algorithm::RsaSha256,
            Algorithm::Ed25519 => crypto::Algorithm::Ed25519Sha256,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &[u8] = b"From: Alice <alice@example.com>\r\n\
        To: bob@example.net\r\n\
        Subject: hello\r\n\
        \tworld\r\n\
        X-Other: not signed\r\n\
        \r\n\
        Body line\r\n";

    fn tags(header: &str) -> Vec<(String, String)> {
        let value = header.strip_prefix("DKIM-Signature:").unwrap();
        value
            .split(';')
            .filter_map(|tag| tag.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.split_whitespace().collect()))
            .collect()
    }

    fn tag(header: &str, name: &str) -> String {
        tags(header).into_iter().find(|(k, _)| k == name).map(|(_, v)| v).unwrap()
    }

    #[test]
    fn header_names_stop_at_the_body() {
        let names = present_headers(b"From: a\r\nSubject: x\r\n y: z\r\nTo: b\r\n\r\nCc: not a header\r\n");
        assert_eq!(names, [&b"From"[..], b"Subject", b"To"]);
    }

    #[test]
    fn signature_tags() {
        for algorithm in [Algorithm::Rsa2048, Algorithm::Ed25519] {
            let key = DkimKey::generate(algorithm).unwrap();
            let signer = Signer::new("Example.com", "S1", &key).unwrap();
            let header = signer.sign(MESSAGE).unwrap();
            assert!(header.starts_with("DKIM-Signature: v=1; a="), "{header}");
            assert!(header.ends_with("\r\n"));
            assert_eq!(tag(&header, "a"), algorithm.as_str());
            assert_eq!(tag(&header, "c"), "relaxed/relaxed");
            assert_eq!(tag(&header, "d"), "example.com");
            assert_eq!(tag(&header, "s"), "s1");
            let h = tag(&header, "h").to_ascii_lowercase();
            let mut h: Vec<&str> = h.split(':').collect();
            assert_eq!(h.iter().filter(|n| **n == "from").count(), 2, "From oversigned: {h:?}");
            h.sort_unstable();
            assert_eq!(h, ["from", "from", "subject", "to"]);
        }
    }

    #[test]
    fn from_count_must_be_one() {
        let key = DkimKey::generate(Algorithm::Ed25519).unwrap();
        let signer = Signer::new("example.com", "s1", &key).unwrap();
        let none = b"To: b@example.net\r\nSubject: x\r\n\r\nbody\r\n";
        assert!(matches!(signer.sign(none), Err(Error::FromHeaderCount(0))));
        let two = b"From: a@example.com\r\nFROM: evil@example.org\r\n\r\nbody\r\n";
        assert!(matches!(signer.sign(two), Err(Error::FromHeaderCount(2))));
    }

    #[test]
    fn bad_names_are_rejected() {
        let key = DkimKey::generate(Algorithm::Ed25519).unwrap();
        assert!(matches!(Signer::new("exa mple.com", "s1", &key), Err(Error::InvalidDomain)));
        assert!(matches!(Signer::new("example.com", "s;1", &key), Err(Error::InvalidSelector)));
    }

    #[test]
    fn debug_names_the_signer_only() {
        let key = DkimKey::generate(Algorithm::Ed25519).unwrap();
        let signer = Signer::new("example.com", "s1", &key).unwrap();
        assert_eq!(
            format!("{signer:?}"),
            r#"Signer { domain: "example.com", selector: "s1", algorithm: Ed25519, .. }"#
        );
    }
}
