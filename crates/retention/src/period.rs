//! `Period`: how long a rule keeps a message ("6y", "10y6m", "90d", "forever"),
//! and the calendar arithmetic that turns a start date into an expiry date.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Date, Duration, Month};

use crate::error::PeriodError;

/// A retention period: a calendar span, or permanent retention.
///
/// The text form is `<n>y<n>m<n>d` with each part optional but at least one
/// present, in that order (`6y`, `10y6m`, `90d`, `0d`), or `forever`.
/// [`Display`](fmt::Display) writes the canonical form (zero parts left out,
/// `0d` for an empty span), so `parse(display(p)) == p` for every period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Period {
    /// A calendar span, added to the start date years and months first, then days.
    Span {
        /// Whole years.
        years: u16,
        /// Whole months.
        months: u16,
        /// Days.
        days: u16,
    },
    /// Permanent retention: the message never expires.
    Forever,
}

impl Period {
    /// A span of whole years.
    pub const fn years(years: u16) -> Self {
        Period::Span { years, months: 0, days: 0 }
    }

    /// Parses the text form described on [`Period`].
    pub fn parse(s: &str) -> Result<Self, PeriodError> {
        if s == "forever" {
            return Ok(Period::Forever);
        }
        if s.is_empty() {
            return Err(PeriodError::Empty);
        }
        let bytes = s.as_bytes();
        let (mut years, mut months, mut days) = (None, None, None);
        // Units must appear in this order, each at most once: `rank` is the
        // index of the last unit seen, so "6m1y" and "1y1y" are both rejected.
        let mut rank = 0usize;
        let mut pos = 0usize;
        while pos < bytes.len() {
            let start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            if pos == start {
                return Err(PeriodError::ExpectedNumber { position: start });
            }
            let value: u16 = s[start..pos].parse().map_err(|_| PeriodError::TooLarge { position: start })?;
            let Some(&unit) = bytes.get(pos) else {
                return Err(PeriodError::ExpectedUnit { position: pos });
            };
            let (slot, unit_rank) = match unit {
                b'y' => (&mut years, 1),
                b'm' => (&mut months, 2),
                b'd' => (&mut days, 3),
                _ => return Err(PeriodError::ExpectedUnit { position: pos }),
            };
            if unit_rank <= rank {
                return Err(PeriodError::UnitOrder { position: pos });
            }
            rank = unit_rank;
            *slot = Some(value);
            pos += 1;
        }
        Ok(Period::Span { years: years.unwrap_or(0), months: months.unwrap_or(0), days: days.unwrap_or(0) })
    }

    /// The date this period ends when counted from `start`, or `None` for
    /// [`Period::Forever`] and for an end beyond the calendar (year 9999),
    /// which callers treat as "keep indefinitely".
    ///
    /// Months that lack the start's day roll *forward* to the first of the
    /// next month: 29 February + 1 year is 1 March, 31 January + 1 month is
    /// 1 March. Retention must never end early, and the later of the two
    /// plausible readings is the one that cannot.
    pub fn end_from(self, start: Date) -> Option<Date> {
        let Period::Span { years, months, days } = self else {
            return None;
        };
        let shifted = add_months(start, i64::from(years) * 12 + i64::from(months))?;
        shifted.checked_add(Duration::days(i64::from(days)))
    }
}

/// Adds calendar months with the roll-forward rule of [`Period::end_from`].
pub(crate) fn add_months(date: Date, months: i64) -> Option<Date> {
    let index = i64::from(date.year()) * 12 + i64::from(date.month() as u8 - 1) + months;
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    let month = Month::try_from(u8::try_from(index.rem_euclid(12) + 1).ok()?).ok()?;
    let length = month.length(year);
    if date.day() <= length {
        Date::from_calendar_date(year, month, date.day()).ok()
    } else {
        Date::from_calendar_date(year, month, length).ok()?.next_day()
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Period::Span { years, months, days } = *self else {
            return f.write_str("forever");
        };
        if years == 0 && months == 0 && days == 0 {
            return f.write_str("0d");
        }
        if years > 0 {
            write!(f, "{years}y")?;
        }
        if months > 0 {
            write!(f, "{months}m")?;
        }
        if days > 0 {
            write!(f, "{days}d")?;
        }
        Ok(())
    }
}

impl FromStr for Period {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Self, PeriodError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Period {
    type Error = PeriodError;
    fn try_from(s: String) -> Result<Self, PeriodError> {
        Self::parse(&s)
    }
}

impl From<Period> for String {
    fn from(p: Period) -> String {
        p.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    fn span(years: u16, months: u16, days: u16) -> Period {
        Period::Span { years, months, days }
    }

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(Period::parse("6y"), Ok(span(6, 0, 0)));
        assert_eq!(Period::parse("10y6m"), Ok(span(10, 6, 0)));
        assert_eq!(Period::parse("90d"), Ok(span(0, 0, 90)));
        assert_eq!(Period::parse("1y2m3d"), Ok(span(1, 2, 3)));
        assert_eq!(Period::parse("forever"), Ok(Period::Forever));
        assert_eq!(Period::parse("0d"), Ok(span(0, 0, 0)));
    }

    #[test]
    fn rejects_malformed_text_with_a_position() {
        assert_eq!(Period::parse(""), Err(PeriodError::Empty));
        assert_eq!(Period::parse("6"), Err(PeriodError::ExpectedUnit { position: 1 }));
        assert_eq!(Period::parse("y"), Err(PeriodError::ExpectedNumber { position: 0 }));
        assert_eq!(Period::parse("6m1y"), Err(PeriodError::UnitOrder { position: 3 }));
        assert_eq!(Period::parse("1y1y"), Err(PeriodError::UnitOrder { position: 3 }));
        assert_eq!(Period::parse("6w"), Err(PeriodError::ExpectedUnit { position: 1 }));
        assert_eq!(Period::parse("6Y"), Err(PeriodError::ExpectedUnit { position: 1 }));
        assert_eq!(Period::parse(" 6y"), Err(PeriodError::ExpectedNumber { position: 0 }));
        assert_eq!(Period::parse("-6y"), Err(PeriodError::ExpectedNumber { position: 0 }));
        assert_eq!(Period::parse("70000d"), Err(PeriodError::TooLarge { position: 0 }));
        assert_eq!(Period::parse("Forever"), Err(PeriodError::ExpectedNumber { position: 0 }));
    }

    #[test]
    fn leap_day_plus_a_year_rolls_forward_to_march_first() {
        assert_eq!(Period::years(1).end_from(date!(2024 - 02 - 29)), Some(date!(2025 - 03 - 01)));
        // Four years later there is a 29 February again.
        assert_eq!(Period::years(4).end_from(date!(2024 - 02 - 29)), Some(date!(2028 - 02 - 29)));
        assert_eq!(span(0, 1, 0).end_from(date!(2025 - 01 - 31)), Some(date!(2025 - 03 - 01)));
        assert_eq!(span(0, 1, 0).end_from(date!(2024 - 01 - 31)), Some(date!(2024 - 03 - 01)));
        assert_eq!(span(0, 1, 0).end_from(date!(2024 - 01 - 29)), Some(date!(2024 - 02 - 29)));
    }

    #[test]
    fn months_carry_into_years_and_days_come_last() {
        assert_eq!(span(10, 6, 0).end_from(date!(2020 - 08 - 15)), Some(date!(2031 - 02 - 15)));
        assert_eq!(span(0, 0, 90).end_from(date!(2024 - 01 - 01)), Some(date!(2024 - 03 - 31)));
        // Years and months are added before days: 31 Jan + 1m = 1 Mar, + 1d = 2 Mar.
        assert_eq!(span(0, 1, 1).end_from(date!(2025 - 01 - 31)), Some(date!(2025 - 03 - 02)));
    }

    #[test]
    fn forever_and_calendar_overflow_have_no_end() {
        assert_eq!(Period::Forever.end_from(date!(2024 - 01 - 01)), None);
        assert_eq!(Period::years(100).end_from(date!(9950 - 01 - 01)), None);
        assert_eq!(span(0, 0, 30).end_from(date!(9999 - 12 - 15)), None);
    }

    #[test]
    fn serde_uses_the_text_form() {
        let json = serde_json::to_string(&span(10, 6, 0)).unwrap();
        assert_eq!(json, "\"10y6m\"");
        let back: Period = serde_json::from_str("\"forever\"").unwrap();
        assert_eq!(back, Period::Forever);
        assert!(serde_json::from_str::<Period>("\"6 years\"").is_err());
    }

    fn any_period() -> impl Strategy<Value = Period> {
        prop_oneof![
            1 => Just(Period::Forever),
            9 => (any::<u16>(), any::<u16>(), any::<u16>()).prop_map(|(y, m, d)| span(y, m, d)),
        ]
    }

    fn any_date() -> impl Strategy<Value = Date> {
        (Date::MIN.to_julian_day()..=Date::MAX.to_julian_day())
            .prop_map(|j| Date::from_julian_day(j).unwrap_or(Date::MIN))
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(p in any_period()) {
            prop_assert_eq!(Period::parse(&p.to_string()), Ok(p));
        }

        #[test]
        fn parse_never_panics_and_accepts_only_canonical_alphabet(s in "\\PC{0,12}") {
            if let Ok(p) = Period::parse(&s) {
                prop_assert!(s == "forever" || s.bytes().all(|b| b.is_ascii_digit() || b"ymd".contains(&b)));
                // Parsing is value-preserving even for non-canonical input such as "06y" or "0y6m".
                prop_assert_eq!(Period::parse(&p.to_string()), Ok(p));
            }
        }

        #[test]
        fn end_is_never_before_start(p in any_period(), start in any_date()) {
            if let Some(end) = p.end_from(start) {
                prop_assert!(end >= start);
            }
        }

        #[test]
        fn longer_spans_never_end_earlier(start in any_date(), y in 0u16..200, extra in 0u16..200) {
            let short = Period::years(y).end_from(start);
            let long = Period::years(y + extra).end_from(start);
            if let (Some(a), Some(b)) = (short, long) {
                prop_assert!(a <= b);
            }
        }
    }
}
