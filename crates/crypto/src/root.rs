//! The root key and its passphrase-protected key file.

use serde::{Deserialize, Serialize};

use crate::aead::{self, KeyBytes};
use crate::hashing::argon2id;
use crate::{CryptoError, Kek};

/// The installation's root key. It wraps tenant KEKs and other stored secrets.
pub struct RootKey(KeyBytes);

/// The on-disk form of the root key: the key sealed under a key derived from
/// a passphrase with Argon2id. JSON, so operators can see what it is.
#[derive(Serialize, Deserialize)]
pub struct RootKeyFile {
    format: String,
    kdf: String,
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
    sealed_key: String,
}

const FORMAT: &str = "sealpost-root-key/v1";
const FILE_AAD: &[u8] = b"sealpost/root-key-file/v1";

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl RootKey {
    /// A fresh random root key.
    pub fn generate() -> Result<Self, CryptoError> {
        aead::random_key().map(Self)
    }

    /// Seals the key into a key file under `passphrase` (Argon2id, 64 MiB, 3 passes).
    pub fn to_file(&self, passphrase: &str) -> Result<Vec<u8>, CryptoError> {
        use base64::Engine;
        let (m, t, p) = (64 * 1024, 3, 1);
        let mut salt = [0u8; 16];
        aws_lc_rs::rand::fill(&mut salt).map_err(|_| CryptoError::Random)?;
        let kek = zeroize::Zeroizing::new(argon2id(passphrase.as_bytes(), &salt, m, t, p)?);
        let sealed = aead::seal(&kek, FILE_AAD, &self.0[..])?;
        let file = RootKeyFile {
            format: FORMAT.into(),
            kdf: "argon2id".into(),
            m_cost: m,
            t_cost: t,
            p_cost: p,
            salt: b64().encode(salt),
            sealed_key: b64().encode(sealed),
        };
        serde_json::to_vec_pretty(&file).map_err(|e| CryptoError::KeyFile(e.to_string()))
    }

    /// Opens a key file written by [`RootKey::to_file`].
    pub fn from_file(bytes: &[u8], passphrase: &str) -> Result<Self, CryptoError> {
        use base64::Engine;
        let f: RootKeyFile = serde_json::from_slice(bytes).map_err(|e| CryptoError::KeyFile(e.to_string()))?;
        if f.format != FORMAT || f.kdf != "argon2id" {
            return Err(CryptoError::KeyFile(format!("unsupported format {:?}", f.format)));
        }
        let salt = b64().decode(&f.salt).map_err(|e| CryptoError::KeyFile(e.to_string()))?;
        let sealed = b64().decode(&f.sealed_key).map_err(|e| CryptoError::KeyFile(e.to_string()))?;
        let kek = zeroize::Zeroizing::new(argon2id(passphrase.as_bytes(), &salt, f.m_cost, f.t_cost, f.p_cost)?);
        let raw = zeroize::Zeroizing::new(aead::open(&kek, FILE_AAD, &sealed).map_err(|_| CryptoError::Passphrase)?);
        let arr: [u8; 32] = raw.as_slice().try_into().map_err(|_| CryptoError::Malformed)?;
        Ok(Self(zeroize::Zeroizing::new(arr)))
    }

    /// Wraps a tenant KEK; the tenant id and version are bound as context.
    pub fn wrap_kek(&self, kek: &Kek, tenant: &str, version: i64) -> Result<Vec<u8>, CryptoError> {
        aead::seal(&self.0, format!("sealpost/kek/v1|{tenant}|{version}").as_bytes(), &kek.0[..])
    }

    /// Unwraps a tenant KEK wrapped for the same tenant and version.
    pub fn unwrap_kek(&self, wrapped: &[u8], tenant: &str, version: i64) -> Result<Kek, CryptoError> {
        let raw = zeroize::Zeroizing::new(aead::open(
            &self.0,
            format!("sealpost/kek/v1|{tenant}|{version}").as_bytes(),
            wrapped,
        )?);
        let arr: [u8; 32] = raw.as_slice().try_into().map_err(|_| CryptoError::Malformed)?;
        Ok(Kek(zeroize::Zeroizing::new(arr)))
    }

    /// A keyed hash (HMAC-SHA256 under a key derived from the root key and
    /// the tenant) for looking values up without storing them, e.g.
    /// suppressed addresses. Stable across KEK rotations.
    pub fn lookup_hash(&self, tenant: &str, value: &[u8]) -> Vec<u8> {
        use aws_lc_rs::hmac;
        let derive = hmac::Key::new(hmac::HMAC_SHA256, &self.0[..]);
        let sub = hmac::sign(&derive, format!("sealpost/lookup/v1|{tenant}").as_bytes());
        let key = hmac::Key::new(hmac::HMAC_SHA256, sub.as_ref());
        hmac::sign(&key, value).as_ref().to_vec()
    }

    /// The key of a tenant's search index (R-AR-5, R-KY-1), derived from the
    /// root key: the one key this crate hands out, because the index's
    /// encrypting directory (`sealpost-search`) needs its bytes.
    pub fn search_index_key(&self, tenant: &str) -> [u8; 32] {
        use aws_lc_rs::hmac;
        let derive = hmac::Key::new(hmac::HMAC_SHA256, &self.0[..]);
        let tag = hmac::sign(&derive, format!("sealpost/search-index/v1|{tenant}").as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(&tag.as_ref()[..32]);
        key
    }

    /// Seals an installation secret (e.g. the audit signing key) under `purpose`.
    pub fn seal_secret(&self, purpose: &str, secret: &[u8]) -> Result<Vec<u8>, CryptoError> {
        aead::seal(&self.0, format!("sealpost/secret/v1|{purpose}").as_bytes(), secret)
    }

    /// Opens a secret sealed by [`RootKey::seal_secret`] with the same purpose.
    pub fn open_secret(&self, purpose: &str, sealed: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        aead::open(&self.0, format!("sealpost/secret/v1|{purpose}").as_bytes(), sealed).map(zeroize::Zeroizing::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_opens_with_the_right_passphrase_only() {
        let root = RootKey::generate().unwrap();
        let file = root.to_file("pass phrase").unwrap();
        let again = RootKey::from_file(&file, "pass phrase").unwrap();
        assert_eq!(&again.0[..], &root.0[..]);
        assert!(matches!(RootKey::from_file(&file, "wrong"), Err(CryptoError::Passphrase)));
        assert!(RootKey::from_file(b"{}", "x").is_err());
    }

    #[test]
    fn lookup_hashes_are_per_tenant_and_deterministic() {
        let root = RootKey::generate().unwrap();
        let a = root.lookup_hash("a", b"x@y.org");
        assert_eq!(a, root.lookup_hash("a", b"x@y.org"));
        assert_ne!(a, root.lookup_hash("b", b"x@y.org"));
        assert_ne!(a, RootKey::generate().unwrap().lookup_hash("a", b"x@y.org"));
    }

    #[test]
    fn a_kek_is_bound_to_its_tenant_and_version() {
        let root = RootKey::generate().unwrap();
        let w = root.wrap_kek(&Kek::generate().unwrap(), "a", 1).unwrap();
        assert!(root.unwrap_kek(&w, "a", 1).is_ok());
        assert!(root.unwrap_kek(&w, "b", 1).is_err());
        assert!(root.unwrap_kek(&w, "a", 2).is_err());
    }
}
