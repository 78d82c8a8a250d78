//! Per-tenant settings that shape classification and delivery: the policy
//! mode (R-DL-2) with per-domain overrides and portal domains, the "always
//! secure" switch (R-CL-3), MRN patterns and dictionary terms (R-CL-1) and
//! category rules (R-CL-2).
//!
//! They are stored sealed under the root key (dictionary terms may be
//! patient names) as one secret per tenant, cached for 30 seconds per node.
//! Precedence for one recipient, most specific first: the tenant's (and the
//! installation's) portal domains always go to the portal; then the
//! message's own policy; then the tenant's override for the recipient's
//! domain; then the tenant's policy; then the configuration's.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_classify::{Classifier, TenantRules};
use sealpost_model::{Category, TenantId};
use sealpost_store::{Commit, Op, SecretRecord};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::Core;
use crate::config::{DeliveryConfig, PolicyMode};
use crate::{InvalidInput, ServerError};

const CACHE_TTL: Duration = Duration::from_secs(30);

/// A tenant's settings, and the JSON document `sealpost settings show`
/// prints and `sealpost settings set` reads. The API has its own body type
/// (`intake/api/settings.rs`) and the store its own versioned sealed form
/// ([`StoredSettings`]); renaming a field here changes neither.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// The tenant's policy mode; none: the configuration's.
    #[serde(default)]
    pub policy: Option<PolicyMode>,
    /// Recipient domains whose mail always goes to the portal (consumer
    /// webmail), in addition to the configuration's list.
    #[serde(default)]
    pub portal_domains: Vec<String>,
    /// Policy per recipient domain.
    #[serde(default)]
    pub domain_policies: BTreeMap<String, PolicyMode>,
    /// Treat every message as PHI-bearing (R-CL-3 "always secure").
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
    pub category_rules: Vec<CategoryRule>,
    /// The US state (postal code, e.g. `CA`) whose medical-record law
    /// governs the tenant's mail when a message names none (metadata
    /// `jurisdiction`); retention adds that state's rule (R-AR-2).
    #[serde(default)]
    pub jurisdiction: Option<String>,
    /// How the secure portal and its notifications present the tenant.
    #[serde(default)]
    pub portal_brand: PortalBrand,
}

/// The tenant's face on the secure portal (issue 14): shown before and
/// after sign-in and in notifications, so none of it may be PHI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalBrand {
    /// The organisation's name as recipients know it (default: the tenant's name).
    #[serde(default)]
    pub organisation: Option<String>,
    /// How to reach the organisation (a phone number, an address), shown on every page.
    #[serde(default)]
    pub support: Option<String>,
    /// The accent colour, `#rrggbb`, at least 4.5:1 against white (WCAG 2.1 AA).
    #[serde(default)]
    pub accent: Option<String>,
}

impl PortalBrand {
    fn validate(&self) -> Result<(), InvalidInput> {
        let text = |field: &str, v: &Option<String>, max: usize| -> Result<(), InvalidInput> {
            if let Some(v) = v
                && (v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control))
            {
                return Err(InvalidInput::field(
                    format!("portal_brand.{field}"),
                    format!("1 to {max} characters, no line breaks"),
                ));
            }
            Ok(())
        };
        text("organisation", &self.organisation, 100)?;
        text("support", &self.support, 200)?;
        if let Some(a) = &self.accent {
            let Some(rgb) = parse_colour(a) else {
                return Err(InvalidInput::field("portal_brand.accent", "a colour like #0b5cad"));
            };
            if contrast_with_white(rgb) < 4.5 {
                return Err(InvalidInput::field(
                    "portal_brand.accent",
                    "too light: white text on it needs a contrast of at least 4.5:1 (WCAG 2.1 AA)",
                ));
            }
        }
        Ok(())
    }
}

/// `#rrggbb` to its three channels.
pub fn parse_colour(s: &str) -> Option<[u8; 3]> {
    let hex = s.strip_prefix('#').filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()))?;
    let c = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([c(0)?, c(2)?, c(4)?])
}

/// The WCAG contrast ratio of a colour against white.
pub fn contrast_with_white(rgb: [u8; 3]) -> f64 {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.03928 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    let l = 0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2]);
    1.05 / (l + 0.05)
}

/// The version of [`StoredSettings`] this build writes.
pub const STORED_SETTINGS_VERSION: u32 = 1;

/// A tenant's settings as sealed in the store. A stored format: its field
/// names never change; a change is a new `version`. Settings sealed before
/// the field existed carry none and read as version 1.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredSettings {
    #[serde(default = "stored_version_1")]
    version: u32,
    #[serde(default)]
    policy: Option<PolicyMode>,
    #[serde(default)]
    portal_domains: Vec<String>,
    #[serde(default)]
    domain_policies: BTreeMap<String, PolicyMode>,
    #[serde(default)]
    always_secure: bool,
    #[serde(default)]
    mrn_patterns: Vec<String>,
    #[serde(default)]
    dictionary: Vec<String>,
    #[serde(default)]
    category_rules: Vec<StoredCategoryRule>,
    #[serde(default)]
    jurisdiction: Option<String>,
    #[serde(default)]
    portal_brand: PortalBrand,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredCategoryRule {
    sender: String,
    category: Category,
}

fn stored_version_1() -> u32 {
    1
}

/// Only the version, read first so settings sealed by a newer build are
/// refused for what they are rather than for a field this build lacks.
#[derive(Deserialize)]
struct StoredVersion {
    #[serde(default = "stored_version_1")]
    version: u32,
}

impl StoredSettings {
    fn seal_form(s: &TenantSettings) -> Self {
        StoredSettings {
            version: STORED_SETTINGS_VERSION,
            policy: s.policy,
            portal_domains: s.portal_domains.clone(),
            domain_policies: s.domain_policies.clone(),
            always_secure: s.always_secure,
            mrn_patterns: s.mrn_patterns.clone(),
            dictionary: s.dictionary.clone(),
            category_rules: s
                .category_rules
                .iter()
                .map(|r| StoredCategoryRule { sender: r.sender.clone(), category: r.category })
                .collect(),
            jurisdiction: s.jurisdiction.clone(),
            portal_brand: s.portal_brand.clone(),
        }
    }

    /// Reads sealed JSON of any known version (the text never quotes a value:
    /// dictionary terms may be patient names).
    fn read(json: &[u8]) -> Result<TenantSettings, String> {
        let version = serde_json::from_slice::<StoredVersion>(json).map_err(|_| "does not parse".to_owned())?.version;
        if version != STORED_SETTINGS_VERSION {
            return Err(format!("stored format version {version} is newer than this build knows"));
        }
        let s: StoredSettings = serde_json::from_slice(json).map_err(|_| "does not parse".to_owned())?;
        Ok(TenantSettings {
            policy: s.policy,
            portal_domains: s.portal_domains,
            domain_policies: s.domain_policies,
            always_secure: s.always_secure,
            mrn_patterns: s.mrn_patterns,
            dictionary: s.dictionary,
            category_rules: s
                .category_rules
                .into_iter()
                .map(|r| CategoryRule { sender: r.sender, category: r.category })
                .collect(),
            jurisdiction: s.jurisdiction,
            portal_brand: s.portal_brand,
        })
    }
}

/// "Mail from these senders is of this category."
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryRule {
    /// An address, `@domain` (that domain) or `*.domain` (its subdomains too).
    pub sender: String,
    /// The category given.
    pub category: Category,
}

/// Whether `address` matches `pattern` (`a@b`, `@b`, `*.b`), case-insensitively.
pub fn address_matches(pattern: &str, address: &str) -> bool {
    let (p, a) = (pattern.to_ascii_lowercase(), address.to_ascii_lowercase());
    let domain = a.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    if let Some(d) = p.strip_prefix('@') {
        domain == d
    } else if let Some(d) = p.strip_prefix("*.") {
        domain == d || domain.ends_with(&format!(".{d}"))
    } else {
        a == p
    }
}

impl TenantSettings {
    /// Checks patterns and names; the error names the field.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        self.portal_brand.validate()?;
        Classifier::new(&self.rules()).map_err(|e| InvalidInput::field("mrn_patterns", e.to_string()))?;
        let not_a_domain = |d: &str| d.is_empty() || d.contains('@') || d.contains(char::is_whitespace);
        if let Some(i) = self.portal_domains.iter().position(|d| not_a_domain(d)) {
            return Err(InvalidInput::field(format!("portal_domains[{i}]"), "not a domain name"));
        }
        if self.domain_policies.keys().any(|d| not_a_domain(d)) {
            return Err(InvalidInput::field("domain_policies", "a key is not a domain name"));
        }
        if let Some(j) = &self.jurisdiction
            && sealpost_retention::UsState::parse(j).is_err()
        {
            return Err(InvalidInput::field("jurisdiction", "not a US state postal code (e.g. CA)"));
        }
        for (i, r) in self.category_rules.iter().enumerate() {
            let body = r.sender.trim_start_matches('@').trim_start_matches("*.");
            if body.is_empty() || r.sender.contains(char::is_whitespace) {
                return Err(InvalidInput::field(
                    format!("category_rules[{i}].sender"),
                    "must be an address, @domain or *.domain",
                ));
            }
        }
        Ok(())
    }

    fn rules(&self) -> TenantRules {
        TenantRules { mrn_patterns: self.mrn_patterns.clone(), dictionary: self.dictionary.clone() }
    }

    /// The category the tenant's rules give mail from `sender`.
    pub fn category_for(&self, sender: Option<&str>) -> Option<Category> {
        let sender = sender?;
        self.category_rules.iter().find(|r| address_matches(&r.sender, sender)).map(|r| r.category)
    }

    /// The policy for one recipient domain, and whether the domain is a
    /// portal domain (see the module doc for the precedence).
    pub fn policy_for(&self, cfg: &DeliveryConfig, message: Option<PolicyMode>, domain: &str) -> (PolicyMode, bool) {
        let portal_domain =
            cfg.portal_domains.iter().chain(&self.portal_domains).any(|p| p.eq_ignore_ascii_case(domain));
        let by_domain = self.domain_policies.iter().find(|(d, _)| d.eq_ignore_ascii_case(domain)).map(|(_, m)| *m);
        (message.or(by_domain).or(self.policy).unwrap_or(cfg.policy), portal_domain)
    }
}

/// Settings with their compiled classifier.
pub struct Compiled {
    /// The settings.
    pub settings: TenantSettings,
    /// A classifier with the tenant's patterns and dictionary.
    pub classifier: Classifier,
    loaded: Instant,
}

/// Tenants' settings, read through a per-node cache.
pub struct Settings {
    core: Arc<Core>,
    cache: RwLock<HashMap<TenantId, Arc<Compiled>>>,
}

/// What a settings change changed, for the services that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a change of retention facts must be passed to the archive"]
pub struct SettingsChange {
    /// The default jurisdiction or what the classifier calls PHI changed:
    /// every stored retention decision is stale (the archive re-evaluates).
    pub retention_facts: bool,
}

fn name(tenant: &TenantId) -> String {
    format!("tenant-settings/{tenant}")
}

impl Settings {
    /// Builds the service.
    pub fn new(core: Arc<Core>) -> Arc<Settings> {
        Arc::new(Settings { core, cache: RwLock::new(HashMap::new()) })
    }

    /// A tenant's settings (defaults when never set).
    pub async fn get(&self, tenant: &TenantId) -> Result<Arc<Compiled>, ServerError> {
        if let Some(c) = self.cache.read().await.get(tenant)
            && c.loaded.elapsed() < CACHE_TTL
        {
            return Ok(c.clone());
        }
        let settings = match self.core.store.secret(&name(tenant)).await? {
            Some(s) => {
                let json = self.core.root().open_secret(&name(tenant), &s.sealed)?;
                StoredSettings::read(&json).map_err(|why| ServerError::State(format!("tenant settings: {why}")))?
            }
            None => TenantSettings::default(),
        };
        // Stored settings were validated; a failure here means the classifier changed.
        let classifier = Classifier::new(&settings.rules())
            .or_else(|_| Classifier::new(&TenantRules::default()))
            .map_err(|e| ServerError::State(e.to_string()))?;
        let compiled = Arc::new(Compiled { settings, classifier, loaded: Instant::now() });
        self.cache.write().await.insert(tenant.clone(), compiled.clone());
        Ok(compiled)
    }

    /// Replaces a tenant's settings (validated), audited as a configuration
    /// change. The caller passes a change of retention facts on to the
    /// archive (settings know nothing of retention).
    pub async fn put(
        &self,
        tenant: &TenantId,
        actor: Actor,
        settings: &TenantSettings,
    ) -> Result<SettingsChange, ServerError> {
        settings.validate().map_err(ServerError::Invalid)?;
        let before = self.get(tenant).await?.settings.clone();
        let json =
            serde_json::to_vec(&StoredSettings::seal_form(settings)).map_err(|e| ServerError::State(e.to_string()))?;
        let sealed = self.core.root().seal_secret(&name(tenant), &json)?;
        let event = NewEvent::new(tenant.clone(), actor, Action::ConfigChanged, Outcome::Success)
            .detail("what", DetailValue::Name("tenant-settings"))
            .detail("domain_policies", DetailValue::Count(settings.domain_policies.len() as i64))
            .detail("category_rules", DetailValue::Count(settings.category_rules.len() as i64));
        self.core
            .store
            .commit(Commit {
                ops: vec![Op::PutSecret(SecretRecord { name: name(tenant), sealed, public: None })],
                events: vec![event],
            })
            .await?;
        self.cache.write().await.remove(tenant);
        // Retention facts depend on the default jurisdiction and on what the
        // classifier calls PHI.
        Ok(SettingsChange {
            retention_facts: before.jurisdiction != settings.jurisdiction || before.rules() != settings.rules(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_patterns() {
        assert!(address_matches("@Example.org", "news@example.ORG"));
        assert!(!address_matches("@example.org", "a@sub.example.org"));
        assert!(address_matches("*.example.org", "a@sub.example.org"));
        assert!(address_matches("*.example.org", "a@example.org"));
        assert!(!address_matches("*.example.org", "a@badexample.org"));
        assert!(address_matches("a@example.org", "A@example.org"));
        assert!(!address_matches("a@example.org", "b@example.org"));
    }

    #[test]
    fn most_specific_policy_wins_and_portal_domains_always_apply() {
        let cfg = DeliveryConfig { portal_domains: vec!["webmail.example".into()], ..DeliveryConfig::default() };
        let s = TenantSettings {
            policy: Some(PolicyMode::TlsExclusive),
            portal_domains: vec!["free.example".into()],
            domain_policies: [("partner.example".to_owned(), PolicyMode::EncryptAlways)].into(),
            ..TenantSettings::default()
        };
        assert_eq!(s.policy_for(&cfg, None, "other.example"), (PolicyMode::TlsExclusive, false));
        assert_eq!(s.policy_for(&cfg, None, "PARTNER.example"), (PolicyMode::EncryptAlways, false));
        assert_eq!(
            s.policy_for(&cfg, Some(PolicyMode::PortalAlways), "partner.example"),
            (PolicyMode::PortalAlways, false)
        );
        assert!(s.policy_for(&cfg, None, "free.example").1);
        assert!(s.policy_for(&cfg, Some(PolicyMode::TlsPreferred), "webmail.example").1);
        assert_eq!(TenantSettings::default().policy_for(&cfg, None, "x.example").0, cfg.policy);
    }

    #[test]
    fn stored_form_round_trips_and_settings_without_a_version_read_as_version_1() {
        let s = TenantSettings {
            policy: Some(PolicyMode::TlsExclusive),
            portal_domains: vec!["free.example".into()],
            domain_policies: [("partner.example".to_owned(), PolicyMode::EncryptAlways)].into(),
            always_secure: true,
            mrn_patterns: vec!["MRN-[0-9]+".into()],
            dictionary: vec!["Jane Roe".into()],
            category_rules: vec![CategoryRule { sender: "@news.example".into(), category: Category::Marketing }],
            jurisdiction: Some("CA".into()),
            portal_brand: PortalBrand::default(),
        };
        let json = serde_json::to_vec(&StoredSettings::seal_form(&s)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["version"], 1, "{v}");
        assert_eq!(StoredSettings::read(&json).unwrap(), s);
        // Exactly what builds before the version field sealed.
        let old = br#"{"policy":"tls-exclusive","portal_domains":["free.example"],"domain_policies":{"partner.example":"encrypt-always"},"always_secure":true,"mrn_patterns":["MRN-[0-9]+"],"dictionary":["Jane Roe"],"category_rules":[{"sender":"@news.example","category":"marketing"}],"jurisdiction":"CA"}"#;
        assert_eq!(StoredSettings::read(old).unwrap(), s);
        assert_eq!(StoredSettings::read(b"{}").unwrap(), TenantSettings::default());
        let err = StoredSettings::read(br#"{"version":2,"dictionary":["Jane Roe"],"new":1}"#).unwrap_err();
        assert!(err.contains("version 2") && !err.contains("Roe"), "{err}");
    }

    #[test]
    fn validation_names_the_field() {
        let bad = TenantSettings { mrn_patterns: vec!["(".into()], ..TenantSettings::default() };
        assert!(bad.validate().unwrap_err().to_string().starts_with("mrn_patterns"));
        let bad = TenantSettings { portal_domains: vec!["a@b".into()], ..TenantSettings::default() };
        assert!(bad.validate().is_err());
        let bad = TenantSettings {
            category_rules: vec![CategoryRule { sender: "@".into(), category: Category::Marketing }],
            ..TenantSettings::default()
        };
        assert!(bad.validate().is_err());
        let s = TenantSettings {
            category_rules: vec![CategoryRule { sender: "@news.example".into(), category: Category::Marketing }],
            ..TenantSettings::default()
        };
        assert!(s.validate().is_ok());
        assert_eq!(s.category_for(Some("x@news.example")), Some(Category::Marketing));
        assert_eq!(s.category_for(Some("x@example")), None);
    }
}

#[cfg(test)]
mod brand_tests {
    use super::*;

    #[test]
    fn colours_parse_and_contrast_is_wcag() {
        assert_eq!(parse_colour("#0b5cad"), Some([0x0b, 0x5c, 0xad]));
        assert_eq!(parse_colour("0b5cad"), None);
        assert_eq!(parse_colour("#0b5ca"), None);
        assert_eq!(parse_colour("#0b5cag"), None);
        assert!((contrast_with_white([0, 0, 0]) - 21.0).abs() < 0.01);
        assert!((contrast_with_white([255, 255, 255]) - 1.0).abs() < 0.01);
        // #767676 is the classic lightest grey that passes 4.5:1 on white.
        assert!(contrast_with_white([0x76, 0x76, 0x76]) >= 4.5);
        assert!(contrast_with_white([0x77, 0x77, 0x77]) < 4.5);
    }

    #[test]
    fn brand_texts_are_bounded() {
        let ok = PortalBrand { organisation: Some("Riverside".into()), support: None, accent: Some("#0b5cad".into()) };
        assert!(ok.validate().is_ok());
        let long = PortalBrand { organisation: Some("x".repeat(101)), ..PortalBrand::default() };
        assert!(long.validate().is_err());
        let broken = PortalBrand { support: Some("a\nb".into()), ..PortalBrand::default() };
        assert!(broken.validate().is_err());
    }
}
