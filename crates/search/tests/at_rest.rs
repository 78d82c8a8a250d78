//! R-KY-1: the index holds no plain-text PHI on disk; a wrong key or a
//! damaged file is an error, never wrong results.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{KEY, corpus, id};
use sealpost_search::{ArchiveIndex, IndexDoc, SearchError, query};

const CANARIES: &[&str] = &["Zebulon Quixotic", "078-05-1120", "MRN4471920", "zebulon.quixotic@example.org"];

/// Every form a canary could take in an index file: as typed, lower case,
/// UTF-16LE, and each term tantivy would cut from it (4 bytes or more: shorter
/// strings occur by chance in any few hundred KB of ciphertext).
fn needles() -> Vec<Vec<u8>> {
    let mut needles = Vec::new();
    for canary in CANARIES {
        needles.push(canary.as_bytes().to_vec());
        needles.push(canary.to_lowercase().into_bytes());
        needles.push(canary.encode_utf16().flat_map(u16::to_le_bytes).collect());
        for token in canary.split(|c: char| !c.is_alphanumeric()).filter(|t| t.len() >= 4) {
            needles.push(token.to_lowercase().into_bytes());
            // The term dictionary is an FST, which lays out a term's bytes
            // back to front.
            needles.push(token.to_lowercase().into_bytes().into_iter().rev().collect());
        }
    }
    needles
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    out.sort();
    out
}

/// (file name, needle) pairs found.
fn scan(dir: &Path) -> Vec<(String, String)> {
    let mut hits = Vec::new();
    for path in files(dir) {
        let bytes = fs::read(&path).unwrap();
        for needle in needles() {
            if bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
                hits.push((
                    path.file_name().unwrap().to_string_lossy().into_owned(),
                    String::from_utf8_lossy(&needle).into_owned(),
                ));
            }
        }
    }
    hits
}

fn canary_docs() -> Vec<IndexDoc> {
    (0..200u64)
        .map(|n| IndexDoc {
            id: id(100 + n),
            date: 1_700_000_000_000_000 + n as i64,
            from: vec!["Zebulon Quixotic <zebulon.quixotic@example.org>".into()],
            to: vec!["clinic@example.com".into()],
            cc: Vec::new(),
            subject: format!("Results for Zebulon Quixotic #{n}"),
            body: format!("Patient Zebulon Quixotic, SSN 078-05-1120, MRN4471920, visit {n}."),
            filenames: vec!["Zebulon Quixotic.txt".into()],
            has_attachment: true,
            category: "transactional".into(),
            phi: vec!["ssn".into(), "mrn".into()],
            patients: vec!["Zebulon Quixotic".into(), "MRN4471920".into()],
        })
        .collect()
}

#[test]
fn no_canary_reaches_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = ArchiveIndex::open(dir.path(), KEY).unwrap();
        index.add(&canary_docs()).unwrap();
        index.commit().unwrap();
        // A second segment and a merge: merged files are written by the same directory.
        index.add(&corpus()).unwrap();
        index.delete(&[id(100)]).unwrap();
        index.commit().unwrap();
        index.purge().unwrap();
        let q = query::parse("\"Zebulon Quixotic\" 078-05-1120 patient:MRN4471920").unwrap();
        assert_eq!(index.search(&q, &|_| Vec::new(), 0, 10).unwrap().total, 199);
    }
    assert!(files(dir.path()).len() >= 5, "the index wrote its files");
    assert_eq!(scan(dir.path()), Vec::<(String, String)>::new());
}

/// The control: the same text in a plain tantivy index is found by the same
/// scan, so the scan above can fail. (Terms alone would not do: the term
/// dictionary is an FST whose bytes no scan finds, though anyone can walk it;
/// the next test covers that.)
#[test]
fn the_scan_finds_canaries_in_a_plain_index() {
    use tantivy::schema::{STORED, STRING, Schema, TEXT};
    let dir = tempfile::tempdir().unwrap();
    let mut builder = Schema::builder();
    let body = builder.add_text_field("body", TEXT | STORED);
    let raw = builder.add_text_field("raw", STRING | STORED);
    let index = tantivy::Index::create_in_dir(dir.path(), builder.build()).unwrap();
    let mut writer: tantivy::IndexWriter = index.writer_with_num_threads(1, 20_000_000).unwrap();
    for doc in canary_docs() {
        writer.add_document(tantivy::doc!(body => doc.body, raw => doc.from[0].clone())).unwrap();
    }
    writer.commit().unwrap();
    let found: Vec<String> = scan(dir.path()).into_iter().map(|(_, needle)| needle).collect();
    // (lz4 in the document store hides later repeats behind back-references.)
    for term in ["Zebulon Quixotic", "078-05-1120"] {
        assert!(found.iter().any(|n| n == term), "{term} not found in a plain index: {found:?}");
    }
}

/// Stronger than any canary: no 16-byte run of any file's plaintext (term
/// dictionaries, postings, fast columns, meta.json) is in its sealed bytes.
#[test]
fn no_plaintext_run_is_on_disk() {
    use tantivy::Directory;
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let directory = sealpost_search::EncryptedDirectory::open(dir.path(), &KEY, 1 << 20).unwrap();
    let mut checked = 0;
    for path in files(dir.path()) {
        let name = PathBuf::from(path.file_name().unwrap());
        if name.to_string_lossy().ends_with(".lock") {
            continue;
        }
        let plain = directory.open_read(&name).unwrap().read_bytes().unwrap();
        let sealed = fs::read(&path).unwrap();
        assert!(sealed.len() > plain.len(), "{name:?} is larger sealed");
        let runs: std::collections::HashSet<&[u8]> = sealed.windows(16).collect();
        let leaked = plain.as_slice().windows(16).filter(|w| runs.contains(w)).count();
        assert_eq!(leaked, 0, "{name:?}: plaintext runs on disk");
        checked += plain.len();
    }
    assert!(checked > 10_000, "the index had content to check");
}

fn build(dir: &Path) -> Vec<String> {
    let index = ArchiveIndex::open(dir, KEY).unwrap();
    index.add(&canary_docs()).unwrap();
    index.add(&corpus()).unwrap();
    index.commit().unwrap();
    answers(&index).unwrap()
}

/// A fixed set of queries that reads postings, positions and fast fields.
fn answers(index: &ArchiveIndex) -> Result<Vec<String>, SearchError> {
    let mut out = Vec::new();
    for q in ["zebulon", "\"potassium level\"", "from:alice", "has:attachment after:2024-01-01", "-phi:ssn"] {
        let page = index.search(&query::parse(q).unwrap(), &|_| Vec::new(), 0, 1000)?;
        out.push(format!("{q}: {} {:?}", page.total, page.hits));
    }
    Ok(out)
}

#[test]
fn a_wrong_key_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let err = ArchiveIndex::open(dir.path(), [0x43; 32]).err().expect("a wrong key opens nothing");
    assert!(matches!(err, SearchError::WrongKey), "{err:?}");
    assert!(err.to_string().contains("key does not match"));
    // The right key still works.
    let index = ArchiveIndex::open(dir.path(), KEY).unwrap();
    assert_eq!(index.count(), 205);
}

#[test]
fn a_plain_tantivy_index_is_not_taken_for_ours() {
    let dir = tempfile::tempdir().unwrap();
    let mut builder = tantivy::schema::Schema::builder();
    builder.add_text_field("body", tantivy::schema::TEXT);
    tantivy::Index::create_in_dir(dir.path(), builder.build()).unwrap();
    assert!(matches!(ArchiveIndex::open(dir.path(), KEY), Err(SearchError::NotAnIndex)));
}

/// Flips one byte in the middle of every file in turn (and cuts each segment
/// file short): opening, verifying or searching must fail as corruption or
/// give exactly the undamaged answers, never different ones.
#[test]
fn damage_is_detected_not_served() {
    let pristine = tempfile::tempdir().unwrap();
    let expected = build(pristine.path());
    let names: Vec<String> = files(pristine.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert!(names.iter().any(|n| n.ends_with(".idx")) && names.iter().any(|n| n == "meta.json"), "{names:?}");
    let mut detected_at_query = 0;
    for name in &names {
        for damage in ["flip", "truncate"] {
            if damage == "truncate" && (name == "meta.json" || name.ends_with(".key") || name.ends_with(".json")) {
                continue;
            }
            let copy = tempfile::tempdir().unwrap();
            for file in files(pristine.path()) {
                fs::copy(&file, copy.path().join(file.file_name().unwrap())).unwrap();
            }
            let target = copy.path().join(name);
            let mut bytes = fs::read(&target).unwrap();
            if damage == "flip" {
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x01;
            } else {
                bytes.truncate(bytes.len() - 1);
            }
            fs::write(&target, &bytes).unwrap();

            let index = match ArchiveIndex::open(copy.path(), KEY) {
                Err(SearchError::Corrupt | SearchError::WrongKey) => continue,
                Err(other) => panic!("{damage} {name}: open failed with {other:?}, not as corruption"),
                Ok(index) => index,
            };
            match answers(&index) {
                Ok(got) => assert_eq!(got, expected, "{damage} {name}: wrong results"),
                Err(SearchError::Corrupt) => detected_at_query += 1,
                Err(other) => panic!("{damage} {name}: search failed with {other:?}, not as corruption"),
            }
            assert!(
                matches!(index.verify(copy.path()), Err(SearchError::Corrupt)),
                "{damage} {name}: verify missed the damage"
            );
        }
    }
    // Small files are one block, checked whole at open; record how many
    // were caught only by a query.
    eprintln!("damage caught at query time: {detected_at_query}");
}

/// Damage in a block only a query reads (postings in the middle of a large
/// file) surfaces as `Corrupt` from that query, and every other query still
/// answers exactly as before.
#[test]
fn damage_in_postings_fails_the_query_that_reads_them() {
    let words: Vec<String> = (0..3000).map(|i| format!("w{i}")).collect();
    let docs: Vec<IndexDoc> = (0..3000u64)
        .map(|n| IndexDoc {
            id: id(10_000 + n),
            date: n as i64,
            body: (0..60)
                .map(|k| words[((n * 31 + k * k * 17) % 3000) as usize].as_str())
                .collect::<Vec<_>>()
                .join(" "),
            category: "transactional".into(),
            ..IndexDoc::default()
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let index = ArchiveIndex::open(dir.path(), KEY).unwrap();
    index.add(&docs).unwrap();
    index.commit().unwrap();
    let parsed: Vec<_> = words.iter().map(|w| query::parse(w).unwrap()).collect();
    let expected: Vec<_> = parsed.iter().map(|q| index.search(q, &|_| Vec::new(), 0, 5).unwrap()).collect();
    drop(index);

    let postings = files(dir.path()).into_iter().find(|p| p.extension().is_some_and(|e| e == "idx")).unwrap();
    let mut bytes = fs::read(&postings).unwrap();
    assert!(bytes.len() > 3 * 65_600, "postings span several blocks ({} bytes)", bytes.len());
    // Inside block 1: neither the first nor the last block, so not read at open.
    bytes[24 + 65_552 + 1000] ^= 0x80;
    fs::write(&postings, &bytes).unwrap();

    let index = ArchiveIndex::open(dir.path(), KEY).unwrap();
    let mut failed = 0;
    for (q, expected) in parsed.iter().zip(&expected) {
        match index.search(q, &|_| Vec::new(), 0, 5) {
            Ok(page) => assert_eq!(&page, expected, "{q}: wrong results from a damaged index"),
            Err(SearchError::Corrupt) => failed += 1,
            Err(other) => panic!("{q}: {other:?}"),
        }
    }
    assert!(failed > 0, "no query read the damaged block");
    assert!(failed < parsed.len(), "undamaged postings stay readable");
}
