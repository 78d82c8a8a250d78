//! `UsState`: the 50 states and the District of Columbia by postal code,
//! the jurisdictions whose medical-record laws the state table covers.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::UsStateError;

macro_rules! states {
    ($($code:ident => $name:literal),+ $(,)?) => {
        /// A US state or the District of Columbia, written as its two-letter
        /// USPS code in upper case (`CA`, `NY`, `DC`).
        #[allow(clippy::upper_case_acronyms)] // The variants are the postal codes themselves.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "&'static str")]
        pub enum UsState {
            $(#[doc = $name] $code),+
        }

        impl UsState {
            /// All 51 jurisdictions, in alphabetical order of code.
            pub const ALL: &'static [UsState] = &[$(UsState::$code),+];

            /// The two-letter code.
            pub fn code(self) -> &'static str {
                match self { $(UsState::$code => stringify!($code)),+ }
            }

            /// The jurisdiction's name in English.
            pub fn name(self) -> &'static str {
                match self { $(UsState::$code => $name),+ }
            }

            /// Parses a two-letter code, exactly (upper case).
            pub fn parse(s: &str) -> Result<Self, UsStateError> {
                match s {
                    $(stringify!($code) => Ok(UsState::$code),)+
                    _ => Err(UsStateError),
                }
            }
        }
    };
}

states! {
    AK => "Alaska", AL => "Alabama", AR => "Arkansas", AZ => "Arizona", CA => "California",
    CO => "Colorado", CT => "Connecticut", DC => "District of Columbia", DE => "Delaware", FL => "Florida",
    GA => "Georgia", HI => "Hawaii", IA => "Iowa", ID => "Idaho", IL => "Illinois",
    IN => "Indiana", KS => "Kansas", KY => "Kentucky", LA => "Louisiana", MA => "Massachusetts",
    MD => "Maryland", ME => "Maine", MI => "Michigan", MN => "Minnesota", MO => "Missouri",
    MS => "Mississippi", MT => "Montana", NC => "North Carolina", ND => "North Dakota", NE => "Nebraska",
    NH => "New Hampshire", NJ => "New Jersey", NM => "New Mexico", NV => "Nevada", NY => "New York",
    OH => "Ohio", OK => "Oklahoma", OR => "Oregon", PA => "Pennsylvania", RI => "Rhode Island",
    SC => "South Carolina", SD => "South Dakota", TN => "Tennessee", TX => "Texas", UT => "Utah",
    VA => "Virginia", VT => "Vermont", WA => "Washington", WI => "Wisconsin", WV => "West Virginia",
    WY => "Wyoming",
}

impl fmt::Display for UsState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl TryFrom<String> for UsState {
    type Error = UsStateError;
    fn try_from(s: String) -> Result<Self, UsStateError> {
        Self::parse(&s)
    }
}

impl From<UsState> for &'static str {
    fn from(s: UsState) -> &'static str {
        s.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn has_fifty_states_and_dc_in_code_order() {
        assert_eq!(UsState::ALL.len(), 51);
        assert!(UsState::ALL.windows(2).all(|w| w[0].code() < w[1].code()));
        assert!(UsState::ALL.contains(&UsState::DC));
    }

    #[test]
    fn parses_exact_codes_only() {
        assert_eq!(UsState::parse("CA"), Ok(UsState::CA));
        assert_eq!(UsState::CA.name(), "California");
        assert!(UsState::parse("ca").is_err());
        assert!(UsState::parse("PR").is_err()); // territories are out of scope
        assert!(UsState::parse("CAL").is_err());
        assert!(serde_json::from_str::<UsState>("\"XX\"").is_err());
    }

    proptest! {
        #[test]
        fn parse_accepts_exactly_the_listed_codes(s in "[A-Za-z]{0,3}") {
            match UsState::parse(&s) {
                Ok(state) => prop_assert_eq!(state.code(), s.as_str()),
                Err(_) => prop_assert!(UsState::ALL.iter().all(|st| st.code() != s)),
            }
        }
    }
}
