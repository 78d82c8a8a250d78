//! What the sender's side may do: retract a message from the portal (one
//! recipient or all), change when it expires, unlock a recipient; and the
//! recipient's request that an expired or retracted message be sent again
//! (a PHI-free notice to the sender).

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_model::{MessageId, RecipientId, TenantId, now_micros};
use sealpost_store::{Commit, Op};

use crate::{Current, PickupState, Portal, PortalError};

impl Portal {
    /// Retracts message `message` from the portal for `recipient` (or all
    /// its portal recipients). Returns how many pickups were retracted.
    pub async fn retract(
        &self,
        tenant: &TenantId,
        actor: Actor,
        message: &MessageId,
        recipient: Option<RecipientId>,
    ) -> Result<usize, PortalError> {
        let pickups = self.core.store.pickups_of_message(tenant, message).await?;
        let open: Vec<_> =
            pickups.iter().filter(|p| p.retracted_at.is_none() && recipient.is_none_or(|r| r == p.recipient)).collect();
        if pickups.is_empty() || (recipient.is_some() && !pickups.iter().any(|p| Some(p.recipient) == recipient)) {
            return Err(PortalError::NotFound);
        }
        let mut event = NewEvent::new(tenant.clone(), actor, Action::PortalRetracted, Outcome::Success)
            .target(*message)
            .detail("pickups", DetailValue::Count(open.len() as i64));
        if let Some(r) = recipient {
            event = event.detail("recipient", DetailValue::id(r));
        }
        let op = Op::RetractPickups { tenant: tenant.clone(), message: *message, recipient, at: now_micros() };
        self.core.store.commit(Commit { ops: vec![op], events: vec![event] }).await?;
        Ok(open.len())
    }

    /// Sets when the message's unretracted pickups expire (unix micros).
    pub async fn set_expiry(
        &self,
        tenant: &TenantId,
        actor: Actor,
        message: &MessageId,
        expires_at: i64,
    ) -> Result<(), PortalError> {
        if self.core.store.pickups_of_message(tenant, message).await?.is_empty() {
            return Err(PortalError::NotFound);
        }
        let event = NewEvent::new(tenant.clone(), actor, Action::PortalExpiryChanged, Outcome::Success)
            .target(*message)
            .detail("expires_at", DetailValue::Count(expires_at));
        let op = Op::SetPickupExpiry { tenant: tenant.clone(), message: *message, expires_at };
        self.core.store.commit(Commit { ops: vec![op], events: vec![event] }).await?;
        Ok(())
    }

    /// Lifts a recipient's lockout (the tenant's admin). Returns whether
    /// the recipient was locked.
    pub async fn unlock(&self, tenant: &TenantId, actor: Actor, address: &str) -> Result<bool, PortalError> {
        let hash = self.address_hash(tenant, address);
        let Some(mut state) = self.core.store.portal_recipient(tenant, &hash).await? else { return Ok(false) };
        let was = state.locked_until > now_micros();
        let version = state.version;
        state.failures = 0;
        state.locked_until = 0;
        state.version += 1;
        let event = NewEvent::new(tenant.clone(), actor, Action::PortalUnlocked, Outcome::Success)
            .detail("recipient", DetailValue::Name(if was { "was-locked" } else { "was-not-locked" }));
        let ops = vec![Op::PutPortalRecipient { state, expected_version: Some(version) }];
        self.core.store.commit(Commit { ops, events: vec![event] }).await?;
        Ok(was)
    }

    /// The recipient of an expired or retracted link asks the sender to
    /// send it again: a notice to the message's sender naming the message
    /// and recipient ids only.
    pub async fn request_resend(&self, s: &Current) -> Result<(), PortalError> {
        let p = self.core.store.pickup(&s.record.entry_hash).await?.ok_or(PortalError::NotFound)?;
        if PickupState::of(&p, now_micros()) == PickupState::Active {
            return Err(PortalError::BadReply("this message can still be read".into()));
        }
        let opened = self.reader.load_message(&p.tenant, &p.message, false).await?;
        let Some(sender) = opened.meta.mail_from.clone().filter(|a| !a.is_empty()) else {
            return Err(PortalError::NotFound);
        };
        let text = format!(
            "The recipient {recipient} of your secure message {message} asked you to send it again: \
             on the portal it has expired or was retracted.\r\n\r\n\
             This notice names the message and the recipient by id only; look them up in Sealpost.\r\n",
            recipient = p.recipient,
            message = p.message,
        );
        let subject = format!("Please resend secure message {}", p.message);
        let mut commit = self.notice(&p.tenant, s.actor(), sender, &subject, text).await?;
        commit.events.push(
            NewEvent::new(p.tenant.clone(), s.actor(), Action::PortalResendRequested, Outcome::Success)
                .target(p.message)
                .detail("recipient", DetailValue::id(p.recipient)),
        );
        self.core.store.commit(commit).await?;
        Ok(())
    }
}
