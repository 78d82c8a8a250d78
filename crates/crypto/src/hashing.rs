//! Digests, random tokens, password hashing (Argon2id) and API-key secrets.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use crate::CryptoError;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// `bytes` random bytes as unpadded URL-safe base64: for link tokens,
/// passwords and API-key secrets (32 bytes = 256 bits).
pub fn random_token(bytes: usize) -> Result<String, CryptoError> {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).map_err(|_| CryptoError::Random)?;
    Ok(B64.encode(buf))
}

/// A one-time code of `digits` decimal digits, uniformly random (each
/// digit from a random byte below 250, so no digit is likelier).
pub fn random_digits(digits: usize) -> Result<String, CryptoError> {
    let mut out = String::with_capacity(digits);
    let mut buf = [0u8; 16];
    while out.len() < digits {
        aws_lc_rs::rand::fill(&mut buf).map_err(|_| CryptoError::Random)?;
        for b in buf.iter().filter(|b| **b < 250) {
            if out.len() < digits {
                out.push(char::from(b'0' + b % 10));
            }
        }
    }
    Ok(out)
}

/// Whether `a` equals `b`, in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

// OWASP's Argon2id baseline: 19 MiB, 2 passes, 1 lane.
const M_COST: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

pub(crate) fn argon2id(secret: &[u8], salt: &[u8], m: u32, t: u32, p: u32) -> Result<[u8; 32], CryptoError> {
    let params = Params::new(m, t, p, Some(32)).map_err(|_| CryptoError::PasswordHash)?;
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(secret, salt, &mut out)
        .map_err(|_| CryptoError::PasswordHash)?;
    Ok(out)
}

/// A stored password hash: `argon2id$m$t$p$salt$hash` (base64url fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Hashes `password` with a fresh 16-byte salt.
    pub fn new(password: &str) -> Result<Self, CryptoError> {
        let mut salt = [0u8; 16];
        aws_lc_rs::rand::fill(&mut salt).map_err(|_| CryptoError::Random)?;
        let hash = argon2id(password.as_bytes(), &salt, M_COST, T_COST, P_COST)?;
        Ok(Self(format!("argon2id${M_COST}${T_COST}${P_COST}${}${}", B64.encode(salt), B64.encode(hash))))
    }
    /// Wraps a stored string (checked when verifying).
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }
    /// The storable form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks `password` against a stored hash in constant time. A malformed
/// stored hash verifies nothing.
pub fn verify_password(password: &str, stored: &PasswordHash) -> bool {
    let parts: Vec<&str> = stored.0.split('$').collect();
    let [alg, m, t, p, salt, hash] = parts.as_slice() else { return false };
    if *alg != "argon2id" {
        return false;
    }
    let (Ok(m), Ok(t), Ok(p)) = (m.parse(), t.parse(), p.parse()) else { return false };
    let (Ok(salt), Ok(expected)) = (B64.decode(salt), B64.decode(hash)) else { return false };
    match argon2id(password.as_bytes(), &salt, m, t, p) {
        Ok(got) => aws_lc_rs::constant_time::verify_slices_are_equal(&got, &expected).is_ok(),
        Err(_) => false,
    }
}

/// The secret half of an API key. Keys carry 256 random bits, so a single
/// SHA-256 is a sufficient verifier (no slow hash needed, unlike passwords).
pub struct ApiKeySecret(String);

impl ApiKeySecret {
    /// A fresh 256-bit secret.
    pub fn generate() -> Result<Self, CryptoError> {
        random_token(32).map(Self)
    }
    /// Wraps a secret presented by a client.
    pub fn from_presented(s: &str) -> Self {
        Self(s.to_owned())
    }
    /// The text to show once to the key's owner.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The stored verifier.
    pub fn verifier(&self) -> [u8; 32] {
        sha256(self.0.as_bytes())
    }
    /// Constant-time comparison with a stored verifier.
    pub fn matches(&self, stored_verifier: &[u8]) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.verifier(), stored_verifier).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_when_equal() {
        let h = PasswordHash::new("correct horse battery").unwrap();
        assert!(h.as_str().starts_with("argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterz", &h));
        assert!(!verify_password("x", &PasswordHash::from_stored("garbage".into())));
    }

    #[test]
    fn api_key_secrets_match_their_verifier_only() {
        let s = ApiKeySecret::generate().unwrap();
        assert_eq!(s.expose().len(), 43);
        assert!(ApiKeySecret::from_presented(s.expose()).matches(&s.verifier()));
        assert!(!ApiKeySecret::from_presented("nope").matches(&s.verifier()));
    }
}

#[cfg(test)]
mod digit_tests {
    use super::*;

    #[test]
    fn codes_have_the_asked_length_and_only_digits_and_vary() {
        let codes: Vec<String> = (0..50).map(|_| random_digits(6).unwrap()).collect();
        assert!(codes.iter().all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit())));
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert!(distinct.len() > 40, "50 six-digit codes should nearly all differ");
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"123456", b"123456"));
        assert!(!constant_time_eq(b"123456", b"123457"));
        assert!(!constant_time_eq(b"12345", b"123456"));
    }
}
