//! Tenant KEK rotation (R-EN-3): a new version, every data key re-wrapped
//! under it, attachment keys too; bodies are not re-encrypted.

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_crypto::Kek;
use sealpost_model::{MessageId, TenantId};
use sealpost_store::{Commit, KekRecord, Op};

use super::Keys;
use crate::ServerError;

impl Keys {
    /// Rotates a tenant's KEK: a new version, then every data key re-wrapped
    /// under it, attachment keys too (bodies are not re-encrypted). Returns
    /// (new version, message keys re-wrapped).
    pub async fn rotate_kek(&self, tenant: &TenantId, actor: Actor) -> Result<(i64, usize), ServerError> {
        self.core.forget_tenant_keys(tenant).await;
        let old = self.core.tenant_keys(tenant).await?;
        let version = old.current + 1;
        let kek = Kek::generate()?;
        let wrapped = self.core.root().wrap_kek(&kek, tenant.as_str(), version)?;
        self.core
            .store
            .commit(Commit { ops: vec![Op::AddKek(tenant.clone(), KekRecord { version, wrapped })], events: vec![] })
            .await?;
        let mut count = 0;
        let mut after: Option<MessageId> = None;
        loop {
            let page = self.core.store.messages_after(tenant, after.as_ref(), 500).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            let mut keys = Vec::with_capacity(page.len());
            // A disposed message has no key left to re-wrap (crypto-shredded).
            for m in page.iter().filter(|m| m.kek_version != version && !m.wrapped_dek.is_empty()) {
                let ctx = crate::pipeline::seal_context(tenant.as_str(), &m.id);
                let old_kek = old
                    .get(m.kek_version)
                    .ok_or_else(|| ServerError::NotFound(format!("key version {}", m.kek_version)))?;
                let dek = old_kek.unwrap_data_key(&m.wrapped_dek, &ctx)?;
                keys.push((m.id, kek.wrap_data_key(&dek, &ctx)?));
            }
            count += keys.len();
            self.core
                .store
                .commit(Commit {
                    ops: vec![Op::RewrapKeys { tenant: tenant.clone(), kek_version: version, keys }],
                    events: vec![],
                })
                .await?;
        }
        let attachments = self.core.rewrap_attachment_keys(tenant, &old, &kek, version).await?;
        let ev = NewEvent::new(tenant.clone(), actor, Action::KeyRotated, Outcome::Success)
            .detail("key", DetailValue::Name("tenant-kek"))
            .detail("version", DetailValue::Count(version))
            .detail("rewrapped", DetailValue::Count(count as i64))
            .detail("attachments", DetailValue::Count(attachments as i64));
        self.core.audit(vec![ev]).await?;
        self.core.forget_tenant_keys(tenant).await;
        Ok((version, count))
    }
}
