//! The disposition queue (R-AR-3): expired messages whose deciding rule
//! says `review` wait here until a compliance user approves their disposal
//! (`App::approve_review`, in `disposal.rs`) or extends their retention.

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_model::{MessageId, TenantId};
use sealpost_store::{Commit, Op};
use serde::Serialize;
use time::Date;

use super::holds::ArchiveError;
use super::retention::{RetentionView, date_micros, micros_date};
use crate::Archive;

/// One message waiting for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewItem {
    /// The message.
    pub id: String,
    /// Its date, `YYYY-MM-DD`.
    pub message_date: Option<String>,
    /// Its category.
    pub category: &'static str,
    /// Its retention (rule, end, explanation).
    pub retention: RetentionView,
}

impl Archive {
    /// The tenant's disposition queue as of `now` (unix micros), by id.
    pub async fn review_queue(&self, tenant: &TenantId, now: i64) -> Result<Vec<ReviewItem>, ArchiveError> {
        let mut out = Vec::new();
        let mut after: Option<MessageId> = None;
        loop {
            let page = self.core.store.expired_messages(tenant, now, after.as_ref(), 500).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.message);
            out.extend(page.iter().filter(|r| r.action.as_deref() == Some("review")).map(|r| ReviewItem {
                id: r.message.to_string(),
                message_date: micros_date(r.message_date).map(super::retention::format_date),
                category: r.category.as_str(),
                retention: RetentionView::of(r),
            }));
        }
        Ok(out)
    }

    /// Keeps a message waiting for review until `until` (it returns to the
    /// queue then). Audited `disposition.reviewed` with decision `extend`.
    pub async fn extend_review(
        &self,
        tenant: &TenantId,
        id: &MessageId,
        until: Date,
        actor: Actor,
        now: i64,
    ) -> Result<(), ArchiveError> {
        self.reviewable(tenant, id, now).await?;
        let until = date_micros(until);
        if until <= now {
            return Err(ArchiveError::Invalid(sealpost_core::InvalidInput::field("until", "must be after now")));
        }
        let event = NewEvent::new(tenant.clone(), actor, Action::DispositionReviewed, Outcome::Success)
            .target(*id)
            .detail("decision", DetailValue::Name("extend"))
            .detail("until", DetailValue::Count(until));
        let op = Op::ExtendRetention { tenant: tenant.clone(), message: *id, until };
        self.core.store.commit(Commit { ops: vec![op], events: vec![event] }).await?;
        Ok(())
    }
}
