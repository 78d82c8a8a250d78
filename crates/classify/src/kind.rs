//! The closed vocabulary of PHI kinds this crate detects.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ClassifyError;

/// A kind of protected health information (R-CL-1).
///
/// The wire spelling ([`PhiKind::as_str`]) is what findings are stored and
/// serialized under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum PhiKind {
    /// US Social Security number.
    Ssn,
    /// Medical record number (default keyword pattern or tenant patterns).
    Mrn,
    /// A date given as someone's date of birth.
    DateOfBirth,
    /// ICD-10-CM diagnosis code.
    Icd10,
    /// National Provider Identifier (10 digits with a valid check digit).
    Npi,
    /// Medicare Beneficiary Identifier.
    MedicareMbi,
    /// Health plan member, subscriber, policy or group id.
    HealthPlanId,
    /// North American (NANP) telephone number.
    Phone,
    /// A term from the tenant's dictionary (patient names, diagnoses).
    Dictionary,
}

impl PhiKind {
    /// Every kind, in declaration order.
    pub const ALL: [PhiKind; 9] = [
        PhiKind::Ssn,
        PhiKind::Mrn,
        PhiKind::DateOfBirth,
        PhiKind::Icd10,
        PhiKind::Npi,
        PhiKind::MedicareMbi,
        PhiKind::HealthPlanId,
        PhiKind::Phone,
        PhiKind::Dictionary,
    ];

    /// The wire and storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PhiKind::Ssn => "ssn",
            PhiKind::Mrn => "mrn",
            PhiKind::DateOfBirth => "dob",
            PhiKind::Icd10 => "icd10",
            PhiKind::Npi => "npi",
            PhiKind::MedicareMbi => "mbi",
            PhiKind::HealthPlanId => "health_plan_id",
            PhiKind::Phone => "phone",
            PhiKind::Dictionary => "dictionary",
        }
    }

    /// Parses the wire spelling (exact, lowercase).
    pub fn parse(s: &str) -> Result<Self, ClassifyError> {
        PhiKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| ClassifyError::UnknownKind { value: s.chars().take(40).collect() })
    }

    /// Position in [`PhiKind::ALL`], used to index count arrays.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for PhiKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for PhiKind {
    type Error = ClassifyError;
    fn try_from(s: String) -> Result<Self, ClassifyError> {
        Self::parse(&s)
    }
}

impl From<PhiKind> for &'static str {
    fn from(kind: PhiKind) -> &'static str {
        kind.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for kind in PhiKind::ALL {
            assert_eq!(PhiKind::parse(kind.as_str()), Ok(kind));
            assert_eq!(PhiKind::ALL[kind.index()], kind);
        }
        assert!(PhiKind::parse("SSN").is_err());
        assert!(PhiKind::parse("").is_err());
    }
}
