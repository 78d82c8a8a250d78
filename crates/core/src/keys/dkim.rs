//! DKIM keys per tenant and sending domain (R-DL-3): creation and rotation
//! (`sealpost keys dkim DOMAIN`), the records to publish
//! (`sealpost dns records DOMAIN`), and loading signers for delivery.

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_dkim::{Algorithm, DkimKey, DnsRecord, MtaStsPolicy, Signer};
use sealpost_model::{TenantId, now_micros};
use sealpost_store::{Commit, DkimKeyRecord, Op};

use super::Keys;
use crate::ServerError;

fn purpose(tenant: &TenantId, domain: &str, selector: &str) -> String {
    format!("dkim|{tenant}|{domain}|{selector}")
}

fn algorithm(name: &str) -> Option<Algorithm> {
    [Algorithm::Rsa2048, Algorithm::Ed25519].into_iter().find(|a| a.as_str() == name)
}

fn dkim_err(e: sealpost_dkim::Error) -> ServerError {
    ServerError::State(format!("dkim: {e}"))
}

impl Keys {
    /// Creates a new RSA-2048 and a new Ed25519 key for `domain`; they sign
    /// from now on, and the previous keys stop signing but stay listed so
    /// their DNS records can be kept until mail signed with them has aged out.
    /// Returns the new selectors.
    pub async fn rotate_dkim_keys(
        &self,
        tenant: &TenantId,
        domain: &str,
        actor: Actor,
    ) -> Result<Vec<String>, ServerError> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        if domain.is_empty()
            || !domain.contains('.')
            || domain.bytes().any(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
        {
            return Err(ServerError::State(format!("not a domain name: {domain:?}")));
        }
        let tag = &sealpost_crypto::random_token(4)?.to_ascii_lowercase().replace(['-', '_'], "x");
        let mut ops = Vec::new();
        let mut events = Vec::new();
        let mut selectors = Vec::new();
        for (alg, suffix) in [(Algorithm::Rsa2048, "r"), (Algorithm::Ed25519, "e")] {
            let key = tokio::task::spawn_blocking(move || DkimKey::generate(alg))
                .await
                .map_err(|e| ServerError::State(e.to_string()))?
                .map_err(dkim_err)?;
            let selector = format!("sp{tag}{suffix}");
            let sealed = self.core.root().seal_secret(&purpose(tenant, &domain, &selector), &key.to_pkcs8_der())?;
            ops.push(Op::PutDkimKey(DkimKeyRecord {
                tenant: tenant.clone(),
                domain: domain.clone(),
                selector: selector.clone(),
                algorithm: alg.as_str().into(),
                sealed,
                public_dns: key.public_dns_value(),
                created_at: now_micros(),
                active: true,
            }));
            events.push(
                NewEvent::new(tenant.clone(), actor.clone(), Action::KeyCreated, Outcome::Success)
                    .detail("key", DetailValue::Name("dkim"))
                    .detail("algorithm", DetailValue::Name(alg.as_str())),
            );
            selectors.push(selector);
        }
        self.core.store.commit(Commit { ops, events }).await?;
        Ok(selectors)
    }

    /// Unseals a stored DKIM key; `None` for an algorithm this build does not know.
    fn unseal_dkim_key(&self, k: &DkimKeyRecord) -> Result<Option<DkimKey>, ServerError> {
        let Some(alg) = algorithm(&k.algorithm) else { return Ok(None) };
        let der = self.core.root().open_secret(&purpose(&k.tenant, &k.domain, &k.selector), &k.sealed)?;
        DkimKey::from_pkcs8_der(alg, &der).map(Some).map_err(dkim_err)
    }

    /// Signers for mail from `domain`: one per active key (RSA and Ed25519).
    pub async fn dkim_signers(&self, tenant: &TenantId, domain: &str) -> Result<Vec<Signer>, ServerError> {
        let mut signers = Vec::new();
        for k in self.core.store.dkim_keys(tenant, domain).await?.into_iter().filter(|k| k.active) {
            if let Some(key) = self.unseal_dkim_key(&k)? {
                signers.push(Signer::new(&k.domain, &k.selector, &key).map_err(dkim_err)?);
            }
        }
        Ok(signers)
    }

    /// The DNS records to publish for `domain`: SPF (the MX hosts and the
    /// configured source addresses), every listed DKIM key, DMARC, MTA-STS
    /// and TLS-RPT, plus the MTA-STS policy file.
    pub async fn dns_records(
        &self,
        tenant: &TenantId,
        domain: &str,
        report_address: &str,
    ) -> Result<DomainRecords, ServerError> {
        let keys = self.core.store.dkim_keys(tenant, domain).await?;
        let mut parsed = Vec::new();
        let mut signing = false;
        for k in &keys {
            if let Some(key) = self.unseal_dkim_key(k)? {
                signing |= k.active;
                parsed.push((k.selector.clone(), key));
            }
        }
        let selectors: Vec<(String, &DkimKey)> = parsed.iter().map(|(s, k)| (s.clone(), k)).collect();
        let policy = sealpost_dkim::mta_sts_policy(domain, &[self.core.cfg.hostname.as_str()]).map_err(dkim_err)?;
        let id = hex::encode(&sealpost_crypto::sha256(policy.text.as_bytes())[..8]);
        let sources = self.core.cfg.delivery.source_addresses();
        let records =
            sealpost_dkim::dns_records(domain, &sources, &selectors, &id, report_address).map_err(dkim_err)?;
        Ok(DomainRecords { records, policy, signing })
    }
}

/// What a sending domain publishes (`sealpost dns records DOMAIN`).
#[derive(Debug, Clone)]
pub struct DomainRecords {
    /// SPF, DKIM (one per listed key), DMARC, MTA-STS, TLS-RPT, in that order.
    pub records: Vec<DnsRecord>,
    /// The MTA-STS policy file and its URL.
    pub policy: MtaStsPolicy,
    /// Whether an active DKIM key signs the domain's mail; without one there
    /// is no DKIM record (`sealpost keys dkim DOMAIN` creates the keys).
    pub signing: bool,
}

/// Prepends one DKIM-Signature per signer to `raw`.
pub fn sign(signers: &[Signer], raw: &[u8]) -> Result<Vec<u8>, ServerError> {
    let mut headers = String::new();
    for s in signers {
        headers.push_str(&s.sign(raw).map_err(dkim_err)?);
    }
    let mut out = Vec::with_capacity(headers.len() + raw.len());
    out.extend_from_slice(headers.as_bytes());
    out.extend_from_slice(raw);
    Ok(out)
}
