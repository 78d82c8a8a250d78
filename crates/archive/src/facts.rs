//! Facts about a stored message that holds and retention both read:
//! calendar dates in the forms metadata, CLI and API use, and custodians.

use sealpost_core::access::OpenedMessage;
use sealpost_retention::Until;
use sealpost_store::Source;
use time::{Date, OffsetDateTime};

/// Unix micros of the start of `date` (UTC).
pub fn date_micros(date: Date) -> i64 {
    date.midnight().assume_utc().unix_timestamp().saturating_mul(1_000_000)
}

/// The UTC date of unix micros (`None` outside the calendar).
pub fn micros_date(micros: i64) -> Option<Date> {
    OffsetDateTime::from_unix_timestamp(micros.div_euclid(1_000_000)).ok().map(|t| t.date())
}

/// Parses `YYYY-MM-DD` exactly (the form metadata, CLI and API use).
pub fn parse_date(text: &str) -> Option<Date> {
    match Until::parse(text.trim())? {
        Until::Date(d) => Some(d),
        Until::Indefinite => None,
    }
}

/// `YYYY-MM-DD`.
pub fn format_date(date: Date) -> String {
    Until::Date(date).to_string()
}

/// The custodians of a message: the import's named custodian, else the
/// envelope sender of outbound mail (lowercase).
pub fn custodians_of(m: &OpenedMessage) -> Vec<String> {
    match (&m.meta.custodian, &m.meta.mail_from) {
        (Some(c), _) => vec![c.to_lowercase()],
        (None, Some(from)) if m.record.source != Source::Import => vec![from.to_lowercase()],
        _ => Vec::new(),
    }
}
