//! Portal sessions: a link is exchanged for a pending session; a code
//! signs it in (with a new id); it idles out, ends at an absolute limit, or
//! is signed out. The cookie holds 32 random bytes; only their SHA-256 is
//! stored. CSRF tokens are a keyed hash of the cookie, so nothing more is
//! stored and a token is useless without the cookie it belongs to.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sealpost_audit::{Action, DetailValue, NewEvent, Outcome};
use sealpost_crypto::{constant_time_eq, sha256};
use sealpost_model::{TenantId, now_micros};
use sealpost_store::{Commit, Op, PortalSession};

use crate::{Portal, PortalError, micros};

/// The session cookie's name: `__Host-` binds it to this origin, Secure and Path=/.
pub const SESSION_COOKIE: &str = "__Host-sealpost_portal";

/// Requests within this many micros of the last recorded one do not write
/// (at most a quarter of the idle timeout, so activity always counts).
const TOUCH_EVERY: i64 = 60_000_000;

/// The session of the current request.
#[derive(Debug, Clone)]
pub struct Current {
    /// The stored session.
    pub record: PortalSession,
    cookie: String,
}

/// A session just made: set `cookie` on the response.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The cookie value (shown once; only its hash is stored).
    pub cookie: String,
    /// The session.
    pub current: Current,
}

impl Current {
    /// Whether the recipient proved control of the address.
    pub fn signed_in(&self) -> bool {
        self.record.signed_in
    }

    pub(crate) fn require_signed_in(&self) -> Result<(), PortalError> {
        if self.record.signed_in { Ok(()) } else { Err(PortalError::SignInRequired) }
    }
}

impl Portal {
    /// Exchanges a link's token for a pending session. `None`: no such
    /// link (its message may be gone). An expired or retracted link still
    /// gets a session, so its page can offer to ask the sender again.
    pub async fn exchange(&self, token: &str) -> Result<Option<NewSession>, PortalError> {
        let hash = sha256(token.as_bytes()).to_vec();
        let Some(p) = self.core.store.pickup(&hash).await? else { return Ok(None) };
        let mut ops = Vec::new();
        let address_hash = match &p.address_hash {
            Some(a) => a.clone(),
            None => {
                // A link sent before the portal existed: learn its address now.
                let (_, address) = match self.pickup_address(&p).await {
                    Ok(found) => found,
                    Err(PortalError::NotFound) => return Ok(None),
                    Err(e) => return Err(e),
                };
                let a = self.address_hash(&p.tenant, &address);
                ops.push(Op::PickupAddress { token_hash: hash.clone(), address_hash: a.clone() });
                a
            }
        };
        let new = self.new_session(&p.tenant, address_hash, hash, false)?;
        ops.push(Op::PutPortalSession(new.current.record.clone()));
        let event =
            NewEvent::new(p.tenant.clone(), new.current.actor(), Action::PortalSessionStarted, Outcome::Success)
                .target(p.message)
                .detail("recipient", DetailValue::id(p.recipient));
        self.core.store.commit(Commit { ops, events: vec![event] }).await?;
        Ok(Some(new))
    }

    pub(crate) fn new_session(
        &self,
        tenant: &TenantId,
        address_hash: Vec<u8>,
        entry_hash: Vec<u8>,
        signed_in: bool,
    ) -> Result<NewSession, PortalError> {
        let cookie = sealpost_crypto::random_token(32).map_err(|e| PortalError::Unavailable503(e.to_string()))?;
        let now = now_micros();
        let limit = if signed_in { self.limits.absolute } else { self.limits.pending };
        let record = PortalSession {
            id_hash: sha256(cookie.as_bytes()).to_vec(),
            tenant: tenant.clone(),
            address_hash,
            entry_hash,
            signed_in,
            created_at: now,
            seen_at: now,
            expires_at: now + micros(limit),
        };
        Ok(NewSession { current: Current { record, cookie: cookie.clone() }, cookie })
    }

    /// The session a cookie names, if it is still alive; each request
    /// keeps it alive (written at most once a minute). An idle or expired
    /// session is deleted.
    pub async fn session(&self, cookie: &str) -> Result<Option<Current>, PortalError> {
        if cookie.is_empty() || cookie.len() > 64 || B64.decode(cookie).is_err() {
            return Ok(None);
        }
        let id_hash = sha256(cookie.as_bytes()).to_vec();
        let Some(record) = self.core.store.portal_session(&id_hash).await? else { return Ok(None) };
        let now = now_micros();
        if now >= record.expires_at || now - record.seen_at >= micros(self.limits.idle) {
            self.core.store.commit(Commit { ops: vec![Op::DeletePortalSession(id_hash)], events: vec![] }).await?;
            return Ok(None);
        }
        let mut record = record;
        if now - record.seen_at >= TOUCH_EVERY.min(micros(self.limits.idle) / 4) {
            let op = Op::TouchPortalSession { id_hash: record.id_hash.clone(), seen_at: now };
            self.core.store.commit(Commit { ops: vec![op], events: vec![] }).await?;
            record.seen_at = now;
        }
        Ok(Some(Current { record, cookie: cookie.to_owned() }))
    }

    /// Keeps the session alive now (the "extend" button, WCAG 2.2.1).
    pub async fn extend(&self, s: &Current) -> Result<(), PortalError> {
        let op = Op::TouchPortalSession { id_hash: s.record.id_hash.clone(), seen_at: now_micros() };
        self.core.store.commit(Commit { ops: vec![op], events: vec![] }).await?;
        Ok(())
    }

    /// When the session ends unless the recipient does something: the
    /// idle timeout from the last request, or the absolute limit.
    pub fn session_ends_at(&self, s: &Current) -> i64 {
        (s.record.seen_at + micros(self.limits.idle)).min(s.record.expires_at)
    }

    /// Ends the session.
    pub async fn sign_out(&self, s: &Current) -> Result<(), PortalError> {
        let event = NewEvent::new(s.record.tenant.clone(), s.actor(), Action::PortalSignedOut, Outcome::Success);
        let ops = vec![Op::DeletePortalSession(s.record.id_hash.clone())];
        self.core.store.commit(Commit { ops, events: vec![event] }).await?;
        Ok(())
    }

    /// The CSRF token of a session's forms.
    pub fn csrf_token(&self, s: &Current) -> String {
        let mac =
            self.core.root().lookup_hash(s.record.tenant.as_str(), format!("portal-csrf:{}", s.cookie).as_bytes());
        B64.encode(&mac[..24])
    }

    /// Whether `presented` is this session's CSRF token.
    pub fn csrf_ok(&self, s: &Current, presented: &str) -> bool {
        constant_time_eq(self.csrf_token(s).as_bytes(), presented.as_bytes())
    }
}
