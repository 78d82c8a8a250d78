//! Sending domains (issue 13.9): which domains a tenant may send as.
//!
//! A tenant owns a domain once it is *verified* (a TXT record
//! `_sealpost.DOMAIN` carries `sealpost-verify=<token>`, the token handed
//! out when the domain was added) or *asserted* by the installation
//! operator (CLI only). At most one tenant owns a domain; the store refuses
//! a second owner.
//!
//! Every intake path (SMTP, JSON and raw API) asks [`SendingDomains::foreign`]
//! for the envelope sender and the header `From:` addresses before it
//! accepts a message. The rules:
//!
//! * a domain covers itself only, not its subdomains (register each one);
//! * the null sender `<>` names no domain and passes; its header `From:` is
//!   still checked;
//! * **single tenant**: a tenant with no owned domain may send as any domain
//!   while it is the installation's only tenant. Creating a second tenant
//!   closes that gap for both: from then on every tenant sends only as its
//!   own domains.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_model::TenantId;
use sealpost_store::{Commit, Op, SendingDomainRecord, SendingDomainState, StoreError};
use tokio::sync::Mutex;

use crate::{Core, ServerError};

/// The label the verification TXT record sits under: `_sealpost.DOMAIN`.
pub const TXT_LABEL: &str = "_sealpost";
/// The prefix of the verification TXT value: `sealpost-verify=TOKEN`.
pub const TXT_PREFIX: &str = "sealpost-verify=";

/// How long a tenant's sending rule is cached by the listeners. Changes made
/// through this service drop the cache at once; changes made by another
/// process (the CLI) are seen after this long.
const CACHE_TTL: Duration = Duration::from_secs(2);

/// Why a sending-domain operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// Not a domain name.
    #[error("{0:?} is not a domain name")]
    Invalid(String),
    /// The tenant has no such domain.
    #[error("domain {0} is not a sending domain of this tenant")]
    NotFound(String),
    /// Another tenant owns it.
    #[error("domain {0} is a sending domain of another tenant")]
    OwnedElsewhere(String),
    /// The TXT record was not found or does not carry the token.
    #[error("domain {domain} is not verified: {reason}")]
    NotVerified {
        /// The domain.
        domain: String,
        /// What the lookup found.
        reason: String,
    },
    /// Storage or DNS failed.
    #[error(transparent)]
    Server(#[from] ServerError),
}

impl From<StoreError> for DomainError {
    fn from(e: StoreError) -> Self {
        DomainError::Server(e.into())
    }
}

/// The TXT record to publish to prove a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxtRecord {
    /// `_sealpost.DOMAIN`.
    pub name: String,
    /// `sealpost-verify=TOKEN`.
    pub value: String,
}

impl TxtRecord {
    /// The record that proves `record`'s domain for its tenant.
    pub fn of(record: &SendingDomainRecord) -> Self {
        TxtRecord { name: format!("{TXT_LABEL}.{}", record.domain), value: format!("{TXT_PREFIX}{}", record.token) }
    }
}

/// Normalizes a domain as stored and compared: IDNA ASCII form, lowercase,
/// no trailing dot. Refuses what is not a host name.
pub fn normalize_domain(input: &str) -> Result<String, DomainError> {
    let trimmed = input.trim().trim_end_matches('.');
    let ascii = idna::domain_to_ascii(trimmed).map_err(|_| DomainError::Invalid(input.to_owned()))?;
    let ok = !ascii.is_empty()
        && ascii.len() <= 253
        && ascii.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if ok { Ok(ascii) } else { Err(DomainError::Invalid(input.to_owned())) }
}

/// The domain of an address (`local@domain`), normalized; `None` when it
/// has none or it does not normalize (then nothing can own it, and the
/// caller refuses it as foreign under its raw spelling).
fn address_domain(address: &str) -> Result<String, String> {
    let raw = address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    let raw = raw.trim_end_matches('>').trim_start_matches('[').trim_end_matches(']');
    normalize_domain(raw).map_err(|_| raw.to_owned())
}

/// The addresses of every `From:` header in a message's header section.
pub fn header_from_addresses(raw: &[u8]) -> Vec<String> {
    let Some(message) = mail_parser::MessageParser::default().parse_headers(raw) else { return Vec::new() };
    let mut out = Vec::new();
    for header in message.headers() {
        if !matches!(header.name, mail_parser::HeaderName::From) {
            continue;
        }
        if let Some(list) = header.value.as_address() {
            for addr in list.iter() {
                if let Some(a) = addr.address() {
                    out.push(a.to_owned());
                }
            }
        }
    }
    out
}

/// What a tenant may send as, as cached.
#[derive(Debug, Clone)]
enum Rule {
    /// The only tenant, with no domain of its own: anything.
    Unrestricted,
    /// These domains only.
    Owned(Vec<String>),
}

/// The sending-domain service: registry (add, verify, assert, remove, list)
/// and the ownership check every intake path calls.
pub struct SendingDomains {
    core: Arc<Core>,
    cache: Mutex<HashMap<TenantId, (Instant, Rule)>>,
}

impl SendingDomains {
    /// Builds the service on the core (store, configured name servers).
    pub fn new(core: Arc<Core>) -> Self {
        SendingDomains { core, cache: Mutex::default() }
    }

    /// A tenant's sending domains, by name.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<SendingDomainRecord>, DomainError> {
        Ok(self.core.store.sending_domains(tenant).await?)
    }

    async fn find(&self, tenant: &TenantId, domain: &str) -> Result<Option<SendingDomainRecord>, DomainError> {
        Ok(self.list(tenant).await?.into_iter().find(|r| r.domain == domain))
    }

    /// Adds `domain` to a tenant, pending verification, and returns it with
    /// the TXT record to publish. Adding it again returns the existing entry
    /// unchanged (same token).
    pub async fn add(
        &self,
        tenant: &TenantId,
        actor: Actor,
        domain: &str,
    ) -> Result<(SendingDomainRecord, TxtRecord), DomainError> {
        let domain = normalize_domain(domain)?;
        if let Some(existing) = self.find(tenant, &domain).await? {
            let txt = TxtRecord::of(&existing);
            return Ok((existing, txt));
        }
        if self.core.store.sending_domain_owner(&domain).await?.is_some() {
            return Err(DomainError::OwnedElsewhere(domain));
        }
        let token = new_token()?;
        let record = SendingDomainRecord {
            tenant: tenant.clone(),
            domain,
            state: SendingDomainState::Pending,
            token,
            created_at: sealpost_model::now_micros(),
            verified_at: None,
        };
        self.put(record.clone(), event(tenant, actor, Action::DomainAdded, Outcome::Success, &record.domain)).await?;
        let txt = TxtRecord::of(&record);
        Ok((record, txt))
    }

    /// Looks up `_sealpost.DOMAIN` through the configured name servers (the
    /// ones delivery uses) and marks the domain verified when a TXT record
    /// carries the tenant's token. A failed check is audited and answered
    /// with what was found.
    pub async fn verify(
        &self,
        tenant: &TenantId,
        actor: Actor,
        domain: &str,
    ) -> Result<SendingDomainRecord, DomainError> {
        let domain = normalize_domain(domain)?;
        let Some(mut record) = self.find(tenant, &domain).await? else {
            return Err(DomainError::NotFound(domain));
        };
        if record.state.is_owned() {
            return Ok(record);
        }
        let txt = TxtRecord::of(&record);
        let resolver = self.core.cfg.delivery.resolver()?;
        let found = resolver.txt(&txt.name).await;
        let (reason, why) = match found {
            Ok(values) if values.iter().any(|v| v.trim() == txt.value) => ("", String::new()),
            Ok(values) if values.iter().any(|v| v.trim().starts_with(TXT_PREFIX)) => {
                ("wrong_token", format!("the TXT record at {} does not carry this domain's token", txt.name))
            }
            Ok(_) => ("no_record", format!("no TXT record \"{TXT_PREFIX}…\" at {}", txt.name)),
            Err(e) => ("lookup_failed", format!("looking up TXT {}: {e}", txt.name)),
        };
        if !reason.is_empty() {
            let ev = event(tenant, actor, Action::DomainVerified, Outcome::Failure, &domain)
                .detail("reason", DetailValue::Name(reason));
            self.core.audit(vec![ev]).await?;
            return Err(DomainError::NotVerified { domain, reason: why });
        }
        record.state = SendingDomainState::Verified;
        record.verified_at = Some(sealpost_model::now_micros());
        self.put(record.clone(), event(tenant, actor, Action::DomainVerified, Outcome::Success, &domain)).await?;
        Ok(record)
    }

    /// The operator vouches that `tenant` owns `domain` (no DNS check).
    pub async fn assert(
        &self,
        tenant: &TenantId,
        actor: Actor,
        domain: &str,
    ) -> Result<SendingDomainRecord, DomainError> {
        let domain = normalize_domain(domain)?;
        let now = sealpost_model::now_micros();
        let record = match self.find(tenant, &domain).await? {
            Some(r) if r.state.is_owned() => return Ok(r),
            Some(r) => SendingDomainRecord { state: SendingDomainState::Asserted, verified_at: Some(now), ..r },
            None => SendingDomainRecord {
                tenant: tenant.clone(),
                domain: domain.clone(),
                state: SendingDomainState::Asserted,
                token: new_token()?,
                created_at: now,
                verified_at: Some(now),
            },
        };
        self.put(record.clone(), event(tenant, actor, Action::DomainAsserted, Outcome::Success, &domain)).await?;
        Ok(record)
    }

    /// Removes a tenant's sending domain.
    pub async fn remove(&self, tenant: &TenantId, actor: Actor, domain: &str) -> Result<(), DomainError> {
        let domain = normalize_domain(domain)?;
        let commit = Commit {
            ops: vec![Op::DeleteSendingDomain(tenant.clone(), domain.clone())],
            events: vec![event(tenant, actor, Action::DomainRemoved, Outcome::Success, &domain)],
        };
        match self.core.store.commit(commit).await {
            Ok(_) => {
                self.cache.lock().await.clear();
                Ok(())
            }
            Err(StoreError::Conflict(_)) => Err(DomainError::NotFound(domain)),
            Err(e) => Err(e.into()),
        }
    }

    async fn put(&self, record: SendingDomainRecord, ev: NewEvent) -> Result<(), DomainError> {
        let domain = record.domain.clone();
        let commit = Commit { ops: vec![Op::PutSendingDomain(record)], events: vec![ev] };
        match self.core.store.commit(commit).await {
            Ok(_) => {
                self.cache.lock().await.clear();
                Ok(())
            }
            Err(StoreError::Conflict(_)) => Err(DomainError::OwnedElsewhere(domain)),
            Err(e) => Err(e.into()),
        }
    }

    async fn rule(&self, tenant: &TenantId) -> Result<Rule, ServerError> {
        if let Some((at, rule)) = self.cache.lock().await.get(tenant)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(rule.clone());
        }
        let owned: Vec<String> = self
            .core
            .store
            .sending_domains(tenant)
            .await?
            .into_iter()
            .filter(|r| r.state.is_owned())
            .map(|r| r.domain)
            .collect();
        let rule = if owned.is_empty() && self.core.store.tenant_ids().await?.len() <= 1 {
            Rule::Unrestricted
        } else {
            Rule::Owned(owned)
        };
        self.cache.lock().await.insert(tenant.clone(), (Instant::now(), rule.clone()));
        Ok(rule)
    }

    /// The first domain among the envelope sender (`None`: the null sender,
    /// which names no domain) and the header `From:` addresses of `raw` that
    /// `tenant` may not send as, or `None` when all are its own.
    pub async fn foreign(
        &self,
        tenant: &TenantId,
        envelope_from: Option<&str>,
        raw: &[u8],
    ) -> Result<Option<String>, ServerError> {
        let mut addresses: Vec<String> =
            envelope_from.filter(|a| !a.is_empty()).map(str::to_owned).into_iter().collect();
        addresses.extend(header_from_addresses(raw));
        self.foreign_among(tenant, addresses.iter().map(String::as_str)).await
    }

    /// The first domain of `addresses` that `tenant` may not send as.
    pub async fn foreign_among<'a>(
        &self,
        tenant: &TenantId,
        addresses: impl IntoIterator<Item = &'a str>,
    ) -> Result<Option<String>, ServerError> {
        let owned = match self.rule(tenant).await? {
            Rule::Unrestricted => return Ok(None),
            Rule::Owned(owned) => owned,
        };
        for address in addresses {
            match address_domain(address) {
                Ok(d) if owned.contains(&d) => {}
                Ok(d) => return Ok(Some(d)),
                Err(raw) => return Ok(Some(raw)),
            }
        }
        Ok(None)
    }
}

/// A verification token: 24 random bytes, base64 without the characters a
/// TXT record or a shell would trip over.
fn new_token() -> Result<String, DomainError> {
    let token = sealpost_crypto::random_token(24).map_err(ServerError::from)?;
    Ok(token.replace(['+', '/', '=', '-', '_'], ""))
}

fn event(tenant: &TenantId, actor: Actor, action: Action, outcome: Outcome, domain: &str) -> NewEvent {
    let digest = sealpost_crypto::sha256(domain.as_bytes());
    NewEvent::new(tenant.clone(), actor, action, outcome).detail("domain_sha256", DetailValue::Digest(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_normalize_to_lowercase_ascii() {
        assert_eq!(normalize_domain("Clinic.Example.").unwrap(), "clinic.example");
        assert_eq!(normalize_domain("bücher.example").unwrap(), "xn--bcher-kva.example");
        for bad in ["", "a..b", "-a.example", "a b.example", "*.example", "a@b"] {
            assert!(normalize_domain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_from_header_address_is_read() {
        let raw = b"From: A <a@one.example>, b@Two.example\r\nFrom: c@three.example\r\nTo: x@y.example\r\n\r\nFrom: d@body.example\r\n";
        assert_eq!(header_from_addresses(raw), vec!["a@one.example", "b@Two.example", "c@three.example"]);
        assert_eq!(address_domain("b@Two.example"), Ok("two.example".into()));
        assert_eq!(address_domain("b@sub.two.example"), Ok("sub.two.example".into()));
    }
}
