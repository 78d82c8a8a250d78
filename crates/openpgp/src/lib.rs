//! PGP/MIME encryption for delivery (R-DL-1, RFC 3156).
//!
//! A recipient's OpenPGP public key is parsed into a [`RecipientKey`], which
//! knows whether it can be encrypted to now ([`RecipientKey::can_encrypt`]);
//! [`encrypt_mime`] turns a complete RFC 5322 message into a
//! `multipart/encrypted` message readable by GnuPG 2.2 and the mail clients
//! built on it: SEIPDv1 with AES-256, one PKESK per key, the original
//! Subject and content inside only (protected headers).
//!
//! This crate only encrypts to public keys: it holds no private key and
//! signs nothing.
//!
//! ```no_run
//! # fn main() -> Result<(), sealpost_openpgp::Error> {
//! # let armored_key = "";
//! # let message: &[u8] = b"Subject: s\r\n\r\nbody\r\n";
//! use sealpost_openpgp::{RecipientKey, encrypt_mime};
//!
//! let key = RecipientKey::parse_armored(armored_key)?;
//! if key.can_encrypt() {
//!     let encrypted = encrypt_mime(message, &[key])?;
//!     # let _ = encrypted;
//! }
//! # Ok(())
//! # }
//! ```

mod encrypt;
mod error;
mod key;
mod mime;

pub use encrypt::encrypt_mime;
pub use error::{Error, Result};
pub use key::RecipientKey;
