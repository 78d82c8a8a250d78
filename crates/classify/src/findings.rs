//! What a scan reports: a count per PHI kind, and nothing else.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{ClassifyError, PhiKind};

/// PHI found in a text or message, as counts per [`PhiKind`].
///
/// By construction this type holds nine counters and nothing more: it cannot
/// carry matched text, offsets or context, so storing it, logging it or
/// printing it with `{:?}` discloses only which kinds were seen how often.
///
/// Serializes as a JSON object of the non-zero counts, e.g. `{"mrn":1,"ssn":2}`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<String, u32>", into = "BTreeMap<&'static str, u32>")]
pub struct Findings {
    counts: [u32; PhiKind::ALL.len()],
}

impl Findings {
    /// No findings.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many findings of `kind` (saturating at `u32::MAX`).
    pub fn count(&self, kind: PhiKind) -> u32 {
        self.counts[kind.index()]
    }

    /// True when no kind has a finding.
    pub fn is_empty(&self) -> bool {
        self.counts.iter().all(|&n| n == 0)
    }

    /// The sum over all kinds (saturating).
    pub fn total(&self) -> u32 {
        self.counts.iter().fold(0u32, |acc, &n| acc.saturating_add(n))
    }

    /// The kinds with a non-zero count, in [`PhiKind::ALL`] order.
    pub fn kinds(&self) -> impl Iterator<Item = (PhiKind, u32)> + '_ {
        PhiKind::ALL.into_iter().map(|kind| (kind, self.count(kind))).filter(|&(_, n)| n > 0)
    }

    /// Adds `n` findings of `kind`.
    pub fn add(&mut self, kind: PhiKind, n: u32) {
        let slot = &mut self.counts[kind.index()];
        *slot = slot.saturating_add(n);
    }

    /// Adds every count of `other` to this one (findings of two texts together).
    pub fn merge(&mut self, other: &Findings) {
        for kind in PhiKind::ALL {
            self.add(kind, other.count(kind));
        }
    }

    /// Keeps, per kind, the larger of the two counts. Used for alternative
    /// renderings of the same content (multipart/alternative), which would be
    /// counted twice by [`Findings::merge`].
    pub fn merge_max(&mut self, other: &Findings) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine = (*mine).max(theirs);
        }
    }
}

/// Shows kinds and counts only, like the serialized form.
impl fmt::Debug for Findings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.kinds().map(|(kind, n)| (kind.as_str(), n))).finish()
    }
}

impl From<Findings> for BTreeMap<&'static str, u32> {
    fn from(findings: Findings) -> Self {
        findings.kinds().map(|(kind, n)| (kind.as_str(), n)).collect()
    }
}

impl TryFrom<BTreeMap<String, u32>> for Findings {
    type Error = ClassifyError;
    fn try_from(map: BTreeMap<String, u32>) -> Result<Self, ClassifyError> {
        let mut findings = Findings::new();
        for (name, n) in map {
            findings.add(PhiKind::parse(&name)?, n);
        }
        Ok(findings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_merge_and_iterate() {
        let mut a = Findings::new();
        assert!(a.is_empty());
        a.add(PhiKind::Ssn, 2);
        let mut b = Findings::new();
        b.add(PhiKind::Ssn, 1);
        b.add(PhiKind::Phone, 3);
        a.merge(&b);
        assert_eq!(a.count(PhiKind::Ssn), 3);
        assert_eq!(a.count(PhiKind::Phone), 3);
        assert_eq!(a.count(PhiKind::Npi), 0);
        assert_eq!(a.kinds().collect::<Vec<_>>(), vec![(PhiKind::Ssn, 3), (PhiKind::Phone, 3)]);
        assert_eq!(a.total(), 6);

        let mut c = Findings::new();
        c.add(PhiKind::Ssn, 5);
        c.merge_max(&a);
        assert_eq!(c.count(PhiKind::Ssn), 5);
        assert_eq!(c.count(PhiKind::Phone), 3);
    }

    #[test]
    fn counts_saturate() {
        let mut a = Findings::new();
        a.add(PhiKind::Mrn, u32::MAX);
        a.add(PhiKind::Mrn, 1);
        assert_eq!(a.count(PhiKind::Mrn), u32::MAX);
    }

    #[test]
    fn serializes_as_kind_counts() {
        let mut a = Findings::new();
        a.add(PhiKind::Ssn, 2);
        a.add(PhiKind::HealthPlanId, 1);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"health_plan_id":1,"ssn":2}"#);
        assert_eq!(serde_json::from_str::<Findings>(&json).unwrap(), a);
        assert_eq!(serde_json::to_string(&Findings::new()).unwrap(), "{}");
        assert!(serde_json::from_str::<Findings>(r#"{"credit_card":1}"#).is_err());
        assert!(serde_json::from_str::<Findings>(r#"{"ssn":"123-45-6789"}"#).is_err());
        assert_eq!(format!("{a:?}"), r#"{"ssn": 2, "health_plan_id": 1}"#);
    }
}
