//! Recipient keys on file (R-KY-3): OpenPGP public keys and S/MIME
//! certificates per tenant, indexed
//! by a keyed hash of each address they name, sealed at rest. Delivery
//! encrypts to them (R-DL-1: OpenPGP first).

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_model::{EmailAddress, RecipientId, TenantId, now_micros};
use sealpost_openpgp::RecipientKey;
use sealpost_store::{Commit, Op, RecipientKeyRecord};

use super::Keys;
use crate::ServerError;

/// A key as listed (no address: that is PHI; the fingerprint identifies it).
#[derive(Debug, Clone)]
pub struct ListedKey {
    /// Row id (one per address).
    pub id: RecipientId,
    /// `pgp`.
    pub kind: String,
    /// Fingerprint.
    pub fingerprint: String,
    /// Unix micros.
    pub created_at: i64,
}

fn purpose(tenant: &TenantId, id: &RecipientId) -> String {
    format!("recipient-key|{tenant}|{id}")
}

/// The address part of a user id (`Name <a@b>` or `a@b`).
fn address_of(user_id: &str) -> Option<EmailAddress> {
    let inner = match (user_id.rfind('<'), user_id.rfind('>')) {
        (Some(a), Some(b)) if a < b => &user_id[a + 1..b],
        _ => user_id.trim(),
    };
    EmailAddress::parse(inner, true).ok()
}

impl Keys {
    /// Puts an OpenPGP public key (armored or binary) or an S/MIME
    /// certificate (PEM) on file for every address it names. Returns
    /// (kind, fingerprint, number of addresses).
    pub async fn add_recipient_key(
        &self,
        tenant: &TenantId,
        bytes: &[u8],
        actor: Actor,
    ) -> Result<(&'static str, String, usize), ServerError> {
        let text = std::str::from_utf8(bytes).unwrap_or_default();
        let (kind, fingerprint, addresses) = if text.contains("-----BEGIN CERTIFICATE-----") {
            let cert = sealpost_smime::RecipientCert::from_pem(bytes)
                .map_err(|e| ServerError::State(format!("not a usable S/MIME certificate: {e}")))?;
            cert.usable_for_encryption(std::time::SystemTime::now()).map_err(|e| {
                ServerError::State(format!("certificate {} cannot encrypt: {e}", cert.fingerprint_sha256()))
            })?;
            let addresses: Vec<EmailAddress> =
                cert.email_addresses().iter().filter_map(|a| EmailAddress::parse(a, true).ok()).collect();
            ("smime", cert.fingerprint_sha256(), addresses)
        } else {
            let key = if text.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
                RecipientKey::parse_armored(text)
            } else {
                RecipientKey::parse_binary(bytes)
            }
            .map_err(|e| ServerError::State(format!("not a usable OpenPGP public key or S/MIME certificate: {e}")))?;
            if !key.can_encrypt() {
                return Err(ServerError::State(format!(
                    "key {} cannot encrypt (expired, revoked or sign-only)",
                    key.fingerprint()
                )));
            }
            let addresses: Vec<EmailAddress> = key.user_ids().iter().filter_map(|u| address_of(u)).collect();
            ("pgp", key.fingerprint(), addresses)
        };
        if addresses.is_empty() {
            return Err(ServerError::State(format!("{kind} key {fingerprint} names no email address")));
        }
        let mut ops = Vec::new();
        for a in &addresses {
            let id = RecipientId::new();
            ops.push(Op::PutRecipientKey(RecipientKeyRecord {
                id,
                tenant: tenant.clone(),
                address_hash: self.core.address_hash(tenant, a.as_str()),
                kind: kind.into(),
                fingerprint: fingerprint.clone(),
                sealed: self.core.root().seal_secret(&purpose(tenant, &id), bytes)?,
                created_at: now_micros(),
            }));
        }
        let ev = NewEvent::new(tenant.clone(), actor, Action::KeyCreated, Outcome::Success)
            .detail("key", DetailValue::Name(if kind == "pgp" { "recipient-pgp" } else { "recipient-smime" }))
            .detail("addresses", DetailValue::Count(addresses.len() as i64));
        self.core.store.commit(Commit { ops, events: vec![ev] }).await?;
        Ok((kind, fingerprint, addresses.len()))
    }

    /// Lists a tenant's recipient keys.
    pub async fn list_recipient_keys(&self, tenant: &TenantId) -> Result<Vec<ListedKey>, ServerError> {
        Ok(self
            .core
            .store
            .recipient_keys(tenant, None)
            .await?
            .into_iter()
            .map(|k| ListedKey { id: k.id, kind: k.kind, fingerprint: k.fingerprint, created_at: k.created_at })
            .collect())
    }

    /// Removes one recipient key row.
    pub async fn remove_recipient_key(
        &self,
        tenant: &TenantId,
        id: &RecipientId,
        actor: Actor,
    ) -> Result<(), ServerError> {
        let ev = NewEvent::new(tenant.clone(), actor, Action::KeyRotated, Outcome::Success)
            .target(*id)
            .detail("key", DetailValue::Name("recipient-removed"));
        self.core
            .store
            .commit(Commit { ops: vec![Op::DeleteRecipientKey(tenant.clone(), *id)], events: vec![ev] })
            .await?;
        Ok(())
    }

    /// Usable S/MIME certificates on file for `address`.
    pub async fn smime_certs_for(
        &self,
        tenant: &TenantId,
        address: &str,
    ) -> Result<Vec<sealpost_smime::RecipientCert>, ServerError> {
        let mut certs = Vec::new();
        for r in self.core.store.recipient_keys(tenant, Some(&self.core.address_hash(tenant, address))).await? {
            if r.kind != "smime" {
                continue;
            }
            let bytes = self.core.root().open_secret(&purpose(tenant, &r.id), &r.sealed)?;
            if let Ok(c) = sealpost_smime::RecipientCert::from_pem(&bytes)
                && c.usable_for_encryption(std::time::SystemTime::now()).is_ok()
            {
                certs.push(c);
            }
        }
        Ok(certs)
    }

    /// Usable OpenPGP keys on file for `address`.
    pub async fn pgp_keys_for(&self, tenant: &TenantId, address: &str) -> Result<Vec<RecipientKey>, ServerError> {
        let mut keys = Vec::new();
        for r in self.core.store.recipient_keys(tenant, Some(&self.core.address_hash(tenant, address))).await? {
            if r.kind != "pgp" {
                continue;
            }
            let bytes = self.core.root().open_secret(&purpose(tenant, &r.id), &r.sealed)?;
            let parsed = match std::str::from_utf8(&bytes) {
                Ok(text) if text.contains("-----BEGIN PGP") => RecipientKey::parse_armored(text),
                _ => RecipientKey::parse_binary(&bytes),
            };
            if let Ok(k) = parsed
                && k.can_encrypt()
            {
                keys.push(k);
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_addresses_are_extracted() {
        assert_eq!(address_of("Pat <pat@example.net>").map(|a| a.to_string()), Some("pat@example.net".into()));
        assert_eq!(address_of("pat@example.net").map(|a| a.to_string()), Some("pat@example.net".into()));
        assert!(address_of("Pat Only").is_none());
    }
}
