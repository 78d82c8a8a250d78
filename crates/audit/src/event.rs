//! The vocabulary of an audit event, before it is chained: what happened
//! ([`Action`]), how it ended ([`Outcome`]), who did it ([`Actor`]) and a
//! PHI-free [`Detail`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use sealpost_model::{ApiKeyId, EventId, MessageId, RecipientId, TenantId, UserId};
use serde::{Deserialize, Serialize};

/// A stored text that is not one of a closed vocabulary ([`Action`], [`Outcome`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownValue {
    /// Which vocabulary was expected ("action" or "outcome").
    pub what: &'static str,
    /// The rejected text, cut to 40 characters.
    pub value: String,
}

impl UnknownValue {
    fn new(what: &'static str, value: &str) -> Self {
        Self { what, value: value.chars().take(40).collect() }
    }
}

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The storage spelling, e.g. `"message.accepted"`.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// Parses the storage spelling (exact, lowercase).
            pub fn parse(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue::new($what, s)),
                }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
        impl TryFrom<String> for $name {
            type Error = UnknownValue;
            fn try_from(s: String) -> Result<Self, UnknownValue> { Self::parse(&s) }
        }
        impl From<$name> for &'static str {
            fn from(v: $name) -> &'static str { v.as_str() }
        }
    };
}

vocabulary!(
    /// What happened. A closed vocabulary, stored as text like `"message.accepted"`.
    Action, "action", {
        /// A console, API or SMTP login succeeded.
        LoginSucceeded => "login.succeeded",
        /// A login failed (wrong password, unknown user, ...).
        LoginFailed => "login.failed",
        /// An account was locked out after repeated failures.
        LoginLockedOut => "login.locked_out",
        /// An API key authenticated a request.
        ApiKeyUsed => "apikey.used",
        /// An API key was created.
        ApiKeyCreated => "apikey.created",
        /// An API key was revoked.
        ApiKeyRevoked => "apikey.revoked",
        /// A message was accepted for delivery.
        MessageAccepted => "message.accepted",
        /// A message was rejected.
        MessageRejected => "message.rejected",
        /// A message's metadata or decrypted body was read.
        MessageAccessed => "message.accessed",
        /// A message's raw (RFC 5322) form was read.
        MessageRawAccessed => "message.raw_accessed",
        /// Server or tenant configuration changed.
        ConfigChanged => "config.changed",
        /// An encryption or signing key was created.
        KeyCreated => "key.created",
        /// An encryption or signing key was rotated.
        KeyRotated => "key.rotated",
        /// A tenant was created.
        TenantCreated => "tenant.created",
        /// A user was created.
        UserCreated => "user.created",
        /// The audit log was exported.
        AuditExported => "audit.exported",
        /// The audit log was verified.
        AuditVerified => "audit.verified",
        /// The server started.
        ServerStarted => "server.started",
        /// The server stopped.
        ServerStopped => "server.stopped",
        /// A delivery method was chosen for a recipient (detail: method, reason).
        DeliveryDecided => "delivery.decided",
        /// A recipient's copy was delivered (detail: method, TLS).
        MessageDelivered => "message.delivered",
        /// A delivery attempt failed temporarily.
        MessageDeferred => "message.deferred",
        /// A recipient's copy failed permanently.
        MessageBounced => "message.bounced",
        /// A message was held for the portal and its recipient notified.
        PortalNotified => "portal.notified",
        /// A delay notice about a recipient was sent to the sender.
        DelayNotified => "message.delay_notified",
        /// The archive was searched (detail: the sealed query's id, counts).
        SearchPerformed => "search.performed",
        /// An export was made: written by the CLI (detail: count, package
        /// hash), or started through the API before its first byte (detail:
        /// the export id, the sealed query's id, count, format).
        ExportCreated => "export.created",
        /// An import finished (detail: counts).
        ImportCompleted => "import.completed",
        /// A legal hold was created.
        HoldCreated => "hold.created",
        /// Release of a legal hold was requested (with a justification).
        HoldReleaseRequested => "hold.release_requested",
        /// A legal hold was released by a second person (or the attempt refused).
        HoldReleased => "hold.released",
        /// A tenant's retention policy changed.
        RetentionPolicyChanged => "retention.policy_changed",
        /// A retention run (or dry run) finished (detail: counts).
        RetentionRun => "retention.run",
        /// A message was disposed of: key destroyed, blob and index entries removed.
        MessageDisposed => "message.disposed",
        /// Old rows of a tenant's sealed search log were deleted by their
        /// own retention (detail: count, cut-off).
        SearchLogPruned => "search_log.pruned",
        /// A message waiting for disposition review was approved or extended.
        DispositionReviewed => "disposition.reviewed",
        /// A patient access request (45 CFR 164.524) was recorded.
        AccessRequestCreated => "access_request.created",
        /// The designated record set of an access request was searched.
        AccessRequestSearched => "access_request.searched",
        /// An access request's export was produced.
        AccessRequestFulfilled => "access_request.fulfilled",
        /// An API export ended: success with the package hash and size, or
        /// failure (the client went away, or the server could not finish).
        ExportCompleted => "export.completed",
        /// A sending domain was added to a tenant, pending verification
        /// (detail: the domain's SHA-256, not its name).
        DomainAdded => "domain.added",
        /// A sending domain's TXT record was checked (success: the tenant
        /// owns it now; failure: why not, as a reason name).
        DomainVerified => "domain.verified",
        /// The installation operator asserted a tenant owns a sending domain.
        DomainAsserted => "domain.asserted",
        /// A sending domain was removed from a tenant.
        DomainRemoved => "domain.removed",
        /// A portal link was exchanged for a session (detail: recipient id).
        PortalSessionStarted => "portal.session_started",
        /// A one-time sign-in code was mailed to a portal recipient, or
        /// refused (too many this hour, locked).
        PortalCodeSent => "portal.code_sent",
        /// A portal recipient signed in with a code (failure: wrong, used,
        /// expired or locked).
        PortalSignedIn => "portal.signed_in",
        /// A portal recipient was locked out after repeated failures.
        PortalLockedOut => "portal.locked_out",
        /// A portal recipient was unlocked by the tenant's admin.
        PortalUnlocked => "portal.unlocked",
        /// A portal recipient signed out.
        PortalSignedOut => "portal.signed_out",
        /// A portal recipient viewed a message (or was refused one).
        PortalViewed => "portal.viewed",
        /// A portal recipient downloaded an attachment.
        PortalDownloaded => "portal.downloaded",
        /// A portal recipient replied (detail: the reply's message id).
        PortalReplied => "portal.replied",
        /// A portal recipient asked the sender to send an expired or
        /// retracted message again.
        PortalResendRequested => "portal.resend_requested",
        /// An unopened portal message's recipient was reminded that it expires soon.
        PortalReminded => "portal.reminded",
        /// A sender retracted a message from the portal.
        PortalRetracted => "portal.retracted",
        /// A sender changed when a message expires on the portal.
        PortalExpiryChanged => "portal.expiry_changed",
    }
);

vocabulary!(
    /// How the action ended: `"success"` or `"failure"`.
    Outcome, "outcome", {
        /// The action was carried out.
        Success => "success",
        /// The action was refused or failed.
        Failure => "failure",
    }
);

/// Who did it, as stored text: `"system"`, `"cli"`, `"user:<UserId>"`,
/// `"apikey:<ApiKeyId>"`, `"smtp-relay:<ip>"`, `"portal:<pseudonym>"` or
/// `"anonymous"`.
///
/// Only the constructors make one, so an actor never holds a login name,
/// an address or other free text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Actor(String);

impl Actor {
    /// The server itself (start-up, scheduled jobs).
    pub fn system() -> Self {
        Self("system".to_owned())
    }
    /// An operator at the command line.
    pub fn cli() -> Self {
        Self("cli".to_owned())
    }
    /// A signed-in user: `"user:<id>"`.
    pub fn user(id: UserId) -> Self {
        Self(format!("user:{id}"))
    }
    /// A request authenticated by an API key: `"apikey:<id>"`.
    pub fn api_key(id: ApiKeyId) -> Self {
        Self(format!("apikey:{id}"))
    }
    /// An SMTP client identified only by its address: `"smtp-relay:<ip>"`.
    pub fn relay(ip: IpAddr) -> Self {
        Self(format!("smtp-relay:{ip}"))
    }
    /// A portal recipient, known by a pseudonym: the first 8 bytes of
    /// the keyed hash of their tenant and address, `"portal:<hex>"`.
    pub fn portal_recipient(address_hash: &[u8]) -> Self {
        Self(format!("portal:{}", hex_lower(&address_hash[..address_hash.len().min(8)])))
    }
    /// A login attempt whose claimed identity must not be logged (it may be
    /// an email address or a mistyped password): `"anonymous"`.
    pub fn unknown_login() -> Self {
        Self("anonymous".to_owned())
    }
    /// The stored text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The stored text, by value.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Actor({})", self.0)
    }
}

impl From<Actor> for String {
    fn from(a: Actor) -> String {
        a.0
    }
}

/// The text of a typed Sealpost id. It can only be made from the id types of
/// `sealpost-model` (`From` impls), never from a `String`, so it holds no PHI.
///
/// ```compile_fail
/// use sealpost_audit::IdText;
/// let id: IdText = String::from("jane.doe@example.org").into();
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdText(String);

impl IdText {
    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdText({})", self.0)
    }
}

impl fmt::Display for IdText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<IdText> for String {
    fn from(id: IdText) -> String {
        id.0
    }
}

macro_rules! id_text_from {
    ($($t:ty),+) => {
        $(
            impl From<$t> for IdText {
                fn from(id: $t) -> Self { Self(id.to_string()) }
            }
            impl From<&$t> for IdText {
                fn from(id: &$t) -> Self { Self(id.to_string()) }
            }
        )+
    };
}
id_text_from!(MessageId, RecipientId, EventId, UserId, ApiKeyId, TenantId);

/// One value of a [`Detail`]. There is deliberately no variant that takes a
/// runtime `String`: ids come through [`IdText`] (only from typed ids), names
/// are `&'static str` (program constants such as `Category::as_str()`), so no
/// user-supplied text (subjects, bodies, addresses, patient identifiers) can
/// reach the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DetailValue {
    /// A typed id (message, recipient, user, API key, tenant, event).
    Id(IdText),
    /// A count or size.
    Count(i64),
    /// A name from a closed vocabulary, e.g. an enum's wire spelling.
    Name(&'static str),
    /// A network address (of a client or relay, never of a patient).
    Ip(IpAddr),
    /// A flag.
    Bool(bool),
    /// A SHA-256 digest (e.g. of an export package), written as hex.
    Digest([u8; 32]),
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl DetailValue {
    /// Shorthand for [`DetailValue::Id`] from any typed id.
    pub fn id(id: impl Into<IdText>) -> Self {
        Self::Id(id.into())
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Id(id) => serde_json::Value::from(id.as_str()),
            Self::Count(n) => serde_json::Value::from(*n),
            Self::Name(s) => serde_json::Value::from(*s),
            Self::Ip(ip) => serde_json::Value::from(ip.to_string()),
            Self::Bool(b) => serde_json::Value::from(*b),
            Self::Digest(d) => serde_json::Value::from(hex_lower(d)),
        }
    }
}

/// The flat, PHI-free detail of an event: `&'static str` keys mapped to
/// [`DetailValue`]s, stored as canonical JSON (keys sorted, no whitespace).
///
/// Holding free text is impossible by construction, which is a compile-time
/// property: keys must be `&'static str` and no [`DetailValue`] variant takes
/// a runtime `String`. For example this does not compile:
///
/// ```compile_fail
/// use sealpost_audit::{Detail, DetailValue};
/// let subject = String::from("Your HIV test result");
/// let d = Detail::new().with("subject", DetailValue::Name(&subject));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail(BTreeMap<&'static str, DetailValue>);

impl Detail {
    /// An empty detail (`{}`).
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds (or replaces) one entry, builder style.
    pub fn with(mut self, key: &'static str, value: DetailValue) -> Self {
        self.0.insert(key, value);
        self
    }
    /// Adds (or replaces) one entry.
    pub fn insert(&mut self, key: &'static str, value: DetailValue) {
        self.0.insert(key, value);
    }
    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The value under `key`, if any.
    pub fn get(&self, key: &str) -> Option<&DetailValue> {
        self.0.get(key)
    }
    /// Canonical JSON text: one flat object, keys in byte order, no
    /// whitespace. Independent of serde_json's map-ordering features.
    pub fn to_canonical_json(&self) -> String {
        let mut out = String::from("{");
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::Value::from(*k).to_string());
            out.push(':');
            out.push_str(&v.to_json().to_string());
        }
        out.push('}');
        out
    }
}

/// An event before it is chained. Build with [`NewEvent::new`] and the
/// builder methods, or fill the fields directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The event's own id.
    pub id: EventId,
    /// When it happened, Unix microseconds.
    pub at_micros: i64,
    /// The tenant it concerns (all tenants share one chain).
    pub tenant: TenantId,
    /// Who did it.
    pub actor: Actor,
    /// What happened.
    pub action: Action,
    /// The id of the object acted on (e.g. a `MessageId`'s text), if any.
    /// Prefer [`NewEvent::target`], which only accepts typed ids.
    pub target: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// PHI-free detail.
    pub detail: Detail,
}

impl NewEvent {
    /// An event with a fresh id, stamped now, with no target and empty detail.
    pub fn new(tenant: TenantId, actor: Actor, action: Action, outcome: Outcome) -> Self {
        Self {
            id: EventId::new(),
            at_micros: sealpost_model::now_micros(),
            tenant,
            actor,
            action,
            target: None,
            outcome,
            detail: Detail::new(),
        }
    }
    /// Sets the target to a typed id.
    pub fn target(mut self, id: impl Into<IdText>) -> Self {
        self.target = Some(id.into().into());
        self
    }
    /// Adds one detail entry.
    pub fn detail(mut self, key: &'static str, value: DetailValue) -> Self {
        self.detail.insert(key, value);
        self
    }
    /// Sets the time (Unix microseconds).
    pub fn at(mut self, at_micros: i64) -> Self {
        self.at_micros = at_micros;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_round_trip() {
        let spellings: std::collections::BTreeSet<_> = Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(spellings.len(), Action::ALL.len(), "two actions share a spelling");
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Ok(*a));
        }
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Ok(*o));
        }
        assert_eq!(Action::MessageRawAccessed.as_str(), "message.raw_accessed");
        assert_eq!(Action::ApiKeyUsed.as_str(), "apikey.used");
        assert!(Action::parse("Message.Accepted").is_err());
        assert!(Outcome::parse("ok").is_err());
    }

    #[test]
    fn actors_are_prefixed() {
        let u = UserId::new();
        assert_eq!(Actor::user(u).as_str(), format!("user:{u}"));
        let k = ApiKeyId::new();
        assert_eq!(Actor::api_key(k).as_str(), format!("apikey:{k}"));
        assert_eq!(Actor::relay("192.0.2.1".parse().unwrap()).as_str(), "smtp-relay:192.0.2.1");
        assert_eq!(Actor::system().as_str(), "system");
        assert_eq!(Actor::cli().as_str(), "cli");
        assert_eq!(Actor::unknown_login().as_str(), "anonymous");
    }

    #[test]
    fn detail_is_canonical_json() {
        let m = MessageId::new();
        let d = Detail::new()
            .with("size", DetailValue::Count(42))
            .with("message", DetailValue::id(m))
            .with("category", DetailValue::Name("transactional"))
            .with("client", DetailValue::Ip("2001:db8::1".parse().unwrap()))
            .with("tls", DetailValue::Bool(true));
        assert_eq!(
            d.to_canonical_json(),
            format!(r#"{{"category":"transactional","client":"2001:db8::1","message":"{m}","size":42,"tls":true}}"#)
        );
        assert_eq!(Detail::new().to_canonical_json(), "{}");
        // Names with quotes are escaped, so the text stays one valid object.
        let odd = Detail::new().with("k", DetailValue::Name("a\"b"));
        let v: serde_json::Value = serde_json::from_str(&odd.to_canonical_json()).unwrap();
        assert_eq!(v["k"], "a\"b");
    }
}
