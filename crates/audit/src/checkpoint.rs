//! Signed checkpoints: an Ed25519 signature over a chain head, made
//! periodically so that rewriting the chain from some point on (and
//! recomputing every later hash) is still detected.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::chain::{ChainHead, Encoder, sha256};

/// Domain separation and version tag of the signed checkpoint encoding.
const CHECKPOINT_DOMAIN: &[u8] = b"sealpost-audit/checkpoint/v1";

/// Why a checkpoint key could not be made or loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The PKCS#8 document is not a valid Ed25519 private key.
    #[error("not a valid Ed25519 PKCS#8 private key: {0}")]
    Rejected(String),
    /// The system random generator failed.
    #[error("could not generate an Ed25519 key")]
    Generate,
}

/// A signed statement "the chain had hash `hash` at `seq`", as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The chain position signed.
    pub seq: i64,
    /// The chain hash at `seq` (32 bytes).
    pub hash: Vec<u8>,
    /// When it was signed, Unix microseconds.
    pub at_micros: i64,
    /// Which key signed it (see [`key_id`]).
    pub key_id: String,
    /// The Ed25519 signature over the checkpoint encoding.
    pub signature: Vec<u8>,
}

impl Checkpoint {
    /// The bytes that are signed: domain tag `"sealpost-audit/checkpoint/v1"`
    /// and the length-prefixed `seq`, `hash`, `at_micros` and `key_id`,
    /// hashed with SHA-256.
    pub fn signed_message(&self) -> [u8; 32] {
        checkpoint_message(self.seq, &self.hash, self.at_micros, &self.key_id)
    }

    /// Whether the signature is valid under the Ed25519 `public_key`
    /// (32 raw bytes). Does not compare against the chain.
    pub fn signature_valid(&self, public_key: &[u8]) -> bool {
        UnparsedPublicKey::new(&signature::ED25519, public_key).verify(&self.signed_message(), &self.signature).is_ok()
    }
}

fn checkpoint_message(seq: i64, hash: &[u8], at_micros: i64, key_id: &str) -> [u8; 32] {
    let mut e = Encoder::new(CHECKPOINT_DOMAIN);
    e.i64(seq);
    e.bytes(hash);
    e.i64(at_micros);
    e.bytes(key_id.as_bytes());
    e.finish()
}

/// The id of an Ed25519 public key: hex of the first 8 bytes of its SHA-256.
pub fn key_id(public_key: &[u8]) -> String {
    hex::encode(&sha256(&[public_key])[..8])
}

/// Signs checkpoints with an Ed25519 key.
pub struct CheckpointSigner {
    pair: Ed25519KeyPair,
    key_id: String,
}

impl CheckpointSigner {
    /// Loads a PKCS#8 (v1 or v2) Ed25519 private key.
    pub fn new_from_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|e| KeyError::Rejected(e.to_string()))?;
        let key_id = key_id(pair.public_key().as_ref());
        Ok(Self { pair, key_id })
    }

    /// A fresh private key as a PKCS#8 document, to store (encrypted) and
    /// load with [`CheckpointSigner::new_from_pkcs8`].
    pub fn generate_pkcs8() -> Result<Vec<u8>, KeyError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| KeyError::Generate)?;
        Ok(doc.as_ref().to_vec())
    }

    /// This key's id: hex of the first 8 bytes of SHA-256(public key).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The raw 32-byte Ed25519 public key, to give to verifiers.
    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// Signs `head` as of `at_micros`.
    pub fn sign(&self, head: &ChainHead, at_micros: i64) -> Checkpoint {
        let msg = checkpoint_message(head.seq, &head.hash, at_micros, &self.key_id);
        Checkpoint {
            seq: head.seq,
            hash: head.hash.to_vec(),
            at_micros,
            key_id: self.key_id.clone(),
            signature: self.pair.sign(&msg).as_ref().to_vec(),
        }
    }
}

impl fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointSigner").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_check_signature() {
        let pkcs8 = CheckpointSigner::generate_pkcs8().unwrap();
        let s = CheckpointSigner::new_from_pkcs8(&pkcs8).unwrap();
        assert_eq!(s.key_id().len(), 16);
        assert_eq!(s.key_id(), key_id(&s.public_key()));
        let cp = s.sign(&ChainHead::genesis(), 7);
        assert_eq!(cp.seq, 0);
        assert_eq!(cp.key_id, s.key_id());
        assert!(cp.signature_valid(&s.public_key()));
        for m in [
            (|c: &mut Checkpoint| c.seq += 1) as fn(&mut Checkpoint),
            |c| c.hash[0] ^= 1,
            |c| c.at_micros += 1,
            |c| c.key_id.push('0'),
            |c| c.signature[0] ^= 1,
        ] {
            let mut c = cp.clone();
            m(&mut c);
            assert!(!c.signature_valid(&s.public_key()));
        }
        let other = CheckpointSigner::new_from_pkcs8(&CheckpointSigner::generate_pkcs8().unwrap()).unwrap();
        assert!(!cp.signature_valid(&other.public_key()));
        assert!(format!("{s:?}").contains(s.key_id()));
    }

    #[test]
    fn rejects_garbage_keys() {
        assert!(matches!(CheckpointSigner::new_from_pkcs8(b"not a key"), Err(KeyError::Rejected(_))));
    }
}
