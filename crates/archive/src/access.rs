//! Patient access requests (R-AR-7, 45 CFR 164.524): a patient asks for
//! their designated record set, and the covered entity must act within 30
//! days (one extension of at most 30 more is allowed).
//!
//! A request is recorded with the patient's name and identifiers (MRN, date
//! of birth, email…), sealed under the root key like tenant settings, and a
//! due date. Its record-set query is built from those values as a typed
//! query — `patient:"NAME" OR patient:"ID" …`, printed by the query
//! language's own printer so a value can never add an operator — optionally
//! widened (`OR`) or narrowed (`AND`) by a query the operator gives. The
//! request then moves `open` → `searched` → `fulfilled`; the fulfilment is an
//! export package whose SHA-256 is kept on the request.
//!
//! Each step is audited (`access_request.created`, `.searched`,
//! `.fulfilled`) with ids, counts and the package digest only: the patient's
//! name and identifiers never reach the audit log or the logs, and the
//! query (which names them) is kept sealed in the search log.

use std::fmt;
use std::path::Path;

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_mailbox::write::PackageSummary;
use sealpost_model::{EventId, MessageId, TenantId, now_micros};
use sealpost_search::Query;
use sealpost_store::{AccessRequestRecord, Commit, Op};
use serde::{Deserialize, Serialize};

use crate::Archive;
use crate::export::ExportFormat;
use sealpost_core::{InvalidInput, ServerError};

/// Days to answer when the request says nothing (164.524(b)(2)(i)).
pub const DEFAULT_DUE_DAYS: u32 = 30;
/// The longest due period accepted: 30 days plus the one 30-day extension
/// 164.524(b)(2)(ii) allows. A longer one would record a non-compliant plan.
pub const MAX_DUE_DAYS: u32 = 60;
/// Identifiers per request at most.
pub const MAX_IDENTIFIERS: usize = 32;
/// Characters per name or identifier at most.
pub const MAX_VALUE_CHARS: usize = 200;
/// Characters of requester or notes at most.
pub const MAX_TEXT_CHARS: usize = 2000;

const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

/// A new access request, as the CLI and the API hand it in (each from its
/// own input type; the sealed form is [`StoredAccessRequest`]). Its `Debug`
/// shows counts only: the values identify a patient.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AccessRequest {
    /// The patient's name, searched as a phrase.
    pub patient_name: String,
    /// Other identifiers: MRN, date of birth, email address… Each is
    /// searched as a patient identifier given at submission or as a phrase
    /// in subjects and bodies.
    pub identifiers: Vec<String>,
    /// Who asked (the patient, a personal representative…).
    pub requester: Option<String>,
    /// Free notes for the people handling the request.
    pub notes: Option<String>,
    /// Days until the answer is due; default [`DEFAULT_DUE_DAYS`].
    pub due_days: Option<u32>,
    /// A query whose matches are added to the record set (`OR`).
    pub widen: Option<String>,
    /// A query every match must also satisfy (`AND`), applied after `widen`.
    pub narrow: Option<String>,
}

/// The version of [`StoredAccessRequest`] this build writes.
pub const STORED_ACCESS_REQUEST_VERSION: u32 = 1;

/// An access request's details as sealed in the store. A stored format:
/// its field names never change; a change is a new `version`. Records
/// sealed before the field existed carry none and read as version 1.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredAccessRequest {
    #[serde(default = "stored_version_1")]
    version: u32,
    patient_name: String,
    #[serde(default)]
    identifiers: Vec<String>,
    #[serde(default)]
    requester: Option<String>,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    due_days: Option<u32>,
    #[serde(default)]
    widen: Option<String>,
    #[serde(default)]
    narrow: Option<String>,
}

fn stored_version_1() -> u32 {
    1
}

/// Only the version, read first so a record written by a newer build is
/// refused for what it is rather than for a field this build does not know.
#[derive(Deserialize)]
struct StoredVersion {
    #[serde(default = "stored_version_1")]
    version: u32,
}

impl StoredAccessRequest {
    fn seal_form(r: &AccessRequest) -> Self {
        StoredAccessRequest {
            version: STORED_ACCESS_REQUEST_VERSION,
            patient_name: r.patient_name.clone(),
            identifiers: r.identifiers.clone(),
            requester: r.requester.clone(),
            notes: r.notes.clone(),
            due_days: r.due_days,
            widen: r.widen.clone(),
            narrow: r.narrow.clone(),
        }
    }

    /// Reads sealed JSON of any known version (the text never quotes a value).
    fn read(json: &[u8]) -> Result<AccessRequest, String> {
        let version = serde_json::from_slice::<StoredVersion>(json).map_err(|_| "does not parse".to_owned())?.version;
        if version != STORED_ACCESS_REQUEST_VERSION {
            return Err(format!("stored format version {version} is newer than this build knows"));
        }
        let s: StoredAccessRequest = serde_json::from_slice(json).map_err(|_| "does not parse".to_owned())?;
        Ok(AccessRequest {
            patient_name: s.patient_name,
            identifiers: s.identifiers,
            requester: s.requester,
            notes: s.notes,
            due_days: s.due_days,
            widen: s.widen,
            narrow: s.narrow,
        })
    }
}

impl fmt::Debug for AccessRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessRequest")
            .field("identifiers", &self.identifiers.len())
            .field("due_days", &self.due_days)
            .field("widen", &self.widen.is_some())
            .field("narrow", &self.narrow.is_some())
            .finish_non_exhaustive()
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessRequestState {
    /// Recorded, not searched yet.
    Open,
    /// The record set was searched at least once.
    Searched,
    /// The export was produced.
    Fulfilled,
}

impl AccessRequestState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessRequestState::Open => "open",
            AccessRequestState::Searched => "searched",
            AccessRequestState::Fulfilled => "fulfilled",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => AccessRequestState::Open,
            "searched" => AccessRequestState::Searched,
            "fulfilled" => AccessRequestState::Fulfilled,
            _ => return None,
        })
    }
}

/// What a listing shows: ids, state and dates, nothing about the patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequestSummary {
    /// The request's id.
    pub id: EventId,
    /// Where it stands.
    pub state: AccessRequestState,
    /// Unix micros.
    pub created_at: i64,
    /// When the answer is due, unix micros.
    pub due_at: i64,
    /// Not fulfilled and past its due time.
    pub overdue: bool,
    /// When the export was produced, unix micros.
    pub fulfilled_at: Option<i64>,
    /// The package's SHA-256, lowercase hex.
    pub package_sha256: Option<String>,
}

impl AccessRequestSummary {
    fn from_record(r: &AccessRequestRecord, now: i64) -> Result<Self, ServerError> {
        let state = AccessRequestState::parse(&r.state)
            .ok_or_else(|| ServerError::State(format!("access request {}: unknown state", r.id)))?;
        Ok(AccessRequestSummary {
            id: r.id,
            state,
            created_at: r.created_at,
            due_at: r.due_at,
            overdue: state != AccessRequestState::Fulfilled && r.due_at < now,
            fulfilled_at: r.fulfilled_at,
            package_sha256: r.package_sha256.clone(),
        })
    }

    /// The listing as JSON (RFC 3339 times).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id.to_string(),
            "state": self.state,
            "created_at": sealpost_audit::rfc3339_micros(self.created_at),
            "due_at": sealpost_audit::rfc3339_micros(self.due_at),
            "overdue": self.overdue,
            "fulfilled_at": self.fulfilled_at.map(sealpost_audit::rfc3339_micros),
            "package_sha256": self.package_sha256,
        })
    }
}

/// One request with its opened details (for an authorized reader).
#[derive(Debug, Clone)]
pub struct AccessRequestView {
    /// Ids, state and dates.
    pub summary: AccessRequestSummary,
    /// Patient, identifiers, requester, notes and scope as recorded.
    pub request: AccessRequest,
}

impl AccessRequestView {
    /// The summary's JSON plus the recorded details.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = self.summary.to_json();
        let r = &self.request;
        v["patient_name"] = serde_json::json!(r.patient_name);
        v["identifiers"] = serde_json::json!(r.identifiers);
        v["requester"] = serde_json::json!(r.requester);
        v["notes"] = serde_json::json!(r.notes);
        v["widen"] = serde_json::json!(r.widen);
        v["narrow"] = serde_json::json!(r.narrow);
        v
    }
}

/// Checks a value that goes into the query; the error names the field.
fn check_value(field: &str, value: &str) -> Result<(), ServerError> {
    let invalid = |why: &str| Err(ServerError::Invalid(InvalidInput::field(field, why)));
    if value.trim().is_empty() {
        return invalid("must not be empty");
    }
    if value.chars().count() > MAX_VALUE_CHARS {
        return invalid(&format!("longer than {MAX_VALUE_CHARS} characters"));
    }
    if value.chars().any(char::is_control) {
        return invalid("contains a control character");
    }
    // A value with no letter or digit analyzes to no search term and would
    // match nothing: refuse it rather than report an empty record set.
    if !value.chars().any(char::is_alphanumeric) {
        return invalid("has no letter or digit");
    }
    Ok(())
}

fn check_text(field: &str, value: Option<&str>) -> Result<(), ServerError> {
    match value {
        Some(v) if v.chars().count() > MAX_TEXT_CHARS => {
            Err(ServerError::Invalid(InvalidInput::field(field, format!("longer than {MAX_TEXT_CHARS} characters"))))
        }
        _ => Ok(()),
    }
}

fn parse_extra(field: &str, query: Option<&str>) -> Result<Option<Query>, ServerError> {
    query
        .map(|q| {
            sealpost_search::query::parse(q)
                .map_err(|e| ServerError::Invalid(InvalidInput::field(field, e.to_string())))
        })
        .transpose()
}

/// The designated record set's query for `req`: every identifier (the name
/// first) as a `patient:` value, joined by `OR`; then `OR widen`; then
/// `AND narrow`. Built as a typed [`Query`] and printed by its canonical
/// printer, which quotes and escapes values, so no value can add an operator.
pub fn record_set_query(req: &AccessRequest) -> Result<String, ServerError> {
    check_value("patient_name", &req.patient_name)?;
    if req.identifiers.len() > MAX_IDENTIFIERS {
        return Err(ServerError::Invalid(InvalidInput::field("identifiers", format!("more than {MAX_IDENTIFIERS}"))));
    }
    for (i, id) in req.identifiers.iter().enumerate() {
        check_value(&format!("identifiers[{i}]"), id)?;
    }
    let mut values: Vec<String> = Vec::with_capacity(req.identifiers.len() + 1);
    for v in std::iter::once(&req.patient_name).chain(&req.identifiers) {
        let v = v.trim().to_owned();
        if !values.contains(&v) {
            values.push(v);
        }
    }
    let mut any_of: Vec<Query> = values.into_iter().map(Query::Patient).collect();
    if let Some(widen) = parse_extra("widen", req.widen.as_deref())? {
        any_of.push(widen);
    }
    let mut query = if any_of.len() == 1 { any_of.remove(0) } else { Query::Or(any_of) };
    if let Some(narrow) = parse_extra("narrow", req.narrow.as_deref())? {
        query = Query::And(vec![query, narrow]);
    }
    let text = query.to_string();
    if text.chars().count() > sealpost_search::query::MAX_QUERY_CHARS {
        return Err(ServerError::Invalid(InvalidInput::field(
            "identifiers",
            format!("the record-set query would be longer than {} characters", sealpost_search::query::MAX_QUERY_CHARS),
        )));
    }
    Ok(text)
}

/// Checks a whole request (fields named in errors, never values).
fn validate(req: &AccessRequest) -> Result<(), ServerError> {
    record_set_query(req)?;
    check_text("requester", req.requester.as_deref())?;
    check_text("notes", req.notes.as_deref())?;
    if req.due_days.is_some_and(|d| d > MAX_DUE_DAYS) {
        return Err(ServerError::Invalid(InvalidInput::field(
            "due_days",
            format!("at most {MAX_DUE_DAYS} (30 plus one 30-day extension)"),
        )));
    }
    Ok(())
}

/// The seal's purpose binds the sealed details to their tenant and request.
fn purpose(tenant: &TenantId, id: &EventId) -> String {
    format!("access-request/{tenant}/{id}")
}

fn format_name(format: ExportFormat) -> &'static str {
    match format {
        ExportFormat::Mbox => "mbox",
        ExportFormat::EmlZip => "eml-zip",
    }
}

impl Archive {
    /// Records a patient access request for `tenant`: its details sealed, due
    /// `due_days` (default 30) from now, audited `access_request.created`.
    pub async fn create_access_request(
        &self,
        tenant: &TenantId,
        actor: Actor,
        req: AccessRequest,
    ) -> Result<AccessRequestSummary, ServerError> {
        validate(&req)?;
        let id = EventId::new();
        let created_at = now_micros();
        let due_days = req.due_days.unwrap_or(DEFAULT_DUE_DAYS);
        let due_at = created_at.saturating_add(i64::from(due_days) * MICROS_PER_DAY);
        let json =
            serde_json::to_vec(&StoredAccessRequest::seal_form(&req)).map_err(|e| ServerError::State(e.to_string()))?;
        let sealed = self.core.root().seal_secret(&purpose(tenant, &id), &json)?;
        let record = AccessRequestRecord {
            id,
            tenant: tenant.clone(),
            created_at,
            due_at,
            state: AccessRequestState::Open.as_str().to_owned(),
            sealed,
            fulfilled_at: None,
            package_sha256: None,
        };
        let event = NewEvent::new(tenant.clone(), actor, Action::AccessRequestCreated, Outcome::Success)
            .target(id)
            .detail("identifiers", DetailValue::Count(req.identifiers.len() as i64))
            .detail("due_days", DetailValue::Count(i64::from(due_days)));
        let summary = AccessRequestSummary::from_record(&record, created_at)?;
        self.core.store.commit(Commit { ops: vec![Op::CreateAccessRequest(record)], events: vec![event] }).await?;
        Ok(summary)
    }

    /// `tenant`'s access requests, soonest due first; with `overdue_only`,
    /// only those not fulfilled and past due. Nothing about the patient.
    pub async fn list_access_requests(
        &self,
        tenant: &TenantId,
        overdue_only: bool,
    ) -> Result<Vec<AccessRequestSummary>, ServerError> {
        let now = now_micros();
        let records = self.core.store.access_requests(tenant, now, overdue_only).await?;
        records.iter().map(|r| AccessRequestSummary::from_record(r, now)).collect()
    }

    /// One request with its details opened; the read is audited
    /// (`message.accessed` naming the request), as the details are PHI.
    pub async fn access_request(
        &self,
        tenant: &TenantId,
        actor: Actor,
        id: &EventId,
    ) -> Result<AccessRequestView, ServerError> {
        let (summary, request) = self.open_access_request(tenant, id).await?;
        self.core
            .audit(vec![
                NewEvent::new(tenant.clone(), actor, Action::MessageAccessed, Outcome::Success)
                    .detail("access_request", DetailValue::id(*id)),
            ])
            .await?;
        Ok(AccessRequestView { summary, request })
    }

    async fn open_access_request(
        &self,
        tenant: &TenantId,
        id: &EventId,
    ) -> Result<(AccessRequestSummary, AccessRequest), ServerError> {
        let record = self
            .core
            .store
            .access_request(tenant, id)
            .await?
            .ok_or_else(|| ServerError::NotFound(format!("access request {id}")))?;
        let json = self.core.root().open_secret(&purpose(tenant, id), &record.sealed)?;
        let request = StoredAccessRequest::read(&json)
            .map_err(|why| ServerError::State(format!("access request {id}: sealed details: {why}")))?;
        Ok((AccessRequestSummary::from_record(&record, now_micros())?, request))
    }

    /// Searches the request's designated record set: the ids of the
    /// matching messages, newest first. Audited `access_request.searched`
    /// with the count and the id of the sealed query; an open request
    /// becomes `searched`.
    pub async fn search_access_request(
        &self,
        tenant: &TenantId,
        actor: Actor,
        id: &EventId,
    ) -> Result<Vec<MessageId>, ServerError> {
        let (_, request) = self.open_access_request(tenant, id).await?;
        let query = record_set_query(&request)?;
        let ids = self.matching_ids(tenant, &query).await?;
        let query_id = self.index.log_query(tenant, &actor, &query).await?;
        let event = NewEvent::new(tenant.clone(), actor, Action::AccessRequestSearched, Outcome::Success)
            .target(*id)
            .detail("query", DetailValue::id(query_id))
            .detail("count", DetailValue::Count(ids.len() as i64));
        self.core
            .store
            .commit(Commit { ops: vec![Op::AccessRequestSearched(tenant.clone(), *id)], events: vec![event] })
            .await?;
        Ok(ids)
    }

    /// Produces the request's export package at `out` (see
    /// [`App::export`], itself audited `export.created`), records the
    /// request `fulfilled` with the package's SHA-256 and audits
    /// `access_request.fulfilled`. A fulfilled request is not exported again.
    pub async fn fulfill_access_request(
        &self,
        tenant: &TenantId,
        actor: Actor,
        id: &EventId,
        format: ExportFormat,
        out: &Path,
        progress: impl FnMut(u64, u64),
    ) -> Result<PackageSummary, ServerError> {
        let (summary, request) = self.open_access_request(tenant, id).await?;
        if summary.state == AccessRequestState::Fulfilled {
            return Err(ServerError::Invalid(InvalidInput::general(format!(
                "access request {id} is already fulfilled"
            ))));
        }
        let query = record_set_query(&request)?;
        let package = self.export(tenant, actor.clone(), &query, format, out, progress).await?;
        let mut digest = [0u8; 32];
        hex::decode_to_slice(&package.sha256, &mut digest).map_err(|e| ServerError::State(e.to_string()))?;
        let event = NewEvent::new(tenant.clone(), actor, Action::AccessRequestFulfilled, Outcome::Success)
            .target(*id)
            .detail("count", DetailValue::Count(package.count as i64))
            .detail("format", DetailValue::Name(format_name(format)))
            .detail("package_sha256", DetailValue::Digest(digest));
        let op = Op::AccessRequestFulfilled {
            tenant: tenant.clone(),
            id: *id,
            at: now_micros(),
            package_sha256: package.sha256.clone(),
        };
        self.core.store.commit(Commit { ops: vec![op], events: vec![event] }).await?;
        Ok(package)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn request(name: &str, ids: &[&str]) -> AccessRequest {
        AccessRequest {
            patient_name: name.into(),
            identifiers: ids.iter().map(|s| (*s).to_owned()).collect(),
            ..AccessRequest::default()
        }
    }

    fn parsed(req: &AccessRequest) -> Query {
        let text = record_set_query(req).expect("valid request");
        sealpost_search::query::parse(&text).expect("the built query parses")
    }

    #[test]
    fn identifiers_are_ored_patient_values() {
        let q = parsed(&request("Jane Roe", &["MRN-1234", "jane@example.org"]));
        assert_eq!(
            q,
            Query::Or(vec![
                Query::Patient("Jane Roe".into()),
                Query::Patient("MRN-1234".into()),
                Query::Patient("jane@example.org".into()),
            ])
        );
        // One identifier alone needs no OR; duplicates are searched once.
        assert_eq!(parsed(&request(" Jane Roe ", &["Jane Roe"])), Query::Patient("Jane Roe".into()));
    }

    #[test]
    fn operators_inside_values_stay_values() {
        for hostile in
            ["Roe\" OR from:x", "a) OR (b", "OR", "NOT Roe", "-Roe", "subject:x", "a\\\"b", "Roe\\", "hold:everything"]
        {
            let q = parsed(&request("Jane Roe", &[hostile]));
            assert_eq!(
                q,
                Query::Or(vec![Query::Patient("Jane Roe".into()), Query::Patient(hostile.into())]),
                "{hostile:?}"
            );
        }
    }

    #[test]
    fn widen_and_narrow_combine_around_the_identifiers() {
        let mut req = request("Jane Roe", &["MRN-1"]);
        req.widen = Some("from:roe@example.org".into());
        req.narrow = Some("after:2020-01-01".into());
        let q = parsed(&req);
        let Query::And(parts) = q else { panic!("narrow makes an AND: {q:?}") };
        assert_eq!(parts.len(), 2);
        let Query::Or(any) = &parts[0] else { panic!("identifiers and widen are ORed: {parts:?}") };
        assert_eq!(any.len(), 3);
        assert!(matches!(parts[1], Query::After(_)));
    }

    #[test]
    fn bad_requests_name_the_field_not_the_value() {
        let cases: Vec<(AccessRequest, &str)> = vec![
            (request("  ", &[]), "patient_name"),
            (request("Jane Roe", &["ok", ""]), "identifiers[1]"),
            (request("Jane Roe", &["---"]), "identifiers[0]"),
            (request("Jane\u{7}Roe", &[]), "patient_name"),
            (request(&"x".repeat(MAX_VALUE_CHARS + 1), &[]), "patient_name"),
            (AccessRequest { widen: Some("(from:x".into()), ..request("Zed Secret", &[]) }, "widen"),
            (AccessRequest { narrow: Some("frm:x".into()), ..request("Zed Secret", &[]) }, "narrow"),
            (AccessRequest { due_days: Some(61), ..request("Zed Secret", &[]) }, "due_days"),
            (AccessRequest { notes: Some("n".repeat(MAX_TEXT_CHARS + 1)), ..request("Zed Secret", &[]) }, "notes"),
        ];
        for (req, field) in cases {
            let err = validate(&req).expect_err(field).to_string();
            assert!(err.starts_with(&format!("invalid: {field}:")), "{err}");
            assert!(!err.contains("Secret") && !err.contains("Roe"), "{err}");
        }
        let too_many: Vec<String> = (0..=MAX_IDENTIFIERS).map(|i| format!("id{i}")).collect();
        let req = AccessRequest { identifiers: too_many, ..request("Jane Roe", &[]) };
        assert!(validate(&req).is_err());
        assert!(validate(&AccessRequest { due_days: Some(0), ..request("Jane Roe", &[]) }).is_ok());
    }

    #[test]
    fn stored_form_round_trips_and_records_without_a_version_read_as_version_1() {
        let req = AccessRequest {
            requester: Some("John Roe".into()),
            due_days: Some(45),
            widen: Some("from:roe@example.org".into()),
            ..request("Jane Roe", &["MRN-1234"])
        };
        let json = serde_json::to_vec(&StoredAccessRequest::seal_form(&req)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["version"], 1, "{v}");
        assert_eq!(StoredAccessRequest::read(&json).unwrap(), req);
        // Exactly what builds before the version field sealed.
        let old = br#"{"patient_name":"Jane Roe","identifiers":["MRN-1234"],"requester":"John Roe","notes":null,"due_days":45,"widen":"from:roe@example.org","narrow":null}"#;
        assert_eq!(StoredAccessRequest::read(old).unwrap(), req);
        let newer = br#"{"version":2,"patient_name":"Jane Roe","something":1}"#;
        let err = StoredAccessRequest::read(newer).unwrap_err();
        assert!(err.contains("version 2") && !err.contains("Roe"), "{err}");
    }

    #[test]
    fn debug_shows_no_patient_data() {
        let mut req = request("Jane Roe", &["MRN-1234"]);
        req.requester = Some("John Roe".into());
        let shown = format!("{req:?}");
        assert!(!shown.contains("Roe") && !shown.contains("1234"), "{shown}");
    }

    proptest! {
        /// Whatever the values, the printed query parses back to exactly
        /// one `patient:` value per distinct identifier: nothing leaks out
        /// of its quotes.
        #[test]
        fn any_identifier_round_trips_as_one_value(
            name in "[A-Za-z][\\PC]{0,30}",
            ids in proptest::collection::vec("[0-9a-z][\\PC]{0,30}", 0..5),
        ) {
            let req = AccessRequest { patient_name: name, identifiers: ids, ..AccessRequest::default() };
            let text = record_set_query(&req).expect("valid");
            let q = sealpost_search::query::parse(&text).expect("parses");
            let mut want: Vec<String> = Vec::new();
            for v in std::iter::once(&req.patient_name).chain(&req.identifiers) {
                let v = v.trim().to_owned();
                if !want.contains(&v) {
                    want.push(v);
                }
            }
            let got = match q {
                Query::Or(parts) => parts,
                one => vec![one],
            };
            let got: Vec<String> = got
                .into_iter()
                .map(|p| match p {
                    Query::Patient(v) => v,
                    other => panic!("not a patient value: {other:?}"),
                })
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
