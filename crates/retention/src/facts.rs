//! `MessageFacts`: what the caller knows about one message, the only input
//! rules are evaluated against.

use std::collections::HashSet;
use std::fmt;

use sealpost_model::{Category, EmailAddress};
use time::Date;

use crate::period::add_months;
use crate::state::UsState;

/// The facts about one message that rules can match on.
///
/// Dates of birth and treatment are PHI: `Debug` shows whether they are
/// known, never their values.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageFacts {
    /// The message's date (the day it was sent or received).
    pub date: Date,
    /// Its category.
    pub category: Category,
    /// Whether PHI was found in it.
    pub phi: bool,
    /// The envelope sender; `None` for the null reverse-path (`<>`) of bounces.
    pub sender: Option<EmailAddress>,
    /// Every recipient.
    pub recipients: Vec<EmailAddress>,
    /// The users or mailboxes whose mail this is (for custodian rules and holds).
    pub custodians: Vec<String>,
    /// The US state whose law governs the record, when known.
    pub jurisdiction: Option<UsState>,
    /// The patient's date of birth, when known.
    pub patient_dob: Option<Date>,
    /// The patient's last treatment date, when known.
    pub last_treatment: Option<Date>,
    /// Ids of the rules whose keyword query matched this message (see
    /// [`crate::Policy::queries`]).
    pub matched_queries: HashSet<String>,
}

impl MessageFacts {
    /// Facts with only a date and a category: no PHI, no addresses, nothing else known.
    pub fn new(date: Date, category: Category) -> Self {
        Self {
            date,
            category,
            phi: false,
            sender: None,
            recipients: Vec::new(),
            custodians: Vec::new(),
            jurisdiction: None,
            patient_dob: None,
            last_treatment: None,
            matched_queries: HashSet::new(),
        }
    }

    /// The patient's age in whole years on the message date, if the date of
    /// birth is known. A birthday on 29 February is reached on 1 March in
    /// common years, the same roll-forward as [`crate::Period::end_from`].
    /// A date of birth after the message date (a record made before birth)
    /// counts as age 0, so the rules for minors apply to it.
    pub fn patient_age(&self) -> Option<u32> {
        let dob = self.patient_dob?;
        Some(age_on(dob, self.date))
    }
}

/// Whole years from `dob` to `on`, 0 when `on` is earlier.
pub(crate) fn age_on(dob: Date, on: Date) -> u32 {
    let Ok(mut years) = u32::try_from(on.year() - dob.year()) else {
        return 0;
    };
    // The birthday of this calendar year may not have come yet.
    while years > 0 && birthday(dob, years).is_none_or(|b| b > on) {
        years -= 1;
    }
    years
}

/// The day someone born on `dob` turns `age`, `None` beyond the calendar.
pub(crate) fn birthday(dob: Date, age: u32) -> Option<Date> {
    add_months(dob, i64::from(age) * 12)
}

impl fmt::Debug for MessageFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageFacts")
            .field("category", &self.category)
            .field("phi", &self.phi)
            .field("recipients", &self.recipients.len())
            .field("custodians", &self.custodians.len())
            .field("jurisdiction", &self.jurisdiction)
            .field("patient_dob_known", &self.patient_dob.is_some())
            .field("last_treatment_known", &self.last_treatment.is_some())
            .field("matched_queries", &self.matched_queries)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    #[test]
    fn age_counts_whole_years() {
        assert_eq!(age_on(date!(2010 - 06 - 15), date!(2020 - 06 - 14)), 9);
        assert_eq!(age_on(date!(2010 - 06 - 15), date!(2020 - 06 - 15)), 10);
        assert_eq!(age_on(date!(2010 - 06 - 15), date!(2009 - 01 - 01)), 0);
    }

    #[test]
    fn leap_day_birthdays_are_reached_on_march_first_in_common_years() {
        let dob = date!(2008 - 02 - 29);
        assert_eq!(age_on(dob, date!(2026 - 02 - 28)), 17);
        assert_eq!(age_on(dob, date!(2026 - 03 - 01)), 18);
        assert_eq!(age_on(dob, date!(2028 - 02 - 29)), 20);
    }

    #[test]
    fn debug_hides_dates_and_addresses() {
        let mut facts = MessageFacts::new(date!(2024 - 05 - 01), Category::Transactional);
        facts.patient_dob = Some(date!(1971 - 03 - 09));
        facts.recipients.push(EmailAddress::parse("jane.doe@example.org", false).unwrap());
        let shown = format!("{facts:?}");
        assert!(!shown.contains("1971") && !shown.contains("jane"), "{shown}");
        assert!(shown.contains("patient_dob_known: true"), "{shown}");
    }

    proptest! {
        #[test]
        fn age_is_the_largest_n_whose_birthday_has_passed(
            dob_day in 0i32..40_000, offset in 0i32..40_000,
        ) {
            let dob = date!(1900 - 01 - 01) + time::Duration::days(i64::from(dob_day));
            let on = dob + time::Duration::days(i64::from(offset));
            let age = age_on(dob, on);
            prop_assert!(birthday(dob, age).is_some_and(|b| b <= on));
            prop_assert!(birthday(dob, age + 1).is_none_or(|b| b > on));
        }
    }
}
