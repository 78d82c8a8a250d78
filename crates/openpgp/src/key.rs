//! A recipient's OpenPGP certificate and the choice of the (sub)key to
//! encrypt to.
//!
//! rpgp parses certificates but has no policy of its own for what is valid
//! now; the checks below follow RFC 9580 §5.2.3 and §10.1 the way GnuPG
//! applies them: a self-signature counts only if it verifies, is not from the
//! future and has not expired; a revoked or expired primary key makes the
//! whole certificate unusable; among the valid encryption subkeys the newest
//! is used.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use pgp::composed::{Deserializable, SignedPublicKey, SignedPublicSubKey};
use pgp::packet::{KeyFlags, PublicKey, PublicSubkey, Signature, SignatureType, SubpacketData};
use pgp::types::{KeyDetails, KeyVersion, Tag, Timestamp};

use crate::error::{Error, Result};

/// A recipient's OpenPGP public key (certificate), parsed and ready to be
/// checked and encrypted to.
///
/// Its `Debug` shows the fingerprint only.
#[derive(Clone)]
pub struct RecipientKey {
    cert: SignedPublicKey,
}

/// The key packet a message is actually encrypted to.
pub(crate) enum EncryptionTarget<'a> {
    Primary(&'a PublicKey),
    Subkey(&'a PublicSubkey),
}

impl RecipientKey {
    /// Parses an ASCII-armored public key (`-----BEGIN PGP PUBLIC KEY BLOCK-----`).
    /// Only the first key of the block is read.
    pub fn parse_armored(armored: &str) -> Result<Self> {
        let (cert, _headers) = SignedPublicKey::from_string(armored).map_err(|source| Error::InvalidKey { source })?;
        Self::new(cert)
    }

    /// Parses a binary (unarmored) public key. Only the first key is read.
    pub fn parse_binary(bytes: &[u8]) -> Result<Self> {
        let cert = SignedPublicKey::from_bytes(bytes).map_err(|source| Error::InvalidKey { source })?;
        Self::new(cert)
    }

    fn new(cert: SignedPublicKey) -> Result<Self> {
        let version = cert.primary_key.version();
        if version != KeyVersion::V4 {
            return Err(Error::UnsupportedKeyVersion {
                fingerprint: format!("{:X}", cert.fingerprint()),
                version: u8::from(version),
            });
        }
        Ok(Self { cert })
    }

    /// The primary key's fingerprint, uppercase hex without spaces.
    pub fn fingerprint(&self) -> String {
        format!("{:X}", self.cert.fingerprint())
    }

    /// The user ids that carry a valid, unrevoked self-signature, as text
    /// (invalid UTF-8 replaced).
    pub fn user_ids(&self) -> Vec<String> {
        let now = unix_now(SystemTime::now());
        let primary = &self.cert.primary_key;
        self.cert
            .details
            .users
            .iter()
            .filter(|user| {
                let verifies = |sig: &&Signature| sig.verify_certification(primary, Tag::UserId, &user.id).is_ok();
                let revoked = user
                    .signatures
                    .iter()
                    .filter(|sig| sig.typ() == Some(SignatureType::CertRevocation))
                    .any(|sig| verifies(&sig));
                !revoked && user.signatures.iter().filter(|sig| is_live(sig, now)).any(|sig| verifies(&sig))
            })
            .map(|user| String::from_utf8_lossy(user.id.id()).into_owned())
            .collect()
    }

    /// Whether the key can be encrypted to now: valid, unrevoked, unexpired,
    /// with an encryption-capable primary key or subkey.
    pub fn can_encrypt(&self) -> bool {
        self.encryption_target(SystemTime::now()).is_ok()
    }

    /// The key packet to encrypt to at `now`, or why there is none.
    pub(crate) fn encryption_target(&self, now: SystemTime) -> Result<EncryptionTarget<'_>> {
        let now = unix_now(now);
        let primary = &self.cert.primary_key;
        let fingerprint = || self.fingerprint();

        let revoked = self
            .cert
            .details
            .revocation_signatures
            .iter()
            .filter(|sig| sig.typ() == Some(SignatureType::KeyRevocation))
            .any(|sig| sig.verify_key(primary).is_ok());
        if revoked {
            return Err(Error::KeyRevoked { fingerprint: fingerprint() });
        }

        let self_sig = self
            .primary_self_signature(now)
            .ok_or_else(|| Error::NoValidSelfSignature { fingerprint: fingerprint() })?;
        if is_expired(primary.created_at(), self_sig, now) {
            return Err(Error::KeyExpired { fingerprint: fingerprint() });
        }

        let mut saw_expired_encryption_subkey = false;
        let mut best: Option<&SignedPublicSubKey> = None;
        for subkey in &self.cert.public_subkeys {
            let Some(binding) = subkey_binding(primary, subkey, now) else {
                continue;
            };
            if !(subkey.key.algorithm().can_encrypt() && marked_for_encryption(binding)) {
                continue;
            }
            if is_expired(subkey.key.created_at(), binding, now) {
                saw_expired_encryption_subkey = true;
                continue;
            }
            if best.is_none_or(|b| subkey.key.created_at().as_secs() >= b.key.created_at().as_secs()) {
                best = Some(subkey);
            }
        }
        if let Some(subkey) = best {
            return Ok(EncryptionTarget::Subkey(&subkey.key));
        }
        if primary.algorithm().can_encrypt() && marked_for_encryption(self_sig) {
            return Ok(EncryptionTarget::Primary(primary));
        }
        if saw_expired_encryption_subkey {
            Err(Error::KeyExpired { fingerprint: fingerprint() })
        } else {
            Err(Error::NoEncryptionKey { fingerprint: fingerprint() })
        }
    }

    /// The self-signature that states the primary key's flags and expiry: the
    /// newest valid certification of the primary user id (else of any
    /// unrevoked user id), else the newest valid direct-key signature.
    fn primary_self_signature(&self, now: u64) -> Option<&Signature> {
        let primary = &self.cert.primary_key;
        let mut best: Option<(bool, &Signature)> = None;
        for user in &self.cert.details.users {
            let verifies = |sig: &Signature| sig.verify_certification(primary, Tag::UserId, &user.id).is_ok();
            let revoked =
                user.signatures.iter().filter(|sig| sig.typ() == Some(SignatureType::CertRevocation)).any(verifies);
            if revoked {
                continue;
            }
            for sig in user.signatures.iter().filter(|sig| sig.is_certification() && is_live(sig, now)) {
                if !verifies(sig) {
                    continue;
                }
                let candidate = (sig.is_primary(), sig);
                if best.is_none_or(|b| (candidate.0, created(candidate.1)) >= (b.0, created(b.1))) {
                    best = Some(candidate);
                }
            }
        }
        if let Some((_, sig)) = best {
            return Some(sig);
        }
        self.cert
            .details
            .direct_signatures
            .iter()
            .filter(|sig| sig.typ() == Some(SignatureType::Key) && is_live(sig, now))
            .filter(|sig| sig.verify_key(primary).is_ok())
            .max_by_key(|sig| created(sig))
    }
}

impl fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecipientKey").field("fingerprint", &self.fingerprint()).finish()
    }
}

/// The newest valid binding signature of an unrevoked subkey.
fn subkey_binding<'a>(primary: &PublicKey, subkey: &'a SignedPublicSubKey, now: u64) -> Option<&'a Signature> {
    let verifies = |sig: &Signature| sig.verify_subkey_binding(primary, &subkey.key).is_ok();
    let revoked =
        subkey.signatures.iter().filter(|sig| sig.typ() == Some(SignatureType::SubkeyRevocation)).any(verifies);
    if revoked {
        return None;
    }
    subkey
        .signatures
        .iter()
        .filter(|sig| sig.typ() == Some(SignatureType::SubkeyBinding) && is_live(sig, now))
        .filter(|sig| verifies(sig))
        .max_by_key(|sig| created(sig))
}

/// Encryption flags set, or — for old keys that state no flags at all — what
/// the algorithm allows (RFC 9580 §5.2.3.29 leaves that to the implementation;
/// GnuPG does the same).
fn marked_for_encryption(sig: &Signature) -> bool {
    let has_flags =
        sig.config().is_some_and(|c| c.hashed_subpackets().any(|p| matches!(p.data, SubpacketData::KeyFlags(_))));
    if !has_flags {
        return true;
    }
    let flags: KeyFlags = sig.key_flags();
    flags.encrypt_comms() || flags.encrypt_storage()
}

/// The key a self-signature describes has expired at `now` (an expiration
/// time of zero means none).
fn is_expired(key_created: Timestamp, sig: &Signature, now: u64) -> bool {
    match sig.key_expiration_time().map(std::time::Duration::from) {
        Some(validity) if !validity.is_zero() => u64::from(key_created.as_secs()) + validity.as_secs() <= now,
        _ => false,
    }
}

/// A signature made no later than `now` and not itself expired.
fn is_live(sig: &Signature, now: u64) -> bool {
    let Some(created) = sig.created().map(|t| u64::from(t.as_secs())) else {
        return false;
    };
    if created > now {
        return false;
    }
    match sig.signature_expiration_time().map(std::time::Duration::from) {
        Some(validity) if !validity.is_zero() => created + validity.as_secs() > now,
        _ => true,
    }
}

fn created(sig: &Signature) -> u32 {
    sig.created().map_or(0, Timestamp::as_secs)
}

fn unix_now(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
