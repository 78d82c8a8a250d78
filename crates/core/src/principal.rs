//! Who is calling, once authenticated: the type every service checks
//! scopes and tenants against (identity produces it, the edges carry it).

use sealpost_audit::Actor;
use sealpost_model::{ApiKeyId, Role, Scope, TenantId, UserId};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A user who gave their password.
    User {
        /// Id.
        id: UserId,
        /// Tenant.
        tenant: TenantId,
        /// Role.
        role: Role,
    },
    /// A caller holding an API key.
    ApiKey {
        /// Key id.
        id: ApiKeyId,
        /// Tenant.
        tenant: TenantId,
        /// What it may do.
        scopes: Vec<Scope>,
        /// The person it acts for, if it was bound to one at creation.
        user: Option<UserId>,
    },
}

impl Principal {
    /// The tenant whose data this caller may reach (and no other).
    pub fn tenant(&self) -> &TenantId {
        match self {
            Principal::User { tenant, .. } | Principal::ApiKey { tenant, .. } => tenant,
        }
    }
    /// The audit actor.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::User { id, .. } => Actor::user(*id),
            Principal::ApiKey { id, .. } => Actor::api_key(*id),
        }
    }
    /// The person behind this caller: the user, or the user an API key
    /// was bound to. `None` for an unbound key, which therefore cannot be
    /// one of the two people a two-person action needs.
    pub fn person(&self) -> Option<UserId> {
        match self {
            Principal::User { id, .. } => Some(*id),
            Principal::ApiKey { user, .. } => *user,
        }
    }
    /// Whether the caller may do what `scope` covers. `admin` covers all;
    /// users map roles to scopes (see docs/permissions.md).
    pub fn allows(&self, scope: Scope) -> bool {
        match self {
            Principal::ApiKey { scopes, .. } => scopes.contains(&Scope::Admin) || scopes.contains(&scope),
            Principal::User { role, .. } => match role {
                Role::Admin => true,
                Role::Sender => matches!(scope, Scope::Send | Scope::ReadEvents),
                Role::Compliance | Role::Legal | Role::Auditor => scope == Scope::ReadEvents,
            },
        }
    }
}
