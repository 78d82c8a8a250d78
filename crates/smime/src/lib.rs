//! S/MIME encryption for delivery (SPEC R-DL-1, RFC 8551): turns a plaintext RFC 5322 message
//! into an `application/pkcs7-mime` message whose CMS payload only the holders of the
//! recipients' certificates can open.
//!
//! Two strengths, chosen per recipient capability by the caller:
//!
//! - [`Strength::Compatible`] (the default): CMS EnvelopedData, AES-256-CBC content
//!   encryption, RSA PKCS#1 v1.5 key transport. Every S/MIME client reads it, including
//!   gpgsm 2.2, which cannot decrypt OAEP or GCM.
//! - [`Strength::Modern`]: CMS AuthEnvelopedData (RFC 5083/5084), AES-256-GCM, RSA-OAEP
//!   (SHA-256, MGF1-SHA-256) key transport. Needs OpenSSL 3.0 or later at run time.
//!
//! The routing header fields stay outside (From, To, Cc, Date, Message-ID, Reply-To,
//! In-Reply-To, References); the Subject outside becomes `...`. The inner, encrypted entity
//! carries the original header fields (so the real Subject, From, To and Date are protected
//! headers, marked `protected-headers="v1"` on its Content-Type) and the original body.
//!
//! Only RSA certificates are accepted; ECDH key agreement (EC recipient certificates) is not
//! implemented. The crate does no I/O and does not validate certificate chains or revocation:
//! which certificate belongs to which recipient is the caller's decision.
//!
//! ```no_run
//! use sealpost_smime::{RecipientCert, Strength, encrypt_mime};
//!
//! let cert = RecipientCert::from_pem(&std::fs::read("patient.pem")?)?;
//! cert.usable_for_encryption(std::time::SystemTime::now())?;
//! let message = b"From: dr@example.com\r\nTo: patient@example.net\r\nSubject: Results\r\n\r\nAll clear.\r\n";
//! let sealed = encrypt_mime(message, &[cert], Strength::Compatible)?;
//! assert!(sealed.windows(15).any(|w| w == b"application/pkc"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cert;
mod envelope;
mod error;
mod message;
mod seal;

pub use cert::RecipientCert;
pub use envelope::Strength;
pub use error::{Error, Result, Unusable};
pub use seal::encrypt_mime;
