//! Administrative operations shared by `sealpost init` and the CLI:
//! tenants, users, API keys. Each is one commit with its
//! audit event.

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_crypto::{ApiKeySecret, Kek, PasswordHash, random_token};
use sealpost_model::{ApiKeyId, Role, Scope, TenantId, UserId, now_micros};
use sealpost_store::{ApiKeyRecord, Commit, KekRecord, Op, TenantRecord, UserRecord};

use sealpost_core::{ServerError, system_tenant};

use crate::Identity;
use crate::auth::format_api_key;

impl Identity {
    /// Creates a tenant with its first KEK.
    pub async fn create_tenant(&self, id: &TenantId, name: &str, actor: Actor) -> Result<(), ServerError> {
        if *id == system_tenant() {
            return Err(ServerError::State("tenant id \"system\" is reserved".into()));
        }
        let kek = Kek::generate()?;
        let wrapped = self.core.root().wrap_kek(&kek, id.as_str(), 1)?;
        let events = vec![
            NewEvent::new(id.clone(), actor.clone(), Action::TenantCreated, Outcome::Success).target(id),
            NewEvent::new(id.clone(), actor, Action::KeyCreated, Outcome::Success)
                .detail("key", DetailValue::Name("tenant-kek"))
                .detail("version", DetailValue::Count(1)),
        ];
        let tenant = TenantRecord { id: id.clone(), name: name.to_owned(), created_at: now_micros() };
        self.core
            .store
            .commit(Commit { ops: vec![Op::CreateTenant(tenant, KekRecord { version: 1, wrapped })], events })
            .await?;
        Ok(())
    }

    /// Creates a user; returns the id. The password must be at least 12
    /// characters (NIST SP 800-63B length-first policy).
    pub async fn create_user(
        &self,
        tenant: &TenantId,
        username: &str,
        password: &str,
        role: Role,
        actor: Actor,
    ) -> Result<UserId, ServerError> {
        if password.chars().count() < 12 {
            return Err(ServerError::State("password must be at least 12 characters".into()));
        }
        if username.is_empty() || username == "apikey" || username.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ServerError::State("user name must be non-empty, without spaces, and not \"apikey\"".into()));
        }
        let pw = password.to_owned();
        let hash = tokio::task::spawn_blocking(move || PasswordHash::new(&pw))
            .await
            .map_err(|e| ServerError::State(e.to_string()))??;
        let id = UserId::new();
        let rec = UserRecord {
            id,
            tenant: tenant.clone(),
            username: username.to_owned(),
            password_hash: hash.as_str().to_owned(),
            role,
        };
        let ev = NewEvent::new(tenant.clone(), actor, Action::UserCreated, Outcome::Success)
            .target(id)
            .detail("role", DetailValue::Name(role.as_str()));
        self.core.store.commit(Commit { ops: vec![Op::CreateUser(rec)], events: vec![ev] }).await?;
        Ok(id)
    }

    /// Creates an API key; returns its id and the full key text (shown once).
    /// `user`, when given, is the person the key acts for (a user of the
    /// same tenant); only such keys may take part in two-person actions.
    pub async fn create_api_key(
        &self,
        tenant: &TenantId,
        name: &str,
        scopes: Vec<Scope>,
        user: Option<UserId>,
        actor: Actor,
    ) -> Result<(ApiKeyId, String), ServerError> {
        if self.core.store.tenant(tenant).await?.is_none() {
            return Err(ServerError::NotFound(format!("tenant {tenant}")));
        }
        if let Some(u) = &user
            && self.core.store.user(tenant, u).await?.is_none()
        {
            return Err(ServerError::NotFound(format!("user {u} in tenant {tenant}")));
        }
        let id = ApiKeyId::new();
        let secret = ApiKeySecret::generate()?;
        let rec = ApiKeyRecord {
            id,
            tenant: tenant.clone(),
            name: name.to_owned(),
            verifier: secret.verifier().to_vec(),
            scopes: scopes.clone(),
            created_at: now_micros(),
            user,
            revoked_at: None,
        };
        let mut ev = NewEvent::new(tenant.clone(), actor, Action::ApiKeyCreated, Outcome::Success).target(id);
        for s in &scopes {
            ev = ev.detail(
                match s {
                    Scope::Send => "scope_send",
                    Scope::ReadEvents => "scope_read_events",
                    Scope::Admin => "scope_admin",
                },
                DetailValue::Bool(true),
            );
        }
        if let Some(u) = user {
            ev = ev.detail("user", DetailValue::id(u));
        }
        self.core.store.commit(Commit { ops: vec![Op::CreateApiKey(rec)], events: vec![ev] }).await?;
        Ok((id, format_api_key(&id, &secret)))
    }

    /// Revokes an API key of `tenant`.
    pub async fn revoke_api_key(&self, tenant: &TenantId, id: &ApiKeyId, actor: Actor) -> Result<(), ServerError> {
        match self.core.store.api_key(id).await? {
            Some(k) if &k.tenant == tenant => {}
            _ => return Err(ServerError::NotFound(format!("api key {id}"))),
        }
        let ev = NewEvent::new(tenant.clone(), actor, Action::ApiKeyRevoked, Outcome::Success).target(id);
        self.core.store.commit(Commit { ops: vec![Op::RevokeApiKey(tenant.clone(), *id)], events: vec![ev] }).await?;
        Ok(())
    }
}

/// A fresh random password for generated accounts (24 base64url characters,
/// 144 bits). It never starts with `-` or `_`: a leading dash makes command
/// lines (swaks, curl, shells) read the password as an option.
pub fn generated_password() -> Result<String, ServerError> {
    loop {
        let p = random_token(18)?;
        if p.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Ok(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_never_start_with_a_dash_or_underscore() {
        for _ in 0..2000 {
            let p = generated_password().unwrap();
            assert_eq!(p.len(), 24);
            assert!(p.starts_with(|c: char| c.is_ascii_alphanumeric()), "{p}");
        }
    }
}
