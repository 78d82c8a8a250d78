//! AES-256-GCM with a random 96-bit nonce. Wire form: version byte (1),
//! nonce (12), ciphertext, tag (16). Random nonces are safe here because every
//! data key seals at most a handful of values.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroizing;

use crate::CryptoError;

const VERSION: u8 = 1;

/// A 256-bit symmetric key that is wiped when dropped.
pub(crate) type KeyBytes = Zeroizing<[u8; 32]>;

pub(crate) fn random_key() -> Result<KeyBytes, CryptoError> {
    let mut k = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(&mut k[..]).map_err(|_| CryptoError::Random)?;
    Ok(k)
}

fn less_safe(key: &[u8; 32]) -> Result<LessSafeKey, CryptoError> {
    UnboundKey::new(&AES_256_GCM, key).map(LessSafeKey::new).map_err(|_| CryptoError::Malformed)
}

pub(crate) fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let k = less_safe(key)?;
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| CryptoError::Random)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + 16);
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = k
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut out[1 + NONCE_LEN..])
        .map_err(|_| CryptoError::Malformed)?;
    out.extend_from_slice(tag.as_ref());
    Ok(out)
}

pub(crate) fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
        return Err(CryptoError::Malformed);
    }
    let k = less_safe(key)?;
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&sealed[1..1 + NONCE_LEN]);
    let mut buf = sealed[1 + NONCE_LEN..].to_vec();
    let plain_len = k
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buf)
        .map_err(|_| CryptoError::Open)?
        .len();
    buf.truncate(plain_len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampering_or_wrong_context_fails_to_open() {
        let key = random_key().unwrap();
        let mut sealed = seal(&key, b"ctx", b"secret").unwrap();
        assert_eq!(open(&key, b"ctx", &sealed).unwrap(), b"secret");
        assert!(matches!(open(&key, b"other", &sealed), Err(CryptoError::Open)));
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(matches!(open(&key, b"ctx", &sealed), Err(CryptoError::Open)));
        assert!(matches!(open(&key, b"ctx", &[1, 2, 3]), Err(CryptoError::Malformed)));
    }
}
