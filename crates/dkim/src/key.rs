//! DKIM private keys: generation, PKCS#8 import/export, and the public half as a DNS value.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{self, KeySize};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::error::{Error, Result};

/// RSA modulus size in bytes for [`Algorithm::Rsa2048`].
const RSA_2048_BYTES: usize = 256;

/// A DKIM signing algorithm (RFC 6376 §3.3, RFC 8463).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `rsa-sha256` with a 2048-bit key: what every verifier understands.
    Rsa2048,
    /// `ed25519-sha256` (RFC 8463): short keys and signatures, not yet verified everywhere,
    /// so publish it next to an RSA selector rather than instead of one.
    Ed25519,
}

impl Algorithm {
    /// The `a=` tag value of a DKIM-Signature made with this algorithm.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rsa2048 => "rsa-sha256",
            Algorithm::Ed25519 => "ed25519-sha256",
        }
    }

    /// The `k=` tag value of the DKIM key record.
    fn key_type(self) -> &'static str {
        match self {
            Algorithm::Rsa2048 => "rsa",
            Algorithm::Ed25519 => "ed25519",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The aws-lc-rs key object; shared (not copied) between a [`DkimKey`] and its [`crate::Signer`]s
/// so the private key exists once in memory and aws-lc-rs frees it.
pub(crate) enum KeyPair {
    Rsa(rsa::KeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A DKIM private key for one selector.
///
/// The key lives in aws-lc-rs and leaves it only through [`DkimKey::to_pkcs8_der`], whose output
/// the caller seals before storing. `Debug` prints the algorithm only. Cloning is cheap: clones
/// share one key.
#[derive(Clone)]
pub struct DkimKey {
    algorithm: Algorithm,
    pair: Arc<KeyPair>,
}

impl DkimKey {
    /// Generates a new key with aws-lc-rs.
    pub fn generate(algorithm: Algorithm) -> Result<Self> {
        let pair = match algorithm {
            Algorithm::Rsa2048 => {
                KeyPair::Rsa(rsa::KeyPair::generate(KeySize::Rsa2048).map_err(|_| Error::KeyGeneration)?)
            }
            Algorithm::Ed25519 => KeyPair::Ed25519(Ed25519KeyPair::generate().map_err(|_| Error::KeyGeneration)?),
        };
        Ok(DkimKey { algorithm, pair: Arc::new(pair) })
    }

    /// Loads a key from an unencrypted PKCS#8 (v1 or v2) DER document, as written by
    /// [`DkimKey::to_pkcs8_der`] or `openssl genpkey`.
    ///
    /// Fails if the document holds another algorithm's key or, for [`Algorithm::Rsa2048`], an RSA
    /// key whose modulus is not 2048 bits.
    pub fn from_pkcs8_der(algorithm: Algorithm, der: &[u8]) -> Result<Self> {
        let invalid = |reason| Error::InvalidKey { algorithm: algorithm.as_str(), reason };
        let pair = match algorithm {
            Algorithm::Rsa2048 => {
                let pair = rsa::KeyPair::from_pkcs8(der).map_err(|_| invalid("not a PKCS#8 RSA private key"))?;
                if pair.public_modulus_len() != RSA_2048_BYTES {
                    return Err(invalid("modulus is not 2048 bits"));
                }
                KeyPair::Rsa(pair)
            }
            Algorithm::Ed25519 => KeyPair::Ed25519(
                Ed25519KeyPair::from_pkcs8(der).map_err(|_| invalid("not a PKCS#8 Ed25519 private key"))?,
            ),
        };
        Ok(DkimKey { algorithm, pair: Arc::new(pair) })
    }

    /// The private key as a PKCS#8 DER document (v1 for RSA, v2 — with the public key — for
    /// Ed25519), for the caller to seal before storing. The bytes are secret: do not log or
    /// persist them unsealed, and drop them once sealed.
    pub fn to_pkcs8_der(&self) -> Vec<u8> {
        // Marshalling a key aws-lc-rs holds fails only if allocation fails; that is not an
        // input error to report but the same condition on which a Vec push aborts.
        match &*self.pair {
            KeyPair::Rsa(pair) => AsDer::<Pkcs8V1Der>::as_der(pair).expect("marshal RSA PKCS#8").as_ref().to_vec(),
            KeyPair::Ed25519(pair) => pair.to_pkcs8().expect("marshal Ed25519 PKCS#8").as_ref().to_vec(),
        }
    }

    /// The algorithm of this key.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The value of the DKIM key TXT record (RFC 6376 §3.6.1) for this key:
    /// `v=DKIM1; k=rsa; p=<base64 SubjectPublicKeyInfo>` or
    /// `v=DKIM1; k=ed25519; p=<base64 of the raw 32-byte public key>` (RFC 8463 §4.2).
    pub fn public_dns_value(&self) -> String {
        format!("v=DKIM1; k={}; p={}", self.algorithm.key_type(), BASE64.encode(self.public_key_bytes()))
    }

    /// The bytes that go, base64-encoded, into the `p=` tag.
    fn public_key_bytes(&self) -> Vec<u8> {
        match &*self.pair {
            // As in `to_pkcs8_der`: fails only if allocation fails.
            KeyPair::Rsa(pair) => {
                AsDer::<PublicKeyX509Der>::as_der(pair.public_key()).expect("marshal RSA SPKI").as_ref().to_vec()
            }
            KeyPair::Ed25519(pair) => pair.public_key().as_ref().to_vec(),
        }
    }

    pub(crate) fn pair(&self) -> Arc<KeyPair> {
        Arc::clone(&self.pair)
    }
}

impl fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimKey").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs8_round_trip_keeps_the_public_key() {
        for algorithm in [Algorithm::Rsa2048, Algorithm::Ed25519] {
            let key = DkimKey::generate(algorithm).unwrap();
            let der = key.to_pkcs8_der();
            let loaded = DkimKey::from_pkcs8_der(algorithm, &der).unwrap();
            assert_eq!(loaded.public_dns_value(), key.public_dns_value());
            assert_eq!(loaded.algorithm(), algorithm);
        }
    }

    #[test]
    fn wrong_algorithm_and_garbage_are_rejected() {
        let rsa = DkimKey::generate(Algorithm::Rsa2048).unwrap().to_pkcs8_der();
        let ed = DkimKey::generate(Algorithm::Ed25519).unwrap().to_pkcs8_der();
        assert!(matches!(DkimKey::from_pkcs8_der(Algorithm::Ed25519, &rsa), Err(Error::InvalidKey { .. })));
        assert!(matches!(DkimKey::from_pkcs8_der(Algorithm::Rsa2048, &ed), Err(Error::InvalidKey { .. })));
        assert!(DkimKey::from_pkcs8_der(Algorithm::Rsa2048, b"not a key").is_err());
        assert!(DkimKey::from_pkcs8_der(Algorithm::Ed25519, &[]).is_err());
    }

    #[test]
    fn rsa_3072_is_not_rsa_2048() {
        let big = rsa::KeyPair::generate(KeySize::Rsa3072).unwrap();
        let der = AsDer::<Pkcs8V1Der>::as_der(&big).unwrap();
        let err = DkimKey::from_pkcs8_der(Algorithm::Rsa2048, der.as_ref()).unwrap_err();
        assert!(err.to_string().contains("2048"), "{err}");
    }

    #[test]
    fn public_dns_values_have_the_right_shape() {
        let rsa = DkimKey::generate(Algorithm::Rsa2048).unwrap().public_dns_value();
        let p = rsa.strip_prefix("v=DKIM1; k=rsa; p=").unwrap();
        // SubjectPublicKeyInfo of a 2048-bit key with e=65537 is 294 bytes.
        assert_eq!(BASE64.decode(p).unwrap().len(), 294);
        let ed = DkimKey::generate(Algorithm::Ed25519).unwrap().public_dns_value();
        let p = ed.strip_prefix("v=DKIM1; k=ed25519; p=").unwrap();
        assert_eq!(BASE64.decode(p).unwrap().len(), 32);
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = DkimKey::generate(Algorithm::Ed25519).unwrap();
        let debug = format!("{key:?}");
        assert_eq!(debug, "DkimKey { algorithm: Ed25519, .. }");
        let p = key.public_dns_value().rsplit("p=").next().unwrap().to_owned();
        assert!(!debug.contains(&p));
    }
}
