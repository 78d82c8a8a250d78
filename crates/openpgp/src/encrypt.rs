//! `encrypt_mime`: an RFC 5322 message in, a PGP/MIME (RFC 3156) message out.

use std::time::SystemTime;

use pgp::composed::{ArmorOptions, MessageBuilder};
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use rand::RngCore;
use rand::rngs::OsRng;

use crate::error::{Error, Result};
use crate::key::{EncryptionTarget, RecipientKey};
use crate::mime::Message;

/// Encrypts `message` (a complete RFC 5322 message with CRLF line endings) to
/// every key in `keys` and returns the PGP/MIME message to send instead.
///
/// The output keeps the routing fields (From, To, Cc, Date, Message-ID,
/// Reply-To, In-Reply-To, References, MIME-Version) in the clear, shows
/// `Subject: ...`, and carries the original Content-* fields, the protected
/// copies of Subject/From/To/… and the body, unchanged, inside an ASCII-armored
/// SEIPDv1 (AES-256) message with one PKESK per key. It has CRLF line endings
/// only. `Bcc` and trace fields are dropped.
///
/// Fails before encrypting anything if a key cannot be encrypted to now
/// (revoked, expired, sign-only, …) or the message is malformed.
pub fn encrypt_mime(message: &[u8], keys: &[RecipientKey]) -> Result<Vec<u8>> {
    if keys.is_empty() {
        return Err(Error::NoRecipients);
    }
    let now = SystemTime::now();
    let targets = keys.iter().map(|key| key.encryption_target(now)).collect::<Result<Vec<_>>>()?;
    let message = Message::parse(message)?;

    let mut rng = OsRng;
    // SEIPDv1: GnuPG 2.2 cannot read SEIPDv2. No compression: most of the
    // volume (PDFs, images) is compressed already, and compressing
    // sender-chosen text together with secrets only adds a length side channel.
    let mut builder =
        MessageBuilder::from_bytes("", message.inner_entity()).seipd_v1(&mut rng, SymmetricKeyAlgorithm::AES256);
    for target in &targets {
        match target {
            EncryptionTarget::Primary(key) => builder.encrypt_to_key(&mut rng, *key),
            EncryptionTarget::Subkey(key) => builder.encrypt_to_key(&mut rng, *key),
        }
        .map_err(|source| Error::Encrypt { source })?;
    }
    let armored =
        builder.to_armored_string(rng, ArmorOptions::default()).map_err(|source| Error::Encrypt { source })?;

    let mut nonce = [0u8; 16];
    rng.fill_bytes(&mut nonce);
    // Hex after a fixed prefix cannot occur in base64 armor lines.
    let boundary: String = nonce.iter().fold(String::from("sealpost-pgp-"), |mut s, b| {
        s.push_str(&format!("{b:02x}"));
        s
    });
    Ok(message.outer_message(&boundary, &armored))
}
