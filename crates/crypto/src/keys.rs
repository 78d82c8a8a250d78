//! Tenant key-encryption keys and per-message data keys.

use crate::CryptoError;
use crate::aead::{self, KeyBytes};

/// A tenant's key-encryption key. Only ever stored wrapped by the root key.
pub struct Kek(pub(crate) KeyBytes);

/// A per-message data key. Only ever stored wrapped by a [`Kek`]. Destroying
/// every wrapped copy of it is crypto-shredding the message.
pub struct DataKey(KeyBytes);

const BLOB_PURPOSE: &[u8] = b"sealpost/blob/v1|";
const META_PURPOSE: &[u8] = b"sealpost/meta/v1|";
const DEK_PURPOSE: &[u8] = b"sealpost/dek/v1|";

fn context(purpose: &[u8], ctx: &[u8]) -> Vec<u8> {
    [purpose, ctx].concat()
}

impl Kek {
    /// A fresh random KEK.
    pub fn generate() -> Result<Self, CryptoError> {
        aead::random_key().map(Self)
    }
    /// Wraps a data key; `ctx` must identify the owner (tenant and message).
    pub fn wrap_data_key(&self, dek: &DataKey, ctx: &[u8]) -> Result<Vec<u8>, CryptoError> {
        aead::seal(&self.0, &context(DEK_PURPOSE, ctx), &dek.0[..])
    }
    /// Unwraps a data key wrapped with the same `ctx`.
    pub fn unwrap_data_key(&self, wrapped: &[u8], ctx: &[u8]) -> Result<DataKey, CryptoError> {
        let raw = zeroize::Zeroizing::new(aead::open(&self.0, &context(DEK_PURPOSE, ctx), wrapped)?);
        let arr: [u8; 32] = raw.as_slice().try_into().map_err(|_| CryptoError::Malformed)?;
        Ok(DataKey(zeroize::Zeroizing::new(arr)))
    }
}

impl DataKey {
    /// A fresh random data key.
    pub fn generate() -> Result<Self, CryptoError> {
        aead::random_key().map(Self)
    }
    /// Compresses (zstd level 3) then encrypts a message's bytes.
    pub fn seal_blob(&self, plaintext: &[u8], ctx: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let compressed = zeroize::Zeroizing::new(
            zstd::bulk::compress(plaintext, 3).map_err(|e| CryptoError::Compression(e.to_string()))?,
        );
        aead::seal(&self.0, &context(BLOB_PURPOSE, ctx), &compressed)
    }
    /// Decrypts then decompresses a blob sealed by [`DataKey::seal_blob`].
    pub fn open_blob(&self, sealed: &[u8], ctx: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let compressed = zeroize::Zeroizing::new(aead::open(&self.0, &context(BLOB_PURPOSE, ctx), sealed)?);
        let mut out = Vec::new();
        zstd::stream::copy_decode(&compressed[..], &mut out).map_err(|e| CryptoError::Compression(e.to_string()))?;
        Ok(out)
    }
    /// Encrypts a small metadata record (envelope, headers of interest).
    pub fn seal_meta(&self, plaintext: &[u8], ctx: &[u8]) -> Result<Vec<u8>, CryptoError> {
        aead::seal(&self.0, &context(META_PURPOSE, ctx), plaintext)
    }
    /// Decrypts a metadata record sealed by [`DataKey::seal_meta`].
    pub fn open_meta(&self, sealed: &[u8], ctx: &[u8]) -> Result<Vec<u8>, CryptoError> {
        aead::open(&self.0, &context(META_PURPOSE, ctx), sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_blob_cannot_be_opened_as_another_messages_blob() {
        let dek = DataKey::generate().unwrap();
        let sealed = dek.seal_blob(b"SSN 078-05-1120", b"t/m1").unwrap();
        assert!(dek.open_blob(&sealed, b"t/m2").is_err());
        assert!(dek.open_meta(&sealed, b"t/m1").is_err(), "purpose is bound too");
        assert!(!sealed.windows(3).any(|w| w == b"SSN"));
    }

    #[test]
    fn a_data_key_wrapped_by_one_kek_does_not_open_under_another() {
        let (a, b) = (Kek::generate().unwrap(), Kek::generate().unwrap());
        let wrapped = a.wrap_data_key(&DataKey::generate().unwrap(), b"t/m").unwrap();
        assert!(b.unwrap_data_key(&wrapped, b"t/m").is_err());
        assert!(a.unwrap_data_key(&wrapped, b"t/m").is_ok());
    }

    proptest! {
        #[test]
        fn blobs_round_trip_exactly(data in proptest::collection::vec(any::<u8>(), 0..20_000)) {
            let dek = DataKey::generate().unwrap();
            let sealed = dek.seal_blob(&data, b"ctx").unwrap();
            prop_assert_eq!(dek.open_blob(&sealed, b"ctx").unwrap(), data);
        }
    }
}
