//! The portal's own schedule: one reminder before an unopened message
//! expires ("a reminder goes out before expiry"), and idle or expired
//! sessions deleted.
//!
//! The reminder carries no link: only the link's hash is stored, so the
//! original notification's link is the way in. It names the organisation
//! and the expiry date, like the notification, and nothing of the message.

use std::sync::Arc;

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_model::now_micros;
use sealpost_store::{Op, PortalPickup, StoreError};

use crate::{Portal, PortalError, micros, recipient_event};

/// Reminders sent per round at most (the rest wait for the next round).
const REMINDERS_PER_ROUND: i64 = 200;

impl Portal {
    /// Runs reminders and session clean-up every `housekeeping_every`,
    /// until the task is dropped. A failed round is logged and retried.
    pub async fn run_housekeeping(self: Arc<Self>) {
        loop {
            if let Err(e) = self.housekeeping_round().await {
                tracing::warn!(error = %e, "portal housekeeping failed; will retry");
            }
            tokio::time::sleep(self.limits.housekeeping_every).await;
        }
    }

    /// One round: returns (reminders sent, sessions deleted).
    pub async fn housekeeping_round(&self) -> Result<(usize, u64), PortalError> {
        let now = now_micros();
        let pruned = self.core.store.prune_portal_sessions(now, now - micros(self.limits.idle)).await?;
        let mut sent = 0;
        if !self.limits.reminder_before.is_zero() {
            let until = now.saturating_add(micros(self.limits.reminder_before));
            for p in self.core.store.pickups_due_reminder(now, until, REMINDERS_PER_ROUND).await? {
                match self.remind(&p).await {
                    Ok(()) => sent += 1,
                    // Its message is gone: nothing to remind of.
                    Err(PortalError::NotFound) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok((sent, pruned))
    }

    async fn remind(&self, p: &PortalPickup) -> Result<(), PortalError> {
        let (_, address) = self.pickup_address(p).await?;
        let organisation = self.brand(&p.tenant).await?.organisation;
        let expires = sealpost_audit::rfc3339_micros(p.expires_at);
        let expires = expires.get(..10).unwrap_or(&expires).to_owned();
        let text = format!(
            "A secure message from {organisation} is waiting for you and will expire on {expires}.\r\n\r\n\
             To read it, open the link in the notification we sent you earlier.\r\n\
             This reminder does not contain the message.\r\n"
        );
        let subject = "Reminder: you have a secure message";
        let mut commit = self.notice(&p.tenant, Actor::system(), address, subject, text).await?;
        commit.ops.push(Op::PickupReminded { token_hash: p.token_hash.clone(), at: now_micros() });
        commit.ops.push(recipient_event(p, "portal_reminded"));
        commit.events.push(
            NewEvent::new(p.tenant.clone(), Actor::system(), Action::PortalReminded, Outcome::Success)
                .target(p.message)
                .detail("recipient", DetailValue::id(p.recipient)),
        );
        match self.core.store.commit(commit).await {
            // A conflict: reminded meanwhile (another node); nothing was sent twice.
            Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
