//! Verification of a stored chain, its checkpoints and its head.

use std::collections::BTreeMap;
use std::fmt;

use crate::chain::{ChainHead, StoredEvent, event_hash};
use crate::checkpoint::Checkpoint;

/// What is wrong at the first bad position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// The row's stored hash differs from the hash recomputed from its
    /// columns: a column was changed.
    Changed,
    /// A sequence gap: the named seq (the first missing one) is absent.
    Removed,
    /// The row does not link to the previous row (its `prev_hash` differs,
    /// or its seq repeats or goes backwards): an event was inserted, or rows
    /// were reordered or renumbered, here.
    OutOfOrder,
    /// A checkpoint's signature is invalid, or the hash it signs differs
    /// from the chain at its seq (the chain was rewritten up to there).
    BadCheckpoint,
    /// A checkpoint was signed by a key that is not among the known keys.
    UnknownKey,
    /// A valid checkpoint or the head names a seq past the last event: the
    /// events from the named seq on were removed.
    TailRemoved,
    /// Events exist after the head: the named one was appended without
    /// moving the head.
    Appended,
    /// The head's hash differs from the chain's hash at the head's seq.
    HeadMismatch,
}

impl ProblemKind {
    /// A short lowercase name, e.g. `"changed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Changed => "changed",
            Self::Removed => "removed",
            Self::OutOfOrder => "out of order",
            Self::BadCheckpoint => "bad checkpoint",
            Self::UnknownKey => "checkpoint under an unknown key",
            Self::TailRemoved => "tail removed",
            Self::Appended => "appended after the head",
            Self::HeadMismatch => "head mismatch",
        }
    }

    fn explain(self) -> &'static str {
        match self {
            Self::Changed => "its stored hash does not match its columns",
            Self::Removed => "missing from the sequence",
            Self::OutOfOrder => "does not link to the previous event (inserted or reordered)",
            Self::BadCheckpoint => "the checkpoint here is forged or the chain up to here was rewritten",
            Self::UnknownKey => "the checkpoint here was signed by an unknown key",
            Self::TailRemoved => "events from here on are missing",
            Self::Appended => "this event lies beyond the recorded head",
            Self::HeadMismatch => "the recorded head does not match the chain here",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first bad position in the log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Problem {
    /// The sequence number of the first bad (or first missing) event.
    pub seq: i64,
    /// That event's id, when a row exists there.
    pub event_id: Option<String>,
    /// What is wrong.
    pub kind: ProblemKind,
}

impl fmt::Display for Problem {
    /// E.g. `event #42 (id 0190…): changed: its stored hash does not match its columns`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event #{}", self.seq)?;
        if let Some(id) = &self.event_id {
            write!(f, " (id {id})")?;
        }
        write!(f, ": {}: {}", self.kind.as_str(), self.kind.explain())
    }
}

impl std::error::Error for Problem {}

/// The result of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyReport {
    /// Every event, checkpoint and the head (if given) are consistent.
    Ok {
        /// How many events were checked.
        events: i64,
        /// How many checkpoints were checked.
        checkpoints: usize,
        /// The last event's seq (the start seq if there were none).
        last_seq: i64,
    },
    /// The first problem found.
    Broken(Problem),
}

impl VerifyReport {
    /// Whether verification passed.
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok { .. })
    }
    /// The problem, if verification failed.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::Ok { .. } => None,
            Self::Broken(p) => Some(p),
        }
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok { events, checkpoints, last_seq } => {
                write!(f, "audit log intact: {events} events, {checkpoints} checkpoints, last event #{last_seq}")
            }
            Self::Broken(p) => write!(f, "audit log broken: {p}"),
        }
    }
}

/// Verifies a whole chain from genesis; see [`verify_from`].
pub fn verify(
    events: impl IntoIterator<Item = StoredEvent>,
    checkpoints: &[Checkpoint],
    head: Option<&ChainHead>,
    public_keys: &[(String, Vec<u8>)],
) -> VerifyReport {
    verify_from(&ChainHead::genesis(), events, checkpoints, head, public_keys)
}

/// Verifies the events after a trusted `start` (e.g. a previously verified
/// checkpoint), then the checkpoints, then the head, and stops at the first
/// problem.
///
/// `events` must be given in `seq` order (as `ORDER BY seq` returns them);
/// they are streamed, not collected. For each row: a `seq` above the next
/// expected one is [`ProblemKind::Removed`] (naming the first missing seq);
/// a repeated or backward `seq`, or a `prev_hash` that is not the previous
/// row's hash, is [`ProblemKind::OutOfOrder`]; a stored `hash` that differs
/// from [`event_hash`] of the columns is [`ProblemKind::Changed`].
///
/// Each checkpoint at or after `start.seq` must be signed by a key in
/// `public_keys` (`(key_id, raw Ed25519 public key)`) and match the chain's
/// hash at its seq; a validly signed checkpoint past the last event means the
/// tail was removed. Checkpoints before `start.seq` are skipped. Finally
/// `head`, if given (it should be read in the same transaction as the
/// events), must be the last event.
pub fn verify_from(
    start: &ChainHead,
    events: impl IntoIterator<Item = StoredEvent>,
    checkpoints: &[Checkpoint],
    head: Option<&ChainHead>,
    public_keys: &[(String, Vec<u8>)],
) -> VerifyReport {
    match run(start, events, checkpoints, head, public_keys) {
        Ok((events, checkpoints, last_seq)) => VerifyReport::Ok { events, checkpoints, last_seq },
        Err(p) => VerifyReport::Broken(p),
    }
}

fn problem(seq: i64, event_id: Option<String>, kind: ProblemKind) -> Problem {
    Problem { seq, event_id, kind }
}

fn run(
    start: &ChainHead,
    events: impl IntoIterator<Item = StoredEvent>,
    checkpoints: &[Checkpoint],
    head: Option<&ChainHead>,
    public_keys: &[(String, Vec<u8>)],
) -> Result<(i64, usize, i64), Problem> {
    let mut cps: Vec<&Checkpoint> = checkpoints.iter().filter(|c| c.seq >= start.seq).collect();
    cps.sort_by_key(|c| c.seq);

    // The chain hash (and event id) at every seq something will be compared at.
    let mut marks: BTreeMap<i64, ([u8; 32], Option<String>)> = BTreeMap::new();
    for c in &cps {
        marks.insert(c.seq, ([0; 32], None));
    }
    if let Some(h) = head {
        marks.insert(h.seq, ([0; 32], None));
        marks.insert(h.seq.saturating_add(1), ([0; 32], None));
    }
    marks.insert(start.seq, (start.hash, None));

    let mut running = start.hash;
    let mut expected = start.seq.saturating_add(1);
    let mut last_seq = start.seq;
    let mut count: i64 = 0;
    for row in events {
        if row.seq > expected {
            return Err(problem(expected, None, ProblemKind::Removed));
        }
        if row.seq < expected || row.prev_hash.as_slice() != running.as_slice() {
            return Err(problem(row.seq, Some(row.id), ProblemKind::OutOfOrder));
        }
        let h = event_hash(&running, &row);
        if row.hash.as_slice() != h.as_slice() {
            return Err(problem(row.seq, Some(row.id), ProblemKind::Changed));
        }
        if let Some(m) = marks.get_mut(&row.seq) {
            *m = (h, Some(row.id));
        }
        running = h;
        last_seq = row.seq;
        expected = expected.saturating_add(1);
        count += 1;
    }

    let at = |seq: i64| -> Option<&([u8; 32], Option<String>)> { if seq > last_seq { None } else { marks.get(&seq) } };
    let id_at = |seq: i64| at(seq).and_then(|m| m.1.clone());

    for c in &cps {
        let Some((_, key)) = public_keys.iter().find(|(id, _)| *id == c.key_id) else {
            return Err(problem(c.seq, id_at(c.seq), ProblemKind::UnknownKey));
        };
        if !c.signature_valid(key) {
            return Err(problem(c.seq, id_at(c.seq), ProblemKind::BadCheckpoint));
        }
        match at(c.seq) {
            None => {
                return Err(problem(last_seq.saturating_add(1), None, ProblemKind::TailRemoved));
            }
            Some((hash, id)) if hash.as_slice() != c.hash.as_slice() => {
                return Err(problem(c.seq, id.clone(), ProblemKind::BadCheckpoint));
            }
            Some(_) => {}
        }
    }

    if let Some(h) = head {
        if h.seq > last_seq {
            return Err(problem(last_seq.saturating_add(1), None, ProblemKind::TailRemoved));
        }
        match at(h.seq) {
            Some((hash, _)) if *hash == h.hash => {}
            other => {
                let id = other.and_then(|m| m.1.clone());
                return Err(problem(h.seq, id, ProblemKind::HeadMismatch));
            }
        }
        if h.seq < last_seq {
            let next = h.seq + 1;
            return Err(problem(next, id_at(next), ProblemKind::Appended));
        }
    }

    Ok((count, cps.len(), last_seq))
}
