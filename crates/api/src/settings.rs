//! Tenant settings through the API, `admin` scope: `GET /v1/settings` and
//! `PUT /v1/settings` (the whole document). [`SettingsBody`] is the API's
//! own type: the domain's [`TenantSettings`] (also the CLI's document) and
//! the sealed stored form can change without changing it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use sealpost_model::Scope;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::extract::Body;
use super::request::{CategoryName, PolicyName};
use super::{ApiError, parse_json};
use crate::Api;
use sealpost_core::ServerError;
use sealpost_core::settings::{CategoryRule, TenantSettings};

/// A tenant's settings, the body of `PUT` and the answer of `GET` and `PUT`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    /// The tenant's policy mode; null: the configuration's.
    #[serde(default)]
    pub policy: Option<PolicyName>,
    /// Recipient domains whose mail always goes to the portal (consumer
    /// webmail), in addition to the configuration's list.
    #[serde(default)]
    pub portal_domains: Vec<String>,
    /// Policy per recipient domain.
    #[serde(default)]
    pub domain_policies: BTreeMap<String, PolicyName>,
    /// Treat every message as PHI-bearing ("always secure").
    #[serde(default)]
    pub always_secure: bool,
    /// Extra MRN patterns (Rust regex syntax).
    #[serde(default)]
    pub mrn_patterns: Vec<String>,
    /// Dictionary terms counted as PHI (names, rare diagnoses).
    #[serde(default)]
    pub dictionary: Vec<String>,
    /// Category by sender when the message names none (first match wins).
    #[serde(default)]
    pub category_rules: Vec<CategoryRuleBody>,
    /// The US state (postal code, e.g. `CA`) whose medical-record law governs
    /// the tenant's mail when a message names none.
    #[serde(default)]
    pub jurisdiction: Option<String>,
    /// How the secure portal and its notifications present the tenant
    /// (shown to recipients before sign-in: never PHI).
    #[serde(default, deserialize_with = "brand_object")]
    pub portal_brand: PortalBrandBody,
}

/// "Mail from these senders is of this category."
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryRuleBody {
    /// An address, `@domain` (that domain) or `*.domain` (its subdomains too).
    pub sender: String,
    /// The category given.
    pub category: CategoryName,
}

/// `portal_brand` only as a JSON object (serde would also take an array).
fn brand_object<'de, D: serde::Deserializer<'de>>(d: D) -> Result<PortalBrandBody, D::Error> {
    use serde::de::Error;
    let v = serde_json::Value::deserialize(d)?;
    if !v.is_object() {
        return Err(D::Error::custom("portal_brand must be an object"));
    }
    serde_json::from_value(v).map_err(D::Error::custom)
}

/// The tenant's face on the portal.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalBrandBody {
    /// The organisation's name as recipients know it (default: the tenant's name).
    #[serde(default)]
    pub organisation: Option<String>,
    /// How to reach the organisation, shown on every portal page.
    #[serde(default)]
    pub support: Option<String>,
    /// Accent colour `#rrggbb`, at least 4.5:1 against white.
    #[serde(default)]
    pub accent: Option<String>,
}

impl From<SettingsBody> for TenantSettings {
    fn from(b: SettingsBody) -> Self {
        TenantSettings {
            policy: b.policy.map(Into::into),
            portal_domains: b.portal_domains,
            domain_policies: b.domain_policies.into_iter().map(|(d, p)| (d, p.into())).collect(),
            always_secure: b.always_secure,
            mrn_patterns: b.mrn_patterns,
            dictionary: b.dictionary,
            category_rules: b
                .category_rules
                .into_iter()
                .map(|r| CategoryRule { sender: r.sender, category: r.category.into() })
                .collect(),
            jurisdiction: b.jurisdiction,
            portal_brand: sealpost_core::settings::PortalBrand {
                organisation: b.portal_brand.organisation,
                support: b.portal_brand.support,
                accent: b.portal_brand.accent,
            },
        }
    }
}

impl From<&TenantSettings> for SettingsBody {
    fn from(s: &TenantSettings) -> Self {
        SettingsBody {
            policy: s.policy.map(Into::into),
            portal_domains: s.portal_domains.clone(),
            domain_policies: s.domain_policies.iter().map(|(d, p)| (d.clone(), (*p).into())).collect(),
            always_secure: s.always_secure,
            mrn_patterns: s.mrn_patterns.clone(),
            dictionary: s.dictionary.clone(),
            category_rules: s
                .category_rules
                .iter()
                .map(|r| CategoryRuleBody { sender: r.sender.clone(), category: r.category.into() })
                .collect(),
            jurisdiction: s.jurisdiction.clone(),
            portal_brand: PortalBrandBody {
                organisation: s.portal_brand.organisation.clone(),
                support: s.portal_brand.support.clone(),
                accent: s.portal_brand.accent.clone(),
            },
        }
    }
}

/// The tenant's settings (defaults when never set).
#[utoipa::path(
    get, path = "/v1/settings", operation_id = "get_settings", tag = "settings",
    security(("api_key" = ["admin"])),
    responses((status = 200, description = "The settings", body = SettingsBody))
)]
pub async fn get(State(app): State<Arc<Api>>, caller: Caller) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let s = app.settings.get(p.tenant()).await.map_err(ApiError::internal)?;
    Ok(Json(SettingsBody::from(&s.settings)).into_response())
}

/// Replaces the tenant's settings (the whole document).
///
/// Audited as a configuration change. Answers the settings as saved.
#[utoipa::path(
    put, path = "/v1/settings", operation_id = "put_settings", tag = "settings",
    security(("api_key" = ["admin"])),
    request_body = SettingsBody,
    responses((status = 200, description = "Saved", body = SettingsBody))
)]
pub async fn put(State(app): State<Arc<Api>>, caller: Caller, Body(body): Body) -> Result<Response, ApiError> {
    let p = caller.require(Scope::Admin)?;
    let req: SettingsBody = parse_json(&body)?;
    let settings = TenantSettings::from(req);
    let change = match app.settings.put(p.tenant(), p.actor(), &settings).await {
        Ok(change) => change,
        Err(ServerError::Invalid(e)) => return Err(ApiError::input("invalid_settings", e)),
        Err(e) => return Err(ApiError::internal(e)),
    };
    app.archive.settings_changed(p.tenant(), p.actor(), change).await.map_err(ApiError::internal)?;
    Ok(Json(SettingsBody::from(&settings)).into_response())
}
