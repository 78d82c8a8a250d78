//! The hash chain: stored rows, the chain head, and the row hash.

use aws_lc_rs::digest;

use crate::event::NewEvent;

/// Domain separation and version tag of the event hash encoding.
const EVENT_DOMAIN: &[u8] = b"sealpost-audit/event/v1";
/// Input of the genesis hash.
const GENESIS_INPUT: &[u8] = b"sealpost-audit-genesis";

/// A stored row: exactly the columns of table `audit_events`, so a database
/// row can be verified without any other knowledge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// The event id (an `EventId`'s text).
    pub id: String,
    /// When it happened, Unix microseconds.
    pub at_micros: i64,
    /// The tenant slug.
    pub tenant: String,
    /// The actor text (see [`crate::Actor`]).
    pub actor: String,
    /// The action text (see [`crate::Action`]).
    pub action: String,
    /// The target id, if any.
    pub target: Option<String>,
    /// The outcome text (see [`crate::Outcome`]).
    pub outcome: String,
    /// The detail as canonical JSON text.
    pub detail: String,
    /// The hash of the previous row (or the genesis hash), 32 bytes.
    pub prev_hash: Vec<u8>,
    /// This row's hash: [`event_hash`] of `prev_hash` and the other columns.
    pub hash: Vec<u8>,
}

/// The end of the chain: the last sequence number and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainHead {
    /// The last row's `seq` (0 for an empty chain).
    pub seq: i64,
    /// The last row's hash (the genesis hash for an empty chain).
    pub hash: [u8; 32],
}

impl ChainHead {
    /// The head of an empty chain: seq 0, hash = SHA-256("sealpost-audit-genesis").
    pub fn genesis() -> Self {
        Self { seq: 0, hash: genesis_hash() }
    }

    /// The head after `row`, or `None` if its stored hash is not 32 bytes.
    /// The row is not verified.
    pub fn from_row(row: &StoredEvent) -> Option<Self> {
        let hash: [u8; 32] = row.hash.as_slice().try_into().ok()?;
        Some(Self { seq: row.seq, hash })
    }
}

impl Default for ChainHead {
    fn default() -> Self {
        Self::genesis()
    }
}

/// SHA-256("sealpost-audit-genesis"): the `prev_hash` of event #1.
pub fn genesis_hash() -> [u8; 32] {
    sha256(&[GENESIS_INPUT])
}

pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let d = ctx.finish();
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Length-prefixed encoder: each field is its byte length as u64 big-endian
/// followed by the bytes, so no two different rows encode the same.
pub(crate) struct Encoder(digest::Context);

impl Encoder {
    pub(crate) fn new(domain: &[u8]) -> Self {
        let mut e = Self(digest::Context::new(&digest::SHA256));
        e.bytes(domain);
        e
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.0.update(&(b.len() as u64).to_be_bytes());
        self.0.update(b);
    }
    pub(crate) fn i64(&mut self, n: i64) {
        self.bytes(&n.to_be_bytes());
    }
    pub(crate) fn opt(&mut self, b: Option<&[u8]>) {
        match b {
            None => self.0.update(&[0]),
            Some(b) => {
                self.0.update(&[1]);
                self.bytes(b);
            }
        }
    }
    pub(crate) fn finish(self) -> [u8; 32] {
        let d = self.0.finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }
}

/// The hash of a row given the previous row's hash: SHA-256 over the domain
/// tag `"sealpost-audit/event/v1"` and the length-prefixed `prev_hash`,
/// `seq`, `id`, `at_micros`, `tenant`, `actor`, `action`, `target`
/// (presence-tagged), `outcome` and `detail`. The row's own `prev_hash` and
/// `hash` columns are ignored; `prev_hash` is the argument.
pub fn event_hash(prev_hash: &[u8], row: &StoredEvent) -> [u8; 32] {
    let mut e = Encoder::new(EVENT_DOMAIN);
    e.bytes(prev_hash);
    e.i64(row.seq);
    e.bytes(row.id.as_bytes());
    e.i64(row.at_micros);
    e.bytes(row.tenant.as_bytes());
    e.bytes(row.actor.as_bytes());
    e.bytes(row.action.as_bytes());
    e.opt(row.target.as_deref().map(str::as_bytes));
    e.bytes(row.outcome.as_bytes());
    e.bytes(row.detail.as_bytes());
    e.finish()
}

/// Chains `events` after `head`: they get `seq` = `head.seq + 1`, ... in the
/// given order, each linked to the previous hash. Returns the rows to store
/// and the new head (equal to `head` if `events` is empty). Store the rows
/// and the new head atomically.
pub fn chain(head: &ChainHead, events: Vec<NewEvent>) -> (Vec<StoredEvent>, ChainHead) {
    let mut cur = *head;
    let mut rows = Vec::with_capacity(events.len());
    for ev in events {
        let mut row = StoredEvent {
            seq: cur.seq.saturating_add(1),
            id: ev.id.to_string(),
            at_micros: ev.at_micros,
            tenant: ev.tenant.as_str().to_owned(),
            actor: ev.actor.into_string(),
            action: ev.action.as_str().to_owned(),
            target: ev.target,
            outcome: ev.outcome.as_str().to_owned(),
            detail: ev.detail.to_canonical_json(),
            prev_hash: cur.hash.to_vec(),
            hash: Vec::new(),
        };
        let h = event_hash(&cur.hash, &row);
        row.hash = h.to_vec();
        cur = ChainHead { seq: row.seq, hash: h };
        rows.push(row);
    }
    (rows, cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, Actor, Outcome};
    use sealpost_model::TenantId;

    fn ev() -> NewEvent {
        NewEvent::new(TenantId::parse("acme").unwrap(), Actor::system(), Action::ServerStarted, Outcome::Success)
    }

    #[test]
    fn genesis_is_sha256_of_the_tag() {
        // SHA-256 of "sealpost-audit-genesis", computed with sha256sum.
        assert_eq!(hex::encode(genesis_hash()), "c88f1069a1293c51f623de5f3bb702501227ebb5218b67383700fcab39e50d37");
        assert_eq!(ChainHead::genesis().seq, 0);
        assert_eq!(ChainHead::default(), ChainHead::genesis());
    }

    #[test]
    fn chain_links_rows_and_continues_from_head() {
        let (rows, head) = chain(&ChainHead::genesis(), vec![ev(), ev()]);
        assert_eq!(rows[0].seq, 1);
        assert_eq!(rows[1].seq, 2);
        assert_eq!(rows[0].prev_hash, genesis_hash().to_vec());
        assert_eq!(rows[1].prev_hash, rows[0].hash);
        assert_eq!(head, ChainHead::from_row(&rows[1]).unwrap());
        let (more, head2) = chain(&head, vec![ev()]);
        assert_eq!(more[0].seq, 3);
        assert_eq!(more[0].prev_hash, rows[1].hash);
        assert_eq!(head2.seq, 3);
        let (none, same) = chain(&head2, vec![]);
        assert!(none.is_empty());
        assert_eq!(same, head2);
    }

    #[test]
    fn every_column_is_hashed_and_fields_do_not_run_together() {
        let (rows, _) = chain(&ChainHead::genesis(), vec![ev().target(sealpost_model::MessageId::new())]);
        let row = &rows[0];
        let base = event_hash(&row.prev_hash, row);
        assert_eq!(base.to_vec(), row.hash);
        let muts: Vec<fn(&mut StoredEvent)> = vec![
            |r| r.seq += 1,
            |r| r.id.push('0'),
            |r| r.at_micros += 1,
            |r| r.tenant.push('x'),
            |r| r.actor.push('x'),
            |r| r.action.push('x'),
            |r| r.target = None,
            |r| r.outcome.push('x'),
            |r| r.detail.push(' '),
            // Moving a byte from one field to the next must change the hash.
            |r| {
                let c = r.actor.pop().unwrap();
                r.action.insert(0, c);
            },
        ];
        for (i, m) in muts.into_iter().enumerate() {
            let mut r = row.clone();
            m(&mut r);
            assert_ne!(event_hash(&row.prev_hash, &r), base, "mutation {i}");
        }
        assert_ne!(event_hash(&[0u8; 32], row), base);
        // Empty target and no target differ.
        let mut a = row.clone();
        a.target = Some(String::new());
        let mut b = row.clone();
        b.target = None;
        assert_ne!(event_hash(&a.prev_hash, &a), event_hash(&b.prev_hash, &b));
    }
}
