//! Round trips and every kind of tampering.

mod common;

use common::*;
use sealpost_audit::*;

#[test]
fn round_trip_with_checkpoints_and_head() {
    let (s, keys) = signer();
    let (mut rows, head5) = chain(&ChainHead::genesis(), (0..5).map(sample_event).collect());
    let cp5 = s.sign(&head5, 1);
    let (more, head) = chain(&head5, (5..10).map(sample_event).collect());
    rows.extend(more);
    let cp10 = s.sign(&head, 2);
    let report = verify(rows.clone(), &[cp10, cp5], Some(&head), &keys);
    assert_eq!(report, VerifyReport::Ok { events: 10, checkpoints: 2, last_seq: 10 });
    assert!(report.to_string().contains("10 events"));
    // Each row's stored hash is event_hash over its prev_hash.
    for r in &rows {
        assert_eq!(event_hash(&r.prev_hash, r).to_vec(), r.hash);
    }
}

#[test]
fn empty_log_verifies() {
    let g = ChainHead::genesis();
    let (s, keys) = signer();
    let report = verify(Vec::new(), &[s.sign(&g, 0)], Some(&g), &keys);
    assert_eq!(report, VerifyReport::Ok { events: 0, checkpoints: 1, last_seq: 0 });
}

#[test]
fn changed_column_is_named() {
    type Mutation = fn(&mut StoredEvent);
    let muts: [(&str, Mutation); 10] = [
        ("id", |r| r.id = sealpost_model::EventId::new().to_string()),
        ("at", |r| r.at_micros -= 1),
        ("tenant", |r| r.tenant = "other".into()),
        ("actor", |r| r.actor = "system".into()),
        ("action", |r| r.action = "audit.exported".into()),
        ("target", |r| r.target = Some("x".into())),
        ("outcome", |r| r.outcome = if r.outcome == "success" { "failure" } else { "success" }.into()),
        ("detail", |r| r.detail = "{}".into()),
        ("hash", |r| r.hash[31] ^= 1),
        ("hash length", |r| r.hash.truncate(31)),
    ];
    let (rows, head) = sample_chain(8);
    for (name, m) in muts {
        let mut t = rows.clone();
        m(&mut t[3]);
        // The problem names the row as stored (with its possibly changed id).
        let id = t[3].id.clone();
        let p = broken(verify(t, &[], Some(&head), &[]));
        assert_eq!((p.seq, p.event_id.as_deref(), p.kind), (4, Some(id.as_str()), ProblemKind::Changed), "{name}");
        assert!(p.to_string().starts_with(&format!("event #4 (id {id}): changed")), "{p}");
    }
}

#[test]
fn changed_prev_hash_does_not_link() {
    let (mut rows, head) = sample_chain(5);
    rows[2].prev_hash[0] ^= 1;
    let p = broken(verify(rows.clone(), &[], Some(&head), &[]));
    assert_eq!((p.seq, p.kind), (3, ProblemKind::OutOfOrder));
    assert_eq!(p.event_id.as_deref(), Some(rows[2].id.as_str()));
}

#[test]
fn deleted_row_is_named_as_missing() {
    let (mut rows, head) = sample_chain(10);
    rows.remove(4);
    let p = broken(verify(rows, &[], Some(&head), &[]));
    assert_eq!(p, Problem { seq: 5, event_id: None, kind: ProblemKind::Removed });
    assert_eq!(p.to_string(), "event #5: removed: missing from the sequence");
}

#[test]
fn deleted_first_row_is_named() {
    let (mut rows, _) = sample_chain(3);
    rows.remove(0);
    let p = broken(verify(rows, &[], None, &[]));
    assert_eq!((p.seq, p.kind), (1, ProblemKind::Removed));
}

#[test]
fn forged_insert_with_renumbering_is_named_at_first_displaced_row() {
    let (rows, head) = sample_chain(10);
    // Insert a well-formed forged event as #4, renumbering #4.. to #5..
    let mut t = rows[..3].to_vec();
    t.push(forged_row(4, &rows[2].hash));
    t.extend(rows[3..].iter().cloned().map(|mut r| {
        r.seq += 1;
        r
    }));
    let p = broken(verify(t, &[], Some(&head), &[]));
    assert_eq!((p.seq, p.event_id.as_deref(), p.kind), (5, Some(rows[3].id.as_str()), ProblemKind::OutOfOrder));
}

#[test]
fn forged_insert_with_bad_link_is_named_at_itself() {
    let (rows, head) = sample_chain(6);
    let mut t = rows[..3].to_vec();
    let forged = forged_row(4, &[7u8; 32]);
    let forged_id = forged.id.clone();
    t.push(forged);
    t.extend(rows[3..].iter().cloned().map(|mut r| {
        r.seq += 1;
        r
    }));
    let p = broken(verify(t, &[], Some(&head), &[]));
    assert_eq!((p.seq, p.event_id, p.kind), (4, Some(forged_id), ProblemKind::OutOfOrder));
}

#[test]
fn rewritten_chain_is_caught_by_checkpoint_or_head() {
    let (s, keys) = signer();
    let (rows, head) = sample_chain(10);
    let cp6 = s.sign(&head_at(&rows, 6), 1);
    let mut t = rows[..3].to_vec();
    t.push(forged_row(4, &rows[2].hash));
    t.extend(rows[3..].iter().cloned());
    rehash(&mut t);
    // The rewritten events are self-consistent ...
    assert!(verify(t.clone(), &[], None, &[]).is_ok());
    // ... but not with the checkpoint signed before the rewrite,
    let p = broken(verify(t.clone(), &[cp6], None, &keys));
    assert_eq!((p.seq, p.event_id.as_deref(), p.kind), (6, Some(t[5].id.as_str()), ProblemKind::BadCheckpoint));
    // nor with the head.
    let p = broken(verify(t.clone(), &[], Some(&head), &keys));
    assert_eq!((p.seq, p.kind), (10, ProblemKind::HeadMismatch));
}

#[test]
fn insert_at_the_end_is_caught_by_the_head() {
    let (mut rows, head) = sample_chain(5);
    let forged = forged_row(6, &rows[4].hash);
    let forged_id = forged.id.clone();
    rows.push(forged);
    // A well-formed append is only detectable against the recorded head.
    assert!(verify(rows.clone(), &[], None, &[]).is_ok());
    let p = broken(verify(rows.clone(), &[], Some(&head), &[]));
    assert_eq!((p.seq, p.event_id, p.kind), (6, Some(forged_id), ProblemKind::Appended));
    // A badly linked append is caught without the head.
    let last = rows.len() - 1;
    rows[last].prev_hash = vec![0; 32];
    let p = broken(verify(rows, &[], None, &[]));
    assert_eq!((p.seq, p.kind), (6, ProblemKind::OutOfOrder));
}

#[test]
fn swapped_seq_is_named_at_first_displaced_row() {
    let (rows, head) = sample_chain(8);
    for (a, b) in [(2usize, 5usize), (2, 3), (0, 7)] {
        let mut t = rows.clone();
        let (sa, sb) = (t[a].seq, t[b].seq);
        t[a].seq = sb;
        t[b].seq = sa;
        t.sort_by_key(|r| r.seq); // the caller orders by seq
        let p = broken(verify(t, &[], Some(&head), &[]));
        assert_eq!(
            (p.seq, p.event_id.as_deref(), p.kind),
            (sa, Some(rows[b].id.as_str()), ProblemKind::OutOfOrder),
            "swap {a} {b}"
        );
    }
}

#[test]
fn swapped_rows_in_the_input_are_named() {
    let (mut rows, head) = sample_chain(6);
    rows.swap(1, 4);
    let p = broken(verify(rows, &[], Some(&head), &[]));
    assert_eq!((p.seq, p.kind), (2, ProblemKind::Removed));
}

#[test]
fn duplicated_row_is_out_of_order() {
    let (mut rows, head) = sample_chain(6);
    rows.insert(3, rows[2].clone());
    let p = broken(verify(rows.clone(), &[], Some(&head), &[]));
    assert_eq!((p.seq, p.event_id.as_deref(), p.kind), (3, Some(rows[2].id.as_str()), ProblemKind::OutOfOrder));
}

#[test]
fn deleted_tail_is_caught_by_head_or_checkpoint() {
    let (s, keys) = signer();
    let (rows, head) = sample_chain(10);
    let cp10 = s.sign(&head, 1);
    let t = rows[..7].to_vec();
    assert!(verify(t.clone(), &[], None, &[]).is_ok());
    let p = broken(verify(t.clone(), &[], Some(&head), &[]));
    assert_eq!(p, Problem { seq: 8, event_id: None, kind: ProblemKind::TailRemoved });
    let p = broken(verify(t.clone(), std::slice::from_ref(&cp10), None, &keys));
    assert_eq!((p.seq, p.kind), (8, ProblemKind::TailRemoved));
    let p = broken(verify(Vec::new(), &[cp10], None, &keys));
    assert_eq!((p.seq, p.kind), (1, ProblemKind::TailRemoved));
}

#[test]
fn forged_checkpoint_is_bad() {
    let (s, keys) = signer();
    let (rows, head) = sample_chain(10);
    let good = s.sign(&head_at(&rows, 4), 1);

    // Signed by another key but claiming the real key's id.
    let (mallory, _) = signer();
    let mut forged = mallory.sign(&head_at(&rows, 4), 1);
    forged.key_id = s.key_id().to_owned();
    let p = broken(verify(rows.clone(), &[good.clone(), forged], Some(&head), &keys));
    assert_eq!((p.seq, p.event_id.as_deref(), p.kind), (4, Some(rows[3].id.as_str()), ProblemKind::BadCheckpoint));

    // A signed field altered after signing.
    let mut altered = good.clone();
    altered.seq = 5;
    let p = broken(verify(rows.clone(), &[altered], Some(&head), &keys));
    assert_eq!((p.seq, p.kind), (5, ProblemKind::BadCheckpoint));

    // A signature over a hash that is not the chain's at that seq.
    let wrong = s.sign(&ChainHead { seq: 4, hash: [9; 32] }, 1);
    let p = broken(verify(rows.clone(), &[wrong], Some(&head), &keys));
    assert_eq!((p.seq, p.kind), (4, ProblemKind::BadCheckpoint));

    // A truncated signature.
    let mut short = good;
    short.signature.truncate(10);
    let p = broken(verify(rows, &[short], Some(&head), &keys));
    assert_eq!((p.seq, p.kind), (4, ProblemKind::BadCheckpoint));
}

#[test]
fn checkpoint_under_unknown_key() {
    let (_, keys) = signer();
    let (other, _) = signer();
    let (rows, head) = sample_chain(6);
    let cp = other.sign(&head_at(&rows, 3), 1);
    let p = broken(verify(rows.clone(), &[cp], Some(&head), &keys));
    assert_eq!((p.seq, p.event_id.as_deref(), p.kind), (3, Some(rows[2].id.as_str()), ProblemKind::UnknownKey));
}

#[test]
fn checkpoints_are_checked_in_seq_order() {
    let (s, keys) = signer();
    let (rows, head) = sample_chain(6);
    let mut bad2 = s.sign(&head_at(&rows, 2), 1);
    bad2.signature[0] ^= 1;
    let mut bad5 = s.sign(&head_at(&rows, 5), 1);
    bad5.key_id = "0000000000000000".into();
    let p = broken(verify(rows, &[bad5, bad2], Some(&head), &keys));
    assert_eq!((p.seq, p.kind), (2, ProblemKind::BadCheckpoint));
}

#[test]
fn events_are_checked_before_checkpoints() {
    let (s, keys) = signer();
    let (mut rows, head) = sample_chain(6);
    let mut bad = s.sign(&head_at(&rows, 2), 1);
    bad.signature[0] ^= 1;
    rows[4].actor = "cli".into();
    let p = broken(verify(rows, &[bad], Some(&head), &keys));
    assert_eq!((p.seq, p.kind), (5, ProblemKind::Changed));
}

#[test]
fn wrong_head_hash_is_a_mismatch() {
    let (rows, head) = sample_chain(4);
    let mut h = head;
    h.hash[0] ^= 1;
    let p = broken(verify(rows.clone(), &[], Some(&h), &[]));
    assert_eq!((p.seq, p.event_id.as_deref(), p.kind), (4, Some(rows[3].id.as_str()), ProblemKind::HeadMismatch));
}

#[test]
fn verify_from_a_trusted_checkpoint() {
    let (s, keys) = signer();
    let (rows, head) = sample_chain(10);
    let start = head_at(&rows, 5);
    let cp3 = s.sign(&head_at(&rows, 3), 1); // before start: skipped
    let cp5 = s.sign(&start, 1);
    let cp8 = s.sign(&head_at(&rows, 8), 1);
    let report = verify_from(&start, rows[5..].to_vec(), &[cp3, cp5, cp8], Some(&head), &keys);
    assert_eq!(report, VerifyReport::Ok { events: 5, checkpoints: 2, last_seq: 10 });
    let p = broken(verify_from(&start, rows[4..].to_vec(), &[], Some(&head), &keys));
    assert_eq!((p.seq, p.kind), (5, ProblemKind::OutOfOrder));
    let p = broken(verify_from(&start, rows[6..].to_vec(), &[], Some(&head), &keys));
    assert_eq!((p.seq, p.kind), (6, ProblemKind::Removed));
}
