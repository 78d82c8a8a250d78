//! The secure portal's domain (issue 14, R-PT-1..4): a recipient who got a
//! PHI-free notification exchanges its link for a session, proves control
//! of the address with a one-time code, then reads, downloads and replies.
//! Senders retract and change expiry; admins unlock.
//!
//! Nothing here renders pages (`sealpost-web` does) or parses message
//! bodies for display (`sealpost-view`): this crate decides who may see
//! what, records every view, download, reply, sign-in and failure (audit
//! events carry ids and pseudonyms only), and keeps all state sealed or
//! hashed: a recipient is a keyed hash of tenant and address, a session the
//! SHA-256 of its cookie, a code a keyed hash.
//!
//! The flow and the stored state: docs/design/portal.md.

mod error;
mod housekeeping;
mod reply;
mod sender;
mod session;
mod signin;

use std::sync::Arc;
use std::time::Duration;

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_core::Core;
use sealpost_core::access::{MessageReader, OpenedMessage};
use sealpost_core::pipeline::{Accept, EnvelopeMeta, RcptKind, RcptMeta, Submission};
use sealpost_core::settings::Settings;
use sealpost_model::{Category, MessageId, RecipientId, TenantId, now_micros};
use sealpost_store::{Commit, Op, PortalPickup, Source};

pub use error::PortalError;
pub use reply::{Draft, DraftAttachment};
pub use session::{Current, NewSession, SESSION_COOKIE};
pub use signin::CodeSent;

/// The portal's timings and limits. The defaults follow the issue: codes
/// live 10 minutes and allow 5 tries, at most 5 codes an hour, lockout
/// after 10 failures (15 minutes, doubling), sessions idle out after 15
/// minutes and end after 8 hours (1 hour before sign-in).
#[derive(Debug, Clone)]
pub struct PortalLimits {
    /// How long a one-time code works.
    pub code_ttl: Duration,
    /// Tries per code.
    pub code_tries: i64,
    /// Codes sent per recipient per hour.
    pub codes_per_hour: i64,
    /// Consecutive failures that lock the recipient out.
    pub lock_after: i64,
    /// The first lockout; each further one doubles, up to a day.
    pub lock_for: Duration,
    /// Idle timeout of a session.
    pub idle: Duration,
    /// Absolute limit of a signed-in session.
    pub absolute: Duration,
    /// Absolute limit of a session before sign-in.
    pub pending: Duration,
    /// Largest reply, attachments included, in bytes.
    pub max_reply_bytes: usize,
    /// Unopened messages are reminded this long before they expire.
    pub reminder_before: Duration,
    /// How often reminders and session clean-up run.
    pub housekeeping_every: Duration,
}

impl From<&sealpost_core::config::PortalConfig> for PortalLimits {
    fn from(c: &sealpost_core::config::PortalConfig) -> Self {
        PortalLimits {
            code_ttl: Duration::from_secs(c.code_ttl_seconds.max(1)),
            code_tries: c.code_tries.max(1),
            codes_per_hour: c.codes_per_hour.max(1),
            lock_after: c.lock_after.max(1),
            lock_for: Duration::from_secs(c.lock_minutes.max(1) * 60),
            idle: Duration::from_secs(c.session_idle_seconds.max(1)),
            absolute: Duration::from_secs(c.session_hours.max(1) * 3600),
            pending: Duration::from_secs(3600),
            max_reply_bytes: c.max_reply_bytes,
            reminder_before: Duration::from_secs(c.reminder_hours * 3600),
            housekeeping_every: Duration::from_secs(c.housekeeping_seconds.max(1)),
        }
    }
}

impl Default for PortalLimits {
    fn default() -> Self {
        PortalLimits::from(&sealpost_core::config::PortalConfig::default())
    }
}

/// The portal service.
pub struct Portal {
    core: Arc<Core>,
    settings: Arc<Settings>,
    reader: Arc<MessageReader>,
    accept: Arc<Accept>,
    limits: PortalLimits,
}

/// How a tenant presents itself on the portal.
#[derive(Debug, Clone, Default)]
pub struct Brand {
    /// The organisation's name.
    pub organisation: String,
    /// How to reach it.
    pub support: Option<String>,
    /// Accent colour `#rrggbb` (checked for contrast when set).
    pub accent: Option<String>,
}

/// Where a pickup stands for its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickupState {
    /// Readable.
    Active,
    /// Past its expiry.
    Expired,
    /// Retracted by the sender.
    Retracted,
    /// The message is gone (disposed).
    Gone,
}

impl PickupState {
    fn of(p: &PortalPickup, now: i64) -> Self {
        if p.retracted_at.is_some() {
            PickupState::Retracted
        } else if p.expires_at <= now {
            PickupState::Expired
        } else {
            PickupState::Active
        }
    }
}

/// What a session's entry link leads to, shown before sign-in: the sender
/// organisation and the expiry, nothing of the message.
#[derive(Debug, Clone)]
pub struct EntryInfo {
    /// The tenant's organisation name.
    pub organisation: String,
    /// When the entry message expires, unix micros.
    pub expires_at: i64,
    /// Its state.
    pub state: PickupState,
}

/// One message in a recipient's inbox.
#[derive(Debug, Clone)]
pub struct InboxItem {
    /// The reference pages use (the pickup's recipient id).
    pub reference: RecipientId,
    /// Subject (PHI: only shown to the signed-in recipient).
    pub subject: String,
    /// The sender as the message's `From:` shows it.
    pub from: String,
    /// When it was sent to the portal, unix micros.
    pub received_at: i64,
    /// When it expires, unix micros.
    pub expires_at: i64,
    /// Opened before.
    pub opened: bool,
    /// The thread it belongs to (the root Message-ID, or its own).
    pub thread: String,
}

/// A message opened for its signed-in recipient.
pub struct PortalMessage {
    /// The reference.
    pub reference: RecipientId,
    /// The message id (for the reply form).
    pub message: MessageId,
    /// The original bytes.
    pub raw: Vec<u8>,
    /// When it expires, unix micros.
    pub expires_at: i64,
}

impl Portal {
    /// Builds the service with the limits of `[portal]` in the configuration.
    pub fn new(
        core: Arc<Core>,
        settings: Arc<Settings>,
        reader: Arc<MessageReader>,
        accept: Arc<Accept>,
    ) -> Arc<Portal> {
        let limits = PortalLimits::from(&core.cfg.portal);
        Self::with_limits(core, settings, reader, accept, limits)
    }

    /// Builds the service with `limits`.
    pub fn with_limits(
        core: Arc<Core>,
        settings: Arc<Settings>,
        reader: Arc<MessageReader>,
        accept: Arc<Accept>,
        limits: PortalLimits,
    ) -> Arc<Portal> {
        Arc::new(Portal { core, settings, reader, accept, limits })
    }

    /// How `tenant` presents itself: its brand, the tenant's name where
    /// the brand sets none.
    pub async fn brand(&self, tenant: &TenantId) -> Result<Brand, PortalError> {
        let settings = self.settings.get(tenant).await?;
        let b = &settings.settings.portal_brand;
        let organisation = match &b.organisation {
            Some(o) => o.clone(),
            None => self.core.store.tenant(tenant).await?.map(|t| t.name).unwrap_or_default(),
        };
        Ok(Brand { organisation, support: b.support.clone(), accent: b.accent.clone() })
    }

    /// The limits in force.
    pub fn limits(&self) -> &PortalLimits {
        &self.limits
    }

    fn address_hash(&self, tenant: &TenantId, address: &str) -> Vec<u8> {
        sealpost_core::portal_address_hash(self.core.root(), tenant, address)
    }

    /// The recipient's address of a pickup, from the sealed envelope.
    async fn pickup_address(&self, p: &PortalPickup) -> Result<(OpenedMessage, String), PortalError> {
        let opened = self.reader.load_message(&p.tenant, &p.message, false).await.map_err(PortalError::from_server)?;
        let address = address_in(&opened, &p.recipient)?;
        Ok((opened, address))
    }

    /// Seals a PHI-free notice Sealpost writes itself (a code, a reminder,
    /// a resend request) to `to`, as a commit the caller adds its own ops
    /// to: the notice and the state change it belongs to land together.
    async fn notice(
        &self,
        tenant: &TenantId,
        actor: Actor,
        to: String,
        subject: &str,
        text: String,
    ) -> Result<Commit, PortalError> {
        let cfg = &self.core.cfg;
        let raw = mail_builder::MessageBuilder::new()
            .from(cfg.delivery.notice_from.clone())
            .to(to.clone())
            .subject(subject)
            .message_id(format!("{}@{}", MessageId::new(), cfg.hostname))
            .date(mail_builder::headers::date::Date::now())
            .header("Auto-Submitted", mail_builder::headers::raw::Raw::new("auto-generated"))
            .text_body(text)
            .write_to_vec()
            .map_err(|e| PortalError::Unavailable503(e.to_string()))?;
        let notice = Submission {
            tenant: tenant.clone(),
            actor,
            source: Source::Api,
            category: Category::Transactional,
            envelope: EnvelopeMeta {
                mail_from: None,
                recipients: vec![RcptMeta { address: to, kind: RcptKind::To, notify: None, orcpt: None }],
                notice: true,
                ..EnvelopeMeta::default()
            },
            raw,
        };
        Ok(self.accept.seal_submissions(vec![notice]).await?.0)
    }

    /// What the entry link of a session leads to.
    pub async fn entry(&self, s: &Current) -> Result<EntryInfo, PortalError> {
        let organisation = self.brand(&s.record.tenant).await?.organisation;
        match self.core.store.pickup(&s.record.entry_hash).await? {
            Some(p) => {
                Ok(EntryInfo { organisation, expires_at: p.expires_at, state: PickupState::of(&p, now_micros()) })
            }
            None => Ok(EntryInfo { organisation, expires_at: 0, state: PickupState::Gone }),
        }
    }

    /// Every unexpired, unretracted message of the signed-in recipient,
    /// newest first, threads kept together (a thread sorts by its newest).
    pub async fn inbox(&self, s: &Current) -> Result<Vec<InboxItem>, PortalError> {
        s.require_signed_in()?;
        let now = now_micros();
        let mut items = Vec::new();
        for p in self.core.store.pickups_of_address(&s.record.tenant, &s.record.address_hash).await? {
            if PickupState::of(&p, now) != PickupState::Active {
                continue;
            }
            let opened = match self.reader.load_message(&p.tenant, &p.message, true).await {
                Ok(o) => o,
                Err(sealpost_core::ServerError::NotFound(_)) => continue,
                Err(e) => return Err(PortalError::from_server(e)),
            };
            let raw = opened.raw.unwrap_or_default();
            let headers = reply::Headers::of(&raw);
            items.push(InboxItem {
                reference: p.recipient,
                subject: headers.subject.clone(),
                from: headers.sender_display(),
                received_at: p.created_at,
                expires_at: p.expires_at,
                opened: p.opened_at.is_some(),
                thread: headers.thread_root(),
            });
        }
        // Threads together, the thread with the newest message first.
        let mut newest: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
        for i in &items {
            let e = newest.entry(i.thread.clone()).or_insert(i.received_at);
            *e = (*e).max(i.received_at);
        }
        items.sort_by(|a, b| {
            newest[&b.thread]
                .cmp(&newest[&a.thread])
                .then_with(|| a.thread.cmp(&b.thread))
                .then_with(|| b.received_at.cmp(&a.received_at))
        });
        Ok(items)
    }

    /// The signed-in recipient's pickup `reference`, if it is theirs and
    /// readable. Another recipient's reference is "not found", audited.
    async fn own_pickup(
        &self,
        s: &Current,
        reference: &RecipientId,
        action: Action,
    ) -> Result<PortalPickup, PortalError> {
        s.require_signed_in()?;
        let p = self.core.store.pickup_of_recipient(&s.record.tenant, reference).await?;
        let p = match p {
            Some(p) if p.address_hash.as_deref() == Some(&s.record.address_hash[..]) => p,
            _ => {
                self.audit(s, action, Outcome::Failure, None, |e| e.detail("reason", DetailValue::Name("not-yours")))
                    .await?;
                return Err(PortalError::NotFound);
            }
        };
        match PickupState::of(&p, now_micros()) {
            PickupState::Active => Ok(p),
            state => Err(PortalError::Unavailable(state)),
        }
    }

    /// Opens a message for its signed-in recipient. The first view records
    /// `portal_opened` (event and webhook); every view is audited.
    pub async fn open(&self, s: &Current, reference: &RecipientId) -> Result<PortalMessage, PortalError> {
        let p = self.own_pickup(s, reference, Action::PortalViewed).await?;
        let opened = self.reader.load_message(&p.tenant, &p.message, true).await.map_err(PortalError::from_server)?;
        let mut ops = Vec::new();
        if p.opened_at.is_none() {
            ops.push(Op::PickupOpened { token_hash: p.token_hash.clone(), at: now_micros() });
            ops.push(recipient_event(&p, "portal_opened"));
        }
        let event = self.event(s, Action::PortalViewed, Outcome::Success, Some(&p));
        self.core.store.commit(Commit { ops, events: vec![event] }).await?;
        Ok(PortalMessage {
            reference: p.recipient,
            message: p.message,
            raw: opened.raw.unwrap_or_default(),
            expires_at: p.expires_at,
        })
    }

    /// Hands the message's bytes to `extract` (which finds attachment
    /// `part`); when it finds one, the download is recorded (audit event,
    /// `portal_downloaded` event and webhook) before it is returned.
    pub async fn download<T>(
        &self,
        s: &Current,
        reference: &RecipientId,
        part: usize,
        extract: impl FnOnce(&[u8]) -> Option<T>,
    ) -> Result<T, PortalError> {
        let p = self.own_pickup(s, reference, Action::PortalDownloaded).await?;
        let opened = self.reader.load_message(&p.tenant, &p.message, true).await.map_err(PortalError::from_server)?;
        let found = extract(opened.raw.as_deref().unwrap_or_default()).ok_or(PortalError::NotFound)?;
        let event = self
            .event(s, Action::PortalDownloaded, Outcome::Success, Some(&p))
            .detail("part", DetailValue::Count(part as i64));
        let ops = vec![recipient_event(&p, "portal_downloaded")];
        self.core.store.commit(Commit { ops, events: vec![event] }).await?;
        Ok(found)
    }

    /// Hands the message's bytes to `extract` for an inline image of the
    /// message (shown inside it: not a download, not recorded apart from
    /// the view).
    pub async fn inline<T>(
        &self,
        s: &Current,
        reference: &RecipientId,
        extract: impl FnOnce(&[u8]) -> Option<T>,
    ) -> Result<T, PortalError> {
        let p = self.own_pickup(s, reference, Action::PortalViewed).await?;
        let opened = self.reader.load_message(&p.tenant, &p.message, true).await.map_err(PortalError::from_server)?;
        extract(opened.raw.as_deref().unwrap_or_default()).ok_or(PortalError::NotFound)
    }

    fn event(&self, s: &Current, action: Action, outcome: Outcome, p: Option<&PortalPickup>) -> NewEvent {
        let mut e = NewEvent::new(s.record.tenant.clone(), s.actor(), action, outcome);
        if let Some(p) = p {
            e = e.target(p.message).detail("recipient", DetailValue::id(p.recipient));
        }
        e
    }

    async fn audit(
        &self,
        s: &Current,
        action: Action,
        outcome: Outcome,
        p: Option<&PortalPickup>,
        more: impl FnOnce(NewEvent) -> NewEvent,
    ) -> Result<(), PortalError> {
        self.core.audit(vec![more(self.event(s, action, outcome, p))]).await.map_err(PortalError::from_server)
    }
}

/// `d` in unix micros, saturating.
pub(crate) fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// The address of `recipient` in an opened message's sealed envelope.
pub(crate) fn address_in(opened: &OpenedMessage, recipient: &RecipientId) -> Result<String, PortalError> {
    let index = opened.recipients.iter().find(|q| q.id == *recipient).map(|q| q.rcpt_index);
    index
        .and_then(|i| usize::try_from(i).ok())
        .and_then(|i| opened.meta.recipients.get(i))
        .map(|r| r.address.clone())
        .ok_or(PortalError::NotFound)
}

/// A per-recipient event with its webhook (R-DL-6, R-PT-4).
fn recipient_event(p: &PortalPickup, event: &str) -> Op {
    let detail = r#"{"method":"portal"}"#.to_owned();
    Op::RecipientEvent {
        tenant: p.tenant.clone(),
        message: p.message,
        recipient: p.recipient,
        event: event.into(),
        webhook_payload: sealpost_core::webhook_event::event_payload(&p.message, &p.recipient, event, &detail),
        detail,
    }
}

impl Current {
    /// The audit actor of this session's recipient (a pseudonym).
    pub fn actor(&self) -> Actor {
        Actor::portal_recipient(&self.record.address_hash)
    }
}
