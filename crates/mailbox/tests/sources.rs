//! detect/open on real files: Maildir (with Maildir++), .eml trees, mbox.

use std::fs;
use std::path::Path;

use sealpost_mailbox::MailboxError;
use sealpost_mailbox::read::{self, Source};

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

fn read_source(source: &Source) -> Vec<(String, Vec<u8>)> {
    read::open(source).unwrap().map(|i| i.unwrap()).map(|i| (i.location, i.bytes)).collect()
}

#[test]
fn maildir_reads_cur_and_new_of_root_and_subfolders_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Mail");
    for sub in ["cur", "new", "tmp", ".Sent/cur", ".Sent/new", ".Archive/cur", ".Archive/new"] {
        fs::create_dir_all(root.join(sub)).unwrap();
    }
    write(&root.join("new/1700000002.M2.host"), b"Subject: new\n\n");
    write(&root.join("cur/1700000001.M1.host:2,S"), b"Subject: cur b\n\n");
    write(&root.join("cur/1700000000.M0.host:2,"), b"Subject: cur a\n\n");
    write(&root.join("tmp/1700000003.M3.host"), b"Subject: in delivery\n\n");
    write(&root.join("cur/.DS_Store"), b"junk");
    write(&root.join(".Sent/cur/1700000004.M4.host:2,S"), b"Subject: sent\n\n");
    write(&root.join(".Archive/new/1700000005.M5.host"), b"Subject: archived\n\n");
    // Not a Maildir++ folder (no cur/new): ignored.
    write(&root.join(".notmuch/xapian/file"), b"index");

    let source = read::detect(&root).unwrap();
    assert_eq!(source, Source::Maildir(root.clone()));
    let reader = read::open(&source).unwrap();
    assert_eq!(reader.total_hint(), Some(5));
    let items: Vec<_> = reader.map(|i| i.unwrap()).collect();
    let subjects: Vec<_> = items.iter().map(|i| String::from_utf8(i.bytes.clone()).unwrap()).collect();
    assert_eq!(
        subjects,
        ["Subject: cur a\n\n", "Subject: cur b\n\n", "Subject: new\n\n", "Subject: archived\n\n", "Subject: sent\n\n"]
    );
    assert_eq!(items[3].location, root.join(".Archive/new/1700000005.M5.host").display().to_string());
}

#[test]
fn eml_dir_reads_eml_files_recursively_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("b.eml"), b"B");
    write(&root.join("a.eml"), b"A");
    write(&root.join("sub/deeper/C.EML"), b"C");
    write(&root.join("sub/notes.txt"), b"not mail");
    write(&root.join("sub/eml"), b"no extension");

    let source = read::detect(root).unwrap();
    assert_eq!(source, Source::EmlDir(root.to_path_buf()));
    let got = read_source(&source);
    let bytes: Vec<_> = got.iter().map(|(_, b)| b.as_slice()).collect();
    assert_eq!(bytes, [&b"A"[..], b"B", b"C"]);
    assert_eq!(got[2].0, root.join("sub/deeper/C.EML").display().to_string());
}

#[test]
fn file_reader_limits_message_size_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("1.eml"), &[b'x'; 100]);
    write(&dir.path().join("2.eml"), b"small");
    let reader = read::open(&Source::EmlDir(dir.path().into())).unwrap().with_max_message_size(50);
    let results: Vec<_> = reader.collect();
    assert!(matches!(&results[0], Err(MailboxError::MessageTooLarge { limit: 50, .. })));
    assert_eq!(results[1].as_ref().unwrap().bytes, b"small");
}

#[test]
fn detect_recognizes_mbox_files_and_refuses_others() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("inbox.mbox");
    write(&mbox, b"From a Thu Jan  1 00:00:00 2026\nS: 1\n\n");
    let source = read::detect(&mbox).unwrap();
    assert_eq!(source, Source::Mbox(mbox.clone()));
    let reader = read::open(&source).unwrap();
    assert_eq!(reader.total_hint(), Some(38));
    let items: Vec<_> = reader.map(|i| i.unwrap()).collect();
    assert_eq!(items[0].location, format!("{}:0", mbox.display()));

    let empty = dir.path().join("empty");
    write(&empty, b"");
    assert_eq!(read::detect(&empty).unwrap(), Source::Mbox(empty.clone()));
    assert!(read_source(&Source::Mbox(empty)).is_empty());

    let other = dir.path().join("notes.txt");
    write(&other, b"Dear patient, ...");
    let err = read::detect(&other).unwrap_err();
    assert!(matches!(err, MailboxError::NotAMailbox { .. }));
    assert!(!err.to_string().contains("patient"), "errors never quote content");

    assert!(matches!(read::detect(dir.path().join("missing")), Err(MailboxError::Io { .. })));
}

/// Issue 13.11: a symbolic link in an import tree could lead anywhere the
/// server can read (its own key files): the tree is refused whole, naming
/// the link, before any message is read.
#[test]
fn symbolic_links_in_an_import_tree_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("outside/root.key");
    write(&secret, b"Subject: not yours\n\nkey material\n");

    // An .eml tree with a linked file, and one with a linked directory.
    let eml = dir.path().join("eml");
    write(&eml.join("a/one.eml"), b"Subject: one\n\n");
    std::os::unix::fs::symlink(&secret, eml.join("a/two.eml")).unwrap();
    let err = read::open(&read::detect(&eml).unwrap()).err().expect("refused");
    assert!(matches!(&err, MailboxError::SymbolicLink { path } if path.ends_with("a/two.eml")), "{err}");
    let eml_dir = dir.path().join("eml-dir");
    write(&eml_dir.join("one.eml"), b"Subject: one\n\n");
    std::os::unix::fs::symlink(secret.parent().unwrap(), eml_dir.join("linked")).unwrap();
    assert!(matches!(read::open(&read::detect(&eml_dir).unwrap()), Err(MailboxError::SymbolicLink { .. })));

    // A Maildir with a linked message, and one whose cur/ is a link.
    let maildir = dir.path().join("Mail");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    write(&maildir.join("cur/1700000000.M0.host:2,"), b"Subject: mine\n\n");
    std::os::unix::fs::symlink(&secret, maildir.join("new/1700000001.M1.host")).unwrap();
    let err = read::open(&read::detect(&maildir).unwrap()).err().expect("refused");
    assert!(matches!(&err, MailboxError::SymbolicLink { .. }), "{err}");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    let linked_cur = dir.path().join("Mail2");
    for sub in ["new", "tmp"] {
        fs::create_dir_all(linked_cur.join(sub)).unwrap();
    }
    std::os::unix::fs::symlink(secret.parent().unwrap(), linked_cur.join("cur")).unwrap();
    assert!(matches!(read::open(&read::detect(&linked_cur).unwrap()), Err(MailboxError::SymbolicLink { .. })));
}
