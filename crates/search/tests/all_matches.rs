//! Collecting every match: `search_all` against the paging of `search`.

mod common;

use std::collections::HashSet;

use common::{KEY, corpus, id};
use sealpost_search::{ArchiveIndex, IndexDoc, MAX_OFFSET, MAX_PER_PAGE, SearchError, query};

fn holds(name: &str) -> Vec<String> {
    match name {
        "H1" => vec![id(2), id(5), "not-an-id".into()],
        _ => Vec::new(),
    }
}

#[test]
fn more_matches_than_paging_reaches_are_collected_whole() {
    let dir = tempfile::tempdir().unwrap();
    let index = ArchiveIndex::open(dir.path(), KEY).unwrap();
    // One more than the deepest page reaches; dates repeat, so the order
    // leans on the id tie-break too. Several commits: several segments.
    let n = (MAX_OFFSET + MAX_PER_PAGE + 1) as u64;
    let ids: Vec<u64> = (1..=n).collect();
    for chunk in ids.chunks(25_000) {
        let docs: Vec<IndexDoc> = chunk
            .iter()
            .map(|&i| IndexDoc {
                id: id(i),
                date: 1_700_000_000_000_000 + (i % 1000) as i64,
                subject: "r".into(),
                category: "transactional".into(),
                ..IndexDoc::default()
            })
            .collect();
        index.add(&docs).unwrap();
        index.commit().unwrap();
    }

    // The server collected ids with pages of MAX_PER_PAGE until a short page
    // or the total: every page here is full, so after the last page paging
    // reaches (offset MAX_OFFSET) it asked for the next, which is refused.
    let parsed = query::parse("r").unwrap();
    let last_page = MAX_OFFSET / MAX_PER_PAGE;
    let last = index.search(&parsed, &holds, last_page, MAX_PER_PAGE).unwrap();
    assert_eq!(last.total as u64, n);
    assert_eq!(last.hits.len(), MAX_PER_PAGE);
    let next = index.search(&parsed, &holds, last_page + 1, MAX_PER_PAGE);
    assert!(matches!(next, Err(SearchError::PageOutOfRange)), "{next:?}");

    let all = index.search_all(&parsed, &holds).unwrap();
    assert_eq!(all.len() as u64, n);
    let unique: HashSet<&str> = all.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(unique.len() as u64, n);
    // Newest first, equal dates by id descending: the order of `search`.
    assert!(all.windows(2).all(|w| (w[0].date, &w[0].id) > (w[1].date, &w[1].id)));
    assert_eq!(index.search(&parsed, &holds, 0, MAX_PER_PAGE).unwrap().hits, all[..MAX_PER_PAGE]);
    assert_eq!(last.hits, all[MAX_OFFSET..MAX_OFFSET + MAX_PER_PAGE]);
}

#[test]
fn search_all_answers_as_search_does() {
    let dir = tempfile::tempdir().unwrap();
    let index = ArchiveIndex::open(dir.path(), KEY).unwrap();
    let docs = corpus();
    index.add(&docs[..3]).unwrap();
    index.commit().unwrap();
    index.add(&docs[3..]).unwrap();
    index.commit().unwrap();
    for q in [
        "example.com",
        "has:attachment",
        "-category:marketing",
        "hold:H1",
        "hold:H1 OR phi:any",
        "-hold:H1",
        "hold:unknown",
        "zebulon",
        "nothing-matches-this",
    ] {
        let parsed = query::parse(q).unwrap();
        let page = index.search(&parsed, &holds, 0, MAX_PER_PAGE).unwrap();
        assert_eq!(index.search_all(&parsed, &holds).unwrap(), page.hits, "{q}");
    }
    // Deleted documents are not matches, before and after the purge.
    index.delete(&[id(1), id(4)]).unwrap();
    index.commit().unwrap();
    let parsed = query::parse("example.com").unwrap();
    let ids = |index: &ArchiveIndex| -> Vec<String> {
        index.search_all(&parsed, &holds).unwrap().into_iter().map(|h| h.id).collect()
    };
    assert_eq!(ids(&index), [id(3), id(2)]);
    index.purge().unwrap();
    assert_eq!(ids(&index), [id(3), id(2)]);
    // An empty index has no matches.
    let empty_dir = tempfile::tempdir().unwrap();
    let empty = ArchiveIndex::open(empty_dir.path(), KEY).unwrap();
    assert!(ids(&empty).is_empty());
}
