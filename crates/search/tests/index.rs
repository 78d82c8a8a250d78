//! Every operator against a corpus with known answers; pagination; deletion.

mod common;

use std::collections::HashSet;

use common::{KEY, corpus, id};
use sealpost_search::{ArchiveIndex, IndexDoc, SearchError, query};

fn holds(name: &str) -> Vec<String> {
    match name {
        "H1" => vec![id(2), id(5), "not-an-id".into()],
        _ => Vec::new(),
    }
}

fn ids(index: &ArchiveIndex, q: &str) -> Vec<u64> {
    let parsed = query::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    let page = index.search(&parsed, &holds, 0, 100).unwrap_or_else(|e| panic!("{q}: {e}"));
    assert_eq!(page.total, page.hits.len(), "{q}");
    page.hits.iter().map(|hit| u64::from_str_radix(&hit.id, 16).unwrap()).collect()
}

fn open_corpus() -> (tempfile::TempDir, ArchiveIndex) {
    let dir = tempfile::tempdir().unwrap();
    let index = ArchiveIndex::open(dir.path(), KEY).unwrap();
    index.add(&corpus()).unwrap();
    index.commit().unwrap();
    (dir, index)
}

#[test]
fn every_operator_has_its_known_answer() {
    let (_dir, index) = open_corpus();
    let cases: &[(&str, &[u64])] = &[
        // Addresses: whole, local part, domain, display name.
        ("from:alice@example.com", &[4, 1]),
        ("from:ALICE@Example.com", &[4, 1]),
        ("from:alice", &[4, 1]),
        ("from:example.com", &[4, 2, 1]),
        ("from:smith", &[1]),
        ("from:\"Alice Smith\"", &[1]),
        ("to:alice", &[2]),
        ("to:erin", &[4]),
        ("cc:dave", &[2]),
        ("cc:hospital.net", &[2]),
        // Subject, body, phrases.
        ("subject:results", &[1]),
        ("subject:potassium", &[]),
        ("body:potassium", &[1]),
        ("\"potassium level\"", &[1]),
        ("\"level potassium\"", &[]),
        ("zebulon", &[1]),
        ("ZEBULON", &[1]),
        ("555-123-4567", &[4]),
        ("example.com", &[4, 3, 2, 1]),
        ("alice", &[4, 2, 1]),
        // Attachments.
        ("has:attachment", &[5, 3, 2]),
        ("filename:referral", &[3]),
        ("filename:csv", &[5]),
        ("filename:\"invoice-2024.csv\"", &[5]),
        ("flyer", &[2]),
        // Dates: before exclusive, after inclusive, UTC days.
        ("before:2024-03-01", &[5, 3, 2, 1]),
        ("after:2024-03-01", &[4]),
        ("after:2024-02-01 before:2024-03-01", &[5, 3, 2]),
        ("after:2024/02/01 before:2024/02/01", &[]),
        // Category, PHI, patients, holds.
        ("category:marketing", &[2]),
        ("-category:marketing", &[4, 5, 3, 1]),
        ("phi:any", &[4, 3, 1]),
        ("phi:mrn", &[1]),
        ("phi:phone", &[4]),
        ("phi:ssn", &[]),
        ("patient:\"Jane Doe\"", &[3]),
        ("patient:MRN1234567", &[1]),
        ("patient:potassium", &[1]),
        ("hold:H1", &[5, 2]),
        ("hold:unknown", &[]),
        // Combinations.
        ("(from:alice OR from:bob) has:attachment", &[3]),
        ("from:alice OR from:bob has:attachment", &[4, 3, 1]),
        ("NOT has:attachment", &[4, 1]),
        ("alice -subject:lab", &[4, 2]),
        ("alice AND NOT (subject:lab OR category:marketing)", &[4]),
        ("newsletter OR invoice", &[5, 2]),
        ("-zebulon -invoice -newsletter", &[4, 3]),
        ("hold:H1 OR phi:mrn", &[5, 2, 1]),
        ("\"!!!\"", &[]),
    ];
    for (q, expected) in cases {
        assert_eq!(ids(&index, q), *expected, "{q}");
    }
}

#[test]
fn pages_are_stable_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let index = ArchiveIndex::open(dir.path(), KEY).unwrap();
    // 37 messages, many sharing a date, over several commits (segments).
    for chunk in (0..37u64).collect::<Vec<_>>().chunks(10) {
        let docs: Vec<IndexDoc> = chunk
            .iter()
            .map(|&n| IndexDoc {
                id: id(1000 + n * 7919 % 97),
                date: 1_700_000_000_000_000 + (n % 4) as i64,
                subject: "weekly report".into(),
                category: "transactional".into(),
                ..IndexDoc::default()
            })
            .collect();
        index.add(&docs).unwrap();
        index.commit().unwrap();
    }
    let q = query::parse("report").unwrap();
    let mut seen = Vec::new();
    for page in 0..4 {
        let result = index.search(&q, &holds, page, 10).unwrap();
        assert_eq!(result.total, 37);
        assert_eq!(result.hits.len(), if page < 3 { 10 } else { 7 });
        seen.extend(result.hits);
    }
    let unique: HashSet<_> = seen.iter().map(|h| h.id.clone()).collect();
    assert_eq!(unique.len(), 37, "pages overlap or skip");
    // Newest first, equal dates by id descending.
    assert!(seen.windows(2).all(|w| (w[0].date, &w[0].id) > (w[1].date, &w[1].id)));
    // The same page twice is the same page.
    assert_eq!(index.search(&q, &holds, 1, 10).unwrap(), index.search(&q, &holds, 1, 10).unwrap());
    assert!(matches!(index.search(&q, &holds, 0, 0), Err(SearchError::PageOutOfRange)));
    assert!(matches!(index.search(&q, &holds, usize::MAX, 10), Err(SearchError::PageOutOfRange)));
}

#[test]
fn delete_replace_count_contains() {
    let (dir, index) = open_corpus();
    assert_eq!(index.count(), 5);
    assert!(index.contains(&id(1)).unwrap());
    assert!(!index.contains("nonsense").unwrap());

    // Re-adding an id replaces the message.
    let mut changed = corpus().remove(0);
    changed.subject = "Corrected results".into();
    index.add(&[changed]).unwrap();
    index.commit().unwrap();
    assert_eq!(index.count(), 5);
    assert_eq!(ids(&index, "subject:corrected"), [1]);
    assert_eq!(ids(&index, "subject:zebulon"), Vec::<u64>::new());

    // Deleted messages disappear at commit, and stay gone after a purge and a reopen.
    index.delete(&[id(1), id(2)]).unwrap();
    assert_eq!(ids(&index, "from:alice"), [4, 1], "not before the commit");
    index.commit().unwrap();
    assert_eq!(ids(&index, "from:alice"), [4]);
    assert!(!index.contains(&id(1)).unwrap());
    // The replaced copy of 1 and 2 are still in their segment; the new 1
    // was alone in its segment, which the commit dropped whole.
    assert_eq!(index.deleted_docs().unwrap(), 2, "deleted but still in the segments");
    index.purge().unwrap();
    assert_eq!(index.deleted_docs().unwrap(), 0);
    assert_eq!(index.count(), 3);
    drop(index);
    let index = ArchiveIndex::open(dir.path(), KEY).unwrap();
    assert_eq!(index.count(), 3);
    assert_eq!(ids(&index, "example.com"), [4, 3]);
    index.verify(dir.path()).unwrap();
}

#[test]
fn a_bad_document_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let index = ArchiveIndex::open(dir.path(), KEY).unwrap();
    let mut docs = corpus();
    docs[3].category = "promotional".into();
    assert!(matches!(index.add(&docs), Err(SearchError::InvalidCategory { index: 3 })));
    docs[3].category = "transactional".into();
    docs[1].phi = vec!["blood_type".into()];
    assert!(matches!(index.add(&docs), Err(SearchError::InvalidPhiKind { index: 1 })));
    docs[1].phi.clear();
    docs[4].id = "../../etc/passwd".into();
    let err = index.add(&docs).unwrap_err();
    assert!(matches!(err, SearchError::InvalidId { index: 4 }));
    assert!(!err.to_string().contains("passwd"));
    index.commit().unwrap();
    assert_eq!(index.count(), 0);
}
