//! Retention policies (R-AR-2): the tenant's policy document (sealed, versioned),
//! the facts gathered from one stored message, and the lazy, stored
//! evaluation that `retention run` and the schedule start with.
//!
//! Evaluation is stored in clear columns of `messages` (`retain_until`,
//! `retention_rule`, `retention_action`, `retention_version`): dates and
//! rule ids are not PHI. A message is re-evaluated when the tenant's policy
//! version moves past the one it was evaluated under.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_model::{EmailAddress, MessageId, TenantId};
use sealpost_retention::{MessageFacts, Policy, StateTable, Until, UsState, default_policy, evaluate};
use sealpost_store::{Commit, Op, RETAIN_INDEFINITELY, RetentionRecord, RetentionUpdate, SecretRecord, Source};
use serde::{Deserialize, Serialize};
use time::Date;

use crate::Archive;
use crate::error::ArchiveError;
use crate::facts::custodians_of;
use crate::index::{DecideRetention, IndexTimeRetention};
use sealpost_core::ServerError;
use sealpost_core::access::OpenedMessage;
use sealpost_core::config::resolve;
use sealpost_core::settings::Compiled;

/// Messages evaluated per commit.
const EVALUATION_BATCH: i64 = 500;

/// The version stored with each retention decision: the policy's version
/// (high 32 bits) and the state table's rules fingerprint (low 32 bits), so
/// a corrected table — shipped by an upgrade, or an edited copy — makes
/// every stored decision stale and the next run evaluates it again (a
/// child's record must not keep a date from a table that lacked its state's
/// minors rule).
pub(crate) fn decision_version(policy_version: i64, states: &StateTable) -> i64 {
    (policy_version << 32) | (states.rules_fingerprint() & 0xFFFF_FFFF) as i64
}

/// A tenant's policy with its version. Version 0 is the built-in default
/// ([`default_policy`]) of a tenant that never set one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionedPolicy {
    /// Moves by one at every change; messages evaluated under another
    /// version are evaluated again.
    pub version: i64,
    /// The rules.
    pub policy: Policy,
}

/// The refused field of a policy: the rule at fault (`rules[2]`).
fn policy_invalid(e: &sealpost_retention::PolicyError) -> sealpost_core::InvalidInput {
    use sealpost_retention::PolicyError;
    match e {
        PolicyError::DuplicateId { index, .. } => {
            sealpost_core::InvalidInput::field(format!("rules[{index}].id"), e.to_string())
        }
        PolicyError::AgeRange { index, .. } | PolicyError::Empty { index, .. } => {
            sealpost_core::InvalidInput::field(format!("rules[{index}]"), e.to_string())
        }
        _ => sealpost_core::InvalidInput::field("rules", e.to_string()),
    }
}

fn policy_secret(tenant: &TenantId) -> String {
    format!("retention-policy/{tenant}")
}

pub use crate::facts::{date_micros, format_date, micros_date, parse_date};

fn until_micros(until: Until) -> i64 {
    match until {
        Until::Date(d) => date_micros(d),
        Until::Indefinite => RETAIN_INDEFINITELY,
    }
}

/// A message's retention as shown by `GET /v1/messages/{id}` and
/// `sealpost message show`: dates, a rule id and fixed words, no PHI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionView {
    /// `YYYY-MM-DD`, `indefinite`, or null when not evaluated yet.
    pub until: Option<String>,
    /// The deciding rule (`state-XX` for the state table).
    pub rule: Option<String>,
    /// `dispose` or `review`.
    pub action: Option<String>,
    /// "rule hipaa-documentation, until 2032-11-23".
    pub explanation: String,
    /// A reviewer postponed disposal until this date.
    pub extended_until: Option<String>,
    /// When the message was disposed of (RFC 3339).
    pub disposed_at: Option<String>,
}

impl RetentionView {
    /// The view of a stored retention record.
    pub fn of(r: &RetentionRecord) -> Self {
        let until = r.retain_until.map(|u| match micros_date(u) {
            Some(d) if u != RETAIN_INDEFINITELY => format_date(d),
            _ => "indefinite".to_owned(),
        });
        let mut explanation = match (&until, &r.rule) {
            (None, _) => "not evaluated yet".to_owned(),
            (Some(_), None) => "no rule matched; kept indefinitely".to_owned(),
            (Some(u), Some(rule)) if u == "indefinite" => format!("rule {rule}, kept indefinitely"),
            (Some(u), Some(rule)) => format!("rule {rule}, until {u}"),
        };
        let extended_until = r.extended_until.and_then(micros_date).map(format_date);
        if let Some(e) = &extended_until {
            explanation.push_str(&format!("; extended by review until {e}"));
        }
        RetentionView {
            until,
            rule: r.rule.clone(),
            action: r.action.clone(),
            explanation,
            extended_until,
            disposed_at: r.disposed_at.map(sealpost_audit::rfc3339_micros),
        }
    }
}

/// Addresses from header fields (imported mail has no envelope of its own).
fn header_addresses(raw: &[u8]) -> (Option<String>, Vec<String>) {
    let Some(parsed) = mail_parser::MessageParser::default().parse_headers(raw) else {
        return (None, Vec::new());
    };
    let list = |a: Option<&mail_parser::Address>| -> Vec<String> {
        a.map(|a| a.iter().filter_map(|x| x.address().map(str::to_owned)).collect()).unwrap_or_default()
    };
    let from = list(parsed.from()).into_iter().next();
    let mut to = list(parsed.to());
    to.extend(list(parsed.cc()));
    (from, to)
}

fn metadata_text<'a>(m: &'a OpenedMessage, key: &str) -> Option<&'a str> {
    m.meta.metadata.get(key).and_then(|v| v.as_str())
}

/// Gathers the facts of a message opened with its bytes (PHI presence
/// needs the classifier to read them).
/// `phi`: whether the classifier found PHI, when the caller already ran it
/// on the bytes (the indexer does); `None` runs it here.
pub(crate) fn gather(
    m: &OpenedMessage,
    settings: &Compiled,
    matched: &HashMap<String, HashSet<MessageId>>,
    phi: Option<bool>,
) -> MessageFacts {
    let date = micros_date(m.record.message_date).unwrap_or(Date::MIN);
    let mut facts = MessageFacts::new(date, m.record.category);
    let raw = m.raw.as_deref().unwrap_or_default();
    if !m.meta.notice {
        facts.phi = phi.unwrap_or_else(|| {
            let scan = settings.classifier.scan_message_report(raw);
            !scan.findings.is_empty() || scan.truncated
        });
    }
    let address = |s: &str| EmailAddress::parse(s, true).ok();
    facts.sender = m.meta.mail_from.as_deref().and_then(address);
    facts.recipients = m.meta.recipients.iter().filter_map(|r| address(&r.address)).collect();
    if m.record.source == Source::Import || facts.sender.is_none() {
        let (from, to) = header_addresses(raw);
        if facts.sender.is_none() {
            facts.sender = from.as_deref().and_then(address);
        }
        facts.recipients.extend(to.iter().filter_map(|a| address(a)));
    }
    facts.custodians = custodians_of(m);
    // A malformed value counts as unknown: rules that need it wait (keep
    // indefinitely) rather than guess.
    facts.jurisdiction = metadata_text(m, "jurisdiction")
        .or(settings.settings.jurisdiction.as_deref())
        .and_then(|j| UsState::parse(&j.trim().to_ascii_uppercase()).ok());
    facts.patient_dob = metadata_text(m, "patient_dob").and_then(parse_date);
    facts.last_treatment = metadata_text(m, "last_treatment").and_then(parse_date);
    facts.matched_queries =
        matched.iter().filter(|(_, ids)| ids.contains(&m.record.id)).map(|(rule, _)| rule.clone()).collect();
    facts
}

/// Everything a retention decision needs besides the message, for one
/// tenant and policy version: shared by the run's parallel re-evaluation
/// and the indexer (which evaluates each message as it indexes it).
pub(crate) struct Evaluator {
    version: i64,
    policy: Policy,
    states: StateTable,
    settings: Arc<Compiled>,
    matched: HashMap<String, HashSet<MessageId>>,
}

impl Evaluator {
    /// The decision for one message opened with its bytes, as the update
    /// that stores it. Pure CPU: callers run it off the async threads.
    pub(crate) fn decide(&self, tenant: &TenantId, m: &OpenedMessage, phi: Option<bool>) -> RetentionUpdate {
        let decision = evaluate(&self.policy, &self.states, &gather(m, &self.settings, &self.matched, phi));
        RetentionUpdate {
            tenant: tenant.clone(),
            message: m.record.id,
            retain_until: until_micros(decision.until),
            rule: decision.rule_id,
            action: decision.action.as_str().to_owned(),
            version: self.version,
        }
    }
}

/// The result of an evaluation pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EvaluationReport {
    /// Messages (re-)evaluated.
    pub evaluated: usize,
    /// Messages that could not be opened (left unevaluated: never disposed).
    pub failed: usize,
}

impl Archive {
    /// The tenant's policy and its version (the default, version 0, until one is set).
    pub async fn retention_policy(&self, tenant: &TenantId) -> Result<VersionedPolicy, ServerError> {
        let name = policy_secret(tenant);
        match self.core.store.secret(&name).await? {
            Some(s) => {
                let json = self.core.root().open_secret(&name, &s.sealed)?;
                serde_json::from_slice(&json).map_err(|e| ServerError::State(format!("retention policy: {e}")))
            }
            None => Ok(VersionedPolicy { version: 0, policy: default_policy() }),
        }
    }

    /// Passes a tenant settings change on to retention: when the default
    /// jurisdiction or what the classifier calls PHI changed, every stored
    /// decision is stale; a new policy version (same rules) makes the next
    /// run re-evaluate, and is audited as the policy change it is in effect.
    pub async fn settings_changed(
        &self,
        tenant: &TenantId,
        actor: Actor,
        change: sealpost_core::settings::SettingsChange,
    ) -> Result<(), ServerError> {
        if change.retention_facts {
            let current = self.retention_policy(tenant).await?;
            self.put_retention_policy(tenant, actor, current.policy).await?;
        }
        Ok(())
    }

    /// Replaces the tenant's policy (validated), bumping its version;
    /// audited `retention.policy_changed`. Returns the new version.
    pub async fn put_retention_policy(
        &self,
        tenant: &TenantId,
        actor: Actor,
        policy: Policy,
    ) -> Result<i64, ServerError> {
        policy.validate().map_err(|e| ServerError::Invalid(policy_invalid(&e)))?;
        let previous = self.retention_policy(tenant).await?;
        let doc = VersionedPolicy { version: previous.version + 1, policy };
        let name = policy_secret(tenant);
        let json = serde_json::to_vec(&doc).map_err(|e| ServerError::State(e.to_string()))?;
        let sealed = self.core.root().seal_secret(&name, &json)?;
        let event = NewEvent::new(tenant.clone(), actor, Action::RetentionPolicyChanged, Outcome::Success)
            .detail("version", DetailValue::Count(doc.version))
            .detail("rules", DetailValue::Count(doc.policy.rules.len() as i64));
        // The secret row is the version's only writer: two concurrent
        // changes both write version n+1, and the later one wins whole.
        self.core
            .store
            .commit(Commit {
                ops: vec![Op::PutSecret(SecretRecord { name, sealed, public: None })],
                events: vec![event],
            })
            .await?;
        Ok(doc.version)
    }

    /// The state medical-record table in force: `[archive] state_table`, else the shipped one.
    pub fn state_table(&self) -> Result<StateTable, ServerError> {
        let table = match &self.core.cfg.archive.state_table {
            Some(path) => StateTable::load(&resolve(&self.core.data_dir, path)),
            None => StateTable::shipped(),
        };
        table.map_err(|e| ServerError::Config(format!("archive.state_table: {e}")))
    }

    /// Runs every rule's keyword query once; a query the search index
    /// cannot answer fails the evaluation, naming the rule (loudly: a rule
    /// that silently matched nothing could shorten retention).
    async fn rule_query_matches(
        &self,
        tenant: &TenantId,
        policy: &Policy,
    ) -> Result<HashMap<String, HashSet<MessageId>>, ArchiveError> {
        let mut matched = HashMap::new();
        for (rule, query) in policy.queries() {
            let ids = self.matching_ids(tenant, query).await.map_err(|e| {
                ArchiveError::Unavailable(format!("rule {rule}: keyword query needs the search index: {e}"))
            })?;
            matched.insert(rule.to_string(), ids.into_iter().collect());
        }
        Ok(matched)
    }

    /// The evaluator for messages as the indexer adds them, or `None` when
    /// the tenant's policy has keyword-query rules: their answer comes from
    /// the index, which does not hold the message yet, so the run evaluates
    /// those tenants' messages instead.
    async fn index_time_evaluator(&self, tenant: &TenantId) -> Result<Option<Arc<Evaluator>>, ServerError> {
        let VersionedPolicy { version, policy } = self.retention_policy(tenant).await?;
        if policy.queries().next().is_some() {
            return Ok(None);
        }
        let (states, settings) = (self.state_table()?, self.settings.get(tenant).await?);
        let version = decision_version(version, &states);
        Ok(Some(Arc::new(Evaluator { version, policy, states, settings, matched: HashMap::new() })))
    }

    /// Evaluates the tenant's messages not yet evaluated under the current
    /// policy version (normally only after a policy change: the indexer
    /// evaluates new messages), and stores the decisions. Messages are
    /// opened concurrently and classified on the blocking pool, so a page
    /// uses every core.
    pub async fn evaluate_retention(&self, tenant: &TenantId) -> Result<EvaluationReport, ArchiveError> {
        let VersionedPolicy { version, policy } = self.retention_policy(tenant).await?;
        let states = self.state_table()?;
        let version = decision_version(version, &states);
        // Keyword-query rules answer from the search index: only messages
        // it held before the queries run are evaluated now; the others stay
        // unevaluated (so never expire) until a run after their indexing.
        let indexed_before = policy.queries().next().is_some().then(sealpost_model::now_micros);
        let mut report = EvaluationReport::default();
        let mut evaluator: Option<Arc<Evaluator>> = None;
        let mut after: Option<MessageId> = None;
        let parallel = std::thread::available_parallelism().map_or(2, usize::from) * 2;
        loop {
            let page = self
                .core
                .store
                .retention_pending(tenant, version, after.as_ref(), EVALUATION_BATCH, indexed_before)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(*last);
            // Queries run only when something needs evaluating.
            let ev = match &evaluator {
                Some(e) => e.clone(),
                None => {
                    let matched = self.rule_query_matches(tenant, &policy).await?;
                    let settings = self.settings.get(tenant).await?;
                    let states = states.clone();
                    let e = Arc::new(Evaluator { version, policy: policy.clone(), states, settings, matched });
                    evaluator = Some(e.clone());
                    e
                }
            };
            let mut decided = Vec::with_capacity(page.len());
            for ids in page.chunks(parallel) {
                decided
                    .extend(futures::future::join_all(ids.iter().map(|id| self.decide(tenant, *id, ev.clone()))).await);
            }
            let mut updates = Vec::with_capacity(decided.len());
            for (id, result) in decided {
                match result {
                    Ok(u) => updates.push(u),
                    Err(e) => {
                        tracing::warn!(tenant = %tenant, message = %id, error = %e, "retention: cannot evaluate");
                        report.failed += 1;
                    }
                }
            }
            report.evaluated += updates.len();
            if !updates.is_empty() {
                self.core.store.commit(Commit { ops: vec![Op::SetRetention(updates)], events: Vec::new() }).await?;
            }
        }
        Ok(report)
    }

    /// One message's decision: opened here, classified and evaluated on the
    /// blocking pool.
    async fn decide(
        &self,
        tenant: &TenantId,
        id: MessageId,
        ev: Arc<Evaluator>,
    ) -> (MessageId, Result<RetentionUpdate, ServerError>) {
        let opened = match self.reader.load_message(tenant, &id, true).await {
            Ok(o) => o,
            Err(e) => return (id, Err(e)),
        };
        let t = tenant.clone();
        let result = tokio::task::spawn_blocking(move || ev.decide(&t, &opened, None))
            .await
            .map_err(|e| ServerError::State(e.to_string()));
        (id, result)
    }

    /// A message's retention as stored (`None`: no such message).
    pub async fn retention_of(&self, tenant: &TenantId, id: &MessageId) -> Result<Option<RetentionView>, ServerError> {
        Ok(self.core.store.message_retention(tenant, id).await?.as_ref().map(RetentionView::of))
    }
}

impl DecideRetention for Evaluator {
    fn decide(&self, tenant: &TenantId, m: &OpenedMessage, phi: Option<bool>) -> RetentionUpdate {
        Evaluator::decide(self, tenant, m, phi)
    }
}

impl IndexTimeRetention for Archive {
    fn decider<'a>(
        &'a self,
        tenant: &'a TenantId,
    ) -> futures::future::BoxFuture<'a, Result<Option<Arc<dyn DecideRetention>>, ServerError>> {
        Box::pin(async move {
            let evaluator = self.index_time_evaluator(tenant).await?;
            Ok(evaluator.map(|e| e as Arc<dyn DecideRetention>))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    #[test]
    fn dates_and_micros_round_trip_at_midnight_utc() {
        let d = date!(2032 - 11 - 23);
        assert_eq!(micros_date(date_micros(d)), Some(d));
        assert_eq!(micros_date(date_micros(d) + 86_399_999_999), Some(d));
        assert_eq!(parse_date("2032-11-23"), Some(d));
        assert_eq!(parse_date("indefinite"), None);
        assert_eq!(parse_date("2032-11-31"), None);
        assert_eq!(format_date(d), "2032-11-23");
    }

    #[test]
    fn view_explains_dates_indefinite_and_extensions() {
        let mut r = RetentionRecord {
            message: MessageId::new(),
            message_date: 0,
            category: sealpost_model::Category::Transactional,
            retain_until: Some(date_micros(date!(2032 - 11 - 23))),
            rule: Some("hipaa-documentation".into()),
            action: Some("dispose".into()),
            version: Some(0),
            extended_until: None,
            disposed_at: None,
        };
        assert_eq!(RetentionView::of(&r).explanation, "rule hipaa-documentation, until 2032-11-23");
        r.retain_until = Some(RETAIN_INDEFINITELY);
        assert_eq!(RetentionView::of(&r).until.as_deref(), Some("indefinite"));
        r.extended_until = Some(date_micros(date!(2040 - 01 - 01)));
        assert!(RetentionView::of(&r).explanation.ends_with("extended by review until 2040-01-01"));
        r.retain_until = None;
        assert_eq!(RetentionView::of(&r).explanation.split(';').next(), Some("not evaluated yet"));
    }

    proptest! {
        #[test]
        fn parse_date_never_panics_and_round_trips(s in "[0-9-]{0,12}") {
            if let Some(d) = parse_date(&s) {
                prop_assert_eq!(parse_date(&format_date(d)), Some(d));
            }
        }
    }
}
