//! Legal holds (R-AR-4): a matter with a name, a reason and a scope
//! (custodians, a date range on the message date, a search query); all
//! given parts must match. A hold preserves matching messages, present and
//! future, whatever the retention says: coverage is computed when disposal
//! runs, and disposal re-checks the holds version in the transaction that
//! deletes (see `disposal.rs`).
//!
//! Name, reason, scope and justifications are sealed under the root key (a
//! matter name can name a patient); the name is found by a keyed hash. Audit
//! events carry ids only.
//!
//! Release is two-person: `release` (person A, with a written
//! justification) then `approve-release` (person B ≠ A). A person is a user
//! with role admin, compliance or legal (CLI: `--user` and
//! `SEALPOST_PASSWORD`), or an API key with the admin scope: until console
//! sessions exist, an API key stands for the person it was issued to.

use std::collections::HashSet;

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_crypto::{PasswordHash, verify_password};
use sealpost_model::{MessageId, RecipientId, Role, Scope, TenantId, now_micros};
use sealpost_store::{Commit, HoldChange, HoldRecord, Op, StoreError};
use serde::{Deserialize, Serialize};

use crate::Archive;
use crate::facts::{custodians_of, date_micros, parse_date};
use sealpost_core::principal::Principal;
use sealpost_core::{InvalidInput, ServerError};

/// A hold's id. Holds reuse the generic time-ordered id type that webhooks
/// and recipient keys use, so audit events can name them.
pub type HoldId = RecipientId;

pub use crate::error::ArchiveError;

/// What a hold covers. Every part given must match; an empty scope covers
/// every message of the tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldScope {
    /// Custodian addresses (the sender of outbound mail, an import's custodian).
    #[serde(default)]
    pub custodians: Vec<String>,
    /// First message date covered, `YYYY-MM-DD` (inclusive).
    #[serde(default)]
    pub from: Option<String>,
    /// Last message date covered, `YYYY-MM-DD` (inclusive).
    #[serde(default)]
    pub until: Option<String>,
    /// A search query (R-AR-5 syntax).
    #[serde(default)]
    pub query: Option<String>,
}

impl HoldScope {
    /// Checks dates and emptiness; the error names the field.
    pub fn validate(&self) -> Result<(), ArchiveError> {
        let date = |field: &str, v: &Option<String>| match v {
            Some(t) if parse_date(t).is_none() => {
                Err(ArchiveError::Invalid(InvalidInput::field(format!("scope.{field}"), "expected YYYY-MM-DD")))
            }
            _ => Ok(()),
        };
        date("from", &self.from)?;
        date("until", &self.until)?;
        if let (Some(f), Some(u)) =
            (self.from.as_deref().and_then(parse_date), self.until.as_deref().and_then(parse_date))
            && f > u
        {
            return Err(ArchiveError::Invalid(InvalidInput::field("scope.until", "before scope.from")));
        }
        if self.custodians.iter().any(|c| c.trim().is_empty() || !c.contains('@')) {
            return Err(ArchiveError::Invalid(InvalidInput::field("scope.custodians", "expected addresses")));
        }
        if self.query.as_deref().is_some_and(|q| q.trim().is_empty()) {
            return Err(ArchiveError::Invalid(InvalidInput::field("scope.query", "empty")));
        }
        Ok(())
    }
}

/// The sealed part of a hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldDocument {
    /// The matter's name (unique in the tenant).
    pub name: String,
    /// Why it is held.
    pub reason: String,
    /// What it covers.
    pub scope: HoldScope,
    /// The written justification given with the release request.
    #[serde(default)]
    pub release_justification: Option<String>,
    /// The person who asked for the release (a user id), so that the
    /// approver can be checked to be someone else, whichever key or
    /// password each used. Absent on requests made before it was recorded.
    #[serde(default)]
    pub release_requested_person: Option<String>,
}

/// A hold as listed (to authorized callers: name and reason are shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldView {
    /// Id.
    pub id: String,
    /// `active`, `release_requested` or `released`.
    pub state: String,
    /// Name, reason, scope, justification.
    #[serde(flatten)]
    pub document: HoldDocument,
    /// RFC 3339.
    pub created_at: String,
    /// Audit actor of the creator.
    pub created_by: String,
    /// Audit actor who asked for release.
    pub release_requested_by: Option<String>,
    /// Audit actor who approved the release.
    pub released_by: Option<String>,
    /// RFC 3339.
    pub released_at: Option<String>,
}

/// One active hold, ready for coverage checks.
struct Loaded {
    id: HoldId,
    custodians: HashSet<String>,
    from: Option<i64>,
    until_exclusive: Option<i64>,
    query_ids: Option<HashSet<MessageId>>,
}

impl Loaded {
    fn covers(&self, id: &MessageId, message_date: i64, custodians: &[String]) -> bool {
        self.covers_without_query(message_date, custodians)
            && self.query_ids.as_ref().is_none_or(|ids| ids.contains(id))
    }

    /// The parts of the scope that need no search index.
    fn covers_without_query(&self, message_date: i64, custodians: &[String]) -> bool {
        (self.custodians.is_empty() || custodians.iter().any(|c| self.custodians.contains(c)))
            && self.from.is_none_or(|f| message_date >= f)
            && self.until_exclusive.is_none_or(|u| message_date < u)
    }
}

/// A tenant's active holds as of `version` (read before the holds themselves,
/// so a hold committed in between makes the version stale, never missed).
pub struct ActiveHolds {
    /// The holds version they were read at.
    pub version: i64,
    holds: Vec<Loaded>,
    /// Set when a hold has a query scope: the time taken before its query
    /// ran. The index answered for exactly the messages marked indexed
    /// before then (the indexer marks a message only after the index
    /// commit that holds it); any other message's coverage is unknown.
    queried_at: Option<i64>,
}

/// Whether a message may be disposed of, as far as holds go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// A hold covers it.
    Held(HoldId),
    /// A query-scoped hold may cover it, and the search index could not say
    /// (the message was not indexed when the query ran): keep it for now.
    Unknown,
    /// No hold covers it.
    Free,
}

impl ActiveHolds {
    /// Whether no hold is active.
    pub fn is_empty(&self) -> bool {
        self.holds.is_empty()
    }

    /// The first hold covering a message, if any, as far as the search
    /// index knows (for the search operator; disposal uses [`Self::coverage`]).
    pub fn covering(&self, id: &MessageId, message_date: i64, custodians: &[String]) -> Option<HoldId> {
        self.holds.iter().find(|h| h.covers(id, message_date, custodians)).map(|h| h.id)
    }

    /// Coverage for disposal: held, free, or unknown when a query-scoped
    /// hold could cover the message but the index did not hold it when the
    /// query ran (`indexed_at`: when it was marked indexed, if it was).
    pub fn coverage(
        &self,
        id: &MessageId,
        message_date: i64,
        custodians: &[String],
        indexed_at: Option<i64>,
    ) -> Coverage {
        if let Some(h) = self.covering(id, message_date, custodians) {
            return Coverage::Held(h);
        }
        let answered = match self.queried_at {
            None => true,
            Some(t) => indexed_at.is_some_and(|at| at < t),
        };
        let unknown = !answered
            && self.holds.iter().any(|h| h.query_ids.is_some() && h.covers_without_query(message_date, custodians));
        if unknown { Coverage::Unknown } else { Coverage::Free }
    }

    /// Whether any active hold needs a message's custodians (only then must
    /// the message be opened to check coverage).
    pub fn needs_custodians(&self) -> bool {
        self.holds.iter().any(|h| !h.custodians.is_empty())
    }
}

fn hold_secret(tenant: &TenantId, id: &HoldId) -> String {
    format!("hold/{tenant}/{id}")
}

fn is_active(state: &str) -> bool {
    state == "active" || state == "release_requested"
}

/// Why an unbound API key may not take part in a two-person action.
const NO_PERSON: &str = "this API key is not bound to a person, and a hold release needs two different people: \
     use a key created with `sealpost apikey create --user NAME`, or sign in as the user";

/// Whether a caller may create and release holds: a user with role admin,
/// compliance or legal, or an API key with the admin scope.
pub fn may_manage_holds(p: &Principal) -> bool {
    match p {
        Principal::User { role, .. } => matches!(role, Role::Admin | Role::Compliance | Role::Legal),
        Principal::ApiKey { .. } => p.allows(Scope::Admin),
    }
}

impl Archive {
    fn hold_name_hash(&self, tenant: &TenantId, name: &str) -> Vec<u8> {
        self.core.root().lookup_hash(tenant.as_str(), format!("hold:{}", name.trim().to_lowercase()).as_bytes())
    }

    fn open_hold(&self, r: &HoldRecord) -> Result<HoldDocument, ArchiveError> {
        let json = self.core.root().open_secret(&hold_secret(&r.tenant, &r.id), &r.sealed)?;
        serde_json::from_slice(&json).map_err(|e| ServerError::State(format!("hold {}: {e}", r.id)).into())
    }

    fn seal_hold(&self, tenant: &TenantId, id: &HoldId, doc: &HoldDocument) -> Result<Vec<u8>, ArchiveError> {
        let json = serde_json::to_vec(doc).map_err(|e| ServerError::State(e.to_string()))?;
        Ok(self.core.root().seal_secret(&hold_secret(tenant, id), &json)?)
    }

    /// Checks a person's user name and password for acting on holds or the
    /// disposition queue from the CLI (verified like a login); the role
    /// must be admin, compliance or legal. A wrong password is audited as
    /// `login.failed` (no name recorded), a role that may not act as a
    /// failed `purpose`.
    pub async fn authenticate_person(
        &self,
        username: &str,
        password: &str,
        purpose: Action,
    ) -> Result<Principal, ArchiveError> {
        let user = self.core.store.user_by_name(username).await?;
        let ok = match &user {
            Some(u) => {
                let (pw, stored) = (password.to_owned(), PasswordHash::from_stored(u.password_hash.clone()));
                tokio::task::spawn_blocking(move || verify_password(&pw, &stored))
                    .await
                    .map_err(|e| ServerError::State(e.to_string()))?
            }
            None => false,
        };
        let Some(user) = user.filter(|_| ok) else {
            let ev = NewEvent::new(
                sealpost_core::system_tenant(),
                Actor::unknown_login(),
                Action::LoginFailed,
                Outcome::Failure,
            )
            .detail("via", DetailValue::Name("cli"));
            self.core.audit(vec![ev]).await?;
            return Err(ArchiveError::Refused("wrong user name or password".into()));
        };
        let p = Principal::User { id: user.id, tenant: user.tenant.clone(), role: user.role };
        if !may_manage_holds(&p) {
            let text = format!("role {} may not act on legal holds or disposition reviews", user.role);
            return Err(self.refuse(&user.tenant, &p, purpose, None, "not-authorized", text).await);
        }
        Ok(p)
    }

    async fn refuse(
        &self,
        tenant: &TenantId,
        p: &Principal,
        action: Action,
        hold: Option<HoldId>,
        why: &'static str,
        text: String,
    ) -> ArchiveError {
        let mut ev =
            NewEvent::new(tenant.clone(), p.actor(), action, Outcome::Failure).detail("reason", DetailValue::Name(why));
        if let Some(h) = hold {
            ev = ev.target(h);
        }
        if let Err(e) = self.core.audit(vec![ev]).await {
            return e.into();
        }
        ArchiveError::Refused(text)
    }

    /// Creates a hold; audited `hold.created`. Returns its id.
    pub async fn create_hold(
        &self,
        tenant: &TenantId,
        p: &Principal,
        name: &str,
        reason: &str,
        scope: HoldScope,
    ) -> Result<HoldId, ArchiveError> {
        if !may_manage_holds(p) || p.tenant() != tenant {
            return Err(self
                .refuse(tenant, p, Action::HoldCreated, None, "not-authorized", "may not create legal holds".into())
                .await);
        }
        if name.trim().is_empty() {
            return Err(ArchiveError::Invalid(InvalidInput::field("name", "required")));
        }
        if reason.trim().is_empty() {
            return Err(ArchiveError::Invalid(InvalidInput::field("reason", "required")));
        }
        scope.validate()?;
        let id = HoldId::new();
        let doc = HoldDocument {
            name: name.trim().to_owned(),
            reason: reason.to_owned(),
            scope,
            release_justification: None,
            release_requested_person: None,
        };
        let record = HoldRecord {
            id,
            tenant: tenant.clone(),
            name_hash: self.hold_name_hash(tenant, name),
            sealed: self.seal_hold(tenant, &id, &doc)?,
            state: "active".into(),
            created_at: now_micros(),
            created_by: p.actor().into_string(),
            release_requested_by: None,
            release_requested_at: None,
            released_by: None,
            released_at: None,
        };
        let event = NewEvent::new(tenant.clone(), p.actor(), Action::HoldCreated, Outcome::Success)
            .target(id)
            .detail("custodians", DetailValue::Count(doc.scope.custodians.len() as i64))
            .detail("date_range", DetailValue::Bool(doc.scope.from.is_some() || doc.scope.until.is_some()))
            .detail("query", DetailValue::Bool(doc.scope.query.is_some()));
        match self.core.store.commit(Commit { ops: vec![Op::PutHold(record)], events: vec![event] }).await {
            Ok(_) => Ok(id),
            Err(StoreError::Conflict(_)) => {
                Err(ArchiveError::Invalid(InvalidInput::field("name", "a hold with this name exists")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Every hold of the tenant, opened.
    pub async fn list_holds(&self, tenant: &TenantId) -> Result<Vec<HoldView>, ArchiveError> {
        let mut out = Vec::new();
        for r in self.core.store.holds(tenant).await? {
            out.push(HoldView {
                id: r.id.to_string(),
                document: self.open_hold(&r)?,
                state: r.state,
                created_at: sealpost_audit::rfc3339_micros(r.created_at),
                created_by: r.created_by,
                release_requested_by: r.release_requested_by,
                released_by: r.released_by,
                released_at: r.released_at.map(sealpost_audit::rfc3339_micros),
            });
        }
        Ok(out)
    }

    /// Asks for a hold's release with a written justification (first of
    /// two people); audited `hold.release_requested`.
    pub async fn request_hold_release(
        &self,
        tenant: &TenantId,
        p: &Principal,
        id: &HoldId,
        justification: &str,
    ) -> Result<(), ArchiveError> {
        let action = Action::HoldReleaseRequested;
        if !may_manage_holds(p) || p.tenant() != tenant {
            let text = "may not release legal holds".to_owned();
            return Err(self.refuse(tenant, p, action, Some(*id), "not-authorized", text).await);
        }
        let r = self.core.store.hold(tenant, id).await?.ok_or_else(|| ArchiveError::NotFound(format!("hold {id}")))?;
        let Some(person) = p.person() else {
            return Err(self.refuse(tenant, p, action, Some(*id), "no-person", NO_PERSON.to_owned()).await);
        };
        if justification.trim().len() < 10 {
            let text = "a written justification (at least 10 characters) is required".to_owned();
            return Err(self.refuse(tenant, p, action, Some(*id), "no-justification", text).await);
        }
        let mut doc = self.open_hold(&r)?;
        // A request made before requesters were recorded as people may be
        // made again, so that it can be approved at all.
        let renewable = r.state == "release_requested" && doc.release_requested_person.is_none();
        if r.state != "active" && !renewable {
            let text = format!("hold {id} is {}, not active", r.state);
            return Err(self.refuse(tenant, p, action, Some(*id), "wrong-state", text).await);
        }
        doc.release_justification = Some(justification.to_owned());
        doc.release_requested_person = Some(person.to_string());
        let change = HoldChange {
            tenant: tenant.clone(),
            id: *id,
            from: r.state.clone(),
            to: "release_requested".into(),
            by: p.actor().into_string(),
            sealed: self.seal_hold(tenant, id, &doc)?,
        };
        let event = NewEvent::new(tenant.clone(), p.actor(), action, Outcome::Success).target(*id);
        self.core.store.commit(Commit { ops: vec![Op::ChangeHold(change)], events: vec![event] }).await?;
        Ok(())
    }

    /// Approves a requested release (second person, not the requester);
    /// the hold stops preserving anything. Audited `hold.released`.
    pub async fn approve_hold_release(
        &self,
        tenant: &TenantId,
        p: &Principal,
        id: &HoldId,
    ) -> Result<(), ArchiveError> {
        let action = Action::HoldReleased;
        if !may_manage_holds(p) || p.tenant() != tenant {
            let text = "may not release legal holds".to_owned();
            return Err(self.refuse(tenant, p, action, Some(*id), "not-authorized", text).await);
        }
        let r = self.core.store.hold(tenant, id).await?.ok_or_else(|| ArchiveError::NotFound(format!("hold {id}")))?;
        if r.state != "release_requested" {
            let text = format!("hold {id} is {}: its release must be requested first (hold release)", r.state);
            return Err(self.refuse(tenant, p, action, Some(*id), "not-requested", text).await);
        }
        let Some(person) = p.person() else {
            return Err(self.refuse(tenant, p, action, Some(*id), "no-person", NO_PERSON.to_owned()).await);
        };
        let requester = self.open_hold(&r)?.release_requested_person;
        let same_person = match requester {
            Some(requester) => requester == person.to_string(),
            // Requested before people were recorded: who asked is unknown,
            // so no one may approve; the request can be made again.
            None => true,
        };
        if same_person {
            let text = "the release must be approved by a second authorized person, not the requester \
                        (a request from before requesters were recorded must be made again)"
                .to_owned();
            return Err(self.refuse(tenant, p, action, Some(*id), "same-person", text).await);
        }
        let change = HoldChange {
            tenant: tenant.clone(),
            id: *id,
            from: "release_requested".into(),
            to: "released".into(),
            by: p.actor().into_string(),
            sealed: r.sealed.clone(),
        };
        let event = NewEvent::new(tenant.clone(), p.actor(), action, Outcome::Success).target(*id);
        self.core.store.commit(Commit { ops: vec![Op::ChangeHold(change)], events: vec![event] }).await?;
        Ok(())
    }

    /// The tenant's active holds, with query scopes run. The version is
    /// read first (see [`ActiveHolds`]). A query the search index cannot
    /// answer is an error: nothing may be disposed of while a hold's
    /// coverage is unknown.
    pub async fn active_holds(&self, tenant: &TenantId) -> Result<ActiveHolds, ArchiveError> {
        let version = self.core.store.holds_version(tenant).await?;
        let queried_at = sealpost_model::now_micros();
        let mut holds = Vec::new();
        for r in self.core.store.holds(tenant).await?.into_iter().filter(|r| is_active(&r.state)) {
            holds.push(self.load_hold(tenant, &r).await?);
        }
        let queried_at = holds.iter().any(|h| h.query_ids.is_some()).then_some(queried_at);
        Ok(ActiveHolds { version, holds, queried_at })
    }

    async fn load_hold(&self, tenant: &TenantId, r: &HoldRecord) -> Result<Loaded, ArchiveError> {
        let doc = self.open_hold(r)?;
        let scope = doc.scope;
        let day = 86_400_000_000;
        let query_ids = match &scope.query {
            Some(q) => Some(
                self.index
                    .matching_ids_without_holds(tenant, q)
                    .await
                    .map_err(|e| {
                        ArchiveError::Unavailable(format!("hold {}: query scope needs the search index: {e}", r.id))
                    })?
                    .into_iter()
                    .collect(),
            ),
            None => None,
        };
        Ok(Loaded {
            id: r.id,
            custodians: scope.custodians.iter().map(|c| c.trim().to_lowercase()).collect(),
            from: scope.from.as_deref().and_then(parse_date).map(date_micros),
            until_exclusive: scope.until.as_deref().and_then(parse_date).map(|d| date_micros(d) + day),
            query_ids,
        })
    }

    /// Ids of the tenant's live messages the hold named `name` covers (for
    /// the search operator `hold:NAME`). A released or unknown hold covers nothing.
    pub async fn held_ids(&self, tenant: &TenantId, name: &str) -> Result<Vec<MessageId>, ServerError> {
        self.held_ids_inner(tenant, name).await.map_err(|e| match e {
            ArchiveError::Server(e) => e,
            other => ServerError::State(other.to_string()),
        })
    }

    async fn held_ids_inner(&self, tenant: &TenantId, name: &str) -> Result<Vec<MessageId>, ArchiveError> {
        let Some(r) = self.core.store.hold_by_name(tenant, &self.hold_name_hash(tenant, name)).await? else {
            return Ok(Vec::new());
        };
        if !is_active(&r.state) {
            return Ok(Vec::new());
        }
        let hold = self.load_hold(tenant, &r).await?;
        let mut out = Vec::new();
        let mut after: Option<MessageId> = None;
        loop {
            let page = self.core.store.messages_after(tenant, after.as_ref(), 500).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for m in page.iter().filter(|m| !m.wrapped_dek.is_empty()) {
                let custodians = if hold.custodians.is_empty() {
                    Vec::new()
                } else {
                    custodians_of(&self.reader.load_message(tenant, &m.id, false).await?)
                };
                if hold.covers(&m.id, m.message_date, &custodians) {
                    out.push(m.id);
                }
            }
        }
        Ok(out)
    }
}

impl crate::index::HoldResolver for Archive {
    fn held_ids<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<Vec<MessageId>, ServerError>> {
        Box::pin(Archive::held_ids(self, tenant, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(custodians: &[&str], from: Option<i64>, until: Option<i64>, query: Option<Vec<MessageId>>) -> Loaded {
        Loaded {
            id: HoldId::new(),
            custodians: custodians.iter().map(|c| c.to_string()).collect(),
            from,
            until_exclusive: until,
            query_ids: query.map(|q| q.into_iter().collect()),
        }
    }

    #[test]
    fn every_given_part_of_a_scope_must_match() {
        let (a, b) = (MessageId::new(), MessageId::new());
        let dr = vec!["dr@clinic.example".to_owned()];
        let h = loaded(&["dr@clinic.example"], Some(100), Some(200), Some(vec![a]));
        assert!(h.covers(&a, 150, &dr));
        assert!(!h.covers(&b, 150, &dr), "query part");
        assert!(!h.covers(&a, 99, &dr), "before the range");
        assert!(!h.covers(&a, 200, &dr), "the end is exclusive (day after `until`)");
        assert!(!h.covers(&a, 150, &["other@clinic.example".to_owned()]), "custodian part");
        assert!(loaded(&[], None, None, None).covers(&b, 0, &[]), "an empty scope covers everything");
    }

    #[test]
    fn scope_validation_names_the_field() {
        let bad = |s: HoldScope| s.validate().unwrap_err().to_string();
        assert!(bad(HoldScope { from: Some("2024-13-01".into()), ..Default::default() }).contains("scope.from"));
        let reversed =
            HoldScope { from: Some("2024-02-01".into()), until: Some("2024-01-01".into()), ..Default::default() };
        assert!(bad(reversed).contains("scope.until"));
        assert!(bad(HoldScope { custodians: vec!["nobody".into()], ..Default::default() }).contains("custodians"));
        assert!(bad(HoldScope { query: Some(" ".into()), ..Default::default() }).contains("scope.query"));
        assert!(HoldScope { from: Some("2024-01-01".into()), ..Default::default() }.validate().is_ok());
    }
}
