//! Shared helpers for the integration tests.
#![allow(dead_code)]

use sealpost_audit::*;
use sealpost_model::{ApiKeyId, MessageId, TenantId, UserId};

/// The `i`-th sample event: varied tenants, actors, actions and details.
pub fn sample_event(i: usize) -> NewEvent {
    let tenants = ["acme", "beta-clinic", "c3"];
    let tenant = TenantId::parse(tenants[i % tenants.len()]).unwrap();
    let actor = match i % 5 {
        0 => Actor::system(),
        1 => Actor::cli(),
        2 => Actor::user(UserId::new()),
        3 => Actor::api_key(ApiKeyId::new()),
        _ => Actor::relay("198.51.100.7".parse().unwrap()),
    };
    let action = Action::ALL[i % Action::ALL.len()];
    let outcome = if i.is_multiple_of(3) { Outcome::Failure } else { Outcome::Success };
    let mut ev = NewEvent::new(tenant, actor, action, outcome).at(1_700_000_000_000_000 + i as i64);
    if i.is_multiple_of(2) {
        ev = ev.target(MessageId::new());
    }
    ev.detail("n", DetailValue::Count(i as i64)).detail("tls", DetailValue::Bool(i % 2 == 1))
}

/// `n` chained sample events from genesis and the resulting head.
pub fn sample_chain(n: usize) -> (Vec<StoredEvent>, ChainHead) {
    chain(&ChainHead::genesis(), (0..n).map(sample_event).collect())
}

/// A fresh signer and the verifier key list for it.
pub fn signer() -> (CheckpointSigner, Vec<(String, Vec<u8>)>) {
    let s = CheckpointSigner::new_from_pkcs8(&CheckpointSigner::generate_pkcs8().unwrap()).unwrap();
    let keys = vec![(s.key_id().to_owned(), s.public_key())];
    (s, keys)
}

/// The head after `rows[..seq]` (seq counted from 1).
pub fn head_at(rows: &[StoredEvent], seq: i64) -> ChainHead {
    ChainHead::from_row(&rows[(seq - 1) as usize]).unwrap()
}

/// A forged row at `seq` that links correctly to `prev` and has a
/// consistent hash (what an attacker with database access can make).
pub fn forged_row(seq: i64, prev: &[u8]) -> StoredEvent {
    let mut row = StoredEvent {
        seq,
        id: sealpost_model::EventId::new().to_string(),
        at_micros: 1_700_000_000_000_000,
        tenant: "acme".into(),
        actor: Actor::cli().into_string(),
        action: Action::ConfigChanged.as_str().into(),
        target: None,
        outcome: Outcome::Success.as_str().into(),
        detail: "{}".into(),
        prev_hash: prev.to_vec(),
        hash: Vec::new(),
    };
    row.hash = event_hash(prev, &row).to_vec();
    row
}

/// Recomputes every link and hash in order (a full rewrite by an attacker).
pub fn rehash(rows: &mut [StoredEvent]) {
    let mut prev = genesis_hash().to_vec();
    for (i, r) in rows.iter_mut().enumerate() {
        r.seq = i as i64 + 1;
        r.prev_hash = prev.clone();
        r.hash = event_hash(&prev, r).to_vec();
        prev = r.hash.clone();
    }
}

/// The problem of a report that must be broken.
pub fn broken(report: VerifyReport) -> Problem {
    match report {
        VerifyReport::Broken(p) => p,
        ok => panic!("expected a broken log, got {ok:?}"),
    }
}
