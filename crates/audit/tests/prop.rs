//! Property: any single mutation of a chained log is detected, at or before
//! the mutated position.

mod common;

use common::*;
use proptest::prelude::*;
use sealpost_audit::*;

#[derive(Debug, Clone)]
enum Mutation {
    /// Change one column (0..=10) of the row at an index.
    Column(usize, u8),
    /// Delete the row at an index.
    Delete(usize),
    /// Swap the seq of two rows (then re-sort by seq, as a database would).
    SwapSeq(usize, usize),
    /// Insert a forged row at an index (0..=len), renumbering the rest;
    /// `true` = the forged row links and hashes correctly.
    Insert(usize, bool),
    /// Keep only the first rows.
    Truncate(usize),
    /// Duplicate the row at an index.
    Duplicate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), 0u8..=10).prop_map(|(i, c)| Mutation::Column(i.index(1 << 20), c)),
        any::<prop::sample::Index>().prop_map(|i| Mutation::Delete(i.index(1 << 20))),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(a, b)| Mutation::SwapSeq(a.index(1 << 20), b.index(1 << 20))),
        (any::<prop::sample::Index>(), any::<bool>()).prop_map(|(i, ok)| Mutation::Insert(i.index(1 << 20), ok)),
        any::<prop::sample::Index>().prop_map(|i| Mutation::Truncate(i.index(1 << 20))),
        any::<prop::sample::Index>().prop_map(|i| Mutation::Duplicate(i.index(1 << 20))),
    ]
}

/// Applies `m` and returns the seq of the first position it disturbs.
/// `None` if the mutation happens to be a no-op.
fn apply(rows: &mut Vec<StoredEvent>, m: &Mutation) -> Option<i64> {
    let n = rows.len();
    match *m {
        Mutation::Column(i, c) => {
            let r = &mut rows[i % n];
            let seq = r.seq;
            match c {
                0 => r.seq += 1 + (i as i64 % 3),
                1 => r.id.push('0'),
                2 => r.at_micros += 1,
                3 => r.tenant.push('x'),
                4 => r.actor.push('x'),
                5 => r.action.push('x'),
                6 => r.target = if r.target.is_some() { None } else { Some("m".into()) },
                7 => r.outcome.push('x'),
                8 => r.detail.push(' '),
                9 => r.prev_hash[i % 32] ^= 1,
                _ => r.hash[i % 32] ^= 1,
            }
            Some(seq)
        }
        Mutation::Delete(i) => Some(rows.remove(i % n).seq),
        Mutation::SwapSeq(a, b) => {
            let (a, b) = (a % n, b % n);
            if a == b {
                return None;
            }
            let (sa, sb) = (rows[a].seq, rows[b].seq);
            rows[a].seq = sb;
            rows[b].seq = sa;
            rows.sort_by_key(|r| r.seq);
            Some(sa.min(sb))
        }
        Mutation::Insert(i, consistent) => {
            let k = i % (n + 1); // index of the forged row
            let seq = k as i64 + 1;
            let prev = if k == 0 { genesis_hash().to_vec() } else { rows[k - 1].hash.clone() };
            let mut f = forged_row(seq, &prev);
            if !consistent {
                f.hash[0] ^= 1;
            }
            for r in &mut rows[k..] {
                r.seq += 1;
            }
            rows.insert(k, f);
            // A consistent forgery is only visible at the first displaced row
            // (or, at the end, against the head).
            Some(if consistent && k < n { seq + 1 } else { seq })
        }
        Mutation::Truncate(i) => {
            let keep = i % n;
            rows.truncate(keep);
            Some(keep as i64 + 1)
        }
        Mutation::Duplicate(i) => {
            let k = i % n;
            let r = rows[k].clone();
            rows.insert(k + 1, r);
            Some(k as i64 + 2)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_single_mutation_is_detected_at_or_before_it(
        n in 1usize..16,
        m in mutation(),
        cp_at in any::<prop::sample::Index>(),
    ) {
        let (s, keys) = signer();
        let (mut rows, head) = sample_chain(n);
        let cp = s.sign(&head_at(&rows, cp_at.index(n) as i64 + 1), 1);
        prop_assert!(verify(rows.clone(), std::slice::from_ref(&cp), Some(&head), &keys).is_ok());

        let Some(mutated) = apply(&mut rows, &m) else { return Ok(()) };
        match verify(rows, &[cp], Some(&head), &keys) {
            VerifyReport::Ok { .. } => prop_assert!(false, "undetected: {m:?}"),
            VerifyReport::Broken(p) => prop_assert!(
                p.seq <= mutated,
                "{m:?}: named #{} ({:?}) after the mutated #{mutated}", p.seq, p.kind
            ),
        }
    }
}
