//! Retention of the operational tables (issue 13.14): finished webhook
//! deliveries, API idempotency records and the sealed search log are
//! pruned by age on the retention schedule, so none grows forever.
//!
//! - Idempotency records: [`IDEMPOTENCY_KEPT`] (72 hours): longer than any
//!   sensible client retry, including an interface engine replaying its
//!   queue after a weekend; a key pruned too early lets a retry send twice.
//! - Finished webhook deliveries: [`OUTBOX_KEPT`] (30 days): payloads are
//!   ids and codes; a month answers "did you send event X?". Pending
//!   deliveries are never pruned.
//! - The search log (sealed query texts, which can name a patient) must
//!   not outlive the messages it names. A row names no message ids, so
//!   each tenant's log is kept for the shortest period any rule of the
//!   tenant's retention policy can keep a message, and at most
//!   [`SEARCH_LOG_KEPT_AT_MOST`] (six years, the HIPAA documentation
//!   period: the log is audit documentation). The `search.performed`
//!   events stay in the audit chain; only the query text goes. A tenant
//!   with an active legal hold keeps its whole log (the searches made in a
//!   matter may have to be shown), and so does a tenant whose policy cannot
//!   be read (fail closed: keep).

use std::collections::BTreeMap;
use std::time::Duration;

use sealpost_audit::{Action, Actor, DetailValue, NewEvent, Outcome};
use sealpost_core::ServerError;
use sealpost_model::TenantId;
use sealpost_retention::{Period, Policy};
use sealpost_store::{PruneBefore, PruneCounts};
use time::{Date, Month};

use crate::Archive;
use crate::facts::{date_micros, micros_date};

/// How long API idempotency records are kept.
pub const IDEMPOTENCY_KEPT: Duration = Duration::from_secs(72 * 3600);
/// How long finished webhook deliveries are kept.
pub const OUTBOX_KEPT: Duration = Duration::from_secs(30 * 24 * 3600);
/// The longest the search log is kept (six years).
pub const SEARCH_LOG_KEPT_AT_MOST: Period = Period::Span { years: 6, months: 0, days: 0 };

/// The cut-off for a tenant's search log at `now` (unix micros): rows
/// logged before it are pruned. The shortest period of any rule, at most
/// six years; `None` (keep everything) when no cut-off can be computed.
pub fn search_log_cutoff(policy: &Policy, now: i64) -> Option<i64> {
    let today = micros_date(now)?;
    let mut cutoff = back(today, SEARCH_LOG_KEPT_AT_MOST)?;
    for rule in &policy.rules {
        if let Some(date) = back(today, rule.period) {
            cutoff = cutoff.max(date);
        }
    }
    // The same time of day as `now`, on the cut-off date.
    Some(date_micros(cutoff) + (now - date_micros(today)))
}

/// `date` minus `period` (years and months first, then days; 29 February
/// of a year without one becomes the 28th); `None` for `forever`.
fn back(date: Date, period: Period) -> Option<Date> {
    let Period::Span { years, months, days } = period else { return None };
    let total_months = date.year() * 12 + (date.month() as i32 - 1) - i32::from(years) * 12 - i32::from(months);
    let (year, month) = (total_months.div_euclid(12), Month::try_from((total_months.rem_euclid(12) + 1) as u8).ok()?);
    let day = date.day().min(time::util::days_in_month(month, year));
    Date::from_calendar_date(year, month, day).ok()?.checked_sub(time::Duration::days(i64::from(days)))
}

impl Archive {
    /// Prunes the operational tables as of `now` (unix micros) and audits
    /// each tenant's search-log pruning.
    pub async fn prune_operational(&self, now: i64) -> Result<PruneCounts, ServerError> {
        let mut search_log = BTreeMap::new();
        for tenant in self.core.store.tenant_ids().await? {
            match self.search_log_cutoff_of(&tenant, now).await {
                Ok(Some(cut)) => {
                    search_log.insert(tenant, cut);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(tenant = %tenant, error = %e, "search log kept: its retention is unknown"),
            }
        }
        let before = PruneBefore {
            webhook_outbox: Some(now - OUTBOX_KEPT.as_micros() as i64),
            idempotency: Some(now - IDEMPOTENCY_KEPT.as_micros() as i64),
            search_log: search_log.clone(),
        };
        let counts = self.core.store.prune_operational(&before).await?;
        let events: Vec<NewEvent> = counts
            .search_log
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(tenant, n)| {
                NewEvent::new(tenant.clone(), Actor::system(), Action::SearchLogPruned, Outcome::Success)
                    .detail("count", DetailValue::Count(*n))
                    .detail("before", DetailValue::Count(search_log[tenant]))
            })
            .collect();
        if !events.is_empty() {
            self.core.audit(events).await?;
        }
        Ok(counts)
    }

    /// A tenant's search-log cut-off; `None` while a legal hold is active.
    async fn search_log_cutoff_of(&self, tenant: &TenantId, now: i64) -> Result<Option<i64>, ServerError> {
        let holds = self.active_holds(tenant).await.map_err(|e| ServerError::State(e.to_string()))?;
        if !holds.is_empty() {
            return Ok(None);
        }
        let policy = self.retention_policy(tenant).await?.policy;
        Ok(search_log_cutoff(&policy, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(periods: &[&str]) -> Policy {
        let rules: Vec<String> = periods
            .iter()
            .enumerate()
            .map(|(i, p)| format!("[[rules]]\nid = \"r{i}\"\nname = \"r\"\nperiod = \"{p}\"\naction = \"dispose\"\n"))
            .collect();
        Policy::from_toml(&rules.concat()).expect("policy")
    }

    const DAY: i64 = 86_400_000_000;

    #[test]
    fn the_search_log_is_kept_for_the_shortest_rule_and_at_most_six_years() {
        let now = date_micros(time::macros::date!(2026 - 12 - 04)) + 3_600_000_000;
        let six_years = search_log_cutoff(&policy(&["10y"]), now).unwrap();
        assert_eq!(micros_date(six_years), Some(time::macros::date!(2020 - 12 - 04)));
        assert_eq!(now - six_years, (365 * 6 + 1) * DAY, "six calendar years back, one leap day (2024) between");
        let shortest = search_log_cutoff(&policy(&["7y", "90d", "forever"]), now).unwrap();
        assert_eq!(now - shortest, 90 * DAY);
        assert_eq!(search_log_cutoff(&policy(&["forever"]), now), Some(six_years));
        let leap = date_micros(time::macros::date!(2028 - 02 - 29));
        let one_year = search_log_cutoff(&policy(&["1y"]), leap).unwrap();
        assert_eq!(micros_date(one_year), Some(time::macros::date!(2027 - 02 - 28)));
    }
}
