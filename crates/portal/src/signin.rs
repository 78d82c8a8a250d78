//! Proving control of the address (R-PT-2): a 6-digit one-time code mailed
//! to it, valid 10 minutes, single use, 5 tries; at most 5 codes an hour;
//! 10 consecutive failures lock the recipient out for 15 minutes, each
//! further lockout twice as long (at most a day), until the sender's admin
//! unlocks. No knowledge questions (NIST SP 800-63B).
//!
//! The recipient's state is written only over the version that was read,
//! so two guesses racing each other both count.

use sealpost_audit::{Action, DetailValue, NewEvent, Outcome};
use sealpost_model::now_micros;
use sealpost_store::{Commit, Op, PortalRecipient, StoreError};

use crate::session::NewSession;
use crate::{Current, Portal, PortalError, micros};

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

/// A code was sent.
#[derive(Debug, Clone, Copy)]
pub struct CodeSent {
    /// When it stops working, unix micros.
    pub expires_at: i64,
}

impl Portal {
    fn code_hash(&self, s: &Current, code: &str) -> Vec<u8> {
        let value = format!("portal-code:{}:{}", hex::encode(&s.record.address_hash), code.trim());
        self.core.root().lookup_hash(s.record.tenant.as_str(), value.as_bytes())
    }

    async fn recipient_state(&self, s: &Current) -> Result<(PortalRecipient, Option<i64>), PortalError> {
        Ok(match self.core.store.portal_recipient(&s.record.tenant, &s.record.address_hash).await? {
            Some(r) => {
                let v = r.version;
                (r, Some(v))
            }
            None => (
                PortalRecipient {
                    tenant: s.record.tenant.clone(),
                    address_hash: s.record.address_hash.clone(),
                    code_hash: None,
                    code_expires_at: 0,
                    code_tries: 0,
                    window_start: 0,
                    codes_in_window: 0,
                    failures: 0,
                    locked_until: 0,
                    version: 0,
                },
                None,
            ),
        })
    }

    fn signin_event(&self, s: &Current, action: Action, outcome: Outcome, reason: &'static str) -> NewEvent {
        NewEvent::new(s.record.tenant.clone(), s.actor(), action, outcome).detail("reason", DetailValue::Name(reason))
    }

    /// Mails a new one-time code to the session's address (the previous
    /// code stops working). `lang` picks the wording (`en`, `es`).
    pub async fn send_code(&self, s: &Current, lang: &str) -> Result<CodeSent, PortalError> {
        let now = now_micros();
        let (mut state, version) = self.recipient_state(s).await?;
        if state.locked_until > now {
            let event = self.signin_event(s, Action::PortalCodeSent, Outcome::Failure, "locked");
            self.core.audit(vec![event]).await?;
            return Err(PortalError::Locked { until: state.locked_until });
        }
        if now - state.window_start >= HOUR {
            state.window_start = now;
            state.codes_in_window = 0;
        }
        if state.codes_in_window >= self.limits.codes_per_hour {
            let event = self.signin_event(s, Action::PortalCodeSent, Outcome::Failure, "too-many-codes");
            self.core.audit(vec![event]).await?;
            return Err(PortalError::TooManyCodes { retry_at: state.window_start + HOUR });
        }
        let pickup = self.core.store.pickup(&s.record.entry_hash).await?.ok_or(PortalError::NotFound)?;
        let (_, address) = self.pickup_address(&pickup).await?;
        let organisation = self.brand(&s.record.tenant).await?.organisation;
        let code = sealpost_crypto::random_digits(6).map_err(|e| PortalError::Unavailable503(e.to_string()))?;
        let expires_at = now + micros(self.limits.code_ttl);
        state.code_hash = Some(self.code_hash(s, &code));
        state.code_expires_at = expires_at;
        state.code_tries = self.limits.code_tries;
        state.codes_in_window += 1;
        state.version += 1;

        let minutes = self.limits.code_ttl.as_secs() / 60;
        let (subject, text) = code_mail(&organisation, &code, minutes, lang);
        let mut commit = self.notice(&s.record.tenant, s.actor(), address, subject, text).await?;
        commit.ops.push(Op::PutPortalRecipient { state, expected_version: version });
        commit.events.push(self.signin_event(s, Action::PortalCodeSent, Outcome::Success, "sent"));
        match self.core.store.commit(commit).await {
            Ok(_) => Ok(CodeSent { expires_at }),
            // Another request changed the state meanwhile: its code stands.
            Err(StoreError::Conflict(_)) => Err(PortalError::Unavailable503("concurrent code request".into())),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks a code. Right: the pending session is replaced by a signed-in
    /// one with a new id (set its cookie). Wrong, expired or used: the
    /// failure counts, and enough of them lock the recipient out.
    pub async fn verify_code(&self, s: &Current, code: &str) -> Result<NewSession, PortalError> {
        let now = now_micros();
        let (mut state, version) = self.recipient_state(s).await?;
        if state.locked_until > now {
            let event = self.signin_event(s, Action::PortalSignedIn, Outcome::Failure, "locked");
            self.core.audit(vec![event]).await?;
            return Err(PortalError::Locked { until: state.locked_until });
        }
        let live = state.code_hash.is_some() && state.code_expires_at > now && state.code_tries > 0;
        let right = live
            && state
                .code_hash
                .as_deref()
                .is_some_and(|h| sealpost_crypto::constant_time_eq(h, &self.code_hash(s, code)));
        state.version += 1;
        if right {
            state.code_hash = None;
            state.code_tries = 0;
            state.failures = 0;
            let new =
                self.new_session(&s.record.tenant, s.record.address_hash.clone(), s.record.entry_hash.clone(), true)?;
            let ops = vec![
                Op::PutPortalRecipient { state, expected_version: version },
                Op::DeletePortalSession(s.record.id_hash.clone()),
                Op::PutPortalSession(new.current.record.clone()),
            ];
            let event = self.signin_event(s, Action::PortalSignedIn, Outcome::Success, "code");
            return match self.core.store.commit(Commit { ops, events: vec![event] }).await {
                Ok(_) => Ok(new),
                Err(StoreError::Conflict(_)) => Err(PortalError::CodeExpired),
                Err(e) => Err(e.into()),
            };
        }
        state.failures += 1;
        if live {
            state.code_tries -= 1;
        }
        let mut events = vec![self.signin_event(
            s,
            Action::PortalSignedIn,
            Outcome::Failure,
            if live { "wrong-code" } else { "no-live-code" },
        )];
        let locks = state.failures >= self.limits.lock_after && state.failures % self.limits.lock_after == 0;
        if locks {
            let nth = (state.failures / self.limits.lock_after - 1).clamp(0, 16) as u32;
            let span = micros(self.limits.lock_for).saturating_mul(1 << nth).min(DAY);
            state.locked_until = now + span;
            state.code_hash = None;
            events.push(
                NewEvent::new(s.record.tenant.clone(), s.actor(), Action::PortalLockedOut, Outcome::Success)
                    .detail("failures", DetailValue::Count(state.failures))
                    .detail("seconds", DetailValue::Count(span / 1_000_000)),
            );
        }
        let (until, tries_left) = (state.locked_until, state.code_tries);
        let ops = vec![Op::PutPortalRecipient { state, expected_version: version }];
        match self.core.store.commit(Commit { ops, events }).await {
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
        if locks {
            Err(PortalError::Locked { until })
        } else if live {
            Err(PortalError::WrongCode { tries_left })
        } else {
            Err(PortalError::CodeExpired)
        }
    }
}

/// The code mail's subject and text: the organisation, the code and how
/// long it works. No PHI: nothing of any message, not even that one exists
/// for this person beyond what the notification already said.
fn code_mail(organisation: &str, code: &str, minutes: u64, lang: &str) -> (&'static str, String) {
    if lang == "es" {
        (
            "Su código de acceso",
            format!(
                "Su código de acceso al portal seguro de {organisation} es:\r\n\r\n    {code}\r\n\r\n\
                 Caduca en {minutes} minutos y sirve una sola vez. Si no lo pidió, ignore este mensaje.\r\n"
            ),
        )
    } else {
        (
            "Your sign-in code",
            format!(
                "Your sign-in code for the secure portal of {organisation} is:\r\n\r\n    {code}\r\n\r\n\
                 It expires in {minutes} minutes and works once. If you did not ask for it, ignore this message.\r\n"
            ),
        )
    }
}
