//! Encryption at rest for Sealpost (R-KY-1, R-KY-2).
//!
//! Three layers of keys, and plaintext keys never leave this crate:
//!
//! * [`RootKey`] — one per installation, kept in a passphrase-protected key
//!   file (Argon2id + AES-256-GCM). It wraps tenant KEKs and the installation's
//!   other secrets (audit signing key).
//! * [`Kek`] — one per tenant and version; stored wrapped by the root key.
//!   Rotating it re-wraps data keys without touching message bodies.
//! * [`DataKey`] — one per message; stored wrapped by the tenant's KEK. It
//!   seals the message blob (zstd, then AES-256-GCM) and its metadata.
//!
//! Every seal binds a context string (tenant, message, purpose) as AEAD
//! associated data, so a ciphertext moved to another row or tenant fails to open.
//!
//! ```
//! use sealpost_crypto::{DataKey, Kek, RootKey};
//! let root = RootKey::generate().unwrap();
//! let kek = Kek::generate().unwrap();
//! let wrapped_kek = root.wrap_kek(&kek, "acme", 1).unwrap();
//! let kek = root.unwrap_kek(&wrapped_kek, "acme", 1).unwrap();
//! let dek = DataKey::generate().unwrap();
//! let blob = dek.seal_blob(b"Subject: hi\r\n\r\nbody", b"acme/m1").unwrap();
//! let wrapped = kek.wrap_data_key(&dek, b"acme/m1").unwrap();
//! let dek2 = kek.unwrap_data_key(&wrapped, b"acme/m1").unwrap();
//! assert_eq!(dek2.open_blob(&blob, b"acme/m1").unwrap(), b"Subject: hi\r\n\r\nbody");
//! ```

mod aead;
mod error;
mod hashing;
mod keys;
mod root;

pub use error::CryptoError;
pub use hashing::{ApiKeySecret, PasswordHash, constant_time_eq, random_digits, random_token, sha256, verify_password};
pub use keys::{DataKey, Kek};
pub use root::{RootKey, RootKeyFile};
